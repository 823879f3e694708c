"""Incremental sync against the sandbox over real HTTP, the connector run as Airbyte runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from fastbill_sandbox import DEFAULT_API_KEY, DEFAULT_USERNAME, FastbillSandbox
from fastbill_sandbox.data import is_zero_date
from source_fastbill.estimates import KEY

ROOT = Path(__file__).parents[1]
STREAMS = {"invoices": "invoice.get", "revenues": "revenue.get", "expenses": "expense.get"}
STREAMS |= {"estimates": "estimate.get"}
PAID_STREAMS = ("invoices", "revenues", "expenses")  # the services with a paid-date filter
DATE_FIELDS = {"estimates": "ESTIMATE_DATE"}  # the others are dated by INVOICE_DATE
KEYS = {"estimates": "ESTIMATE_ID"}  # the others are keyed by INVOICE_ID


def connector(command: str, tmp: Path, **files: Any) -> list[dict[str, Any]]:
    args = [sys.executable, str(ROOT / "main.py"), command]
    for name, content in files.items():
        path = tmp / f"{name}.json"
        path.write_text(json.dumps(content))
        args += [f"--{name}", str(path)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def incremental_catalog(
    discovered: list[dict[str, Any]], mode: str = "incremental"
) -> dict[str, Any]:
    catalog = next(m["catalog"] for m in discovered if m["type"] == "CATALOG")
    return {
        "streams": [
            {
                "stream": stream,
                "sync_mode": mode,
                "destination_sync_mode": "append_dedup" if mode == "incremental" else "overwrite",
                "cursor_field": stream["default_cursor_field"],
                "primary_key": stream["source_defined_primary_key"],
            }
            for stream in catalog["streams"]
            if stream["name"] in STREAMS
        ]
    }


class Sync:
    """One `read`: the records per stream, the final states, and the API calls it cost."""

    def __init__(self, messages: list[dict[str, Any]], calls: dict[str, int]) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {name: [] for name in STREAMS}
        self.states: dict[str, Any] = {}
        for message in messages:
            if message["type"] == "RECORD":
                self.records[message["record"]["stream"]].append(message["record"]["data"])
            elif message["type"] == "STATE":
                stream = message["state"]["stream"]
                self.states[stream["stream_descriptor"]["name"]] = message["state"]
        self.calls = sum(calls.get(service, 0) for service in STREAMS.values())
        self.by_service = calls

    def ids(self, stream: str, key: str = "INVOICE_ID") -> set[str]:
        return {record[key] for record in self.records[stream]}


@pytest.fixture(scope="module")
def syncs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("incremental")
    # size 12: 3,000 invoices (and 1,560 revenues, 1,920 expenses, 720 estimates)
    with FastbillSandbox(edition="pro", size=12, seed=7) as sandbox:
        config = {"username": DEFAULT_USERNAME, "api_key": DEFAULT_API_KEY, "api_url": sandbox.url}
        catalog = incremental_catalog(connector("discover", tmp, config=config))
        read = {"config": config, "catalog": catalog}

        def sync(state: dict[str, Any] | None) -> Sync:
            sandbox.reset_stats()
            extra = {"state": list(state.values())} if state else {}
            messages = connector("read", tmp, **read, **extra)
            return Sync(messages, sandbox.stats()["by_service"])

        total = sandbox.counts()["invoice.get"]
        first = sync(None)
        added, paid = sandbox.add_invoices(5), sandbox.pay_invoices(3)
        second = sync(first.states)
        third = sync(second.states)  # seconds later, nothing changed
    return {"total": total, "added": added, "paid": paid, "syncs": (first, second, third)}


def test_the_first_sync_delivers_every_record_once(syncs: dict[str, Any]) -> None:
    first = syncs["syncs"][0]
    assert syncs["total"] == 3000
    assert len(first.records["invoices"]) == len(first.ids("invoices")) == 3000
    assert not [
        k for k, n in Counter(r["INVOICE_ID"] for r in first.records["revenues"]).items() if n > 1
    ]


def test_the_second_sync_delivers_the_5_new_and_3_paid_invoices_for_a_tenth_of_the_calls(
    syncs: dict[str, Any],
) -> None:
    first, second, _ = syncs["syncs"]
    assert second.ids("invoices") == {str(i) for i in syncs["added"] + syncs["paid"]}
    assert len(second.records["invoices"]) == 8
    paid = [r for r in second.records["invoices"] if r["INVOICE_ID"] in map(str, syncs["paid"])]
    assert all(r["PAID_DATE"] for r in paid)
    assert second.calls * 10 <= first.calls, (second.calls, first.calls)


def test_a_quiet_sync_seconds_after_the_last_emits_nothing(syncs: dict[str, Any]) -> None:
    # The saved cursor stops minutes short of the second sync's start (FastBill's German time),
    # so that a change landing while a sync pages on is never lost; the 8 invoices the second
    # sync delivered within those minutes are remembered in the state and not delivered again.
    third = syncs["syncs"][2]
    assert {name: len(rows) for name, rows in third.records.items()} == dict.fromkeys(STREAMS, 0)


def test_the_saved_state_is_small_and_documented(syncs: dict[str, Any]) -> None:
    second, third = syncs["syncs"][1], syncs["syncs"][2]
    state = second.states["invoices"]["stream"]["stream_state"]
    # records_last_sync: the stream's record count, for the next sync's ESTIMATE (estimates.py)
    assert set(state) == {"LASTUPDATE", "PAID_DATE", "synced_until", "delivered", KEY}
    # The memory: the records delivered within the cursor's margin, key -> [LASTUPDATE, PAID_DATE]
    assert set(state["delivered"]) == {str(i) for i in syncs["added"] + syncs["paid"]}
    assert all(len(version) == 2 for version in state["delivered"].values())
    for stream in set(STREAMS) - {"invoices"}:  # nothing changed there: the old three keys
        saved = second.states[stream]["stream"]["stream_state"]
        assert set(saved) <= {"LASTUPDATE", "PAID_DATE", "synced_until", KEY}
    # A quiet sync keeps the memory of what it skipped: the next quiet sync is quiet too.
    assert third.states["invoices"]["stream"]["stream_state"]["delivered"] == state["delivered"]


# Full refresh from start_date: the paid pass asks only for what the dated pass did not read


START = "2025-06-01"


def expected_ids(sandbox: FastbillSandbox, stream: str) -> tuple[set[str], set[str]]:
    """(dated on or after START, dated before START and paid on or after it), up to today."""
    table = sandbox.dataset.table(STREAMS[stream])
    today, field = sandbox.dataset.today().isoformat(), DATE_FIELDS.get(stream, "INVOICE_DATE")
    dated, paid_older = set(), set()
    for i in range(table.count):
        record = table.record(i)
        day, paid = str(record[field])[:10], str(record.get("PAID_DATE") or "0000")[:10]
        if START <= day <= today:
            dated.add(str(record[table.pk]))
        elif day < START and stream in PAID_STREAMS and not is_zero_date(paid) and paid >= START:
            paid_older.add(str(record[table.pk]))
    return dated, paid_older


@pytest.fixture(scope="module")
def from_start(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("from-start")
    with FastbillSandbox(edition="pro", size=12, seed=7) as sandbox:
        config = {"username": DEFAULT_USERNAME, "api_key": DEFAULT_API_KEY, "api_url": sandbox.url}
        # One call at a time: with more workers a long window also guesses up to num_workers - 1
        # pages beyond its end (test_read_ahead.py); this counts the passes' own calls.
        config |= {"start_date": START, "num_workers": 1}
        discovered = connector("discover", tmp, config=config)
        sandbox.reset_stats()
        catalog = incremental_catalog(discovered, mode="full_refresh")
        messages = connector("read", tmp, config=config, catalog=catalog)
        full = Sync(messages, sandbox.stats()["by_service"])
        expected = {stream: expected_ids(sandbox, stream) for stream in STREAMS}
    return {"full": full, "expected": expected}


@pytest.mark.parametrize("stream", list(STREAMS))
def test_a_full_refresh_from_start_date_costs_the_rows_minimum_plus_one_call_per_paid_stream(
    from_start: dict[str, Any], stream: str
) -> None:
    full, (dated, paid_older) = from_start["full"], from_start["expected"][stream]
    delivered = [record[KEYS.get(stream, "INVOICE_ID")] for record in full.records[stream]]
    assert set(delivered) == dated | paid_older and len(delivered) == len(dated | paid_older)
    minimum = len(delivered) // 100 + 1  # full pages and one short page
    calls = full.by_service[STREAMS[stream]]
    if stream in PAID_STREAMS:
        assert paid_older and len(paid_older) < 100  # one call reads them all
        # Each pass ends with a short page: at most one call more than the rows' minimum.
        assert calls == len(dated) // 100 + 1 + len(paid_older) // 100 + 1 <= minimum + 1
    else:
        assert calls == minimum


def test_the_sandbox_applies_the_paid_and_the_date_filter_together() -> None:
    with FastbillSandbox(edition="pro", size=1, seed=7) as sandbox:
        table = sandbox.dataset.table("invoice.get")
        records = [table.record(i) for i in range(table.count)]
        sent = {"START_PAID_DATE": "2024-01-01", "END_PAID_DATE": "2025-12-31"}
        sent |= {"END_DATE": "2024-06-30"}
        body = {"SERVICE": "invoice.get", "LIMIT": 100, "OFFSET": 0, "FILTER": sent}
        reply = requests.post(sandbox.url, json=body, auth=(DEFAULT_USERNAME, DEFAULT_API_KEY))
    found = {row["INVOICE_ID"] for row in reply.json()["RESPONSE"]["INVOICES"]}
    wanted = {
        record["INVOICE_ID"]
        for record in records
        if str(record["INVOICE_DATE"])[:10] <= "2024-06-30"
        and not is_zero_date(str(record["PAID_DATE"])[:10])
        and "2024-01-01" <= str(record["PAID_DATE"])[:10] <= "2025-12-31"
    }
    assert found == wanted and 0 < len(found) < 100
