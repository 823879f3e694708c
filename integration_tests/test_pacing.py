"""Pacing against the sandbox's enforced per-minute limit, on one fake clock for both sides.

The connector's budget is the production one (moving windows of a minute plus the margin,
shared by all streams); the sandbox measures its windows on the same fake clock, which moves
only when the connector waits. So the test takes no real time, and what it asserts about time
is the time the connector chose to wait, not how fast this machine is. The real one-minute
window is waited out by `make soak` (test_e2e.py, marker soak).
"""

from __future__ import annotations

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from fastbill_sandbox import DEFAULT_API_KEY, DEFAULT_USERNAME, FastbillSandbox
from source_fastbill import SourceFastbill
from unit_tests.fake_time import FakeClock

LIMIT, WINDOW = 5, 60.0  # calls per minute, on both sides
MARGIN = 1.0  # source.WINDOW_MARGIN: the connector's window is a second longer than FastBill's
STREAMS = {  # 15 calls in all: three full windows of 5
    "customers": "customer.get",
    "contacts": "contact.get",
    "invoices": "invoice.get",
    "revenues": "revenue.get",
    "expenses": "expense.get",
    "time_entries": "time.get",
}


def test_a_paced_sync_is_never_rejected_and_waits_no_more_than_the_limit_needs(
    fake_clock: FakeClock,
) -> None:
    catalog = CatalogBuilder()
    for stream in STREAMS:
        catalog.with_stream(stream, SyncMode.full_refresh)
    with FastbillSandbox(rate_limit=LIMIT, rate_window_seconds=WINDOW, clock=fake_clock) as box:
        config = {
            "username": DEFAULT_USERNAME,
            "api_key": DEFAULT_API_KEY,
            "api_url": box.url,
            "requests_per_minute": LIMIT,
            # One call in flight: a fake clock jumps when any thread waits, so with several
            # threads a call counted before a jump would reach the sandbox after it; the
            # lanes under one budget are paced against real windows in test_concurrency.py.
            "num_workers": 1,
        }
        output = read(SourceFastbill(), config, catalog.build())
        stats, counts = box.stats(), box.counts()

    calls = stats["calls"]
    windows = (calls - 1) // LIMIT  # the last call may go when its window opens
    assert calls == 15, stats
    assert len(output.records) == sum(counts[s] for s in STREAMS.values())
    assert stats["rejected"] == 0 and stats["busiest_window"] <= LIMIT
    # Every wait was for the limit: two full windows, each with the connector's margin.
    assert windows * WINDOW <= fake_clock.advanced <= windows * (WINDOW + MARGIN) + 1
