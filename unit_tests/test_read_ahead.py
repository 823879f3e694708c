"""Asking ahead (read_ahead.py): one stream's calls in parallel, its records and states unchanged.

These tests make no waits (the fake clock is one clock for one thread): what they show is what
is asked, how often, and that the read with workers delivers exactly what the read without does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from airbyte_cdk.models import SyncMode

from unit_tests.conftest import FakeFastbill, body, config, failure, page, records, run_read
from unit_tests.test_incremental import (
    invoice,
    invoices,
    marker,
    paid_window,
    state_of,
    states,
    window,
)

TODAY = date(2026, 11, 21)


@pytest.fixture(autouse=True)
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("source_fastbill.cursor.fastbill_today", lambda: TODAY)


def customers(count: int, start: int) -> dict[str, Any]:
    return page("CUSTOMERS", [{"CUSTOMER_ID": str(start + i)} for i in range(count)])


def serve_customers(api: FakeFastbill, total: int, beyond: int = 0) -> None:
    """`total` customers in pages of 100, and `beyond` empty pages after the end (guesses)."""
    for offset in range(0, total + 100 * beyond, 100):
        count = max(0, min(100, total - offset))
        api.expect(body("customer.get", offset), customers(count, offset))


def last_page_waits_for_a_guess(
    api: FakeFastbill,
    request: Callable[[int], dict[str, Any]],
    last: int,
    answer: dict[str, Any],
    empty: dict[str, Any],
) -> None:
    """The list's last page is answered once the first guess beyond it has arrived (or after
    5 s): the read cannot end before a guess was sent, however the threads are scheduled."""
    from responses import matchers

    guessed = threading.Event()

    def last_page(_: Any) -> tuple[int, dict[str, str], str]:
        guessed.wait(5)
        return 200, {}, json.dumps(answer)

    def beyond(_: Any) -> tuple[int, dict[str, str], str]:
        guessed.set()
        return 200, {}, json.dumps(empty)

    for offset, callback in ((last, last_page), (last + 100, beyond), (last + 200, beyond)):
        api.mock.add_callback(
            "POST",
            api.url,
            callback=callback,
            match=[matchers.json_params_matcher(request(offset))],
        )


def offsets(api: FakeFastbill) -> list[int]:
    return sorted(json.loads(call.request.body)["OFFSET"] for call in api.mock.calls)


def summary(output: Any, stream: str) -> str:
    prefix = f"Sync summary, {stream} "
    return next(m.log.message for m in output.logs if m.log.message.startswith(prefix))


def test_a_long_list_is_asked_ahead_with_at_most_workers_minus_one_calls_beyond_its_end(
    api: FakeFastbill,
) -> None:
    serve_customers(api, 500)
    last_page_waits_for_a_guess(
        api, lambda at: body("customer.get", at), 500, customers(50, 500), customers(0, 600)
    )
    # A guess not yet sent when the read ends is cancelled, and costs nothing: whether the
    # second is sent depends on the threads' timing, never more than num_workers - 1.
    api.mock.assert_all_requests_are_fired = False

    output = run_read(config(num_workers=3), "customers")

    assert [r["CUSTOMER_ID"] for r in records(output)] == [str(i) for i in range(550)]
    needed, guessed = offsets(api)[:6], offsets(api)[6:]
    assert needed == [0, 100, 200, 300, 400, 500]
    assert guessed in ([600], [600, 700])
    calls = 6 + len(guessed)
    assert f"{calls} API calls ({len(guessed)} asked ahead, not needed)" in summary(
        output, "customers"
    )


def test_a_list_of_up_to_four_pages_costs_no_call_more(api: FakeFastbill) -> None:
    serve_customers(api, 350)

    output = run_read(config(num_workers=3), "customers")

    assert len(records(output)) == 350
    assert offsets(api) == [0, 100, 200, 300]


@pytest.mark.parametrize("limit", [{"requests_per_hour": 400}, {"num_workers": 1}])
def test_nothing_is_asked_on_a_guess_under_an_hourly_quota_or_with_one_worker(
    api: FakeFastbill, limit: dict[str, int]
) -> None:
    serve_customers(api, 550)

    output = run_read(config(**{"num_workers": 3, **limit}), "customers")

    assert len(records(output)) == 550
    assert offsets(api) == [0, 100, 200, 300, 400, 500]
    assert "asked ahead" not in summary(output, "customers")


def test_date_windows_asked_ahead_deliver_the_same_records_and_states_as_one_by_one(
    api: FakeFastbill,
) -> None:
    api.expect(
        window("2024-01-01", "2024-12-31"),
        invoices(invoice("1", "2024-05-01", "2024-05-02 08:00:00")),
    )
    api.expect(
        window("2025-01-01", "2025-12-31"),
        invoices(invoice("2", "2025-05-01", "2026-02-01 09:00:00", "2025-06-01")),
    )
    api.expect(window("2026-01-01", "2026-11-21"), invoices())
    api.expect(
        paid_window("2024-01-01", "2026-11-21", "2023-12-31"),
        invoices(invoice("0", "2023-12-20", "2024-01-10 09:00:00", "2024-01-10")),
    )
    incremental = SyncMode.incremental

    one = run_read(config(start_date="2024-01-01", num_workers=1), "invoices", mode=incremental)
    calls_one = len(api.mock.calls)
    ahead = run_read(config(start_date="2024-01-01", num_workers=3), "invoices", mode=incremental)

    assert [r["INVOICE_ID"] for r in records(ahead)] == ["1", "2", "0"]
    assert records(ahead) == records(one)
    assert states(ahead) == states(one)
    assert len(api.mock.calls) - calls_one == calls_one == 4  # every window once, none guessed


def test_a_read_stopped_inside_a_window_resumes_there_with_nothing_lost(
    api: FakeFastbill,
) -> None:
    """Window 2025 fails on its second page while 2026 and the paid pass were asked ahead: the
    state claims only 2024, and the next sync delivers 2025 and 2026 whole."""
    full_2025 = [invoice(str(100 + i), "2025-03-01", "2025-03-01 08:00:00") for i in range(100)]
    api.expect(
        window("2024-01-01", "2024-12-31"),
        invoices(invoice("1", "2024-05-01", "2024-05-02 08:00:00")),
    )
    api.expect(window("2025-01-01", "2025-12-31"), invoices(*full_2025))
    api.expect(
        window("2025-01-01", "2025-12-31", 100), failure("missing / invalid field: START_DATE")
    )
    api.expect(
        window("2026-01-01", "2026-11-21"),
        invoices(invoice("3", "2026-02-01", "2026-02-01 08:00:00")),
    )
    api.expect(paid_window("2024-01-01", "2026-11-21", "2023-12-31"), invoices())
    cfg, incremental = config(start_date="2024-01-01", num_workers=3), SyncMode.incremental

    stopped = run_read(cfg, "invoices", mode=incremental, expect_error=True)

    saved = stopped.state_messages[-1].state.stream.stream_state.__dict__
    assert saved == {"resume": marker("created", "2024-01-01", **{"from": "2025-01-01"})}
    first = [r["INVOICE_ID"] for r in records(stopped)]
    assert first[0] == "1" and "3" not in first  # 2026 was asked ahead, never delivered

    api.expect(window("2025-01-01", "2025-12-31", 100), invoices(invoice("200", "2025-04-01", "")))
    resumed = run_read(cfg, "invoices", mode=incremental, state=state_of("invoices", saved))

    again = [r["INVOICE_ID"] for r in records(resumed)]
    assert again == [str(100 + i) for i in range(100)] + ["200", "3"]


def test_a_full_refresh_without_start_date_is_one_list_and_is_asked_ahead_too(
    api: FakeFastbill,
) -> None:
    """The usual account: invoices hold most calls, read in full without date windows."""
    for offset in range(0, 500, 100):
        rows = [invoice(str(offset + i), "2025-01-01", "") for i in range(100)]
        api.expect(body("invoice.get", offset), invoices(*rows))
    last = [invoice(str(500 + i), "2025-01-01", "") for i in range(50)]
    last_page_waits_for_a_guess(
        api, lambda at: body("invoice.get", at), 500, invoices(*last), invoices()
    )
    api.mock.assert_all_requests_are_fired = False  # the guesses' timing (see above)

    output = run_read(config(num_workers=3), "invoices")

    assert len(records(output)) == 550
    assert offsets(api)[:6] == [0, 100, 200, 300, 400, 500]
    assert offsets(api)[6:] in ([600], [600, 700])


def serve_window(api: FakeFastbill, total: int, guesses: bool = True) -> None:
    """A large date window (2025-06-01 to today): `total` invoices, its last page waiting for
    the first guess beyond it if `guesses`; the paid pass finds none."""

    def at(offset: int) -> dict[str, Any]:
        return window("2025-06-01", "2026-11-21", offset)

    last = total // 100 * 100
    for offset in range(0, last, 100):
        api.expect(
            at(offset), invoices(*[invoice(str(offset + i), "2025-07-01", "") for i in range(100)])
        )
    rows = [invoice(str(last + i), "2025-07-01", "") for i in range(total - last)]
    if guesses:
        last_page_waits_for_a_guess(api, at, last, invoices(*rows), invoices())
    else:
        api.expect(at(last), invoices(*rows))
    api.expect(paid_window("2025-06-01", "2026-11-21", "2025-05-31"), invoices())


def test_a_large_date_window_is_asked_ahead_like_a_long_list(api: FakeFastbill) -> None:
    """The shape of the data decides, not the service: a window of six pages is read with
    pages in flight side by side, at most num_workers - 1 of them beyond its end."""
    serve_window(api, 550)
    api.mock.assert_all_requests_are_fired = False  # the guesses' timing (see above)

    output = run_read(config(start_date="2025-06-01", num_workers=3), "invoices")

    assert [r["INVOICE_ID"] for r in records(output)] == [str(i) for i in range(550)]
    dated = sorted(
        json.loads(c.request.body)["OFFSET"]
        for c in api.mock.calls
        if "START_DATE" in json.loads(c.request.body)["FILTER"]
    )
    assert dated[:6] == [0, 100, 200, 300, 400, 500]
    assert dated[6:] in ([600], [600, 700])
    assert len(api.mock.calls) == len(dated) + 1  # and the paid pass, once


def test_a_large_date_window_is_not_guessed_under_an_hourly_quota(api: FakeFastbill) -> None:
    serve_window(api, 550, guesses=False)

    output = run_read(
        config(start_date="2025-06-01", num_workers=3, requests_per_hour=400), "invoices"
    )

    assert len(records(output)) == 550
    assert offsets(api) == [0, 0, 100, 200, 300, 400, 500]  # the paid pass's and the window's


def test_answers_waiting_to_be_taken_are_bounded_for_the_whole_sync() -> None:
    """`num_workers` in flight and as many waiting: memory does not grow with the streams read
    side by side (each waiting answer is a parsed page)."""
    from source_fastbill.read_ahead import InFlight

    in_flight = InFlight(3)

    assert [in_flight.hold() for _ in range(7)] == [True] * 6 + [False]
    in_flight.taken()
    assert in_flight.hold() and not in_flight.hold()
