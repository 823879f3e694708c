"""Issue 18 §3: each stream's record count of its last complete sync, and the ESTIMATE from it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteMessage, SyncMode, TraceType, Type
from airbyte_cdk.models import AirbyteRecordMessage as Record
from airbyte_cdk.test.state_builder import StateBuilder
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill import estimates
from source_fastbill.progress import Ledger, Progress
from unit_tests.conftest import FakeFastbill, body, config, page, records, run_read

CUSTOMERS = page("CUSTOMERS", [{"CUSTOMER_ID": str(i)} for i in range(3)])


def state_of(stream: str, value: dict[str, Any]) -> list[Any]:
    return StateBuilder().with_stream_state(stream, value).build()


def raw_states(output: Any) -> list[dict[str, Any]]:
    return [dict(m.state.stream.stream_state.__dict__) for m in output.state_messages]


def estimates_of(output: Any) -> list[tuple[str, int | None]]:
    traces = [m.trace for m in output.trace_messages if m.trace]
    return [
        (t.estimate.name, t.estimate.row_estimate)
        for t in traces
        if t.type == TraceType.ESTIMATE and t.estimate
    ]


def test_a_complete_sync_leaves_its_record_count_in_the_final_state(api: FakeFastbill) -> None:
    api.expect(body("customer.get"), CUSTOMERS)

    output = run_read(config(), "customers")

    assert len(records(output)) == 3
    assert raw_states(output)[-1] == {"__ab_no_cursor_state_message": True, estimates.KEY: 3}
    assert estimates_of(output) == []  # the first sync knows nothing to estimate from


def test_the_next_sync_starts_with_an_estimate_and_reads_everything(api: FakeFastbill) -> None:
    api.expect(body("customer.get"), CUSTOMERS)
    saved = {"__ab_no_cursor_state_message": True, estimates.KEY: 1_200}

    output = run_read(config(), "customers", state=state_of("customers", saved))

    assert estimates_of(output) == [("customers", 1_200)]
    assert len(records(output)) == 3
    assert raw_states(output)[-1][estimates.KEY] == 3


def test_only_the_final_state_of_a_date_windowed_read_carries_the_count(
    api: FakeFastbill, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    monkeypatch.setattr("source_fastbill.cursor.fastbill_today", lambda: date(2026, 11, 21))
    for start, end in (("2024-01-01", "2024-12-31"), ("2025-01-01", "2025-12-31")):
        api.expect(body("invoice.get", START_DATE=start, END_DATE=end), page("INVOICES", []))
    api.expect(
        body("invoice.get", START_DATE="2026-01-01", END_DATE="2026-11-21"),
        page("INVOICES", [{"INVOICE_ID": "1", "INVOICE_DATE": "2026-02-01"}]),
    )
    api.expect(
        body(
            "invoice.get",
            START_PAID_DATE="2024-01-01",
            END_PAID_DATE="2026-11-21",
            END_DATE="2023-12-31",
        ),
        page("INVOICES", []),
    )

    output = run_read(config(start_date="2024-01-01"), "invoices", mode=SyncMode.incremental)

    counts = [state.get(estimates.KEY) for state in raw_states(output)]
    assert counts == [None, None, None, 1]


def test_the_count_never_reaches_the_streams_own_state(
    api: FakeFastbill, caplog: pytest.LogCaptureFixture
) -> None:
    api.expect(body("customer.get"), CUSTOMERS)
    saved = {"__ab_no_cursor_state_message": True, estimates.KEY: 7}

    output = run_read(config(), "customers", state=state_of("customers", saved))

    assert "Setting state of stream customers to {}" in [m.log.message for m in output.logs]


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3), st.floats()))
def test_any_saved_count_is_an_estimate_only_when_it_is_a_count(value: Any) -> None:
    own, count = estimates.split({"LASTUPDATE": "x", estimates.KEY: value})

    assert own == {"LASTUPDATE": "x"}
    is_count = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    assert count == (value if is_count else None)


def test_progress_lines_say_of_about_where_an_estimate_exists(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    progress = Progress(Ledger(lambda: now[0]), every=60)
    progress.observe(estimates.estimate("invoices", 5_000))
    record = AirbyteMessage(
        type=Type.RECORD, record=Record(stream="invoices", data={}, emitted_at=0)
    )
    with caplog.at_level(logging.INFO, logger="airbyte"):
        progress.observe(record)
        now[0] = 61
        progress.observe(record)

    assert "invoices: 2 records (of about 5,000) and 0 API calls so far." in caplog.messages
