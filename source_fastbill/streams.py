"""FastBill streams. `FastbillStream` owns the protocol; each stream below is a declaration.

FastBill has one endpoint. Every read is a POST of `{"SERVICE": "<name>.get", "LIMIT": 100,
"OFFSET": n, "FILTER": {...}}`; the records come back under `RESPONSE.<response_key>`. API docs:
https://apidocs.fastbill.com/fastbill/en/ (Pro) and https://apidocs.monsum.com/automatic/en/.
"""

from __future__ import annotations

import functools
import json
from abc import ABC
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import timedelta
from typing import Any, ClassVar

import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams import CheckpointMixin
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from requests.auth import AuthBase

from source_fastbill import protocol
from source_fastbill.config import FastbillConfig, fastbill_today
from source_fastbill.errors import FastbillBackoffStrategy, FastbillErrorHandler
from source_fastbill.incremental import (
    CREATED,
    DateFilter,
    Plan,
    SyncState,
    in_window,
    is_news,
    newest,
    with_resume,
)
from source_fastbill.normalize import FastbillTransformer

PRO = frozenset({"pro"})
AUTOMATIC = frozenset({"automatic"})
BOTH_EDITIONS = PRO | AUTOMATIC
NORMALIZER = FastbillTransformer()


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    return ResourceSchemaLoader("source_fastbill").get_schema(name)


