"""Nested lists as rows: how a parent record's ITEMS, PAYMENTS, TASKS ... become child rows.

Each child row carries the parent's key and the parent fields a report needs (children.py
declares which); the rows' schema is derived from the parent's nested list, so both always type
a value the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from source_fastbill.descriptions import child_description
from source_fastbill.keys import canonical_key
from source_fastbill.normalize import Nulled, Record


@dataclass(frozen=True)
class Nesting:
    """Where the children sit in a parent record, and how each child row is keyed."""

    list_field: str  # e.g. "ITEMS"
    key: tuple[str, ...]  # the child rows' primary key
    parent_fields: tuple[str, ...]  # copied onto every row, so reports need no join
    # The child's own ID field, where FastBill gives one. A row without it gets the parent key
    # and a digest of the row's content: stable while the item is unchanged, never a position.
    own_id: str | None = None
    # Other names FastBill may send the same ID under (estimate items: the PHP SDK of 2025 reads
    # ESTIMATE_ITEM_ID, the API docs show INVOICE_ITEM_ID): the first present is the key.
    own_id_aliases: tuple[str, ...] = ()


def unfold(
    parent: Mapping[str, Any], parent_key: str, nesting: Nesting
) -> Iterable[dict[str, Any]]:
    """The child rows of one (normalised) parent record."""
    children = parent.get(nesting.list_field) or []
    for index, child in enumerate(children if isinstance(children, list) else []):
        if not isinstance(child, dict):
            continue
        row = Record(child, _nulled_in_row(parent, f"{nesting.list_field}[{index}]."))
        for name in nesting.parent_fields:
            if row.get(name) is None:  # the child's own value, where it has one, wins
                row[name] = parent.get(name)
                row.nulled += _nulled_at(parent, name)
        row[parent_key] = parent.get(parent_key)  # the link is always the parent's
        if "LASTUPDATE" in nesting.parent_fields:
            row["LASTUPDATE"] = parent.get("LASTUPDATE")  # the cursor is the parent's change
        if nesting.own_id:
            row[nesting.own_id] = _own_key(row, child, nesting, parent.get(parent_key))
        yield row


def _own_key(row: Mapping[str, Any], child: Any, nesting: Nesting, parent_id: Any) -> str:
    """The row's ID under the first of its names that holds one (the rule of keys.py, as for
    the parent's key), else the parent's key and a digest of the row's content."""
    assert nesting.own_id
    for name in (nesting.own_id, *nesting.own_id_aliases):
        key = canonical_key(row.get(name))
        if key is not None:
            return key
    digest = hashlib.sha256(json.dumps(child, sort_keys=True, default=str).encode())
    return f"{parent_id}:{digest.hexdigest()[:16]}"


def _nulled_in_row(parent: Mapping[str, Any], prefix: str) -> list[Nulled]:
    """The parent's nulled values inside one of its list's rows, by their path in the row."""
    nulled = parent.nulled if isinstance(parent, Record) else []
    return [v._replace(path=v.path[len(prefix) :]) for v in nulled if v.path.startswith(prefix)]


def _nulled_at(parent: Mapping[str, Any], name: str) -> list[Nulled]:
    """A parent field copied onto the row was nulled: the row reports it too."""
    nulled = parent.nulled if isinstance(parent, Record) else []
    return [value for value in nulled if value.path == name]


def child_schema(
    parent_schema: Mapping[str, Any], parent: str, parent_key: str, nesting: Nesting
) -> dict[str, Any]:
    """The rows' schema, derived from the parent's: the same types as the nested list."""
    source = parent_schema["properties"]
    item = source[nesting.list_field].get("items", {})
    properties: dict[str, Any] = {
        name: source[name] for name in (parent_key, *nesting.parent_fields) if name in source
    }
    properties.update(item.get("properties", {}))
    properties[parent_key] = {
        **source[parent_key],
        "description": f"The {parent} record this row belongs to ({parent_key}).",
    }
    if "LASTUPDATE" in nesting.parent_fields:
        properties["LASTUPDATE"] = {
            **source["LASTUPDATE"],
            "description": f"The parent's LASTUPDATE: when the {parent} record last changed.",
        }
    if nesting.own_id:
        properties[nesting.own_id] = {
            "type": ["null", "string"],
            "description": (
                f"FastBill's ID of the row; where FastBill sends none, the parent's "
                f"{parent_key}, a colon and a digest of the row's content."
            ),
        }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "description": child_description(
            parent, nesting.list_field, (parent_key, *nesting.parent_fields), source
        ),
        "type": "object",
        "additionalProperties": True,
        "properties": properties,
    }
