"""Incremental sync against the sandbox over real HTTP, the connector run as Airbyte runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fastbill_sandbox import DEFAULT_API_KEY, DEFAULT_USERNAME, FastbillSandbox

ROOT = Path(__file__).parents[1]
STREAMS = {"invoices": "invoice.get", "revenues": "revenue.get", "expenses": "expense.get"}
STREAMS |= {"estimates": "estimate.get"}


def connector(command: str, tmp: Path, **files: Any) -> list[dict[str, Any]]:
    args = [sys.executable, str(ROOT / "main.py"), command]
    for name, content in files.items():
        path = tmp / f"{name}.json"
        path.write_text(json.dumps(content))
        args += [f"--{name}", str(path)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def incremental_catalog(discovered: list[dict[str, Any]]) -> dict[str, Any]:
    catalog = next(m["catalog"] for m in discovered if m["type"] == "CATALOG")
    return {
        "streams": [
            {
                "stream": stream,
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
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
        third = sync(second.states)
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


def test_a_third_sync_with_nothing_changed_emits_only_the_last_changes_again(
    syncs: dict[str, Any],
) -> None:
    # The saved cursor stops short of the second sync's start (less a margin, read as UTC): a
    # change that lands while a sync pages on is never lost, and the price is that the changes
    # of the last hour or so before a sync come once more. Nothing older comes again.
    second, third = syncs["syncs"][1], syncs["syncs"][2]
    again = {row["INVOICE_ID"] for row in third.records["invoices"]}
    assert again <= {row["INVOICE_ID"] for row in second.records["invoices"]}
    others = {name: len(rows) for name, rows in third.records.items() if name != "invoices"}
    assert others == dict.fromkeys(set(STREAMS) - {"invoices"}, 0)


def test_the_saved_state_is_small_and_documented(syncs: dict[str, Any]) -> None:
    state = syncs["syncs"][1].states["invoices"]["stream"]["stream_state"]
    assert set(state) == {"LASTUPDATE", "PAID_DATE", "synced_until"}
