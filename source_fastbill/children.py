"""Child streams: every nested list of records as a stream of its own, at no extra API call.

An invoice's ITEMS, PAYMENTS and VAT_ITEMS, a project's TASKS, a subscription's ADDONS: BI tools
and Airbyte's destinations do not unnest JSON arrays, so each list is a stream whose rows carry
the parent's key and the parent fields a report needs. A child stream *is* its parent stream (the
same service, windows, state and paging) whose parent records are unfolded into their children:
- every child row of every parent record the read emits, and no others;
- incremental exactly as the parent: a re-emitted parent brings all its current children;
- the pages are the parent's: read together in one sync, they are paid for once (sharing.py).
The parent streams keep their nested arrays.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airbyte_cdk.models import SyncMode

from source_fastbill.descriptions import child_description
from source_fastbill.keys import canonical_key
from source_fastbill.normalize import Nulled, Record
from source_fastbill.streams import (
    AUTOMATIC,
    STREAMS,
    AutomaticInvoices,
    Estimates,
    Expenses,
    FastbillStream,
    Invoices,
    Projects,
    RecurringInvoices,
    Revenues,
    Subscriptions,
    _schema,
    stream_name,
)

INVOICE_FIELDS = (
    "CUSTOMER_ID", "INVOICE_NUMBER", "INVOICE_DATE", "TYPE", "IS_CANCELED", "CURRENCY_CODE",
    "LASTUPDATE",
)  # fmt: skip
EXPENSE_FIELDS = ("CUSTOMER_ID", "INVOICE_NUMBER", "INVOICE_DATE", "CURRENCY_CODE", "LASTUPDATE")
ESTIMATE_FIELDS = (
    "CUSTOMER_ID", "ESTIMATE_NUMBER", "ESTIMATE_DATE", "STATE", "CURRENCY_CODE", "LASTUPDATE",
)  # fmt: skip
RECURRING_FIELDS = ("CUSTOMER_ID", "START_DATE", "FREQUENCY", "CURRENCY_CODE")
PROJECT_FIELDS = ("CUSTOMER_ID", "PROJECT_NAME", "PROJECT_NUMBER")
SUBSCRIPTION_FIELDS = ("CUSTOMER_ID", "STATUS", "START", "CANCELLATION_DATE")
AUTOMATIC_INVOICE_FIELDS = (
    "CUSTOMER_ID", "INVOICE_NUMBER", "INVOICE_DATE", "TYPE", "IS_CANCELED", "CURRENCY_CODE",
    "SUBSCRIPTION_ID",
)  # fmt: skip


@dataclass(frozen=True)
class Nesting:
    """Where the children sit in a parent record, and how each child row is keyed."""

    list_field: str  # e.g. "ITEMS"
    key: tuple[str, ...]  # the child rows' primary key
    parent_fields: tuple[str, ...]  # copied onto every row, so reports need no join
    # The child's own ID field, where FastBill gives one. A row without it gets the parent key
    # and a digest of the row's content: stable while the item is unchanged, never a position.
    own_id: str | None = None


class ChildStream(FastbillStream):
    """Mixed in before the parent stream class: the parent's read, unfolded."""

    nesting: ClassVar[Nesting]

    @property
    def primary_key(self) -> list[str]:  # type: ignore[override]
        return list(self.nesting.key)

    @property
    def record_key(self) -> str:
        return str(self._parent.primary_key)

    @property
    def _parent(self) -> type[FastbillStream]:
        return parent_of(type(self))

    def record_schema(self) -> Mapping[str, Any]:
        return _schema(stream_name(self._parent))

    def get_json_schema(self) -> Mapping[str, Any]:
        return child_schema(stream_name(self._parent), self.record_key, self.nesting)

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        parents = super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        for parent in parents:
            yield from unfold(parent, self.record_key, self.nesting)


def parent_of(child: type[FastbillStream]) -> type[FastbillStream]:
    """The parent stream class a child stream class unfolds (the first after ChildStream)."""
    return next(
        c
        for c in child.__mro__[1:]
        if issubclass(c, FastbillStream) and not issubclass(c, ChildStream)
    )


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
        own = nesting.own_id
        if own and canonical_key(row.get(own)) is None:
            digest = hashlib.sha256(json.dumps(child, sort_keys=True, default=str).encode())
            row[own] = f"{parent.get(parent_key)}:{digest.hexdigest()[:16]}"
        elif own:
            row[own] = canonical_key(row[own])  # the rule of keys.py, as for the parent's key
        yield row


