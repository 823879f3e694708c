"""Regenerate integration_tests/expected_records.jsonl from the sandbox's deterministic data.

    .venv/bin/python scripts/golden.py           # rewrite the file
    .venv/bin/python scripts/golden.py --check   # exit 1 if the connector now reads otherwise

It starts a Pro sandbox (seed 42, size 1.0) on a free port, runs a full-refresh `read` of
integration_tests/configured_catalog.json with integration_tests/sample_config.json (api_url
pointed at that port), and keeps up to PER_STREAM records of each stream, spread evenly over the
stream, in the CAT format {"stream", "data", "emitted_at"}. sample_config's fixed start_date and
end_date (2026-10-31) keep the data independent of today: the sandbox dates the 12 time entries of
the current month relative to today, and they fall outside that window.

integration_tests/test_standard_suite.py regenerates the file in memory and compares.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastbill_sandbox import FastbillSandbox
from fastbill_sandbox.runner import run_connector

ROOT = Path(__file__).resolve().parents[1]

TESTS = ROOT / "integration_tests"
SAMPLE_CONFIG = TESTS / "sample_config.json"
CATALOG = TESTS / "configured_catalog.json"
EXPECTED_RECORDS = TESTS / "expected_records.jsonl"
PER_STREAM = 20
# Fixed, so that regenerating unchanged data gives an unchanged file (2026-11-21T00:00:00Z, ms).
EMITTED_AT = 1795219200000


def sandbox_config(url: str) -> dict[str, Any]:
    """sample_config.json, pointed at a sandbox that may listen on another port."""
    return {**json.loads(SAMPLE_CONFIG.read_text()), "api_url": url}


def read_all(config: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every record of configured_catalog.json's streams, per stream, in the order read.

    The connector runs as its own process, as Airbyte runs it: the file holds what users get.
    """
    streams = [c["stream"]["name"] for c in json.loads(CATALOG.read_text())["streams"]]
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in streams}
    for message in _run_read(config):
        if message["type"] == "RECORD":
            found[message["record"]["stream"]].append(message["record"]["data"])
        elif message["type"] == "TRACE" and message["trace"].get("type") == "ERROR":
            raise RuntimeError(f"read failed: {message['trace']['error']['message']}")
    return found


def _run_read(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        run = run_connector("read", Path(tmp), config=config, catalog_path=CATALOG, timeout=120)
    if run.exit_code != 0:
        raise RuntimeError(f"read exited {run.exit_code}: {run.stdout_text()[-2000:]}{run.stderr}")
    return run.messages


def spread(records: list[dict[str, Any]], count: int = PER_STREAM) -> list[dict[str, Any]]:
    """Up to `count` records at evenly spaced positions: old and new ones, not just page one."""
    if len(records) <= count:
        return list(records)
    return [records[i * len(records) // count] for i in range(count)]


def render(records: Mapping[str, list[dict[str, Any]]]) -> str:
    # In the catalog's order: streams read side by side (num_workers) start in any order.
    catalog = json.loads(CATALOG.read_text())["streams"]
    order = {configured["stream"]["name"]: i for i, configured in enumerate(catalog)}
    records = dict(sorted(records.items(), key=lambda item: order.get(item[0], len(order))))
    lines = [
        json.dumps(
            {"stream": stream, "data": data, "emitted_at": EMITTED_AT},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for stream, rows in records.items()
        for data in spread(rows)
    ]
    return "\n".join(lines) + "\n"


def generate() -> str:
    with FastbillSandbox(edition="pro", size=1.0, seed=42, port=0, rate_limit=None) as sandbox:
        return render(read_all(sandbox_config(sandbox.url)))


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if EXPECTED_RECORDS.read_text() != text:
            print(f"{EXPECTED_RECORDS.relative_to(ROOT)} is stale: run scripts/golden.py")
            return 1
        print(f"{EXPECTED_RECORDS.relative_to(ROOT)} is up to date")
        return 0
    EXPECTED_RECORDS.write_text(text)
    print(f"wrote {text.count(chr(10))} records to {EXPECTED_RECORDS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