class FastbillStream(HttpStream, ABC):
    """One FastBill read service, paged with LIMIT 100 / OFFSET += 100 until a short page."""

    http_method = "POST"
    page_size = 100  # FastBill's maximum; without LIMIT it answers only 10 rows
    service: ClassVar[str]  # e.g. "invoice.get"
    response_key: ClassVar[str]  # e.g. "INVOICES"
    primary_key: ClassVar[str]
    editions: ClassVar[frozenset[str]] = PRO

    def __init__(
        self,
        config: FastbillConfig,
        authenticator: AuthBase,
        api_budget: APIBudget,
        check_call: bool = False,
    ) -> None:
        # get_error_handler() runs inside HttpStream.__init__ and needs both.
        self.config = config
        self.check_call = check_call
        super().__init__(authenticator=authenticator, api_budget=api_budget)
        self.authenticator, self.api_budget = authenticator, api_budget
        if check_call:
            self.page_size = 1
        self._delivered: set[Any] = set()

    @property
    def is_resumable(self) -> bool:
        # HttpStream's own state setter would make every stream "resumable full refresh": read a
        # page per checkpoint and end in a state that makes the next full refresh return nothing.
        return self.supports_incremental

    @property
    def url_base(self) -> str:
        return self.config.api_url

    def path(self, **_: Any) -> str:
        return ""

    def get_json_schema(self) -> Mapping[str, Any]:
        return _schema(self.name)

    def get_error_handler(self) -> ErrorHandler:
        if self.check_call:  # `check` must answer within seconds, not minutes
            return FastbillErrorHandler(
                self.logger, self.service, self.config.api_url, self.config.edition,
                max_retries=2, max_time=timedelta(seconds=20),
            )  # fmt: skip
        return FastbillErrorHandler(
            self.logger, self.service, self.config.api_url, self.config.edition
        )

    def get_backoff_strategy(self) -> BackoffStrategy:
        return FastbillBackoffStrategy()

    def request_kwargs(self, **_: Any) -> Mapping[str, Any]:
        # requests has no default timeout: a silent host would hang the sync forever.
        return {"timeout": (5 if self.check_call else 15, 120)}

    def request_body_json(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        body: dict[str, Any] = {
            "SERVICE": self.service,
            "LIMIT": self.page_size,
            "OFFSET": (next_page_token or {}).get("OFFSET", 0),
        }
        # A slice carries its FILTER, fixed when the sync started: paging never moves a window.
        if stream_slice and stream_slice.get("filter"):
            body["FILTER"] = dict(stream_slice["filter"])
        return body

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        if self.check_call or len(protocol.rows(response, self.response_key)) < self.page_size:
            return None
        sent = json.loads(response.request.body or b"{}")
        return {"OFFSET": sent["OFFSET"] + self.page_size}

    def parse_response(
        self, response: requests.Response, **_: Any
    ) -> Iterable[MutableMapping[str, Any]]:
        # Normalised here, not by the CDK after the fact, so cursors compare the emitted values.
        schema = self.get_json_schema()
        for record in protocol.rows(response, self.response_key):
            NORMALIZER.transform(record, schema)
            yield record

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        window = (stream_slice or {}).get("window")
        pages = super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        for record in pages:
            key = record.get(self.primary_key)
            if key is not None and key in self._delivered:
                continue  # OFFSET paging over changing data can serve a record twice
            if not in_window(record, window):
                continue
            if key is not None:
                self._delivered.add(key)
            yield record
        if not (stream_slice or {}).get("then"):
            # The stream's last slice: its keys served their purpose, and the source keeps every
            # stream object until the whole sync ends.
            self._delivered = set()


class DateWindowStream(FastbillStream, CheckpointMixin, ABC):
    """A service with server-side date filters: incremental by date window (see incremental.py)."""

    date_filter: ClassVar[DateFilter]
    paid_filter: ClassVar[DateFilter | None] = None
    change_field: ClassVar[str | None] = "LASTUPDATE"
    # FastBill serves some services only by date window; others read everything in full refresh.
    windowed_full_refresh: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_at_start = SyncState()
        self._sync_state = SyncState()
        self._read_plan: Plan | None = None  # set when a read starts (stream_slices)
        self._newest_change: str | None = None
        self._newest_paid: str | None = None

    @property
    def cursor_field(self) -> str:  # type: ignore[override]
        return self.change_field or self.date_filter.field

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._sync_state.to_dict(self.cursor_field)

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._sync_state = SyncState.parse(value, self.cursor_field, self.logger)

    def _plan(self) -> Plan:
        return Plan(self.config, self.date_filter, self.paid_filter, today=fastbill_today())

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        # One plan per read: its end date is also the position saved when the read completes,
        # even if the read runs past midnight.
        self._state_at_start, self._read_plan = self._sync_state, self._plan()
        if sync_mode == SyncMode.incremental:
            yield from self._read_plan.incremental(self._sync_state)
        elif self.windowed_full_refresh:
            yield self._read_plan.one_window()
        else:
            yield {"pass": CREATED, "filter": {}, "window": None, "then": None}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        records = super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        start, incremental = self._state_at_start, sync_mode == SyncMode.incremental
        for record in records:
            if incremental and not is_news(
                record, start, self.date_filter.field, self.change_field
            ):
                continue
            self._newest_change = newest(self._newest_change, record.get(self.cursor_field))
            self._newest_paid = newest(self._newest_paid, record.get("PAID_DATE"))
            yield record
        self._checkpoint((stream_slice or {}).get("then"))

    def _checkpoint(self, then: dict[str, str] | None) -> None:
        if then:  # more windows follow: keep the completed sync's cursor, remember where to resume
            self._sync_state = with_resume(self._sync_state, then)
        else:
            done = self._state_at_start.finished(
                self._newest_change, self._newest_paid, (self._read_plan or self._plan()).end
            )
            self._sync_state = done


INVOICE_DATES = DateFilter("INVOICE_DATE", (("START_DATE", "END_DATE"),))
PAID_DATES = DateFilter("PAID_DATE", (("START_PAID_DATE", "END_PAID_DATE"),))


class Customers(FastbillStream):
    """customer.get"""

    service, response_key, primary_key = "customer.get", "CUSTOMERS", "CUSTOMER_ID"
    editions = BOTH_EDITIONS


class Contacts(FastbillStream):
    """contact.get: all contacts at once, or customer by customer where FastBill insists."""

    service, response_key, primary_key = "contact.get", "CONTACTS", "CONTACT_ID"
    _per_customer = False  # set when FastBill answers "missing / invalid field: CUSTOMER_ID"

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        yield from super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        if self._per_customer and not (stream_slice or {}).get("filter"):
            yield from self._read_per_customer(sync_mode)

    def get_error_handler(self) -> ErrorHandler:
        handler = super().get_error_handler()
        assert isinstance(handler, FastbillErrorHandler)
        handler.on_missing_field = self._switch_to_per_customer
        return handler

    def _switch_to_per_customer(self, field: str) -> bool:
        if field != "CUSTOMER_ID" or self._per_customer or self.check_call:
            return False
        self.logger.warning(
            "FastBill's contact.get requires a CUSTOMER_ID on this account: reading contacts "
            "customer by customer, which costs one API call per customer."
        )
        self._per_customer = True
        return True

    def _read_per_customer(self, sync_mode: SyncMode) -> Iterable[Mapping[str, Any]]:
        customers = Customers(self.config, self.authenticator, self.api_budget)
        for customer in customers.read_records(SyncMode.full_refresh):
            customer_id = customer["CUSTOMER_ID"]
            one = {"filter": {"CUSTOMER_ID": customer_id}}
            for contact in super().read_records(sync_mode, stream_slice=one):
                contact.setdefault("CUSTOMER_ID", customer_id)
                yield contact


class Invoices(DateWindowStream):
    """invoice.get (Pro): incremental by invoice date, payment date and LASTUPDATE."""

    service, response_key, primary_key = "invoice.get", "INVOICES", "INVOICE_ID"
    date_filter, paid_filter = INVOICE_DATES, PAID_DATES


class RecurringInvoices(FastbillStream):
    """recurring.get: answers under INVOICES, like invoice.get."""

    service, response_key, primary_key = "recurring.get", "INVOICES", "INVOICE_ID"


class Revenues(DateWindowStream):
    """revenue.get: the invoice.get filters apply."""

    service, response_key, primary_key = "revenue.get", "REVENUES", "INVOICE_ID"
    date_filter, paid_filter = INVOICE_DATES, PAID_DATES


class Expenses(DateWindowStream):
    """expense.get"""

    service, response_key, primary_key = "expense.get", "EXPENSES", "INVOICE_ID"
    date_filter, paid_filter = INVOICE_DATES, PAID_DATES


class Products(FastbillStream):
    """article.get (Pro), keyed by FastBill's ARTICLE_ID."""

    service, response_key, primary_key = "article.get", "ARTICLES", "ARTICLE_ID"


class Projects(FastbillStream):
    """project.get, with each project's TASKS nested."""

    service, response_key, primary_key = "project.get", "PROJECTS", "PROJECT_ID"


class TimeEntries(DateWindowStream):
    """time.get: always by date window, since without one FastBill returns this month's last 10."""

    service, response_key, primary_key = "time.get", "TIMES", "TIME_ID"
    date_filter = DateFilter("DATE", (("START_DATE", "END_DATE"),))
    change_field = None
    windowed_full_refresh = True


class Estimates(DateWindowStream):
    """estimate.get: docs say START_DATE/END_DATE, SDKs START_ESTIMATE_DATE; both are sent."""

    service, response_key, primary_key = "estimate.get", "ESTIMATES", "ESTIMATE_ID"
    date_filter = DateFilter(
        "ESTIMATE_DATE",
        (("START_DATE", "END_DATE"), ("START_ESTIMATE_DATE", "END_ESTIMATE_DATE")),
    )


class Templates(FastbillStream):
    """template.get"""

    service, response_key, primary_key = "template.get", "TEMPLATES", "TEMPLATE_ID"
    editions = BOTH_EDITIONS


class AutomaticInvoices(FastbillStream):
    """invoice.get (Automatic): no invoice-date or payment-date filter, so full refresh only."""

    name = "invoices"
    service, response_key, primary_key = "invoice.get", "INVOICES", "INVOICE_ID"
    editions = AUTOMATIC


class AutomaticProducts(FastbillStream):
    """article.get (Automatic), keyed by the ARTICLE_NUMBER: Automatic has no ARTICLE_ID."""

    name = "products"
    service, response_key, primary_key = "article.get", "ARTICLES", "ARTICLE_NUMBER"
    editions = AUTOMATIC


class Subscriptions(FastbillStream):
    """subscription.get (Automatic)"""

    service, response_key, primary_key = "subscription.get", "SUBSCRIPTIONS", "SUBSCRIPTION_ID"
    editions = AUTOMATIC


class Coupons(FastbillStream):
    """coupon.get (Automatic), keyed by the coupon CODE."""

    service, response_key, primary_key = "coupon.get", "COUPONS", "CODE"
    editions = AUTOMATIC


# Discover lists the streams in this order.
STREAMS: tuple[type[FastbillStream], ...] = (
    Customers,
    Contacts,
    Invoices,
    AutomaticInvoices,
    RecurringInvoices,
    Revenues,
    Expenses,
    Products,
    AutomaticProducts,
    Projects,
    TimeEntries,
    Estimates,
    Templates,
    Subscriptions,
    Coupons,
)
