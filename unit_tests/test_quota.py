"""FastBill's hourly quota: every refusal form, the unknown wording, learning, saying every wait."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pendulum
import pytest
from airbyte_cdk.models import FailureType

from source_fastbill.quota import hint, looks_like_quota, named_moment
from unit_tests.conftest import (
    FakeClock,
    FakeFastbill,
    body,
    config,
    failure,
    page,
    records,
    run_read,
)

BERLIN = "Europe/Berlin"
CUSTOMERS = page("CUSTOMERS", [{"CUSTOMER_ID": "1"}])


def berlin_in(minutes: float) -> pendulum.DateTime:
    return pendulum.now(BERLIN).add(minutes=minutes)


class _Response:
    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("API call limit exceeded. New calls are accepted from {iso}", 20),
        ("Limit erreicht. Neue Anfragen werden ab {iso_t} angenommen.", 20),
        ("Ihr API-Kontingent ist aufgebraucht. Wieder möglich ab {german}", 20),
        ("Zu viele Anfragen - bitte ab {clock} Uhr erneut versuchen", 20),
        ("Stundenlimit: weiter um {clock}", 20),
        ("Too many requests, retry in 15 minutes", 15),
        ("Bitte warten Sie 90 Sekunden", 1.5),
    ],
    ids=[
        "ISO",
        "ISO with T",
        "dd.mm.yyyy HH:MM",
        "HH:MM Uhr",
        "bare HH:MM",
        "in N minutes",
        "N Sekunden",
    ],
)
def test_every_written_form_of_the_time_is_read(text: str, minutes: float) -> None:
    moment = berlin_in(minutes).replace(second=0, microsecond=0)
    written = text.format(
        iso=moment.format("YYYY-MM-DD HH:mm:ss"),
        iso_t=moment.format("YYYY-MM-DDTHH:mm"),
        german=moment.format("DD.MM.YYYY HH:mm"),
        clock=moment.format("HH:mm"),
    )

    found = hint(_Response(), written)  # type: ignore[arg-type]

    assert found.seconds is not None
    assert abs(found.seconds - minutes * 60) <= 61  # written to the minute
    assert looks_like_quota(written, found)


def test_a_bare_clock_time_long_past_means_tomorrow() -> None:
    # Changed by issue 15 §9: a clock time up to an hour ago is past (no usable hint); only an
    # older one is tomorrow's. 14:05 is now 85 minutes past.
    now = datetime(2026, 12, 1, 14, 30, tzinfo=timezone.utc)  # 15:30 in Berlin
    moment = named_moment("ab 14:05", now)
    assert moment is not None and pendulum.instance(moment).in_timezone(BERLIN).day == 2


@pytest.mark.parametrize("as_date", [False, True], ids=["seconds", "HTTP date"])
def test_retry_after_in_seconds_or_as_a_date(as_date: bool) -> None:
    later = datetime.now(timezone.utc) + timedelta(minutes=3)
    header = format_datetime(later, usegmt=True) if as_date else "180"

    found = hint(_Response({"Retry-After": header}), "")  # type: ignore[arg-type]

    assert found.seconds is not None and abs(found.seconds - 180) <= 2


def test_a_named_time_is_measured_against_fastbills_own_clock() -> None:
    fastbill_now = datetime.now(timezone.utc) - timedelta(minutes=7)  # a clock 7 minutes behind
    headers = {"Date": format_datetime(fastbill_now, usegmt=True)}
    named = pendulum.instance(fastbill_now).in_timezone(BERLIN).add(minutes=10)

    found = hint(_Response(headers), f"accepted from {named:%Y-%m-%d %H:%M:%S}")  # type: ignore[arg-type]

    assert found.seconds is not None and abs(found.seconds - 600) <= 2


def test_an_error_without_time_or_quota_words_is_not_a_quota_refusal() -> None:
    text = "Invoice Error: invoice 2024-03-01 could not be found"
    assert not looks_like_quota(text, hint(_Response(), text))  # type: ignore[arg-type]


# --- the sync around a refusal ----------------------------------------------------------------


def _customers(n: int, start: int = 0) -> dict[str, Any]:
    return page("CUSTOMERS", [{"CUSTOMER_ID": str(i)} for i in range(start, start + n)])


@pytest.mark.parametrize(
    "refusal",
    [
        lambda t: failure(
            f"Limit erreicht. Neue Anfragen werden ab {t:DD.MM.YYYY HH:mm} angenommen"
        ),
        lambda t: failure(f"Kontingent erschöpft, wieder ab {t:HH:mm} Uhr"),
        lambda t: failure(f"Quota: next call at {t:HH:mm}"),
    ],
    ids=["German date and time", "HH:MM Uhr", "English, bare HH:MM"],
)
def test_a_quota_refusal_mid_sync_waits_until_the_named_time_and_the_sync_completes(
    api: FakeFastbill, slept: list[float], refusal: Any
) -> None:
    moment = berlin_in(20).replace(second=0, microsecond=0)
    api.expect(body("customer.get", 0), _customers(100))
    api.expect(body("customer.get", 100), refusal(moment))
    api.expect(body("customer.get", 100), _customers(3, 100))

    output = run_read(config(), "customers")

    assert len(records(output)) == 103
    waited = sum(slept)
    assert 18 * 60 <= waited <= 21 * 60 and max(slept) <= 300  # said every five minutes
    assert output.is_in_logs("customers: waiting .*until .* German time, .* UTC")
    assert output.is_in_logs("still waiting")
    assert output.is_in_logs(
        "Sync summary, customers \\(done\\): 103 records, 3 API calls, 1 refused"
    )


def test_an_unknown_wording_after_successful_calls_waits_for_the_window_then_retries(
    api: FakeFastbill, clock: FakeClock
) -> None:
    api.expect(body("customer.get", 0), _customers(100))
    api.expect(body("customer.get", 100), failure("Service temporarily restricted (code 7731)"))
    api.expect(body("customer.get", 100), _customers(3, 100))

    output = run_read(config(), "customers")

    assert len(records(output)) == 103
    # The one accepted call leaves FastBill's 3600 s window: the earliest a call can pass again.
    assert 3590 <= sum(clock.waits) <= 3610
    assert output.is_in_logs("takes for the hourly quota")
    # Changed by issue 15 §9: one accepted call is no evidence of a quota of 1 call per hour.
    assert not output.is_in_logs("quota is probably about")
    assert not output.is_in_logs("requests_per_hour to 1")


def test_an_unknown_wording_refused_again_after_the_wait_fails_with_fastbills_text(
    api: FakeFastbill, clock: FakeClock
) -> None:
    api.expect(body("customer.get", 0), _customers(100))
    for _ in range(2):
        api.expect(body("customer.get", 100), failure("Service temporarily restricted (code 7731)"))

    output = run_read(config(), "customers", expect_error=True)

    message = output.errors[0].trace.error.message
    assert message.startswith(
        "FastBill rejected customer.get: Service temporarily restricted (code 7731)"
    )
    assert "took it for FastBill's hourly quota, waited" in message
    assert output.errors[0].trace.error.failure_type == FailureType.system_error
    assert len(api.mock.calls) == 3


def test_an_unknown_wording_on_the_first_call_fails_at_once(api: FakeFastbill) -> None:
    api.expect(body("customer.get"), failure("Service temporarily restricted (code 7731)"))

    output = run_read(config(), "customers", expect_error=True)

    assert len(api.mock.calls) == 1 and output.errors


def test_a_persisting_429_without_a_hint_moves_from_seconds_to_the_window(
    api: FakeFastbill, slept: list[float]
) -> None:
    api.expect(body("customer.get", 0), _customers(100))
    for _ in range(4):
        api.expect(body("customer.get", 100), "", 429)
    api.expect(body("customer.get", 100), _customers(3, 100))

    output = run_read(config(), "customers")

    assert len(records(output)) == 103
    assert slept[:3] == [2, 3, 5]  # first as a transient error
    assert sum(slept[3:]) >= 3500  # then the window of the call that FastBill accepted


def test_after_a_refusal_without_time_the_next_calls_are_spread_under_the_observed_quota(
    api: FakeFastbill, clock: FakeClock
) -> None:
    # Changed by issue 15 §9: a quota is learned only from at least LEARN_MIN_CALLS (10)
    # accepted calls; this sync makes 10 before the refusal (it used to be 2).
    for offset in range(0, 1000, 100):
        api.expect(body("customer.get", offset), _customers(100, offset))
    for _ in range(4):
        api.expect(body("customer.get", 1000), "quota", 429)
    for offset in range(1000, 2100, 100):  # 11 more: the 11th waits for the learned window
        api.expect(body("customer.get", offset), _customers(100 if offset < 2000 else 1, offset))

    output = run_read(config(), "customers")

    assert len(records(output)) == 2001
    assert output.is_in_logs("spreading calls under the observed quota of 10 calls per hour")
    assert output.is_in_logs("Suggested requests_per_hour: 9")


def test_a_time_in_the_next_hour_is_honoured_whatever_the_words(
    api: FakeFastbill, slept: list[float]
) -> None:
    moment = berlin_in(30).replace(second=0, microsecond=0)
    api.expect(body("customer.get"), failure(f"Anfrage abgelehnt. Wieder ab {moment:HH:mm}."))
    api.expect(body("customer.get"), CUSTOMERS)

    assert records(run_read(config(), "customers")) == [{"CUSTOMER_ID": "1"}]
    assert 28 * 60 <= sum(slept) <= 31 * 60


def test_a_403_with_a_quota_text_is_a_quota_refusal_not_a_credentials_error(
    api: FakeFastbill, slept: list[float]
) -> None:
    api.expect(body("customer.get"), failure("API-Kontingent erschöpft"), status=403)
    api.expect(body("customer.get"), CUSTOMERS)

    output = run_read(config(), "customers")

    assert records(output) == [{"CUSTOMER_ID": "1"}] and slept == [2]


def test_the_cdks_generic_retry_lines_give_way_to_the_connectors_own(
    api: FakeFastbill,
) -> None:
    api.expect(body("customer.get", 0), _customers(100))
    api.expect(body("customer.get", 100), failure("Too many requests"), 429, {"Retry-After": "90"})
    api.expect(body("customer.get", 100), "Bad Gateway", status=502)
    api.expect(body("customer.get", 100), _customers(3, 100))

    output = run_read(config(), "customers")

    assert not output.is_in_logs(
        "UserDefinedBackoffException|Caught retryable error|Retrying\\. Sleeping"
    )
    assert not output.is_in_logs("Response Content")  # the CDK quoted whole bodies here
    assert output.is_in_logs("customers: waiting 1 min .*FastBill refused a call")
    assert output.is_in_logs("customers: FastBill answered HTTP 502. Retrying in [0-9]+ s")


def test_progress_is_logged_at_least_every_minute_while_a_stream_runs(clock: FakeClock) -> None:
    from source_fastbill.progress import Ledger, Progress

    ledger = Ledger(clock=clock)
    progress = Progress(ledger)
    progress.started("invoices")
    lines = []
    import logging

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Catch()
    logging.getLogger("airbyte").addHandler(handler)
    try:
        for _ in range(5):
            clock.sleep(31)
            progress.record("invoices")
    finally:
        logging.getLogger("airbyte").removeHandler(handler)

    assert lines == [
        "invoices: 2 records and 0 API calls so far.",
        "invoices: 4 records and 0 API calls so far.",
    ]


# Issue 15 §9: FastBill's Date header says 14:55 Berlin time (13:55 UTC) on 5 Dec 2026.
DATE_1455 = {"Date": "Sat, 05 Dec 2026 13:55:00 GMT"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Too many requests, try again at 3:05 PM", 600),
        ("Bitte 20 Sekunden warten.", 20),
        ("Limit erreicht, bitte in einer Minute erneut versuchen", 60),
        ("Rate limit reached, retry at 14:05:30 UTC", 630),
        ("New calls are accepted from 2026-12-05T15:05:00.500+01:00", 600.5),
        ("Rate limit reached. Retry after Sat, 05 Dec 2026 14:05:00 GMT", 600),
        ("Kontingent erschöpft, wieder möglich um 15 Uhr", 300),
        ("Limit erreicht bis 05.12.2026 15:05:30 Uhr", 630),
    ],
    ids=[
        "3:05 PM",
        "20 Sekunden",
        "einer Minute",
        "time with seconds and UTC",
        "ISO with fractions",
        "HTTP date in the text",
        "um 15 Uhr",
        "dd.mm.yyyy HH:MM:SS Uhr",
    ],
)
def test_an_observed_refusal_is_waited_out_exactly(
    api: FakeFastbill, clock: FakeClock, text: str, seconds: float
) -> None:
    api.expect(body("customer.get"), failure(text), 429, DATE_1455)
    api.expect(body("customer.get"), CUSTOMERS)

    assert records(run_read(config(), "customers")) == [{"CUSTOMER_ID": "1"}]
    assert sum(clock.waits) == pytest.approx(seconds, abs=0.01)


def _refuse_for(api: FakeFastbill, clock: FakeClock, seconds: float, headers: dict[str, str],
                text: str) -> None:  # fmt: skip
    """FastBill refusing every call for `seconds` of the (fake) clock, then answering."""
    until = clock.now + seconds

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        if clock.now < until:
            return 429, headers, json.dumps(failure(text))
        return 200, {}, json.dumps(CUSTOMERS)

    api.mock.add_callback("POST", api.url, callback=answer)


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        ({"Retry-After": "0"}, "Too many requests"),
        ({"Retry-After": "-5"}, "Too many requests"),
        ({}, "Rate limit reached. New calls are accepted from 2026-01-01T10:00:00Z"),
    ],
    ids=["Retry-After 0", "a negative Retry-After", "a moment already past"],
)
def test_a_past_or_zero_wait_does_not_burn_every_retry_in_seconds(
    api: FakeFastbill, clock: FakeClock, headers: dict[str, str], text: str
) -> None:
    _refuse_for(api, clock, 90, headers, text)

    output = run_read(config(), "customers")

    assert records(output) == [{"CUSTOMER_ID": "1"}]
    assert clock.waits[:3] == [2, 3, 5]  # short retries first, then a minute: no 1 s loop
    assert sum(clock.waits) >= 90


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("in anderthalb Stunden", 5400),
        ("in einer halben Stunde", 1800),
        ("in einer Viertelstunde", 900),
        ("in a quarter of an hour", 900),
        ("in half an hour", 1800),
        ("in 1 Stunde", 3600),  # read as 1 s before: "Stunde" begins with an s
        ("in 1 Stunde und 30 Minuten", 5400),
    ],
)
def test_fractions_and_parts_of_hours_are_read(text: str, seconds: float) -> None:
    now = datetime(2026, 12, 5, 13, 55, tzinfo=timezone.utc)
    assert hint(_Response({"Date": format_datetime(now, usegmt=True)}), text).seconds == seconds


def _quota_after(*bursts: tuple[float, int]) -> tuple[Any, Any]:
    """A Quota whose ledger saw `count` accepted calls at each (seconds, count)."""
    from source_fastbill.progress import Ledger
    from source_fastbill.quota import Quota, QuotaPolicy

    now = [0.0]
    ledger = Ledger(clock=lambda: now[0])
    for at, count in bursts:
        now[0] = at
        for _ in range(count):
            ledger.answered("customers")
    policy = QuotaPolicy(pacing=None, ledger=ledger)  # type: ignore[arg-type]
    return Quota(ledger, policy, requests_per_minute=60, requests_per_hour=None), policy


def test_a_refusal_after_few_calls_learns_no_quota() -> None:
    quota, policy = _quota_after((0, 1))
    decision = quota._wait_for_window("FastBill refused a call")
    assert decision.wait is not None and policy.learned_hourly is None
    assert quota.ledger.observed_quota is None


def test_a_learned_quota_is_never_below_the_most_calls_accepted_within_one_hour() -> None:
    # 30 calls accepted in one hour, then (two hours later) a refusal after 12: others took some.
    quota, policy = _quota_after((0, 30), (7200, 12))
    quota._wait_for_window("FastBill refused a call")
    assert policy.learned_hourly == 30 and quota.ledger.observed_quota == 30
