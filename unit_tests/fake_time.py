"""One fake clock for every test that waits: the connector's waits are recorded, none is slept.

The CDK sleeps in three places: the backoff library (its exponential retries), the CDK's
rate-limiting handlers (the waits a BackoffStrategy asks for) and the API budget (pacing, and
the connector's quota holds). All three, and the connector's own clock (progress.wall_clock),
run on one `FakeClock`, whose time passes only when something sleeps.
"""

from __future__ import annotations

import time
import types

import pytest


class FakeClock:
    """Epoch seconds that pass only when the connector sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = self.started = time.time()
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds:  # the backoff library also "sleeps" 0 s around the CDK's own waits
            self.waits.append(round(seconds, 3))
            self.now += seconds

    @property
    def advanced(self) -> float:
        return self.now - self.started


def install(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Puts every wait of the CDK and the connector's clock on one new FakeClock."""
    import airbyte_cdk.sources.streams.call_rate as call_rate
    import airbyte_cdk.sources.streams.http.rate_limiting as rate_limiting
    import backoff._sync
    import pyrate_limiter.clocks

    from source_fastbill import progress

    fake = FakeClock()
    fake_time = types.SimpleNamespace(sleep=fake.sleep, time=fake, monotonic=fake)
    for module in (backoff._sync, rate_limiting, call_rate):
        monkeypatch.setattr(module, "time", fake_time)
    monkeypatch.setattr(progress, "wall_clock", fake)
    # The budget's moving windows (pyrate-limiter's TimeClock) count on the same clock.
    monkeypatch.setattr(pyrate_limiter.clocks, "time", fake)
    return fake
