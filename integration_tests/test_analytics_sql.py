"""examples/analytics.sql against the sandbox: every report, computed again in plain Python.

The streams are read in-process from a Pro sandbox and loaded into an in-memory DuckDB the way
PyAirbyte loads them: one table per stream, top-level column names lower-cased, the column types
from the stream's JSON schema, nested lists as JSON. Each query's whole answer (its rows in
order) must equal what the records give when the same rules are applied to them directly.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
import sqlalchemy
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from fastbill_sandbox import FastbillSandbox
from integration_tests.conftest import connector_config
from source_fastbill.source import SourceFastbill

ROOT = Path(__file__).resolve().parents[1]
QUERIES = (
    "revenue_per_product",
    "receivables_per_customer",
    "vat_per_rate_per_quarter",
    "billable_hours_per_project",
)
STREAMS = (
    "customers", "invoices", "invoice_items", "invoice_payments", "invoice_vat_items",
    "products", "projects", "project_tasks", "time_entries",
)  # fmt: skip
Records = dict[str, list[dict[str, Any]]]
Row = tuple[Any, ...]


def _load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastbill_demo", ROOT / "scripts" / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture(scope="module")
def queries() -> dict[str, str]:
    """The queries as scripts/demo.py splits the file."""
    return {query.name: query.sql for query in _load_demo().analytics_queries()}


@pytest.fixture(scope="module")
def config() -> Iterator[dict[str, Any]]:
    with FastbillSandbox(edition="pro", size=1.0, seed=42, rate_limit=None) as sandbox:
        yield connector_config(sandbox)


@pytest.fixture(scope="module")
def records(config: dict[str, Any]) -> Records:
    catalog = CatalogBuilder()
    for stream in STREAMS:
        catalog.with_stream(stream, SyncMode.full_refresh)
    output = read(SourceFastbill(), config, catalog.build())
    assert not output.errors, output.get_formatted_error_message()
    found: Records = {stream: [] for stream in STREAMS}
    for message in output.records:
        assert message.record is not None
        found[message.record.stream].append(message.record.data)
    assert all(found.values()), {stream: len(rows) for stream, rows in found.items()}
    return found


@pytest.fixture(scope="module")
def database(
    config: dict[str, Any], records: Records, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[duckdb.DuckDBPyConnection]:
    schemas = {s.name: s.get_json_schema() for s in SourceFastbill().streams(config)}
    folder = tmp_path_factory.mktemp("analytics")
    con = duckdb.connect()
    for stream, rows in records.items():
        properties: Mapping[str, Any] = schemas[stream]["properties"]
        columns = {name.lower(): _duckdb_type(spec) for name, spec in properties.items()}
        path = folder / f"{stream}.jsonl"
        with path.open("w", encoding="utf-8") as lines:
            for row in rows:  # as PyAirbyte: fields outside the schema are dropped
                kept = {name.lower(): row.get(name) for name in properties}
                lines.write(json.dumps(kept, ensure_ascii=False) + "\n")
        struct = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
        con.execute(
            f"CREATE TABLE {stream} AS SELECT * FROM read_json('{path}', "
            f"format = 'newline_delimited', columns = {{{struct}}})"
        )
    yield con
    con.close()


def _duckdb_type(spec: Mapping[str, Any]) -> str:
    """The column type PyAirbyte's DuckDB cache gives a JSON schema property."""
    types = spec.get("type", [])
    kind = next((t for t in ([types] if isinstance(types, str) else types) if t != "null"), "")
    if kind == "string":
        return {"date": "DATE", "date-time": "TIMESTAMP"}.get(spec.get("format", ""), "VARCHAR")
    return {
        "number": "DECIMAL(38,9)",
        "integer": "BIGINT",
        "boolean": "BOOLEAN",
        "array": "JSON",
        "object": "JSON",
    }.get(kind, "VARCHAR")


def _answer(con: duckdb.DuckDBPyConnection, sql: str) -> list[Row]:
    return [tuple(row) for row in con.execute(sql).fetchall()]


# ---------------------------------------------------------------------------------------------
# The same reports from the records


def _amount(value: Any) -> Decimal:
    return Decimal(str(value))


def _signed(invoice: Mapping[str, Any], value: Any) -> Decimal:
    amount = _amount(value)
    return -abs(amount) if invoice.get("TYPE") == "credit" else amount


