"""Schema descriptions: the wrong old texts of issue 18 stay gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCHEMAS = Path(__file__).parent.parent / "source_fastbill" / "schemas"


def _descriptions(node: object) -> list[str]:
    """Every "description" string in a schema, recursively."""
    if isinstance(node, dict):
        own = [node["description"]] if isinstance(node.get("description"), str) else []
        return own + [d for value in node.values() for d in _descriptions(value)]
    if isinstance(node, list):
        return [d for value in node for d in _descriptions(value)]
    return []


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.json")), ids=lambda p: p.stem)
def test_no_credit_note_is_negated_twice(path: Path) -> None:
    # credit notes' amounts already arrive negative; "count it negative" led to double negation
    texts = _descriptions(json.loads(path.read_text()))
    assert not [t for t in texts if "count it negative" in t]


def test_expense_payment_type_is_not_about_a_customer() -> None:
    schema = json.loads((SCHEMAS / "expenses.json").read_text())
    text = schema["properties"]["PAYMENT_TYPE"]["description"]
    assert "customer" not in text.lower()
    assert text.startswith("How this expense was paid")
