"""Read FastBill into a local DuckDB file with PyAirbyte, offline (no registry, no telemetry).

    pip install -c constraints.txt . airbyte==0.71.3        # or: make install
    python examples/pyairbyte_duckdb.py --config secrets/config.json --cache fastbill.duckdb

`--config` is the connector config (see docs/fastbill.md); the connector runs from the
`source-fastbill` executable installed next to this Python (or `--executable`). It prints the
records read and the rows each table holds; `--json` prints the same as one JSON object.

Caveats (docs/fastbill.md, "PyAirbyte"):
* PyAirbyte lower-cases top-level column names: INVOICE_ID is the column invoice_id. Nested
  objects and lists (ITEMS, TASKS, ...) keep FastBill's upper-case keys inside their JSON.
* Fields missing from a stream's JSON schema are dropped before loading; the connector's schemas
  declare every field FastBill documents.
* A second read into the same cache reads incremental streams (invoices, revenues, expenses,
  estimates, time_entries) from the saved state, and the other streams in full again.
  `--full-refresh` (force_full_refresh=True) re-reads everything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def offline_environment(work_dir: Path) -> None:
    """Must run before `import airbyte`: PyAirbyte reads these once, at import time."""
    os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")  # no connector registry lookup
    os.environ.setdefault("DO_NOT_TRACK", "1")  # no telemetry call, no ~/.airbyte/analytics.yml
    os.environ.setdefault("AIRBYTE_LOGGING_ROOT", str(work_dir / "logs"))
    os.environ.setdefault("AIRBYTE_PROJECT_DIR", str(work_dir))
    os.environ.setdefault("NO_LIVE_PROGRESS", "1")  # plain progress lines, not a live display


def default_executable() -> str:
    beside_python = Path(sys.executable).parent / "source-fastbill"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("source-fastbill")
    if not found:
        sys.exit("source-fastbill is not installed: pip install -c constraints.txt .")
    return found


def read_into_duckdb(
    config: Mapping[str, Any],
    cache_path: Path,
    executable: str,
    streams: list[str] | None = None,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """One read into the DuckDB file; returns the records read and each table's row count."""
    # google-* client libraries (PyAirbyte's BigQuery support) warn about Python versions.
    warnings.filterwarnings("ignore", category=FutureWarning)
    import airbyte as ab  # after offline_environment()
    from airbyte.caches import DuckDBCache

    source = ab.get_source("source-fastbill", local_executable=executable, config=dict(config))
    source.check()
    source.select_streams(streams or "*")
    # Schema "main": DuckDB names the database after the file, so a schema named like the file
    # ("fastbill" in fastbill.duckdb) makes every unqualified reference ambiguous.
    cache = DuckDBCache(db_path=cache_path, schema_name="main")
    result = source.read(cache=cache, force_full_refresh=full_refresh)
    rows = {name: len(dataset) for name, dataset in sorted(result.streams.items())}
    return {"records_read": result.processed_records, "rows": rows}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="connector config JSON file")
    parser.add_argument("--cache", type=Path, default=Path("fastbill.duckdb"))
    parser.add_argument("--executable", default=None, help="path to source-fastbill")
    parser.add_argument("--streams", default=None, help="comma-separated; default: all")
    parser.add_argument("--full-refresh", action="store_true", help="ignore the saved state")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    offline_environment(args.cache.resolve().parent / ".pyairbyte")
    summary = read_into_duckdb(
        json.loads(args.config.read_text()),
        args.cache,
        args.executable or default_executable(),
        args.streams.split(",") if args.streams else None,
        args.full_refresh,
    )
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['records_read']} records read into {args.cache}")
    for name, count in summary["rows"].items():
        print(f"  {name:<20} {count:>7} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
