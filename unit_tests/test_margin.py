"""A quiet sync emits nothing: FastBill's German clock, the DST hours, the state's memory."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.state_builder import StateBuilder
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill import clock as clocks
from source_fastbill.incremental import CURSOR_MARGIN, SyncState, cursor_cap, paid_cap
from source_fastbill.margin import MAX_REMEMBERED, Seen
from unit_tests.conftest import FakeFastbill, body, config, cursor_state, page, records, run_read
from unit_tests.fake_time import FakeClock

TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)  # 13:00 in Berlin
CFG = config(start_date="2024-01-01")
INCREMENTAL = SyncMode.incremental
LOG = logging.getLogger("test")
SAVED = {
    "LASTUPDATE": "2026-11-20T10:00:00",
    "PAID_DATE": "2026-11-01",
    "synced_until": "2026-11-20",
}
WINDOW = body("invoice.get", START_DATE="2026-10-21", END_DATE="2026-11-21")
PAID = body(
    "invoice.get", START_PAID_DATE="2026-10-21", END_PAID_DATE="2026-11-21", END_DATE="2026-10-20"
)
# The windows of a sync from a state saved on TODAY: 30 days of lookback from the 21st.
NEXT_WINDOW = body("invoice.get", START_DATE="2026-10-22", END_DATE="2026-11-21")
NEXT_PAID = body(
    "invoice.get", START_PAID_DATE="2026-10-22", END_PAID_DATE="2026-11-21", END_DATE="2026-10-21"
)


@pytest.fixture(autouse=True)
def at_one_pm_in_berlin(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock.now = NOW.timestamp()
    monkeypatch.setattr("source_fastbill.cursor.fastbill_today", lambda: TODAY)
    return clock


def invoice(id_: str, changed: str, paid: str | None = None, day: str = "2026-11-20") -> Any:
    return {"INVOICE_ID": id_, "INVOICE_DATE": day, "LASTUPDATE": changed, "PAID_DATE": paid}


def answer(*rows: dict[str, Any]) -> dict[str, Any]:
    return page("INVOICES", list(rows))


def sync(state: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """One incremental read of invoices: the keys emitted and the final state."""
    output = run_read(
        CFG,
        "invoices",
        mode=INCREMENTAL,
        state=StateBuilder().with_stream_state("invoices", state).build(),
    )
    final = cursor_state(output.state_messages[-1])
    return [r["INVOICE_ID"] for r in records(output)], final


def test_a_quiet_sync_seconds_after_the_last_emits_nothing(
    api: FakeFastbill, clock: FakeClock
) -> None:
    # FastBill's clock reads 13:00 at the start: the cursor stops at 12:50, German time.
    dated = answer(
        invoice("1", "2026-11-21 12:40:00"),  # before the margin: behind the cursor
        invoice("2", "2026-11-21 12:55:00"),  # inside the margin: remembered
        invoice("3", "2026-11-21 12:59:59", paid="2026-11-21"),  # paid today: remembered
    )
    paid = answer(invoice("4", "2026-11-20 09:00:00", "2026-11-21", day="2023-05-02"))
    for window, paid_window in ((WINDOW, PAID), (NEXT_WINDOW, NEXT_PAID)):
        api.expect(window, dated)
        api.expect(paid_window, paid)

    first, saved = sync(SAVED)
    clock.now += 30
    second, again = sync(saved)
    clock.now += 20 * 60  # 13:20: invoice 2 is behind the cursor now
    third, later = sync(again)

    assert first == ["1", "2", "3", "4"] and second == [] and third == []
    assert saved == {
        "LASTUPDATE": "2026-11-21T12:50:00",
        "PAID_DATE": "2026-11-20",
        "synced_until": "2026-11-21",
        "delivered": {
            "2": ["2026-11-21T12:55:00", None],
            "3": ["2026-11-21T12:59:59", "2026-11-21"],
            "4": ["2026-11-20T09:00:00", "2026-11-21"],
        },
    }
    # What the quiet sync skipped stays remembered; its cursor moves to its own cap.
    assert again == saved | {"LASTUPDATE": "2026-11-21T12:50:30"}
    assert later == {
        "LASTUPDATE": "2026-11-21T12:59:59",  # moved past what was read, delivered before
        "PAID_DATE": "2026-11-20",
        "synced_until": "2026-11-21",
        "delivered": {  # paid today: the paid position stops at yesterday
            "3": ["2026-11-21T12:59:59", "2026-11-21"],
            "4": ["2026-11-20T09:00:00", "2026-11-21"],
        },
    }


def test_a_remembered_record_changed_since_is_delivered(
    api: FakeFastbill, clock: FakeClock
) -> None:
    remembered = {
        **SAVED,
        "LASTUPDATE": "2026-11-21T12:50:00",
        "delivered": {
            "2": ["2026-11-21T12:55:00", None],  # edited again since (LASTUPDATE moved)
            "3": ["2026-11-21T12:56:00", None],  # paid since, LASTUPDATE unmoved
            "5": ["2026-11-21T12:57:00", None],  # unchanged
        },
    }
    api.expect(
        WINDOW,
        answer(
            invoice("2", "2026-11-21 12:58:00"),
            invoice("3", "2026-11-21 12:56:00", paid="2026-11-21"),
            invoice("5", "2026-11-21 12:57:00"),
            invoice("6", "2026-11-21 12:57:00"),  # same LASTUPDATE, another key
        ),
    )
    api.expect(PAID, answer())
    clock.now += 600

    emitted, _ = sync(remembered)

    assert emitted == ["2", "3", "6"]


def test_a_change_during_the_sync_arrives_with_the_next_one(
    api: FakeFastbill, clock: FakeClock
) -> None:
    # Invoice 2 is delivered as of 12:55; an edit at 13:00:20, while the sync pages on, lands
    # after its page was read: the next sync sees another version and delivers it.
    api.expect(WINDOW, answer(invoice("2", "2026-11-21 12:55:00")))
    api.expect(PAID, answer())
    api.expect(NEXT_WINDOW, answer(invoice("2", "2026-11-21 13:00:20")))
    api.expect(NEXT_PAID, answer())
    first, saved = sync(SAVED)
    clock.now += 60

    second, _ = sync(saved)

    assert first == ["2"] and second == ["2"]


def test_the_memory_is_bounded_and_what_it_leaves_out_comes_once_more() -> None:
    started = NOW
    read = [Seen(str(n), (f"2026-11-21T12:5{n % 10}:{n % 60:02d}", None), "2026-11-20") for n in
            range(MAX_REMEMBERED + 500)]  # fmt: skip
    saved = SyncState.parse(SAVED, "LASTUPDATE", LOG).finished(
        None, None, TODAY, started, TODAY, read
    )

    assert len(saved.delivered) == MAX_REMEMBERED
    assert len(str(saved.to_dict("LASTUPDATE"))) < 60 * MAX_REMEMBERED
    skipped = [one for one in read if not saved.news_by_position(one)]
    assert skipped == []  # all of them are past the cursor: the memory alone decides
    repeated = [one.key for one in read if one.key not in saved.delivered]
    assert len(repeated) == 500


def test_the_memory_holds_only_records_past_the_saved_positions() -> None:
    read = [
        Seen("old", ("2026-11-21T12:49:59", None), "2026-11-20"),  # behind the cursor
        Seen("new", ("2026-11-21T12:50:01", None), "2026-11-20"),
        Seen("paid", ("2026-11-01T08:00:00", "2026-11-21"), "2026-11-02"),
        Seen("paid-yesterday", ("2026-11-01T08:00:00", "2026-11-20"), "2026-11-02"),
        Seen("tomorrow", ("2026-11-01T08:00:00", None), "2026-11-22"),
    ]
    saved = SyncState.parse(SAVED, "LASTUPDATE", LOG).finished(
        "2026-11-21T12:50:01", "2026-11-21", TODAY, NOW, TODAY, read
    )

    assert set(saved.delivered) == {"new", "paid", "tomorrow"}


@pytest.mark.parametrize(
    "raw",
    [
        {"INVOICE_DATE": "2024-05-01"},
        {**SAVED, "delivered": ["2"]},
        {**SAVED, "delivered": {"2": "2026-11-21T12:55:00"}},
        {**SAVED, "delivered": {"2": ["yesterday", None]}},
        {**SAVED, "delivered": {"2": ["2026-11-21T12:55:00", None, "x"]}},
    ],
)
def test_a_memory_this_connector_did_not_write_starts_over(raw: dict[str, Any]) -> None:
    assert SyncState.parse(raw, "LASTUPDATE", LOG) == SyncState()


@pytest.mark.parametrize(
    "raw",
    [
        SAVED,  # 1.x without memory
        {"LASTUPDATE": "2026-11-20T10:00:00", "synced_until": "2026-11-20"},
        {**SAVED, "resume": {"v": 2, "pass": "paid", "start": "2026-10-21", "end": "2026-11-21"}},
        {"resume": {"pass": "created", "from": "2025-01-01"}},  # 1.1.0's marker: parsed
    ],
)
def test_states_written_before_the_memory_still_parse(raw: dict[str, Any]) -> None:
    state = SyncState.parse(raw, "LASTUPDATE", LOG)

    assert state != SyncState() and state.delivered == {}
    assert state.to_dict("LASTUPDATE") == raw


# FastBill's clock: German time, the hour that repeats in October, the hour skipped in March


@pytest.mark.parametrize(
    ("started", "cap"),
    [
        (NOW, "2026-11-21T12:50:00"),  # CET: UTC+1
        (datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc), "2026-07-01T13:50:00"),  # CEST
        # 02:45 CEST, in the first of the two hours from 02:00: before the repeated hour.
        (datetime(2026, 10, 25, 0, 45, tzinfo=timezone.utc), "2026-10-25T01:59:59"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc), "2026-10-25T02:20:00"),  # 02:30 CET
        (datetime(2026, 10, 25, 1, 5, tzinfo=timezone.utc), "2026-10-25T01:59:59"),  # 02:05 CET
        (datetime(2026, 3, 29, 1, 5, tzinfo=timezone.utc), "2026-03-29T01:55:00"),  # 03:05 CEST
    ],
)
def test_the_cursor_cap_is_fastbills_reading_less_the_margin(started: datetime, cap: str) -> None:
    assert cursor_cap(started) == cap


def test_the_paid_cap_is_the_day_before_fastbills_today() -> None:
    # 23:30 UTC on the 21st is 00:30 on the 22nd in Berlin.
    assert paid_cap(datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)) == "2026-11-21"


TRANSITIONS = [
    datetime(year, month, 31, 1, tzinfo=timezone.utc) - timedelta(days=(weekday + 1) % 7)
    for year in range(2024, 2032)
    for month in (3, 10)
    for weekday in [datetime(year, month, 31).weekday()]
]  # the last Sunday of March and of October, 01:00 UTC


@given(
    transition=st.sampled_from(TRANSITIONS),
    offset=st.integers(min_value=-3 * 3600, max_value=3 * 3600),
    later=st.integers(min_value=0, max_value=4 * 3600),
)
def test_every_change_at_or_after_the_start_reads_later_than_the_cap(
    transition: datetime, offset: int, later: int
) -> None:
    started = transition + timedelta(seconds=offset)
    cap = cursor_cap(started)
    changed = clocks.fastbill_reading(started + timedelta(seconds=later))

    assert changed.strftime("%Y-%m-%dT%H:%M:%S") > cap  # news next time: never skipped
    # The margin stays minutes; only in the repeated hour does the cap go back up to an hour.
    usual = clocks.fastbill_reading(started - CURSOR_MARGIN).strftime("%Y-%m-%dT%H:%M:%S")
    if not clocks.read_again_later(started - CURSOR_MARGIN):
        assert cap == usual
    else:
        hour_earlier = clocks.fastbill_reading(started - CURSOR_MARGIN - timedelta(hours=1))
        assert hour_earlier.strftime("%Y-%m-%dT%H:%M:%S") <= cap < usual


def test_the_transitions_are_the_ones_of_berlin() -> None:
    for moment in TRANSITIONS:
        before = clocks.fastbill_reading(moment - timedelta(seconds=1))
        after = clocks.fastbill_reading(moment)
        assert moment.weekday() == 6 and after - before != timedelta(seconds=1)
