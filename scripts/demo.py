"""`make demo`: source-fastbill end to end, offline, in about half a minute.

1. starts the local FastBill sandbox (Pro edition, about 1,250 records) on a free loopback port;
2. runs the connector's check, discover and a read of every stream through PyAirbyte, which loads
   the records into the DuckDB file .demo/fastbill.duckdb;
3. prints the rows per table, one query (net revenue per month) and the four reports of
   examples/analytics.sql, then stops the sandbox.

Each run starts from a new DuckDB file, so running it twice gives the same result. Everything it
writes (database, PyAirbyte logs) stays in the git-ignored .demo/ folder; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from fastbill_sandbox import FastbillSandbox

ROOT = Path(__file__).resolve().parents[1]

if TYPE_CHECKING:
    from airbyte import Source
    from airbyte.caches import DuckDBCache

DEMO_DIR = ROOT / ".demo"
DATABASE = DEMO_DIR / "fastbill.duckdb"
# The executable next to this Python: the one `make install` put into .venv/bin.
CONNECTOR = Path(sys.executable).parent / "source-fastbill"
ANALYTICS_SQL = ROOT / "examples" / "analytics.sql"
# Each query of ANALYTICS_SQL starts at such a line; the comment line after it is its heading.
QUERY_NAME = re.compile(r"^-- name: *(\w+) *$", re.MULTILINE)
SHOWN_ROWS = 10  # per report; the rest is one query away (see the hint at the end)
T = TypeVar("T")

# Net revenue = sub_total (before VAT) of outgoing invoices and credit notes (negative) that were
# not cancelled, per month of invoice_date and per currency (amounts in different currencies must
# not be added up): the rules of examples/analytics.sql, so that the months add up to the same
# total as its revenue_per_product and vat_per_rate_per_quarter. Column names are lower case:
# PyAirbyte lower-cases them.
NET_REVENUE_ALL_MONTHS_SQL = """
SELECT strftime(invoice_date, '%Y-%m') AS month,
       currency_code AS currency,
       count(*) AS invoices,
       sum(CASE WHEN type = 'credit' THEN -abs(sub_total) ELSE sub_total END) AS net_revenue
FROM invoices
WHERE type IN ('outgoing', 'credit')
  AND NOT coalesce(is_canceled, FALSE)
GROUP BY ALL
"""
# The demo shows the last 12 months that have invoices.
NET_REVENUE_SQL = f"""
SELECT * FROM ({NET_REVENUE_ALL_MONTHS_SQL}) AS months
WHERE month >= (SELECT strftime(date_trunc('month', max(invoice_date)) - INTERVAL 11 MONTH,
                                '%Y-%m')
                FROM invoices)
