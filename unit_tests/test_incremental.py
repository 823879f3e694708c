"""Incremental sync: exact FILTERs per window, checkpoints, the paid pass, lookback dedup."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.state_builder import StateBuilder
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill.config import FastbillConfig
from source_fastbill.incremental import Plan, SyncState
from source_fastbill.streams import INVOICE_DATES, PAID_DATES
from unit_tests.conftest import FakeFastbill, body, config, cursor_state, page, records, run_read

TODAY = date(2026, 11, 21)
INCREMENTAL = SyncMode.incremental
CFG = config(start_date="2024-01-01")


@pytest.fixture(autouse=True)
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("source_fastbill.cursor.fastbill_today", lambda: TODAY)


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
    return [cursor_state(m) for m in output.state_messages]


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
    monkeypatch.setattr("source_fastbill.cursor.fastbill_today", lambda: next(days, TODAY))
    api.expect(window("2026-10-21", "2026-11-21"), invoices())
    api.expect(paid_window("2026-10-21", "2026-11-21", "2026-10-20"), invoices())

    saved = {"LASTUPDATE": "2026-11-20T10:00:00", "synced_until": "2026-11-20"}
    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of("invoices", saved))

    assert states(output)[-1]["synced_until"] == "2026-11-21"


# The exact filters of every pass (issue 17 §1): the paid pass asks for the records dated before
# the created pass began and paid since the last sync; the created pass read all the others.

LOG = logging.getLogger("test")
FIRST_SYNC_WINDOWS = [
    {"START_DATE": "2024-01-01", "END_DATE": "2024-12-31"},
    {"START_DATE": "2025-01-01", "END_DATE": "2025-12-31"},
    {"START_DATE": "2026-01-01", "END_DATE": "2026-11-21"},
]
PAID_SINCE_START = {
    "START_PAID_DATE": "2024-01-01",
    "END_PAID_DATE": "2026-11-21",
    "END_DATE": "2023-12-31",
}
LOOKBACK = {"START_DATE": "2026-10-21", "END_DATE": "2026-11-21"}
PAID_SINCE_LOOKBACK = {
    "START_PAID_DATE": "2026-10-21",
    "END_PAID_DATE": "2026-11-21",
    "END_DATE": "2026-10-20",
}


def plan(**settings: Any) -> Plan:
    cfg = FastbillConfig.from_mapping(config(**settings))
    return Plan(cfg, INVOICE_DATES, PAID_DATES, today=TODAY)


@pytest.mark.parametrize(
    ("settings", "saved", "filters"),
    [
        pytest.param({"start_date": "2024-01-01"}, {}, [*FIRST_SYNC_WINDOWS, PAID_SINCE_START],
                     id="first sync from start_date"),
        pytest.param({}, {}, [
            {"START_DATE": "2010-01-01", "END_DATE": "2024-12-31"}, *FIRST_SYNC_WINDOWS[1:]
        ], id="first sync without start_date: all history by date, no paid pass"),
        pytest.param({"start_date": "2024-01-01"}, SAVED, [LOOKBACK, PAID_SINCE_LOOKBACK],
                     id="incremental"),
        pytest.param({}, SAVED, [LOOKBACK, PAID_SINCE_LOOKBACK],
                     id="incremental without start_date: old invoices paid lately"),
        pytest.param({"start_date": "2024-01-01", "lookback_days": 0}, SAVED, [
            {"START_DATE": "2026-11-20", "END_DATE": "2026-11-21"},
            {"START_PAID_DATE": "2026-11-20", "END_PAID_DATE": "2026-11-21",
             "END_DATE": "2026-11-19"},
        ], id="incremental without lookback"),
        pytest.param({"start_date": "2026-11-01"}, SAVED, [
            {"START_DATE": "2026-11-01", "END_DATE": "2026-11-21"},
            {"START_PAID_DATE": "2026-11-01", "END_PAID_DATE": "2026-11-21",
             "END_DATE": "2026-10-31"},
        ], id="incremental, lookback before start_date: nothing paid before it"),
        pytest.param({}, {"synced_until": "2010-01-20"}, [
            {"START_DATE": "2010-01-01", "END_DATE": "2024-12-31"}, *FIRST_SYNC_WINDOWS[1:]
        ], id="incremental reaching the default start_date: no paid pass"),
        pytest.param({"start_date": "2024-01-01"}, {
            "resume": marker("created", "2024-01-01", **{"from": "2025-01-01"})
        }, [*FIRST_SYNC_WINDOWS[1:], PAID_SINCE_START], id="resume in the created pass"),
        pytest.param({"start_date": "2024-01-01"},
                     {**SAVED, "resume": marker("paid", "2026-10-21")},
                     [PAID_SINCE_LOOKBACK], id="resume at the paid pass"),
    ],
)  # fmt: skip
def test_each_pass_of_an_incremental_sync_sends_exactly_these_filters(
    settings: dict[str, Any], saved: dict[str, Any], filters: list[dict[str, str]]
) -> None:
    planned = plan(**settings)
    state = planned.sane(SyncState.parse(saved, "LASTUPDATE", LOG), LOG, "invoices")

    assert [s["filter"] for s in planned.incremental(state)] == filters


@pytest.mark.parametrize(
    ("settings", "filters"),
    [
        pytest.param({"start_date": "2024-01-01"}, [
            {"START_DATE": "2024-01-01", "END_DATE": "2026-11-21"}, PAID_SINCE_START
        ], id="with start_date"),
        pytest.param({}, [{}], id="without start_date: everything, unfiltered"),
        pytest.param({"end_date": "2025-06-30"}, [
            {"START_DATE": "2010-01-01", "END_DATE": "2025-06-30"}
        ], id="without start_date, with end_date: no paid pass"),
        pytest.param({"start_date": "2024-01-01", "end_date": "2025-06-30"}, [
            {"START_DATE": "2024-01-01", "END_DATE": "2025-06-30"},
            {"START_PAID_DATE": "2024-01-01", "END_PAID_DATE": "2025-06-30",
             "END_DATE": "2023-12-31"},
        ], id="with start_date and end_date"),
    ],
)  # fmt: skip
def test_each_pass_of_a_full_refresh_sends_exactly_these_filters(
    settings: dict[str, Any], filters: list[dict[str, str]]
) -> None:
    assert [s["filter"] for s in plan(**settings).full_refresh(windowed=False)] == filters


def test_a_paid_pass_answered_as_if_end_date_were_ignored_delivers_nothing_twice(
    api: FakeFastbill,
) -> None:
    api.expect(window("2026-10-21", "2026-11-21"), invoices(invoice("10", "2026-10-25", None)))
    api.expect(
        paid_window("2026-10-21", "2026-11-21", "2026-10-20"),
        invoices(
            invoice("3", "2023-02-01", "2026-11-21 10:30:00", "2026-11-21"),  # asked for
            invoice("10", "2026-10-25", None, "2026-11-21"),  # dated in the created pass
            invoice("11", "2026-11-03", "2026-11-21 10:00:00", "2026-11-21"),  # and not news there
            invoice("12", "2027-01-04", "2026-11-21 10:00:00", "2026-11-21"),  # after end_date
        ),
    )

    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of("invoices", SAVED))

    assert [r["INVOICE_ID"] for r in records(output)] == ["10", "3"]


DAYS = st.dates(min_value=date(2011, 1, 1), max_value=TODAY)


@given(
    start=st.one_of(st.none(), DAYS),
    synced=st.one_of(st.none(), DAYS),
    lookback=st.integers(min_value=0, max_value=3650),
)
def test_the_paid_pass_begins_where_the_created_pass_does_not_reach(
    start: date | None, synced: date | None, lookback: int
) -> None:
    settings: dict[str, Any] = {"lookback_days": lookback}
    if start:
        settings["start_date"] = start.isoformat()
    saved = {"synced_until": synced.isoformat()} if synced else {}
    planned = plan(**settings)
    slices = list(planned.incremental(SyncState.parse(saved, "LASTUPDATE", LOG)))

    created = [s["window"] for s in slices if s["pass"] == "created"]
    paid = [s for s in slices if s["pass"] == "paid"]
    days = [(date.fromisoformat(w["start"]), date.fromisoformat(w["end"])) for w in created]
    assert all(a[1] + timedelta(days=1) == b[0] for a, b in pairwise(days))
    assert days[-1][1] == TODAY  # the created pass reads on to the end, window after window
    if days[0][0] <= date(2010, 1, 1):
        assert paid == []  # all history read by date: nothing older to be paid
        return
    (only,) = paid
    assert only["filter"]["END_DATE"] == (days[0][0] - timedelta(days=1)).isoformat()
    assert only["filter"]["START_PAID_DATE"] >= (start or date(2010, 1, 1)).isoformat()
    assert only["filter"]["END_PAID_DATE"] == TODAY.isoformat()
