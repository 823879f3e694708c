"""Clocks and dates: caps follow the safer clock, every date is range-checked, markers check out."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.state_builder import StateBuilder
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill import clock as clocks
from source_fastbill.config import ConfigError, FastbillConfig
from source_fastbill.incremental import (
    CREATED,
    CURSOR_MARGIN,
    PAID,
    Plan,
    SyncState,
    cursor_cap,
)
from source_fastbill.streams import INVOICE_DATES, PAID_DATES
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
from unit_tests.fake_time import FakeClock

TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)  # 13:00 in Berlin, on TODAY
CFG = config(start_date="2024-01-01")
INCREMENTAL = SyncMode.incremental
LOG = logging.getLogger("test")


@pytest.fixture(autouse=True)
def at_noon(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock.now = NOW.timestamp()
    monkeypatch.setattr("source_fastbill.cursor.fastbill_today", lambda: TODAY)
    return clock


def answer_at(server: datetime) -> requests.Response:
    response = requests.Response()
    response.headers["Date"] = format_datetime(server, usegmt=True)
    return response


def window(start: str, end: str) -> dict[str, Any]:
    return body("invoice.get", START_DATE=start, END_DATE=end)


def paid_window(start: str, end: str, dated_before: str) -> dict[str, Any]:
    """The paid pass: paid in [start, end] and dated on or before `dated_before`, the day before
    the created pass began (it read the others)."""
    return body("invoice.get", START_PAID_DATE=start, END_PAID_DATE=end, END_DATE=dated_before)


def invoices(*changed: str, day: str = "2026-11-20") -> dict[str, Any]:
    rows = [
        {"INVOICE_ID": str(n), "INVOICE_DATE": day, "LASTUPDATE": c, "PAID_DATE": None}
        for n, c in enumerate(changed)
    ]
    return page("INVOICES", rows)


def state_of(value: dict[str, Any]) -> list[Any]:
    return StateBuilder().with_stream_state("invoices", value).build()


def final_state(output: Any) -> dict[str, Any]:
    return output.state_messages[-1].state.stream.stream_state.__dict__


SAVED = {"LASTUPDATE": "2026-11-20T10:00:00", "synced_until": "2026-11-20"}


@pytest.mark.parametrize(
    "server",
    [NOW + timedelta(hours=3), datetime(2099, 1, 1, tzinfo=timezone.utc)],
    ids=["three-hours-fast", "2099"],
)
def test_a_fast_server_clock_does_not_let_the_cursor_pass_the_local_clock(
    api: FakeFastbill, server: datetime
) -> None:
    # An edit made at 12:30 UTC, during or after this sync, must still be news next time.
    header = {"Date": format_datetime(server, usegmt=True)}
    api.expect(window("2026-10-21", "2026-11-21"), invoices("2026-11-21 14:00:00"), headers=header)
    api.expect(paid_window("2026-10-21", "2026-11-21", "2026-10-20"), invoices(), headers=header)

    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of(SAVED))

    assert final_state(output)["LASTUPDATE"] == cursor_cap(NOW) == "2026-11-21T12:50:00"
    assert output.is_in_logs("FastBill's clock")


def test_a_server_clock_in_1970_does_not_pin_the_cursor(api: FakeFastbill) -> None:
    header = {"Date": "Thu, 01 Jan 1970 00:00:00 GMT"}
    api.expect(window("2026-10-21", "2026-11-21"), invoices("2026-11-21 09:00:00"), headers=header)
    api.expect(paid_window("2026-10-21", "2026-11-21", "2026-10-20"), invoices(), headers=header)

    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of(SAVED))

    assert final_state(output)["LASTUPDATE"] == "2026-11-21T09:00:00"
    assert output.is_in_logs("it is disregarded")


def test_a_future_end_date_is_read_but_synced_until_is_saved_as_today(api: FakeFastbill) -> None:
    api.expect(window("2026-10-21", "2026-12-31"), invoices())  # future-dated invoices exist
    api.expect(window("2027-01-01", "2027-12-31"), invoices())
    api.expect(paid_window("2026-10-21", "2027-12-31", "2026-10-20"), invoices())
    cfg = config(start_date="2024-01-01", end_date="2027-12-31")

    output = run_read(cfg, "invoices", mode=INCREMENTAL, state=state_of(SAVED))

    assert final_state(output)["synced_until"] == "2026-11-21"


@pytest.mark.parametrize("end_date", ["2099-12-31", "9999-12-31", "1970-01-01"])
def test_an_end_date_out_of_range_fails_check_naming_the_setting(
    api: FakeFastbill, tmp_path: Path, end_date: str
) -> None:
    status, message = check_status(run_check(config(end_date=end_date), tmp_path))

    assert status == "FAILED" and message and f"end_date {end_date} lies outside" in message
    assert len(api.mock.calls) == 0


def test_a_foreign_paid_marker_is_not_followed_and_the_history_is_read(
    api: FakeFastbill,
) -> None:
    # 1.1.0 wrote exactly this when a first sync stopped in its paid pass: it cannot be checked.
    api.expect(
        window("2024-01-01", "2024-12-31"), invoices("2024-05-01 08:00:00", day="2024-05-01")
    )
    api.expect(window("2025-01-01", "2025-12-31"), invoices())
    api.expect(window("2026-01-01", "2026-11-21"), invoices())
    api.expect(paid_window("2024-01-01", "2026-11-21", "2023-12-31"), invoices())

    output = run_read(
        CFG, "invoices", mode=INCREMENTAL, state=state_of({"resume": {"pass": "paid"}})
    )

    assert len(records(output)) == 1 and len(api.mock.calls) == 4
    assert output.is_in_logs("Ignoring the saved state's resume marker .* Reading from start_date")


def test_an_old_created_marker_reads_again_from_the_saved_position(api: FakeFastbill) -> None:
    api.expect(window("2026-10-21", "2026-11-21"), invoices())
    api.expect(paid_window("2026-10-21", "2026-11-21", "2026-10-20"), invoices())
    old = {**SAVED, "resume": {"pass": "created", "from": "2026-11-21"}}

    output = run_read(CFG, "invoices", mode=INCREMENTAL, state=state_of(old))

    assert len(api.mock.calls) == 2 and "resume" not in final_state(output)


# Properties -------------------------------------------------------------------------------


@given(offset=st.integers(min_value=-60 * 366 * 24, max_value=80 * 365 * 24))
def test_the_safe_moment_never_passes_either_plausible_clock(offset: int) -> None:
    server = NOW + timedelta(hours=offset)
    moment = clocks.safe_now(answer_at(server))
    local = clocks.local_now()

    assert moment <= local
    if clocks.plausible(server, local):
        assert moment <= server
    # The cap is FastBill's (German) reading of the earlier clock, less the margin.
    assert cursor_cap(moment) <= clocks.fastbill_reading(local - CURSOR_MARGIN).isoformat()


@given(
    offset=st.integers(min_value=-60 * 366 * 24, max_value=80 * 365 * 24),
    changed=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2999, 1, 1)),
)
def test_the_saved_cursor_is_never_after_the_safe_moment_nor_today(
    offset: int, changed: datetime
) -> None:
    moment = clocks.safe_now(answer_at(NOW + timedelta(hours=offset)))
    saved = SyncState(synced_until=TODAY).finished(
        changed.isoformat(timespec="seconds"), None, date(2027, 12, 31), moment, TODAY
    )

    assert saved.cursor and saved.cursor <= cursor_cap(clocks.local_now())
    assert saved.synced_until == TODAY


DATE_TEXT = st.one_of(
    st.dates().map(date.isoformat),
    st.text(alphabet="0123456789-", max_size=12),
    st.sampled_from(["9999-12-31", "0001-01-01", "2099-12-31", "2026-02-30"]),
)


@given(start=DATE_TEXT, end=DATE_TEXT)
def test_any_date_setting_is_a_clean_config_error_or_a_date_in_range(start: str, end: str) -> None:
    try:
        parsed = FastbillConfig.from_mapping(config(start_date=start, end_date=end))
    except ConfigError as error:
        assert "start_date" in error.message or "end_date" in error.message
        return
    assert date(2000, 1, 1) <= parsed.start_date <= (parsed.end_date or parsed.start_date)
    assert parsed.end_date is None or parsed.end_date.year <= TODAY.year + 5


MARKER = st.fixed_dictionaries(
    {"pass": st.sampled_from([CREATED, PAID])},
    optional={
        "v": st.sampled_from([1, 2, "2"]),
        "from": st.dates().map(date.isoformat),
        "start": st.dates().map(date.isoformat),
        "end": st.dates().map(date.isoformat),
    },
)
STATE = st.fixed_dictionaries(
    {},
    optional={
        "LASTUPDATE": st.datetimes().map(lambda d: d.isoformat(sep=" ", timespec="seconds")),
        "synced_until": st.dates().map(date.isoformat),
        "resume": MARKER,
    },
)


@given(raw=STATE)
def test_no_state_shape_skips_the_created_history_silently(raw: dict[str, Any]) -> None:
    plan = Plan(FastbillConfig.from_mapping(CFG), INVOICE_DATES, PAID_DATES, today=TODAY)
    state = SyncState.parse(raw, "LASTUPDATE", LOG)
    try:
        kept = plan.sane(state, LOG, "invoices")
    except ConfigError as error:
        assert "stream invoices" in error.message
        return
    slices = list(plan.incremental(kept))  # never an OverflowError or another crash
    if kept.resume is None:
        # No marker: the created pass starts at the saved position less lookback, or start_date.
        assert slices[0]["pass"] == CREATED
        return
    # A marker is followed only if it is this version's and its plan began no later.
    assert kept.resume["v"] == 2
    assert date.fromisoformat(kept.resume["start"]) <= plan._created_from(kept)


def test_clocks_that_disagree_are_said_once_per_sync(api: FakeFastbill) -> None:
    header = {"Date": format_datetime(NOW + timedelta(hours=3), usegmt=True)}
    for service in ("invoice.get", "revenue.get"):
        api.expect(body(service, START_DATE="2026-10-21", END_DATE="2026-11-21"), page(
            "INVOICES" if service == "invoice.get" else "REVENUES", []
        ), headers=header)  # fmt: skip
        api.expect(
            body(
                service,
                START_PAID_DATE="2026-10-21",
                END_PAID_DATE="2026-11-21",
                END_DATE="2026-10-20",
            ),
            page("INVOICES" if service == "invoice.get" else "REVENUES", []),
            headers=header,
        )
    state = (
        StateBuilder()
        .with_stream_state("invoices", SAVED)
        .with_stream_state("revenues", SAVED)
        .build()
    )

    output = run_read(CFG, "invoices", "revenues", mode=INCREMENTAL, state=state)

    said = [m for m in output.logs if "FastBill's clock" in (m.log.message or "")]
    assert len(said) == 1
