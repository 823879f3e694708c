"""Child streams: every nested list of records as a stream of its own, at no extra API call.

An invoice's ITEMS, PAYMENTS and VAT_ITEMS, a project's TASKS, a subscription's ADDONS: BI tools
and Airbyte's destinations do not unnest JSON arrays, so each list is a stream whose rows carry
the parent's key and the parent fields a report needs. A child stream *is* its parent stream
(a subclass declaring `nesting`: the same service, windows, state and paging) whose parent
records are unfolded into their children (pipeline.py, step "rows"; nesting.py):
- every child row of every parent record the read emits, and no others;
- incremental exactly as the parent: a re-emitted parent brings all its current children;
- the pages are the parent's: read together in one sync, they are paid for once (sharing.py).
The parent streams keep their nested arrays.
"""

from __future__ import annotations

from source_fastbill.nesting import Nesting
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


ITEM = "INVOICE_ITEM_ID"


class InvoiceItems(Invoices):
    """ITEMS of invoice.get (Pro): the line items."""

    nesting = Nesting("ITEMS", (ITEM,), INVOICE_FIELDS, own_id=ITEM)


class InvoicePayments(Invoices):
    """PAYMENTS of invoice.get: what was paid, when and how."""

    nesting = Nesting("PAYMENTS", ("PAYMENT_ID",), INVOICE_FIELDS, own_id="PAYMENT_ID")


class InvoiceVatItems(Invoices):
    """VAT_ITEMS of invoice.get: net and VAT per rate; keyed by the invoice and the rate."""

    nesting = Nesting("VAT_ITEMS", ("INVOICE_ID", "VAT_PERCENT"), INVOICE_FIELDS)


class RecurringInvoiceItems(RecurringInvoices):
    """ITEMS of recurring.get."""

    nesting = Nesting("ITEMS", (ITEM,), RECURRING_FIELDS, own_id=ITEM)


class RevenueItems(Revenues):
    """ITEMS of revenue.get."""

    nesting = Nesting("ITEMS", (ITEM,), INVOICE_FIELDS, own_id=ITEM)


class ExpenseItems(Expenses):
    """ITEMS of expense.get."""

    nesting = Nesting("ITEMS", (ITEM,), EXPENSE_FIELDS, own_id=ITEM)


class EstimateItems(Estimates):
    """ITEMS of estimate.get."""

    nesting = Nesting(
        "ITEMS", (ITEM,), ESTIMATE_FIELDS, own_id=ITEM, own_id_aliases=("ESTIMATE_ITEM_ID",)
    )


class ProjectTasks(Projects):
    """TASKS of project.get: the link between projects and time entries (TASK_ID)."""

    nesting = Nesting("TASKS", ("TASK_ID",), PROJECT_FIELDS, own_id="TASK_ID")


class AutomaticInvoiceItems(AutomaticInvoices):
    """ITEMS of invoice.get (Automatic)."""

    name = "invoice_items"
    editions = AUTOMATIC
    nesting = Nesting("ITEMS", (ITEM,), AUTOMATIC_INVOICE_FIELDS, own_id=ITEM)


class AutomaticInvoiceVatItems(AutomaticInvoices):
    """VAT_ITEMS of invoice.get (Automatic): net and VAT per rate, as Pro's invoice_vat_items."""

    name = "invoice_vat_items"
    editions = AUTOMATIC
    nesting = Nesting("VAT_ITEMS", ("INVOICE_ID", "VAT_PERCENT"), AUTOMATIC_INVOICE_FIELDS)


class SubscriptionAddons(Subscriptions):
    """ADDONS of subscription.get (Automatic); keyed by the subscription and the article."""

    nesting = Nesting("ADDONS", ("SUBSCRIPTION_ID", "ARTICLE_NUMBER"), SUBSCRIPTION_FIELDS)


CHILDREN: tuple[type[FastbillStream], ...] = (
    InvoiceItems,
    InvoicePayments,
    InvoiceVatItems,
    AutomaticInvoiceItems,
    AutomaticInvoiceVatItems,
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
        ordered.extend(c for c in CHILDREN if c.parent is stream)
    return tuple(ordered)


# Discover lists the streams in this order: each parent, then its children.
ALL_STREAMS = _with_children()


def by_name(edition: str) -> dict[str, type[FastbillStream]]:
    """The edition's stream classes by the names the catalog gives them."""
    return {stream_name(s): s for s in ALL_STREAMS if edition in s.editions}
