"""examples/pyairbyte_duckdb.py, run as users run it, against the sandbox: PyAirbyte 0.71.3 in
offline mode reads every Pro stream into a DuckDB file, twice into the same file.

The second read is the one that matters: a connector whose full-refresh streams end in the CDK's
"resumable full refresh" state (`__ab_full_refresh_sync_complete`) reads 0 records for them the
next time, because PyAirbyte saves that state in the cache and passes it back (ecosystem.md §7).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from fastbill_sandbox import FastbillSandbox
from fastbill_sandbox.data import CURRENT_MONTH_TIME_ENTRIES, stream_counts

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pyairbyte_duckdb.py"
SCHEMAS = ROOT / "source_fastbill" / "schemas"
INCREMENTAL = ("invoices", "revenues", "expenses", "estimates", "time_entries")
# The example reads every stream, the child streams too (full refresh ones: read again).
CHILDREN = {"invoice_items", "invoice_payments", "invoice_vat_items", "recurring_invoice_items",
            "revenue_items", "expense_items", "estimate_items", "project_tasks"}  # fmt: skip
FULL_REFRESH_CHILDREN = ("recurring_invoice_items", "project_tasks")
# Time entries dated in the 30-day lookback before end_date (2026-10-01..31): the only records an
# unchanged account sends again on an incremental read (see test_standard_suite.py).
TIME_ENTRIES_IN_LOOKBACK = 13
AIRBYTE_COLUMNS = {"_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta"}

pytestmark = pytest.mark.slow  # two PyAirbyte runs of about 17 s each


@pytest.fixture(scope="module")
def sandbox() -> Iterator[FastbillSandbox]:
    with FastbillSandbox(edition="pro", size=1.0, seed=42, port=0, rate_limit=None) as running:
        yield running


@pytest.fixture(scope="module")
def expected_rows(sandbox: FastbillSandbox) -> dict[str, int]:
    rows = stream_counts(sandbox.counts(), _pro_streams())
    rows["time_entries"] -= CURRENT_MONTH_TIME_ENTRIES  # dated after end_date
    return rows


def _pro_streams() -> list[str]:
    catalog = json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text())
    return sorted(c["stream"]["name"] for c in catalog["streams"])


def _run_example(config: Path, cache: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRBYTE_")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--config", str(config), "--cache", str(cache), "--json"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # PyAirbyte prints its progress to stdout too; the summary is the last line.
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def two_reads(
    sandbox: FastbillSandbox, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any], Path]:
    work = tmp_path_factory.mktemp("pyairbyte")
    config = json.loads((ROOT / "integration_tests" / "sample_config.json").read_text())
    (work / "config.json").write_text(json.dumps({**config, "api_url": sandbox.url}))
    cache = work / "fastbill.duckdb"
    first = _run_example(work / "config.json", cache)
    second = _run_example(work / "config.json", cache)
    return first, second, cache


def test_first_read_loads_every_record(
    two_reads: tuple[dict[str, Any], dict[str, Any], Path], expected_rows: dict[str, int]
) -> None:
    first, _, _ = two_reads
    parents = {stream: n for stream, n in first["rows"].items() if stream not in CHILDREN}
    assert parents == expected_rows and sum(expected_rows.values()) == 1289
    assert {stream for stream, n in first["rows"].items() if n} - set(parents) == CHILDREN
    assert first["records_read"] == sum(first["rows"].values())


def test_second_read_into_the_same_cache_reads_full_refresh_streams_again(
    two_reads: tuple[dict[str, Any], dict[str, Any], Path], expected_rows: dict[str, int]
) -> None:
    first, second, _ = two_reads
    assert second["rows"] == first["rows"]  # nothing lost, nothing doubled
    full_refresh = sum(n for stream, n in expected_rows.items() if stream not in INCREMENTAL)
    # All 401 full-refresh records again (the trap would read 0), plus the time-entry lookback,
    # plus the children of the full-refresh parents.
    assert full_refresh == 401
    children = sum(first["rows"][stream] for stream in FULL_REFRESH_CHILDREN)
    assert second["records_read"] == full_refresh + TIME_ENTRIES_IN_LOOKBACK + children


def test_columns_are_the_lower_cased_schema_fields(
    two_reads: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    """The documented caveats: lower-cased names, and only declared fields become columns."""
    _, _, cache = two_reads
    with duckdb.connect(str(cache), read_only=True) as db:
        for stream in _pro_streams():
            columns = {
                row[0]
                for row in db.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'main' AND table_name = ?",
                    [stream],
                ).fetchall()
            }
            declared = json.loads((SCHEMAS / f"{stream}.json").read_text())["properties"]
            assert columns == {name.lower() for name in declared} | AIRBYTE_COLUMNS, stream
        ids = db.execute("SELECT count(DISTINCT invoice_id) FROM main.invoices").fetchone()
    assert ids == (250,)
