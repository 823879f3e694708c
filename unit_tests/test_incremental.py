"""Incremental sync: exact FILTERs per window, checkpoints, the paid pass, lookback dedup."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.state_builder import StateBuilder

from unit_tests.conftest import FakeFastbill, body, config, page, records, run_read

TODAY = date(2026, 11, 21)
INCREMENTAL = SyncMode.incremental
CFG = config(start_date="2024-01-01")


@pytest.fixture(autouse=True)
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("source_fastbill.streams.fastbill_today", lambda: TODAY)


def invoice(id_: str, day: str, changed: str | None, paid: str | None = None) -> dict[str, Any]:
    return {"INVOICE_ID": id_, "INVOICE_DATE": day, "LASTUPDATE": changed or "", "PAID_DATE": paid}


def invoices(*rows: dict[str, Any]) -> dict[str, Any]:
    return page("INVOICES", list(rows))


def window(start: str, end: str, offset: int = 0) -> dict[str, Any]:
    return body("invoice.get", offset, START_DATE=start, END_DATE=end)


def paid_window(start: str, end: str, dated_before: str) -> dict[str, Any]:
    """The paid pass: paid in [start, end] and dated on or before `dated_before`, the day before
    the created pass began (it read the others)."""
    return body("invoice.get", START_PAID_DATE=start, END_PAID_DATE=end, END_DATE=dated_before)


def marker(pass_: str, start: str, end: str = "2026-11-21", **more: str) -> dict[str, Any]:
    """A resume marker as this version writes it: checked against the plan on resume."""
    return {"v": 2, "pass": pass_, **more, "start": start, "end": end}


def state_of(stream: str, value: dict[str, Any]) -> list[Any]:
    return StateBuilder().with_stream_state(stream, value).build()


def states(output: Any) -> list[dict[str, Any]]:
    return [m.state.stream.stream_state.__dict__ for m in output.state_messages]


SAVED = {
    "LASTUPDATE": "2026-11-20T10:00:00",
    "PAID_DATE": "2026-11-01",
    "synced_until": "2026-11-20",
}


def test_first_sync_reads_calendar_year_windows_and_checkpoints_after_each(
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
        invoices(
            invoice("2", "2025-05-01", "2026-02-01 09:00:00", "2025-06-01"),  # read above
            invoice("0", "2023-12-20", "2024-01-10 09:00:00", "2024-01-10"),  # old, paid since
        ),
    )

    output = run_read(CFG, "invoices", mode=INCREMENTAL)

    # Dated on or after start_date, or paid on or after it: an open-receivables report of 2024
    # needs invoice 0, dated in 2023.
    assert [r["INVOICE_ID"] for r in records(output)] == ["1", "2", "0"]
    assert states(output) == [
        {"resume": marker("created", "2024-01-01", **{"from": "2025-01-01"})},
        {"resume": marker("created", "2024-01-01", **{"from": "2026-01-01"})},
        {"resume": marker("paid", "2024-01-01")},
        {
            "LASTUPDATE": "2026-02-01T09:00:00",
            "PAID_DATE": "2025-06-01",
            "synced_until": "2026-11-21",
        },
    ]
    assert len(api.mock.calls) == 4


def test_sync_from_state_reads_lookback_and_paid_windows_and_emits_only_news(
    api: FakeFastbill,
) -> None:
    api.expect(
        window("2026-10-21", "2026-11-21"),
        invoices(
            invoice("10", "2026-10-22", "2026-10-25 12:00:00"),  # unchanged since the last sync
            invoice("11", "2026-11-21", "2026-11-21 09:00:00"),  # created since
            invoice("12", "2026-10-30", "2026-11-21 08:00:00"),  # edited since
            invoice("13", "2026-11-02", None),  # no LASTUPDATE: cannot tell, so emitted
        ),
    )
    api.expect(
        paid_window("2026-10-21", "2026-11-21", "2026-10-20"),
        invoices(
            invoice("3", "2023-02-01", "2026-11-21 10:30:00", "2026-11-21"),  # old, paid today
            invoice("4", "2023-03-01", "2026-10-25 10:00:00", "2026-10-25"),  # paid, delivered
            invoice("12", "2026-10-30", "2026-11-21 08:00:00", "2026-11-21"),  # seen above
        ),
    )

    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of("invoices", SAVED))

    assert [r["INVOICE_ID"] for r in records(output)] == ["11", "12", "13", "3"]
    assert states(output) == [
        {**SAVED, "resume": marker("paid", "2026-10-21")},
        {
            "LASTUPDATE": "2026-11-21T10:30:00",
            "PAID_DATE": "2026-11-21",
            "synced_until": "2026-11-21",
        },
    ]
    assert len(api.mock.calls) == 2


def test_a_payment_that_did_not_move_lastupdate_is_still_delivered(api: FakeFastbill) -> None:
    api.expect(window("2026-10-21", "2026-11-21"), invoices())
    api.expect(
        paid_window("2026-10-21", "2026-11-21", "2026-10-20"),
        invoices(invoice("5", "2024-01-01", "2025-01-01 00:00:00", "2026-11-15")),
    )

    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of("invoices", SAVED))

    assert [r["INVOICE_ID"] for r in records(output)] == ["5"]


def test_lookback_days_sets_how_far_back_the_windows_start(api: FakeFastbill) -> None:
    api.expect(window("2026-11-13", "2026-11-21"), invoices())
    api.expect(paid_window("2026-11-13", "2026-11-21", "2026-11-12"), invoices())

    run_read(
        {**CFG, "lookback_days": 7}, "invoices", mode=INCREMENTAL, state=state_of("invoices", SAVED)
    )

    assert len(api.mock.calls) == 2


def test_paging_keeps_the_filter_the_sync_started_with(api: FakeFastbill) -> None:
    full = [invoice(str(i), "2026-11-01", f"2026-11-21 11:{i % 60:02d}:00") for i in range(100)]
    api.expect(window("2026-10-21", "2026-11-21"), invoices(*full))
    api.expect(
        window("2026-10-21", "2026-11-21", offset=100), invoices(invoice("100", "2026-11-02", None))
    )
    api.expect(paid_window("2026-10-21", "2026-11-21", "2026-10-20"), invoices())

    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of("invoices", SAVED))

    assert len(records(output)) == 101 and len(api.mock.calls) == 3


def test_an_interrupted_first_sync_resumes_at_the_next_window(api: FakeFastbill) -> None:
    api.expect(
        window("2025-01-01", "2025-12-31"),
        invoices(invoice("2", "2025-05-01", "2025-05-01 08:00:00")),
    )
    api.expect(window("2026-01-01", "2026-11-21"), invoices())
    api.expect(paid_window("2024-01-01", "2026-11-21", "2023-12-31"), invoices())
    resume = {"resume": marker("created", "2024-01-01", **{"from": "2025-01-01"})}

    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of("invoices", resume))

    assert [r["INVOICE_ID"] for r in records(output)] == ["2"]
    assert states(output)[-1] == {"LASTUPDATE": "2025-05-01T08:00:00", "synced_until": "2026-11-21"}


def test_a_sync_interrupted_after_its_created_pass_resumes_with_the_paid_pass(
    api: FakeFastbill,
) -> None:
    api.expect(paid_window("2026-10-21", "2026-11-21", "2026-10-20"), invoices())

    output = run_read(
        CFG,
        "invoices",
        mode=INCREMENTAL,
        state=state_of("invoices", {**SAVED, "resume": marker("paid", "2026-10-21")}),
    )

    assert records(output) == [] and states(output)[-1] == {**SAVED, "synced_until": "2026-11-21"}


@pytest.mark.parametrize(
    "saved",
    [
        {"LASTUPDATE": "2999-01-01T00:00:00", "synced_until": "2999-01-01"},  # was silent
        {"synced_until": "0001-01-02"},  # crashed with OverflowError
        {"LASTUPDATE": "2099-01-01T00:00:00", "synced_until": "2026-11-20"},
    ],
)
def test_a_state_date_out_of_range_is_a_config_error_naming_the_stream(
    api: FakeFastbill, saved: dict[str, Any]
) -> None:
    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of("invoices", saved))

    assert records(output) == [] and len(api.mock.calls) == 0
    errors = [e.trace.error for e in output.errors]
    assert errors and all(e.failure_type == FailureType.config_error for e in errors)
    assert "Reset the stream invoices" in errors[0].message
    assert not output.is_in_logs("OverflowError|Something went wrong")


@pytest.mark.parametrize(
    "saved",
    [
        {"INVOICE_DATE": "2024-05-01"},  # an older format
        {"__ab_full_refresh_sync_complete": True},
        {"LASTUPDATE": "yesterday", "synced_until": "2026-01-01"},
        {"synced_until": 20260101},
        {"resume": {"pass": "sideways"}},
    ],
)
def test_a_state_this_connector_did_not_write_starts_from_start_date_with_a_warning(
    api: FakeFastbill, saved: dict[str, Any]
) -> None:
    for start, end in (
        ("2024-01-01", "2024-12-31"),
        ("2025-01-01", "2025-12-31"),
        ("2026-01-01", "2026-11-21"),
    ):
        api.expect(window(start, end), invoices())
    api.expect(paid_window("2024-01-01", "2026-11-21", "2023-12-31"), invoices())

    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of("invoices", saved))

    assert output.errors == [] and len(api.mock.calls) == 4
    assert output.is_in_logs("Ignoring saved state .* Reading from start_date instead")


def test_records_outside_the_window_are_dropped_when_the_server_ignores_the_filter(
    api: FakeFastbill,
) -> None:
    api.expect(
        window("2024-01-01", "2024-12-31"),
        invoices(invoice("1", "2024-02-01", None), invoice("2", "2025-02-01", None)),
    )
    api.expect(
        window("2025-01-01", "2025-12-31"),
        invoices(invoice("1", "2024-02-01", None), invoice("2", "2025-02-01", None)),
    )
    api.expect(
        window("2026-01-01", "2026-11-21"),
        invoices(invoice("1", "2024-02-01", None), invoice("2", "2025-02-01", None)),
    )
    api.expect(paid_window("2024-01-01", "2026-11-21", "2023-12-31"), invoices())

    output = run_read(CFG, "invoices", mode=INCREMENTAL)

    assert [r["INVOICE_ID"] for r in records(output)] == ["1", "2"]


def test_estimates_send_both_documented_date_filters(api: FakeFastbill) -> None:
    estimate = {"ESTIMATE_ID": "1", "ESTIMATE_DATE": "2026-11-03", "LASTUPDATE": "2026-11-21 07:00"}
    api.expect(
        body("estimate.get", START_DATE="2026-10-21", END_DATE="2026-11-21",
             START_ESTIMATE_DATE="2026-10-21", END_ESTIMATE_DATE="2026-11-21"),
        page("ESTIMATES", [estimate]),
    )  # fmt: skip

    output = run_read(CFG, "estimates", mode=INCREMENTAL, state=state_of("estimates", SAVED))

    assert [r["ESTIMATE_ID"] for r in records(output)] == ["1"]  # no paid pass for estimates


def test_time_entries_use_their_date_as_cursor(api: FakeFastbill) -> None:
    api.expect(
        body("time.get", START_DATE="2026-11-11", END_DATE="2026-11-21"),
        page("TIMES", [{"TIME_ID": "9", "DATE": "2026-11-12 00:00:00", "MINUTES": "30"}]),
    )
    saved = {"DATE": "2026-11-20", "synced_until": "2026-11-20"}

    output = run_read(
        {**CFG, "lookback_days": 9},
        "time_entries",
        mode=INCREMENTAL,
        state=state_of("time_entries", saved),
    )

    # Time entries carry no LASTUPDATE: re-read entries in the lookback are emitted again.
    assert records(output) == [{"TIME_ID": "9", "DATE": "2026-11-12", "MINUTES": 30}]
    assert states(output)[-1] == saved | {"synced_until": "2026-11-21"}


def test_end_date_bounds_the_last_window(api: FakeFastbill) -> None:
    api.expect(window("2024-01-01", "2024-06-30"), invoices())
    api.expect(paid_window("2024-01-01", "2024-06-30", "2023-12-31"), invoices())

    run_read({**CFG, "end_date": "2024-06-30"}, "invoices", mode=INCREMENTAL)

    assert len(api.mock.calls) == 2


def test_a_full_refresh_of_an_incremental_stream_reads_everything_without_a_filter(
    api: FakeFastbill,
) -> None:
    api.expect(body("invoice.get"), invoices(invoice("1", "2015-01-01", "2015-01-02 00:00:00")))

    output = run_read(config(), "invoices", state=state_of("invoices", SAVED))

    assert [r["INVOICE_ID"] for r in records(output)] == ["1"]


def test_a_full_refresh_with_a_start_date_emits_what_a_first_incremental_sync_emits(
    api: FakeFastbill,
) -> None:
    api.expect(
        window("2024-01-01", "2026-11-21"), invoices(invoice("1", "2024-02-01", "2024-02-01"))
    )
    api.expect(
        paid_window("2024-01-01", "2026-11-21", "2023-12-31"),
        invoices(
            invoice("1", "2024-02-01", "2024-02-01", "2024-03-01"),
            invoice("0", "2023-11-01", "2024-02-01", "2024-01-05"),
        ),
    )

    output = run_read(CFG, "invoices", state=state_of("invoices", SAVED))

    assert [r["INVOICE_ID"] for r in records(output)] == ["1", "0"]


def test_a_first_sync_from_the_default_start_reads_old_history_in_one_window(
    api: FakeFastbill,
) -> None:
    # One call per empty year since 2010 would burn a small plan's hourly quota.
    api.expect(window("2010-01-01", "2024-12-31"), invoices())
    api.expect(window("2025-01-01", "2025-12-31"), invoices())
    api.expect(window("2026-01-01", "2026-11-21"), invoices())

    output = run_read(config(), "invoices", mode=INCREMENTAL)

    assert len(api.mock.calls) == 3 and len(output.state_messages) == 3


def test_a_read_that_runs_past_midnight_saves_the_end_of_the_windows_it_read(
    api: FakeFastbill, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = iter([TODAY, date(2026, 11, 22)])  # the clock turns once the windows are planned
    monkeypatch.setattr("source_fastbill.streams.fastbill_today", lambda: next(days, TODAY))
    api.expect(window("2026-10-21", "2026-11-21"), invoices())
    api.expect(paid_window("2026-10-21", "2026-11-21", "2026-10-20"), invoices())

    saved = {"LASTUPDATE": "2026-11-20T10:00:00", "synced_until": "2026-11-20"}
    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of("invoices", saved))

    assert states(output)[-1]["synced_until"] == "2026-11-21"
