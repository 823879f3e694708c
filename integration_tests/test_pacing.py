"""Pacing against the sandbox's enforced limit, with every window scaled from a minute to 2 s.

The connector's budget is the production one (moving window, margin, shared by all streams); only
the window length is shortened so the test takes seconds. `test_e2e.py` has the one-minute run.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from airbyte_cdk.models import SyncMode

from integration_tests.sandbox import DEFAULT_API_KEY, DEFAULT_USERNAME, FastbillSandbox
from source_fastbill import SourceFastbill

LIMIT, WINDOW = 5, 2  # calls per seconds, on both sides
STREAMS = {  # 15 calls in all: three full windows of 5
    "customers": "customer.get",
    "contacts": "contact.get",
    "invoices": "invoice.get",
    "revenues": "revenue.get",
    "expenses": "expense.get",
    "time_entries": "time.get",
}


@pytest.fixture
def scaled_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("source_fastbill.source.MINUTE", timedelta(seconds=WINDOW))
    # The margin covers the jitter between counting a call and its arrival, which does not scale
    # with the window; with calls side by side under load 0.1 s was at times too little.
    monkeypatch.setattr("source_fastbill.source.WINDOW_MARGIN", timedelta(seconds=0.3))


def test_a_paced_sync_is_never_rejected_and_runs_close_to_the_limit(scaled_budget: None) -> None:
    from airbyte_cdk.test.catalog_builder import CatalogBuilder
    from airbyte_cdk.test.entrypoint_wrapper import read

    catalog = CatalogBuilder()
    for stream in STREAMS:
        catalog.with_stream(stream, SyncMode.full_refresh)
    with FastbillSandbox(rate_limit=LIMIT, rate_window_seconds=WINDOW) as sandbox:
        config = {
            "username": DEFAULT_USERNAME,
            "api_key": DEFAULT_API_KEY,
            "api_url": sandbox.url,
            "requests_per_minute": LIMIT,  # per scaled "minute" of WINDOW seconds
        }
        started = time.monotonic()
        output = read(SourceFastbill(), config, catalog.build())
        elapsed = time.monotonic() - started
        stats, counts = sandbox.stats(), sandbox.counts()

    calls = stats["calls"]
    ideal = (calls - 1) // LIMIT * WINDOW  # the last call may go when its window opens
    assert calls == 15 and len(output.records) == sum(counts[s] for s in STREAMS.values())
    assert stats["rejected"] == 0 and stats["busiest_window"] <= LIMIT
    assert ideal <= elapsed <= ideal * 1.15 + 1, (elapsed, ideal)
