"""Schema descriptions: every stream and field that discover lists says what it is (issue 18).

The descriptions come from FastBill's documentation; a new field or stream without one fails here,
named by its path, as does a placeholder ("", "TODO") or a wrong old text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.test.entrypoint_wrapper import discover

from source_fastbill.source import SourceFastbill
from unit_tests.conftest import config

SCHEMAS = Path(__file__).parent.parent / "source_fastbill" / "schemas"
EDITIONS = ("pro", "automatic")
# A description that says nothing: empty, a marker, or only the field's name again.
PLACEHOLDER = re.compile(r"^\W*(todo|tbd|fixme|xxx|n/?a|none|description|\?+)?\W*$", re.IGNORECASE)
MIN_WORDS = 3


@cache
def discovered(edition: str) -> dict[str, dict[str, Any]]:
    """The JSON schema of every stream discover lists for the edition, child streams included."""
    streams = discover(SourceFastbill(), config(edition=edition)).catalog.catalog.streams
    return {stream.name: stream.json_schema for stream in streams}


def fields(schema: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, node) of every declared field, nested ones as LIST[].FIELD and OBJECT.FIELD."""
    for name, node in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield path, node
        yield from fields(node, f"{path}.")
        items = node.get("items")
        if isinstance(items, Mapping):
            yield from fields(items, f"{path}[].")


def _all_streams() -> list[tuple[str, str]]:
    return [(edition, name) for edition in EDITIONS for name in discovered(edition)]


@pytest.mark.parametrize(
    ("edition", "stream"), _all_streams(), ids=[f"{e}-{s}" for e, s in _all_streams()]
)
def test_every_stream_and_field_of_discover_has_a_description(edition: str, stream: str) -> None:
    schema = discovered(edition)[stream]
    missing = [
        path for path, node in fields(schema) if not isinstance(node.get("description"), str)
    ]
    assert isinstance(schema.get("description"), str), f"{edition}: stream {stream} has none"
    assert not missing, f"{edition}: {stream} fields without a description: {missing}"


@pytest.mark.parametrize(
    ("edition", "stream"), _all_streams(), ids=[f"{e}-{s}" for e, s in _all_streams()]
)
def test_no_description_is_a_placeholder(edition: str, stream: str) -> None:
    schema = discovered(edition)[stream]
    described = [(f"{stream} (stream)", schema)] + [
        (f"{stream}.{path}", node) for path, node in fields(schema)
    ]
    weak = [
        f"{path}: {node['description']!r}"
        for path, node in described
        if _says_nothing(path.rsplit(".", 1)[-1], node.get("description") or "")
    ]
    assert not weak, f"{edition}: descriptions that say nothing: {weak}"


def _says_nothing(name: str, text: str) -> bool:
    words = text.split()
    return (
        bool(PLACEHOLDER.match(text))
        or len(words) < MIN_WORDS
        or text.strip(" .").upper() == name.upper()
        or bool(re.search(r"\b(TODO|TBD|FIXME)\b", text))
    )


def test_the_checks_name_a_field_without_a_description() -> None:
    schema = {
        "properties": {
            "A": {"description": "Has one, in words."},
            "L": {"description": "A list of rows here.", "items": {"properties": {"B": {}}}},
        }
    }
    assert [p for p, n in fields(schema) if "description" not in n] == ["L[].B"]
    assert _says_nothing("ID", "TODO") and _says_nothing("ID", "") and _says_nothing("ID", "ID.")
    assert _says_nothing("ID", "the id") and not _says_nothing("ID", "FastBill's ID of it.")


def test_every_schema_file_is_discovered() -> None:
    # A schema file no stream uses would escape the checks above.
    names = {name for edition in EDITIONS for name in discovered(edition)}
    assert {path.stem for path in SCHEMAS.glob("*.json")} <= names


# ---------------------------------------------------------------------------------------------
# Texts that were wrong, and the codes a user needs spelled out


def _descriptions(node: object) -> list[str]:
    """Every "description" string in a schema, recursively."""
    if isinstance(node, dict):
        own = [node["description"]] if isinstance(node.get("description"), str) else []
        return own + [d for value in node.values() for d in _descriptions(value)]
    if isinstance(node, list):
        return [d for value in node for d in _descriptions(value)]
    return []


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.json")), ids=lambda p: p.stem)
def test_no_credit_note_is_negated_twice(path: Path) -> None:
    # FastBill does not document a credit note's sign; "count it negative" led to double negation
    texts = _descriptions(json.loads(path.read_text()))
    assert not [t for t in texts if "count it negative" in t]


def test_expense_payment_type_is_not_about_a_customer() -> None:
    text = _schema("expenses")["properties"]["PAYMENT_TYPE"]["description"]
    assert "customer" not in text.lower()
    assert text.startswith("How this expense was paid")


@pytest.mark.parametrize(
    ("stream", "field", "words"),
    [
        ("invoices", "TYPE", ("outgoing", "draft", "credit", "-abs(")),
        ("invoices", "PAYMENT_TYPE", ("1 transfer", "2 direct debit", "6 credit card")),
        ("invoices", "IS_CANCELED", ("cancelled",)),
        ("invoices", "SUB_TOTAL", ("Net amount", "TOTAL = SUB_TOTAL + VAT_TOTAL")),
        ("invoices", "COMMENT_", ("trailing underscore", "not a duplicate of COMMENT")),
        ("invoices", "COMMENT", ("COMMENT_",)),
        ("invoices", "REFERENCED_INVOICE_ID", ("credit note", "invoice.get")),
        ("invoices", "REFERENCE_INVOICE_ID", ("writes", "REFERENCED_INVOICE_ID first")),
        ("invoices", "STATE", ("paid", "unpaid", "overdue", "not documented")),
        ("estimates", "STATE", ("a created", "b sent", "c in negotiation", "d accepted",
                                "e rejected", "f invoiced")),
        ("customers", "CUSTOMER_TYPE", ("business", "consumer")),
        ("customers", "_ab_cdc_deleted_at", ("DELETED_DATE", "Append + Deduped")),
        ("time_entries", "BILLABLE_MINUTES", ("MINUTES",)),
        ("time_entries", "IS_CALCULATED", ("billed",)),
    ],
)  # fmt: skip
def test_codes_are_spelled_out(stream: str, field: str, words: tuple[str, ...]) -> None:
    text = _schema(stream)["properties"][field]["description"]
    assert [w for w in words if w not in text] == [], text


def test_item_amounts_say_how_they_differ() -> None:
    item = _schema("expenses")["properties"]["ITEMS"]["items"]["properties"]
    assert "QUANTITY x UNIT_PRICE" in item["COMPLETE_NET"]["description"]
    assert "not documented" in item["NET_VALUE"]["description"]
    assert "VAT included" in _schema("invoices")["properties"]["IS_GROSS"]["description"]
