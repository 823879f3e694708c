"""Pacing: one budget per sync, one moving window per configured limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from airbyte_cdk.sources.streams.call_rate import (
    CallRateLimitHit,
    HttpAPIBudget,
    MovingWindowCallRatePolicy,
    Rate,
)

from source_fastbill.config import FastbillConfig
from source_fastbill.progress import Ledger
from source_fastbill.quota import QuotaPolicy
from source_fastbill.sync import build_budget, pacing_rates
from unit_tests.conftest import PRO_URL, config


def limits(**overrides: int) -> list[tuple[int, timedelta]]:
    rates = pacing_rates(FastbillConfig.from_mapping(config(**overrides)))
    return [(rate.limit, rate.interval) for rate in rates]


def test_the_budget_paces_under_those_windows() -> None:
    budget = build_budget(FastbillConfig.from_mapping(config(requests_per_minute=2)))
    request = requests.Request("POST", PRO_URL, json={"SERVICE": "customer.get"}).prepare()

    budget.acquire_call(request, block=False)
    budget.acquire_call(request, block=False)
    with pytest.raises(CallRateLimitHit) as hit:  # the third call of the minute waits
        budget.acquire_call(request, block=False)
    assert timedelta(seconds=59) < hit.value.time_to_wait <= timedelta(seconds=61)


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
    pacing = MovingWindowCallRatePolicy(rates=[Rate(1, timedelta(minutes=1))], matchers=[])
    policy = QuotaPolicy(pacing, Ledger())
    budget = HttpAPIBudget(policies=[policy], status_codes_for_ratelimit_hit=[])
    request = requests.Request("POST", PRO_URL, json={"SERVICE": "customer.get"}).prepare()

    budget.acquire_call(request)
    with pytest.raises(CallRateLimitHit) as hit:  # non-blocking: the test does not wait
        budget.acquire_call(request, block=False)

    assert "waiting" in caplog.text and "pacing under the configured limit" in caplog.text
    assert "German time" in caplog.text and "UTC" in caplog.text
    assert hit.value.time_to_wait <= timedelta(seconds=300)  # said again within five minutes