def _counts_as_revenue(invoice: Mapping[str, Any]) -> bool:
    return invoice.get("TYPE") in ("outgoing", "credit") and not invoice.get("IS_CANCELED")


def _invoices(records: Records) -> dict[str, dict[str, Any]]:
    return {invoice["INVOICE_ID"]: invoice for invoice in records["invoices"]}


def _current(records: Records, stream: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(invoice, child) for the children of each invoice's current version."""
    invoices = _invoices(records)
    for child in records[stream]:
        invoice = invoices[child["INVOICE_ID"]]
        if invoice.get("LASTUPDATE") == child.get("LASTUPDATE"):
            yield invoice, child


def expected_revenue_per_product(records: Records) -> list[Row]:
    titles: dict[str, tuple[str, Any]] = {}
    for product in records["products"]:
        number, stamp = product.get("ARTICLE_NUMBER"), product.get("LASTUPDATE") or ""
        if number is not None and (number not in titles or stamp > titles[number][0]):
            titles[number] = (stamp, product.get("TITLE"))
    items: Counter[tuple[Any, str]] = Counter()
    net: defaultdict[tuple[Any, str], Decimal] = defaultdict(Decimal)
    for invoice, item in _current(records, "invoice_items"):
        if _counts_as_revenue(invoice):
            key = (item.get("ARTICLE_NUMBER"), invoice.get("CURRENCY_CODE"))
            items[key] += 1
            net[key] += _signed(invoice, item.get("COMPLETE_NET"))
    rows = [
        (
            number,
            "(no article number)" if number is None else titles.get(number, ("", None))[1],
            currency,
            items[number, currency],
            total,
        )
        for (number, currency), total in net.items()
    ]
    return sorted(rows, key=lambda r: (-r[4], r[0] is None, r[0] or "", r[2]))


def expected_receivables_per_customer(records: Records) -> list[Row]:
    as_of = date.fromisoformat(max(i.get("LASTUPDATE") for i in records["invoices"])[:10])
    paid: defaultdict[str, Decimal] = defaultdict(Decimal)
    for invoice, payment in _current(records, "invoice_payments"):
        paid[invoice["INVOICE_ID"]] += _amount(payment.get("AMOUNT"))
    customers = {c.get("CUSTOMER_ID"): c for c in records["customers"]}
    sums: dict[tuple[str, str], list[Any]] = {}
    for invoice in records["invoices"]:
        if invoice.get("TYPE") != "outgoing" or invoice.get("IS_CANCELED"):
            continue
        open_amount = _amount(invoice.get("TOTAL")) - paid[invoice["INVOICE_ID"]]
        due = invoice.get("DUE_DATE")
        overdue = due is not None and date.fromisoformat(due) < as_of
        counts = sums.setdefault(
            (invoice.get("CUSTOMER_ID"), invoice.get("CURRENCY_CODE")), [0, 0, 0]
        )
        counts[0] += open_amount > 0
        counts[1] += open_amount
        counts[2] += open_amount if overdue else 0
    rows = []
    for (customer_id, currency), (count, open_amount, overdue) in sums.items():
        if open_amount <= 0:
            continue
        customer = customers.get(customer_id, {})
        person = [customer.get(n) for n in ("FIRST_NAME", "LAST_NAME") if customer.get(n)]
        name = customer.get("ORGANIZATION") or " ".join(person)
        number = customer.get("CUSTOMER_NUMBER")
        rows.append((customer_id, number, name, currency, count, open_amount, overdue, as_of))
    return sorted(rows, key=lambda r: (-r[5], r[0], r[3]))


def expected_vat_per_rate_per_quarter(records: Records) -> list[Row]:
    invoices: Counter[tuple[str, str, Decimal]] = Counter()
    sums: defaultdict[tuple[str, str, Decimal], list[Decimal]] = defaultdict(
        lambda: [Decimal(0), Decimal(0)]
    )
    for invoice, vat in _current(records, "invoice_vat_items"):
        if not _counts_as_revenue(invoice):
            continue
        day = date.fromisoformat(invoice["INVOICE_DATE"])
        quarter = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
        key = (quarter, invoice.get("CURRENCY_CODE"), _amount(vat.get("VAT_PERCENT")))
        invoices[key] += 1
        sums[key][0] += _signed(invoice, vat.get("COMPLETE_NET"))
        sums[key][1] += _signed(invoice, vat.get("VAT_VALUE"))
    rows = [(*key, invoices[key], net, tax) for key, (net, tax) in sums.items()]
    rows.sort(key=lambda r: (r[1], -r[2]))
    return sorted(rows, key=lambda r: r[0], reverse=True)  # stable: quarter descending


def expected_billable_hours_per_project(records: Records) -> list[Row]:
    names = {p["PROJECT_ID"]: p.get("PROJECT_NAME") for p in records["projects"]}
    tasks = Counter(task["PROJECT_ID"] for task in records["project_tasks"])
    entries: Counter[str] = Counter()
    minutes: Counter[str] = Counter()
    billable: Counter[str] = Counter()
    for entry in records["time_entries"]:
        project = entry["PROJECT_ID"]
        entries[project] += 1
        minutes[project] += entry.get("MINUTES") or 0
        billable[project] += entry.get("BILLABLE_MINUTES") or 0
    rows = [
        (
            project,
            names.get(project),
            tasks[project],
            entries[project],
            round(minutes[project] / 60, 2),
            round(billable[project] / 60, 2),
        )
        for project in names.keys() | entries.keys()
    ]
    return sorted(rows, key=lambda r: (-r[5], -r[4], r[0] is None, r[0] or ""))


EXPECTED = {
    "revenue_per_product": expected_revenue_per_product,
    "receivables_per_customer": expected_receivables_per_customer,
    "vat_per_rate_per_quarter": expected_vat_per_rate_per_quarter,
    "billable_hours_per_project": expected_billable_hours_per_project,
}


# ---------------------------------------------------------------------------------------------
# Tests


def test_the_file_holds_the_four_queries_and_each_passes_through_sqlalchemy_unchanged(
    queries: dict[str, str],
) -> None:
    assert tuple(queries) == QUERIES
    for name, sql in queries.items():
        # The demo runs them through PyAirbyte's run_sql_query, a sqlalchemy text(): a ":word"
        # anywhere in the text, comments included, would become a bind parameter.
        assert sqlalchemy.text(sql).compile().params == {}, name
        assert sql.startswith("-- ") and not sql.endswith(";"), name


@pytest.mark.parametrize("name", QUERIES)
def test_a_report_gives_what_the_records_give(
    name: str, queries: dict[str, str], records: Records, database: duckdb.DuckDBPyConnection
) -> None:
    answer = _answer(database, queries[name])
    assert answer, f"{name} found no rows"
    assert answer == EXPECTED[name](records)


def test_the_sandbox_gives_every_report_something_to_tell(records: Records) -> None:
    revenue = expected_revenue_per_product(records)
    assert any(row[0] is None for row in revenue) and any(row[1] for row in revenue)
    receivables = expected_receivables_per_customer(records)
    assert any(row[6] == 0 for row in receivables) and any(row[6] > 0 for row in receivables)
    vat = expected_vat_per_rate_per_quarter(records)
    assert {row[2] for row in vat} >= {Decimal(0), Decimal(19)} and any(r[4] < 0 for r in vat)
    types = {i.get("TYPE") for i in records["invoices"] if not i.get("IS_CANCELED")}
    assert types == {"outgoing", "draft", "credit"}
    assert any(i.get("IS_CANCELED") for i in records["invoices"])


def test_children_removed_from_their_invoice_do_not_count(
    queries: dict[str, str], database: duckdb.DuckDBPyConnection
) -> None:
    """In an append+dedup destination, a removed child keeps the invoice's older LASTUPDATE."""
    before = {name: _answer(database, queries[name]) for name in QUERIES}
    stale = "lastupdate - INTERVAL 1 DAY"
    database.begin()
    try:
        for table, key, changed in (
            ("invoice_items", "invoice_item_id", "invoice_item_id || ':removed'"),
            ("invoice_payments", "payment_id", "payment_id || ':removed'"),
            ("invoice_vat_items", "vat_percent", "vat_percent + 1"),
        ):
            copy = {key: changed, "lastupdate": stale}  # a new key, an older LASTUPDATE
            values = [copy.get(column, column) for column in database.table(table).columns]
            inserted = database.execute(
                f"INSERT INTO {table} SELECT {', '.join(values)} FROM {table}"
            ).fetchone()
            assert inserted and inserted[0] > 0
        after = {name: _answer(database, queries[name]) for name in QUERIES}
    finally:
        database.rollback()
    assert after == before


def _per_currency(rows: list[Row], currency: int, amount: int) -> dict[str, Decimal]:
    totals: defaultdict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row[currency]] += _amount(row[amount])
    return dict(totals)


