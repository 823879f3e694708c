"""What discover says of a stream: every stream and field carries a description.

The parent streams' descriptions live in their schemas (schemas/*.json), taken from FastBill's
documentation; a child stream's schema is derived from its parent's (children.py), and so is
its description: what one row is, then what the parent says of the nested list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def child_description(
    parent: str, list_field: str, copied: Sequence[str], parent_fields: Mapping[str, Any]
) -> str:
    """E.g. "One row per entry of invoices.ITEMS, with INVOICE_ID, ... of the invoices record."""
    names = ", ".join(dict.fromkeys(copied))  # the parent's key first, each field once
    nested = parent_fields[list_field].get("description", "")
    return (
        f"One row per entry of {parent}.{list_field}, with {names} of the {parent} record. {nested}"
    )
