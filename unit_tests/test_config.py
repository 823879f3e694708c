"""Malformed configuration: a clear message, no API call, and the documented failure."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import responses
from airbyte_cdk.models import FailureType

from source_fastbill.config import ConfigError, FastbillConfig, fastbill_today
from unit_tests.conftest import (
    FakeFastbill,
    body,
    check_status,
    config,
    page,
    records,
    run_check,
    run_read,
)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"api_url": "http://fastbill.example.com/api/1.0/api.php"},
            "api_url 'http://fastbill.example.com/api/1.0/api.php' uses plain http, which would "
            "send your API key unencrypted. Use https:// (plain http is accepted only for a local "
            "sandbox on localhost/127.0.0.1).",
        ),
        (
            {"start_date": "2024-05-01", "end_date": "2024-01-01"},
            "end_date 2024-01-01 lies before start_date 2024-05-01.",
        ),
        (
            {"start_date": "2024-02-30"},
            "start_date 2024-02-30 is not a day of the calendar: February 2024 has 29 days.",
        ),
        (
            {"username": "   "},
            "username is missing: enter the e-mail address you log in to FastBill with.",
        ),
    ],
)
def test_check_explains_a_bad_setting_without_calling_fastbill(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with responses.RequestsMock() as mock:
        assert check_status(run_check(config(**overrides), tmp_path)) == ("FAILED", message)
        assert len(mock.calls) == 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"api_key": None},
            "api_key is missing: enter your API key (FastBill: Settings > Account > API key).",
        ),
        ({"edition": "enterprise"}, "edition must be one of pro, automatic, not 'enterprise'."),
        (
            {"start_date": "01.02.2024"},
            "start_date must be a date written YYYY-MM-DD, not '01.02.2024'.",
        ),
        (
            {"requests_per_minute": 0},
            "requests_per_minute must be a whole number from 1 to 6000, not 0.",
        ),
        (
            {"requests_per_minute": 6001},
            "requests_per_minute must be a whole number from 1 to 6000, not 6001.",
        ),
        ({"lookback_days": -1}, "lookback_days must be a whole number from 0 to 3650, not -1."),
        (
            {"api_url": "ftp://example.com"},
            "api_url must be a full https:// URL such as https://my.fastbill.com/api/1.0/api.php, "
            "not 'ftp://example.com'.",
        ),
    ],
)
def test_malformed_values_are_named_with_the_setting_they_belong_to(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    cfg = {k: v for k, v in config(**overrides).items() if v is not None}
    assert check_status(run_check(cfg, tmp_path)) == ("FAILED", message)


def test_a_compact_date_is_not_taken_for_an_iso_date(tmp_path: Path) -> None:
    assert check_status(run_check(config(start_date="20240101"), tmp_path)) == (
        "FAILED",
        "start_date must be a date written YYYY-MM-DD, not '20240101'.",
    )


def test_read_with_a_bad_setting_fails_as_config_error() -> None:
    with responses.RequestsMock() as mock:
        output = run_read(config(api_url="http://10.0.0.1/api.php"), "customers", expect_error=True)
        assert len(mock.calls) == 0
    assert records(output) == []
    assert output.errors[-1].trace.error.failure_type == FailureType.config_error
    assert "uses plain http" in output.errors[-1].trace.error.message


def test_plain_http_is_accepted_for_loopback_hosts() -> None:
    for host in ("localhost", "127.0.0.1", "127.1.2.3", "[::1]"):
        url = f"http://{host}:8080/api/1.0/api.php"
        assert FastbillConfig.from_mapping(config(api_url=url)).api_url == url


def test_defaults_follow_the_edition() -> None:
    pro = FastbillConfig.from_mapping(config())
    automatic = FastbillConfig.from_mapping(config(edition="automatic"))
    assert pro.api_url == "https://my.fastbill.com/api/1.0/api.php"
    assert automatic.api_url == "https://app.monsum.com/api/1.0/api.php"
    assert (pro.start_date, pro.end_date, pro.lookback_days) == (date(2010, 1, 1), None, 30)
    assert (pro.requests_per_minute, pro.requests_per_hour) == (500, None)


def test_a_boolean_is_not_a_request_count() -> None:
    with pytest.raises(ConfigError, match="requests_per_hour must be a whole number"):
        FastbillConfig.from_mapping(config(requests_per_hour=True))


def test_today_is_fastbills_date_not_the_machines() -> None:
    late_evening_utc = datetime(2026, 11, 20, 23, 30, tzinfo=timezone.utc)
    assert fastbill_today(late_evening_utc) == date(2026, 11, 21)  # 00:30 in Berlin


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("2023-02-29", "February 2023 has 28 days"),
        ("2024-04-31", "April 2024 has 30 days"),
        ("2024-13-01", "there is no month 13"),
        ("2024-01-00", "there is no day 00"),
    ],
)
def test_a_date_written_right_that_is_no_day_says_what_is_wrong(value: str, said: str) -> None:
    with pytest.raises(ConfigError) as error:
        FastbillConfig.from_mapping(config(end_date=value))
    assert error.value.message == f"end_date {value} is not a day of the calendar: {said}."


def test_a_typo_in_a_setting_is_warned_about_with_the_closest_known_key(
    api: FakeFastbill, tmp_path: Path
) -> None:
    api.expect(body("revenue.get", limit=1), page("REVENUES", []))

    output = run_check({**config(), "start_data": "2025-01-01", "__internal": 1}, tmp_path)

    assert output.is_in_logs(
        "The setting 'start_data' is not one this connector knows: it is ignored. "
        "Did you mean 'start_date'\\?"
    )
    assert not output.is_in_logs("__internal")