def test_the_demo_net_revenue_per_month_reconciles_with_the_other_reports(
    queries: dict[str, str], database: duckdb.DuckDBPyConnection
) -> None:
    demo = _load_demo()
    months = _answer(database, demo.NET_REVENUE_ALL_MONTHS_SQL)
    by_product = _answer(database, queries["revenue_per_product"])
    by_vat_rate = _answer(database, queries["vat_per_rate_per_quarter"])

    monthly = _per_currency(months, currency=1, amount=3)
    # The sandbox has credit notes: the totals agree only if the months count them, negative
    # (before the fix the months left them out and did not add up to the other reports).
    credits = database.execute(
        "SELECT count(*) FROM invoices WHERE type = 'credit' AND NOT coalesce(is_canceled, FALSE)"
    ).fetchone()
    assert credits and credits[0] > 0
    assert monthly == _per_currency(by_product, currency=2, amount=4)
    assert monthly == _per_currency(by_vat_rate, currency=1, amount=4)
    # The demo's 12 months are a part of the same rows.
    shown = _answer(database, demo.NET_REVENUE_SQL)
    assert shown and set(shown) <= set(months)


# ---------------------------------------------------------------------------------------------
# The queries of docs/fastbill.md "Deleted and cancelled records"


def _section_sql(title: str) -> list[str]:
    text = (ROOT / "docs" / "fastbill.md").read_text()
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.DOTALL)