def _nulled_in_row(parent: Mapping[str, Any], prefix: str) -> list[Nulled]:
    """The parent's nulled values inside one of its list's rows, by their path in the row."""
    nulled = parent.nulled if isinstance(parent, Record) else []
    return [v._replace(path=v.path[len(prefix) :]) for v in nulled if v.path.startswith(prefix)]


def _nulled_at(parent: Mapping[str, Any], name: str) -> list[Nulled]:
    """A parent field copied onto the row was nulled: the row reports it too."""
    nulled = parent.nulled if isinstance(parent, Record) else []
    return [value for value in nulled if value.path == name]


@functools.cache
def _child_schema(parent: str, parent_key: str, nesting: Nesting) -> dict[str, Any]:
    source = _schema(parent)["properties"]
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


def child_schema(parent: str, parent_key: str, nesting: Nesting) -> dict[str, Any]:
    """The rows' schema, derived from the parent's: the same types as the nested list."""
    return _child_schema(parent, parent_key, nesting)


ITEM = "INVOICE_ITEM_ID"


class InvoiceItems(ChildStream, Invoices):
    """ITEMS of invoice.get (Pro): the line items."""

    nesting = Nesting("ITEMS", (ITEM,), INVOICE_FIELDS, own_id=ITEM)


class InvoicePayments(ChildStream, Invoices):
    """PAYMENTS of invoice.get: what was paid, when and how."""

    nesting = Nesting("PAYMENTS", ("PAYMENT_ID",), INVOICE_FIELDS, own_id="PAYMENT_ID")


class InvoiceVatItems(ChildStream, Invoices):
    """VAT_ITEMS of invoice.get: net and VAT per rate; keyed by the invoice and the rate."""

    nesting = Nesting("VAT_ITEMS", ("INVOICE_ID", "VAT_PERCENT"), INVOICE_FIELDS)


class RecurringInvoiceItems(ChildStream, RecurringInvoices):
    """ITEMS of recurring.get."""

    nesting = Nesting("ITEMS", (ITEM,), RECURRING_FIELDS, own_id=ITEM)


class RevenueItems(ChildStream, Revenues):
    """ITEMS of revenue.get."""

    nesting = Nesting("ITEMS", (ITEM,), INVOICE_FIELDS, own_id=ITEM)


class ExpenseItems(ChildStream, Expenses):
    """ITEMS of expense.get."""

    nesting = Nesting("ITEMS", (ITEM,), EXPENSE_FIELDS, own_id=ITEM)


class EstimateItems(ChildStream, Estimates):
    """ITEMS of estimate.get."""

    nesting = Nesting("ITEMS", (ITEM,), ESTIMATE_FIELDS, own_id=ITEM)


class ProjectTasks(ChildStream, Projects):
    """TASKS of project.get: the link between projects and time entries (TASK_ID)."""

    nesting = Nesting("TASKS", ("TASK_ID",), PROJECT_FIELDS, own_id="TASK_ID")


class AutomaticInvoiceItems(ChildStream, AutomaticInvoices):
    """ITEMS of invoice.get (Automatic)."""

    name = "invoice_items"
    editions = AUTOMATIC
    nesting = Nesting("ITEMS", (ITEM,), AUTOMATIC_INVOICE_FIELDS, own_id=ITEM)


class SubscriptionAddons(ChildStream, Subscriptions):
    """ADDONS of subscription.get (Automatic); keyed by the subscription and the article."""

    nesting = Nesting("ADDONS", ("SUBSCRIPTION_ID", "ARTICLE_NUMBER"), SUBSCRIPTION_FIELDS)


CHILDREN: tuple[type[FastbillStream], ...] = (
    InvoiceItems,
    InvoicePayments,
    InvoiceVatItems,
    AutomaticInvoiceItems,
    RecurringInvoiceItems,
    RevenueItems,
    ExpenseItems,
    EstimateItems,
    ProjectTasks,
    SubscriptionAddons,
)


def _with_children() -> tuple[type[FastbillStream], ...]:
    ordered: list[type[FastbillStream]] = []
    for stream in STREAMS:
        ordered.append(stream)
        ordered.extend(c for c in CHILDREN if parent_of(c) is stream)
    return tuple(ordered)


# Discover lists the streams in this order: each parent, then its children.
ALL_STREAMS = _with_children()


def by_name(edition: str) -> dict[str, type[FastbillStream]]:
    """The edition's stream classes by the names the catalog gives them."""
    return {stream_name(s): s for s in ALL_STREAMS if edition in s.editions}
