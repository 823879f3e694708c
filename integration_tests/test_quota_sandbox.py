"""An hour-long quota, enforced by the sandbox, waited out by an in-process sync on a fake clock.

The sandbox counts each account's served calls in a moving window of 3600 s and refuses the rest;
the connector and the sandbox share one fake clock that moves only when the connector sleeps, so
the hours pass at once and both sides see the same ones. Two wordings of the refusal:
- "unknown200": HTTP 200 + ERRORS in words the connector has no rule for, naming no time. After
  this sync's own calls succeeded, the connector takes it for the hourly quota once, waits until
  its oldest call of the last hour leaves the window, logs the quota it observed, and spreads the
  remaining calls under it;
- "errors200": HTTP 200 + ERRORS naming the time from when calls are accepted again, which the
  connector honours.
Either way every record arrives exactly once and the sync succeeds.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.models.scenario import ExpectedOutcome

from fastbill_sandbox import FastbillSandbox
from fastbill_sandbox.data import STREAM_SERVICES
from fastbill_sandbox.server import MAX_LIMIT, UNKNOWN_REFUSAL
from source_fastbill import SourceFastbill
from unit_tests.fake_time import FakeClock

QUOTA = 10  # served calls per window: quota.LEARN_MIN_CALLS, the least a quota is learned from
WINDOW = 3600.0  # seconds: FastBill's hour
STREAM = "customers"
SIZE = 20.0  # 2,400 customers: 25 calls of at most 100 rows, well over the quota
KEY = "CUSTOMER_ID"


# ---------------------------------------------------------------------------------------------
# Harness


@pytest.fixture
def clock(fake_clock: FakeClock) -> FakeClock:
    """The connector's waits and the sandbox's quota windows, all on one fake clock."""
    return fake_clock


@pytest.fixture(autouse=True)
def real_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every real time.sleep during the test (there must be none: the hours pass on the fake)."""
    slept: list[float] = []
    real_sleep = time.sleep

    def spy(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", spy)
    return slept


@pytest.fixture
def quota_sandbox(clock: FakeClock) -> Iterator[Any]:
    """Starts a Pro sandbox whose quota windows run on the test's fake clock."""
    started: list[FastbillSandbox] = []

    def start(limit_response: str) -> FastbillSandbox:
        sandbox = FastbillSandbox(
            edition="pro",
            size=SIZE,
            seed=42,
            clock=clock,
            rate_limit=None,
            hourly_quota=QUOTA,
            quota_window_seconds=WINDOW,
            limit_response=limit_response,
        ).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@dataclass
class Sync:
    output: EntrypointOutput
    stats: dict[str, Any]
    expected: int  # customers in the sandbox
    real_sleeps: list[float]  # time.sleep calls made for real during the sync

    @property
    def ids(self) -> list[Any]:
        return [m.record.data[KEY] for m in self.output.records if m.record.stream == STREAM]

    @property
    def logs(self) -> list[str]:
        return [m.log.message for m in self.output.logs]

    def explain(self) -> str:
        """What a failing assertion shows: the outcome, counts and the connector's own words."""
        errors = [m.trace.error.message for m in self.output.errors]
        counts = Counter(self.ids)
        repeated = sum(n - 1 for n in counts.values() if n > 1)
        wanted = [line for line in self.logs if not line.startswith("Read ")][-40:]
        return "\n".join(
            [
                f"records {len(self.ids)} (distinct {len(counts)}, repeated {repeated}), "
                f"sandbox has {self.expected}; sandbox stats calls={self.stats['calls']} "
                f"served={self.stats['served']} rejected={self.stats['rejected']}",
                f"errors: {errors}",
                *wanted,
            ]
        )


def sync_customers(sandbox: FastbillSandbox, real_sleeps: list[float]) -> Sync:
    expected = sandbox.counts()[STREAM_SERVICES[STREAM]]
    assert expected // MAX_LIMIT > 2 * QUOTA, "the stream must need clearly more calls than that"
    config = {
        "username": sandbox.username,
        "api_key": sandbox.api_key,
        "edition": "pro",
        "api_url": sandbox.url,
        # One call at a time: the fake clock is one clock for one thread (a wait in one thread
        # moves time for all), and the count of refusals assumes no call in flight beside it.
        "num_workers": 1,
    }
    catalog = CatalogBuilder().with_stream(STREAM, SyncMode.full_refresh).build()
    output = read(
        SourceFastbill(), config, catalog, expected_outcome=ExpectedOutcome.EXPECT_SUCCESS
    )
    return Sync(output, sandbox.stats(), expected, list(real_sleeps))


def summary_of(sync: Sync) -> re.Match[str]:
    lines = [line for line in sync.logs if line.startswith(f"Sync summary, {STREAM} (")]
    assert len(lines) == 1, sync.explain()
    found = re.match(
        rf"Sync summary, {STREAM} \((?P<outcome>\w+)\): (?P<records>[\d,]+) records, "
        r"(?P<calls>[\d,]+) API calls, (?P<refused>[\d,]+) refused; waited: ",
        lines[0],
    )
    assert found, lines[0]
    return found


def number(text: str) -> int:
    return int(text.replace(",", ""))


def windows_needed(sync: Sync) -> int:
    """Full quota windows that must pass before the last call: the pages (plus the short or
    empty one that ends the stream) at QUOTA per window."""
    calls = (sync.expected + MAX_LIMIT) // MAX_LIMIT
    return (calls - 1) // QUOTA


def assert_every_customer_once(sync: Sync) -> None:
    assert not sync.output.errors, sync.explain()
    assert len(sync.ids) == len(set(sync.ids)) == sync.expected, sync.explain()
    assert sync.stats["served"] >= -(-sync.expected // MAX_LIMIT), sync.explain()
    assert sync.real_sleeps == [], "the test must not sleep for real"


# ---------------------------------------------------------------------------------------------
# Tests


def test_a_quota_refusal_in_unknown_words_is_waited_out_and_the_quota_learned(
    quota_sandbox: Any, clock: FakeClock, real_sleeps: list[float]
) -> None:
    sandbox = quota_sandbox("unknown200")
    sync = sync_customers(sandbox, real_sleeps)

    assert_every_customer_once(sync)
    rejected = sync.stats["rejected"]
    # Refused once after QUOTA accepted calls; from then on the calls are spread under QUOTA an
    # hour, which the sandbox accepts. A second refusal right after a wait would fail the stream.
    assert rejected == 1, sync.explain()
    observed = [line for line in sync.logs if "calls within the last hour" in line]
    assert any(
        line.startswith(f"FastBill refused a call after this sync made {QUOTA} accepted calls ")
        and f"the account's quota is probably about {QUOTA} calls per hour" in line
        and "Suggested requests_per_hour: " in line
        for line in observed
    ), sync.explain()
    assert any(
        f"spreading calls under the observed quota of {QUOTA} calls per hour" in line
        for line in sync.logs
    ), sync.explain()
    assert not any(UNKNOWN_REFUSAL in m.trace.error.message for m in sync.output.errors)
    summary = summary_of(sync)
    assert summary["outcome"] == "done", summary[0]
    assert number(summary["records"]) == sync.expected, summary[0]
    assert number(summary["refused"]) == rejected, (summary[0], sync.stats)
    assert number(summary["calls"]) == sync.stats["calls"], (summary[0], sync.stats)
    # 13 calls at 5 an hour need two full windows, which passed on the fake clock only.
    assert clock.advanced >= windows_needed(sync) * WINDOW, (clock.advanced, clock.waits)


def test_a_quota_refusal_naming_a_time_is_honoured(
    quota_sandbox: Any, clock: FakeClock, real_sleeps: list[float]
) -> None:
    sandbox = quota_sandbox("errors200")
    sync = sync_customers(sandbox, real_sleeps)

    assert_every_customer_once(sync)
    rejected = sync.stats["rejected"]
    assert rejected >= 1, sync.explain()
    summary = summary_of(sync)
    assert summary["outcome"] == "done", summary[0]
    assert number(summary["records"]) == sync.expected, summary[0]
    assert number(summary["refused"]) == rejected, (summary[0], sync.stats)
    # The named times were honoured: no call went before the time named (one refusal per full
    # window, no early retry), and 13 calls at 5 an hour took two windows of the shared clock.
    assert rejected == windows_needed(sync), sync.explain()
    assert clock.advanced >= windows_needed(sync) * WINDOW, (clock.advanced, clock.waits)
    assert any("FastBill refused a call" in line for line in sync.logs), sync.explain()


def test_the_sandbox_refuses_in_unknown_words_on_its_injected_clock() -> None:
    fake = FakeClock()
    body = {"SERVICE": "customer.get", "LIMIT": 1}
    with FastbillSandbox(
        clock=fake, rate_limit=None, hourly_quota=1, limit_response="unknown200"
    ) as sandbox:
        auth = (sandbox.username, sandbox.api_key)
        first = requests.post(sandbox.url, json=body, auth=auth, timeout=10)
        refused = requests.post(sandbox.url, json=body, auth=auth, timeout=10)
        fake.sleep(WINDOW - 1)  # still inside the window of the first call
        still = requests.post(sandbox.url, json=body, auth=auth, timeout=10)
        fake.sleep(1.5)
        again = requests.post(sandbox.url, json=body, auth=auth, timeout=10)
        stats = sandbox.stats()

    assert first.status_code == 200 and "CUSTOMERS" in first.json()["RESPONSE"]
    for answer in (refused, still):
        assert answer.status_code == 200 and "Retry-After" not in answer.headers
        assert answer.json()["RESPONSE"] == {"ERRORS": [UNKNOWN_REFUSAL]}
    assert "CUSTOMERS" in again.json()["RESPONSE"]
    assert stats["served"] == 2 and stats["rejected"] == 2
