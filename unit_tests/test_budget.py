"""Pacing: one budget per sync, one moving window per configured limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from airbyte_cdk.sources.streams.call_rate import CallRateLimitHit, MovingWindowCallRatePolicy, Rate

from source_fastbill.config import FastbillConfig
from source_fastbill.source import PacedBudget, build_budget
from unit_tests.conftest import PRO_URL, config


def limits(**overrides: int) -> list[tuple[int, timedelta]]:
    budget = build_budget(FastbillConfig.from_mapping(config(**overrides)))
    (policy,) = budget._policies
    return [(rate.limit, timedelta(milliseconds=rate.interval)) for rate in policy._bucket.rates]


def test_the_documented_limit_is_the_default() -> None:
    assert limits() == [(500, timedelta(seconds=61))]  # a second of margin per window


def test_an_hourly_quota_above_the_minute_limit_adds_a_second_window() -> None:
    assert limits(requests_per_hour=1000) == [
        (500, timedelta(seconds=61)),
        (1000, timedelta(seconds=3601)),
    ]


def test_an_hourly_quota_below_the_minute_limit_is_the_only_window() -> None:
    assert limits(requests_per_hour=50) == [(50, timedelta(seconds=3601))]


def test_a_long_wait_is_announced_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    policy = MovingWindowCallRatePolicy(rates=[Rate(1, timedelta(minutes=1))], matchers=[])
    budget = PacedBudget(policies=[policy], status_codes_for_ratelimit_hit=[])
    request = requests.Request("POST", PRO_URL).prepare()

    budget.acquire_call(request)
    with pytest.raises(CallRateLimitHit):  # non-blocking, so the test does not wait the minute
        budget.acquire_call(request, block=False)

    assert "Pacing under the configured API limit" in caplog.text
