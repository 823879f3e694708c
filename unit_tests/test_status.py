"""Issue 18 §2: the quota wait is visible where users look; FastBill's refusals log at WARN."""

from __future__ import annotations

import json
from typing import Any

import pytest

from unit_tests.conftest import FakeFastbill, body, config, page, records, run_read
from unit_tests.fake_time import FakeClock

CUSTOMERS = page("CUSTOMERS", [{"CUSTOMER_ID": "1"}])


def statuses(printed: str) -> list[dict[str, Any]]:
    found = []
    for line in printed.splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        trace = message.get("trace") or {}
        if trace.get("type") == "STREAM_STATUS":
            found.append(trace["stream_status"])
    return found


def test_a_quota_wait_shows_rate_limited_until_the_reset_then_running(
    api: FakeFastbill, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    refusal = page("CUSTOMERS", [])
    refusal["RESPONSE"] = {"ERRORS": ["API call limit exceeded"]}
    api.expect(body("customer.get"), refusal, 429, {"Retry-After": "600"})
    api.expect(body("customer.get"), CUSTOMERS)
    refused_at = clock.now

    output = run_read(config(), "customers")

    assert records(output) == [{"CUSTOMER_ID": "1"}]
    limited, resumed = statuses(capsys.readouterr().out)[-2:]
    (reason,) = limited["reasons"]
    assert limited["status"] == "RUNNING" and reason["type"] == "RATE_LIMITED"
    assert reason["rate_limited"]["quota_reset"] == pytest.approx((refused_at + 600) * 1000, abs=5)
    assert resumed == {"stream_descriptor": {"name": "customers"}, "status": "RUNNING"}
    warned = [m.log.message for m in output.logs if m.log.level.value == "WARN"]
    assert any(line.startswith("customers: waiting 9 min 59 s (until ") for line in warned)


def test_retries_log_at_warn_and_pacing_names_the_limit_in_words(api: FakeFastbill) -> None:
    api.expect(body("customer.get"), "Bad Gateway", 502)
    api.expect(body("customer.get"), CUSTOMERS)

    output = run_read(config(requests_per_minute=1), "customers", "customers")

    warned = [m.log.message for m in output.logs if m.log.level.value == "WARN"]
    assert any("Retrying in 2 s, attempt 2." in line for line in warned)
    assert not output.is_in_logs("limit=")