ORDER BY month, currency
"""


class DemoError(Exception):
    """A step failed; the message says which and what to look at."""


@dataclass(frozen=True)
class NamedQuery:
    """One query of examples/analytics.sql."""

    name: str
    heading: str
    sql: str


def analytics_queries(path: Path = ANALYTICS_SQL) -> list[NamedQuery]:
    """The queries of the file, in its order: each runs from its `-- name:` line to the next."""
    parts = QUERY_NAME.split(path.read_text(encoding="utf-8"))
    queries = []
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = body.strip().removesuffix(";").rstrip()
        first = sql.splitlines()[0] if sql else ""
        heading = first.removeprefix("--").strip() if first.startswith("--") else name
        queries.append(NamedQuery(name, heading, sql))
    return queries


def main() -> int:
    started = time.monotonic()
    print("source-fastbill demo: a local FastBill sandbox -> the connector -> DuckDB\n", flush=True)
    if not CONNECTOR.exists():
        print(f"The connector is not installed at {CONNECTOR}: run `make install` first.")
        return 1
    try:
        ab = step("Loading PyAirbyte (offline mode)", load_pyairbyte)
        # The sandbox's default limit is FastBill's 500 calls/minute; the demo needs far fewer.
        sandbox = FastbillSandbox(edition="pro", size=1.0, seed=42, port=0)
        step("Starting the FastBill sandbox", sandbox.start)
        try:
            run_demo(ab, sandbox)
        finally:
            sandbox.stop()
    except DemoError as error:
        print(f"\nDEMO FAILED: {error}", file=sys.stderr)
        print(f"Logs: {DEMO_DIR / 'logs'}", file=sys.stderr)
        return 1
    print(f"\nDone in {time.monotonic() - started:.0f} s; sandbox stopped.")
    print(f"The data stays in {DATABASE.relative_to(ROOT)}; explore it with, for example:")
    python = os.path.relpath(sys.executable)
    database = os.path.relpath(DATABASE)
    # The connection must outlive the query, so it gets a name.
    code = f"import duckdb; con = duckdb.connect('{database}'); con.sql('FROM invoices').show()"
    print(f'  {python} -c "{code}"')
    print(f"The reports above, in full and commented, are in {ANALYTICS_SQL.relative_to(ROOT)}.")
    return 0


def run_demo(ab: ModuleType, sandbox: FastbillSandbox) -> None:
    counts = sandbox.counts()
    print(
        f"  {sum(counts.values()):,} synthetic records in {len(counts)} services at {sandbox.url}\n"
    )
    config = {"username": sandbox.username, "api_key": sandbox.api_key, "api_url": sandbox.url}
    source = ab.get_source("source-fastbill", config=config, local_executable=str(CONNECTOR))

    step("check", source.check)
    print("  connection check: SUCCEEDED\n")

    names = step("discover", source.get_available_streams)
    say(f"{len(names)} streams: {', '.join(names)}\n")

    sandbox.reset_stats()
    cache, records = step("read (all streams, into DuckDB)", lambda: read_all(source))
    print(f"  {records:,} records read with {sandbox.stats()['served']} API calls")
    incremental = incremental_streams(source)
    say(
        f"({', '.join(incremental)} are incremental: their first sync reads older history, last "
        "year and this year in a window each, with a checkpoint after each window.)\n"
    )
    rows = {name: len(cache[name]) for name in names}
    print_table(["stream", "rows"], [[name, f"{count:,}"] for name, count in rows.items()])
    missing = {name for name in names if rows[name] == 0}
    if missing:
        raise DemoError(f"no rows for {', '.join(sorted(missing))}: see the connector log")

    print(
        "\nNet revenue per month (invoices net of credit notes, not cancelled; sub_total "
        "before VAT):\n"
    )
    revenue = step("query", lambda: cache.run_sql_query(NET_REVENUE_SQL))
    print_table(
        ["month", "currency", "invoices", "net revenue"],
        [
            [r["month"], r["currency"], str(r["invoices"]), f"{r['net_revenue']:,.2f}"]
            for r in revenue
        ],
    )

    queries = analytics_queries()
    if not queries:
        raise DemoError(f"no `-- name: <query_name>` line in {ANALYTICS_SQL.relative_to(ROOT)}")
    for query in queries:
        print(f"\n{query.heading} [{query.name}]:\n")
        answer = step(f"query {query.name}", lambda sql=query.sql: cache.run_sql_query(sql))
        if not answer:
            raise DemoError(f"{query.name} in {ANALYTICS_SQL.relative_to(ROOT)} found no rows")
        print_answer(answer)


def load_pyairbyte() -> ModuleType:
    # PyAirbyte reads these once, when it is imported, so they are set right before the import.
    os.environ["AIRBYTE_OFFLINE_MODE"] = "1"  # no connector registry download
    os.environ["DO_NOT_TRACK"] = "1"  # no telemetry, no ~/.airbyte/analytics.yml
    os.environ["AIRBYTE_PROJECT_DIR"] = str(DEMO_DIR)
    os.environ["AIRBYTE_LOGGING_ROOT"] = str(DEMO_DIR / "logs")
    os.environ["NO_LIVE_PROGRESS"] = "1"  # plain lines instead of a live terminal display
    # google-* client libraries (PyAirbyte's BigQuery support) warn about Python versions.
    warnings.filterwarnings("ignore", category=FutureWarning)
    import airbyte

    return airbyte


def incremental_streams(source: Source) -> list[str]:
    from airbyte_protocol.models import SyncMode  # PyAirbyte's protocol models, not the CDK's

    streams = source.discovered_catalog.streams
    return [s.name for s in streams if SyncMode.incremental in s.supported_sync_modes]


def read_all(source: Source) -> tuple[DuckDBCache, int]:
    from airbyte.caches import DuckDBCache

    # A new file per run: no state from an earlier run (and an earlier sandbox) carries over.
    DATABASE.unlink(missing_ok=True)
    DATABASE.with_suffix(".duckdb.wal").unlink(missing_ok=True)
    cache = DuckDBCache(db_path=DATABASE, cache_dir=DEMO_DIR / "cache")
    source.select_all_streams()
    return cache, source.read(cache=cache).processed_records


def step(title: str, action: Callable[[], T]) -> T:
    """Run one step, timed; any failure becomes a DemoError that names the step."""
    print(f"* {title} ...", flush=True)
    began = time.monotonic()
    try:
        result = action()
    except Exception as error:  # the demo reports every failure the same way, then exits 1
        raise DemoError(f"{title}: {type(error).__name__}: {error}") from error
    print(f"  ({time.monotonic() - began:.1f} s)", flush=True)
    return result


def say(text: str) -> None:
    print(textwrap.fill(text, 96, initial_indent="  ", subsequent_indent="  "))
    if text.endswith("\n"):
        print()


def print_answer(answer: Sequence[Mapping[str, Any]]) -> None:
    """A query's rows as a table of at most SHOWN_ROWS rows; its leading text columns left-aligned.

    A column with one value in every row (such as the date a report is measured at) is said
    once above the table instead of in each row.
    """
    columns = list(answer[0])
    texts = [{c: format_cell(value) for c, value in row.items()} for row in answer]
    same = [c for c in columns if len(answer) > 1 and len({row[c] for row in texts}) == 1]
    for column in same:
        print(f"  {column.replace('_', ' ')}: {texts[0][column]}")
    if same:
        print()
    columns = [c for c in columns if c not in same]
    left = 0  # the leading columns that hold text (or nothing) in every row
    while left < len(columns) and all(
        row[columns[left]] is None or isinstance(row[columns[left]], str) for row in answer
    ):
        left += 1
    print_table(
        [c.replace("_", " ") for c in columns],
        [[row[c] for c in columns] for row in texts[:SHOWN_ROWS]],
        left=max(left, 1),
    )
    if len(answer) > SHOWN_ROWS:
        print(f"  ... {len(answer) - SHOWN_ROWS} more rows ({len(answer)} in all)")


def format_cell(value: Any) -> str:
    """Amounts with two decimals and thousands separators, counts as whole numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (Decimal, float)):
        return f"{value:,.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> None:
    """The first `left` columns left-aligned (text), the others right-aligned (numbers)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[Any]) -> str:
        texts = [str(cell) for cell in cells]
        aligned = [
            text.ljust(width) if i < left else text.rjust(width)
            for i, (text, width) in enumerate(zip(texts, widths, strict=True))
        ]
        return "  " + "  ".join(aligned)

    print(line(headers))
    print("  " + "  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


if __name__ == "__main__":
    sys.exit(main())