def test_the_deletion_queries_of_the_docs_give_what_the_records_give(
    database: duckdb.DuckDBPyConnection, records: Records
) -> None:
    active, revenue, items = _section_sql("Deleted and cancelled records")
    customers = records["customers"]
    kept = sorted(c["CUSTOMER_ID"] for c in customers if not c.get("DELETED_DATE"))
    assert 0 < len(kept) < len(customers), "the sandbox lists deleted customers"
    assert _answer(database, f"SELECT customer_id FROM ({active}) ORDER BY 1") == [
        (key,) for key in kept
    ]

    invoices = {i["INVOICE_ID"]: i for i in records["invoices"]}
    _assert_net_of_cancellations(database, records, invoices, revenue, items)
    # The sandbox has no credit note for a cancelled invoice: a copy of the table gets one.
    credit = next(i for i in invoices.values() if i["TYPE"] == "credit")
    canceled = next(i for i in invoices.values() if i.get("IS_CANCELED"))
    database.execute("CREATE OR REPLACE TABLE invoices_case AS SELECT * FROM invoices")
    database.execute(
        "UPDATE invoices_case SET referenced_invoice_id = ? WHERE invoice_id = ?",
        [canceled["INVOICE_ID"], credit["INVOICE_ID"]],
    )
    invoices[credit["INVOICE_ID"]] = {**credit, "REFERENCED_INVOICE_ID": canceled["INVOICE_ID"]}
    case = [re.sub(r"\binvoices\b", "invoices_case", sql) for sql in (revenue, items)]
    _assert_net_of_cancellations(database, records, invoices, *case)


def _assert_net_of_cancellations(
    database: duckdb.DuckDBPyConnection,
    records: Records,
    invoices: Mapping[str, Mapping[str, Any]],
    revenue: str,
    items: str,
) -> None:
    cancelled = {key for key, invoice in invoices.items() if invoice.get("IS_CANCELED")}

    def counted(invoice: Mapping[str, Any]) -> bool:
        kind = invoice.get("TYPE")
        cancels = kind == "credit" and invoice.get("REFERENCED_INVOICE_ID") in cancelled
        return kind in ("outgoing", "credit") and not invoice.get("IS_CANCELED") and not cancels

    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for invoice in filter(counted, invoices.values()):
        sums[invoice["CURRENCY_CODE"]][0] += _signed(invoice, invoice["SUB_TOTAL"])
        sums[invoice["CURRENCY_CODE"]][1] += _signed(invoice, invoice["TOTAL"])
    assert _answer(database, revenue) == [(cur, *sums[cur]) for cur in sorted(sums)]

    nets: dict[str, Decimal] = defaultdict(Decimal)
    for item in records["invoice_items"]:
        invoice = invoices[item["INVOICE_ID"]]
        if counted(invoice) and item.get("COMPLETE_NET") is not None:
            nets[invoice["CURRENCY_CODE"]] += _signed(invoice, item["COMPLETE_NET"])
    assert _answer(database, items) == [(cur, nets[cur]) for cur in sorted(nets)]
