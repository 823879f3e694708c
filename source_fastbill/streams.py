"""FastBill streams. `FastbillStream` owns the protocol; each stream below is a declaration.

FastBill has one endpoint. Every read is a POST of `{"SERVICE": "<name>.get", "LIMIT": 100,
"OFFSET": n, "FILTER": {...}}`; the records come back under `RESPONSE.<response_key>`. API docs:
https://apidocs.fastbill.com/fastbill/en/ (Pro) and https://apidocs.monsum.com/automatic/en/.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import logging
from abc import ABC
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import airbyte_cdk.sources.utils.casing as casing
import requests
from airbyte_cdk.models import ConfiguredAirbyteStream, SyncMode
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams import CheckpointMixin
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.utils.schema_helpers import InternalConfig, ResourceSchemaLoader
from airbyte_cdk.sources.utils.slice_logger import SliceLogger
from requests.auth import AuthBase

from source_fastbill import clock, protocol
from source_fastbill.cdk_seams import install_http_client
from source_fastbill.changes import NulledValues
from source_fastbill.clock import fastbill_today
from source_fastbill.config import FastbillConfig
from source_fastbill.deletions import mark_deleted
from source_fastbill.errors import (
    Endpoint,
    FastbillBackoffStrategy,
    FastbillErrorHandler,
    SyncContext,
)
from source_fastbill.incremental import (
    DateFilter,
    Plan,
    SyncState,
    in_window,
    is_news,
    newest,
    with_resume,
)
from source_fastbill.keys import canonicalize
from source_fastbill.normalize import FastbillTransformer, Record
from source_fastbill.paging import PageGuard
from source_fastbill.transport import FastbillHttpClient, quiet_cdk_retry_logs

PRO = frozenset({"pro"})
AUTOMATIC = frozenset({"automatic"})
BOTH_EDITIONS = PRO | AUTOMATIC
NORMALIZER = FastbillTransformer()
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60  # one silent socket read; the whole answer has config's deadline
HOMEPAGE = "https://github.com/source-fastbill/source-fastbill"


def _version(package: str, fallback: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return fallback


# One header for every request, so FastBill's logs (and support) can tell the connector apart.
USER_AGENT = (
    f"source-fastbill/{_version('source-fastbill', 'unknown')} "
    f"(airbyte-cdk {_version('airbyte-cdk', 'unknown')}; +{HOMEPAGE})"
)
CHECK_DEADLINE_SECONDS = 9  # two tries of `check` and the wait between them stay under 30 s
CHECK_RETRIES, RETRIES = 1, 5


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    return ResourceSchemaLoader("source_fastbill").get_schema(name)


def stream_name(stream: type[HttpStream]) -> str:
    """A stream class's name as the CDK gives it: its `name`, else its class name in snake case."""
    name = vars(stream).get("name")
    return name if isinstance(name, str) else casing.camel_to_snake(stream.__name__)


class FastbillStream(HttpStream, ABC):
    """One FastBill read service, paged with LIMIT 100 / OFFSET += 100 until a short page."""

    http_method = "POST"
    page_size = 100  # FastBill's maximum; without LIMIT it answers only 10 rows
    service: ClassVar[str]  # e.g. "invoice.get"
    response_key: ClassVar[str]  # e.g. "INVOICES"
    primary_key: ClassVar[str]
    editions: ClassVar[frozenset[str]] = PRO
    # How many pages a typical account has here, relative to the others: the largest lanes start
    # first when streams are read side by side, so none is left running alone at the end.
    lane_weight: ClassVar[int] = 1
    deleted_field: ClassVar[str | None] = None  # FastBill's deletion date, if any (deletions.py)

    def __init__(
        self,
        config: FastbillConfig,
        authenticator: AuthBase,
        api_budget: APIBudget,
        context: SyncContext,
        check_call: bool = False,
    ) -> None:
        # get_error_handler() runs inside HttpStream.__init__ and needs all of them.
        self.config, self.context, self.check_call = config, context, check_call
        self.retries = CHECK_RETRIES if check_call else RETRIES
        super().__init__(authenticator=authenticator, api_budget=api_budget)
        self.authenticator, self.api_budget = authenticator, api_budget
        self.deadline = float(config.request_timeout_seconds)
        if check_call:
            self.deadline = min(self.deadline, CHECK_DEADLINE_SECONDS)
        client = FastbillHttpClient(
            deadline_seconds=self.deadline,
            pages=context.pages,
            name=self.name,
            logger=self.logger,
            error_handler=self.get_error_handler(),
            api_budget=api_budget,
            authenticator=authenticator,
            backoff_strategy=self.get_backoff_strategy(),
            message_repository=InMemoryMessageRepository(),
        )
        install_http_client(self, client)
        if check_call:
            self.page_size = 1
        context.ledger.register(self.service, self.name)
        self.paging = PageGuard(self.name, self.service, self.record_key, self.logger)
        self.nulled_values = NulledValues(context.ledger, self.logger)
        quiet_cdk_retry_logs(self.logger)

    @property
    def is_resumable(self) -> bool:
        # HttpStream's own state setter would make every stream "resumable full refresh": read a
        # page per checkpoint and end in a state that makes the next full refresh return nothing.
        return self.supports_incremental

    @property
    def record_key(self) -> str:
        """The key of what the service lists (a child stream's rows have their own)."""
        return str(self.primary_key)

    @property
    def url_base(self) -> str:
        return self.config.api_url

    def path(self, **_: Any) -> str:
        return ""

    def get_json_schema(self) -> Mapping[str, Any]:
        return _schema(self.name)

    def record_schema(self) -> Mapping[str, Any]:
        """The schema the service's records are normalised by (a child stream's is derived)."""
        return self.get_json_schema()

    def get_error_handler(self) -> ErrorHandler:
        endpoint = Endpoint(
            self.name, self.service, self.response_key, self.config, self.check_call
        )
        if self.check_call:  # `check` must answer within seconds, not minutes
            return FastbillErrorHandler(
                self.logger, endpoint, self.context, self.retries, timedelta(seconds=20)
            )
        return FastbillErrorHandler(self.logger, endpoint, self.context, self.retries)

    def get_backoff_strategy(self) -> BackoffStrategy:
        return FastbillBackoffStrategy(self.name, self.logger, self.context, self.retries)

    def request_headers(self, **_: Any) -> Mapping[str, Any]:
        return {"User-Agent": USER_AGENT}

    def request_kwargs(self, **_: Any) -> Mapping[str, Any]:
        # requests bounds each socket read; the adapter bounds the whole answer (transport.py).
        # No redirect is followed: FastBill's API is one POST URL, and a redirect would carry the
        # Basic credentials to whatever host it names (errors.py reports it as a setting to fix).
        return {
            "timeout": (CONNECT_TIMEOUT_SECONDS, min(READ_TIMEOUT_SECONDS, self.deadline)),
            "allow_redirects": False,
        }

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
        # A page is full by what the server sent, junk entries included: only a short page ends.
        if self.check_call or len(protocol.entries(response, self.response_key)) < self.page_size:
            return None
        sent = json.loads(response.request.body or b"{}")
        self.paging.after_full_page(response, sent["OFFSET"])
        return {"OFFSET": sent["OFFSET"] + self.page_size}

    def parse_response(
        self, response: requests.Response, **_: Any
    ) -> Iterable[MutableMapping[str, Any]]:
        # Normalised here, not by the CDK after the fact, so cursors compare the emitted values.
        schema = self.record_schema()
        found = protocol.entries(response, self.response_key)
        records = [entry for entry in found if isinstance(entry, dict)]
        for record in records:  # the one place keys are made canonical (keys.py)
            canonicalize(record, self.record_key)
        self.paging.page(response, found, records)
        for record in records:
            mark_deleted(record, self.deleted_field)
            yield Record(record, NORMALIZER.normalize(record, schema))

    def read(  # type: ignore[override]
        self,
        configured_stream: ConfiguredAirbyteStream,
        logger: logging.Logger,
        slice_logger: SliceLogger,
        stream_state: MutableMapping[str, Any],
        state_manager: Any,
        internal_config: InternalConfig,
    ) -> Iterable[StreamData]:
        # The one place a record leaves the stream: the CDK's read has observed the cursor on the
        # plain dict; a record with nulled values leaves as a message carrying them in meta.
        records = super().read(
            configured_stream, logger, slice_logger, stream_state, state_manager, internal_config
        )
        for record in records:
            if isinstance(record, Record) and record.nulled:
                yield self.nulled_values.message(self.name, self.primary_key, record)
            else:
                yield record

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        window = (stream_slice or {}).get("window")
        self.paging.new_slice()
        pages = super().read_records(sync_mode, cursor_field, stream_slice, stream_state)
        for record in pages:
            if not in_window(record, window) or self.paging.delivered_before(record):
                continue
            yield record
        if not (stream_slice or {}).get("then"):
            # The stream's last slice: its keys served their purpose, and the source keeps every
            # stream object until the whole sync ends.
            self.paging.finish()


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
        self._started: datetime | None = None  # FastBill's clock at this read's first answer
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
        self._read_plan, self._started = self._plan(), None
        self._sync_state = self._read_plan.sane(self._sync_state, self.logger, self.name)
        self._state_at_start = self._sync_state
        if sync_mode == SyncMode.incremental:
            yield from self._read_plan.incremental(self._sync_state)
        else:
            yield from self._read_plan.full_refresh(self.windowed_full_refresh)

    def parse_response(
        self, response: requests.Response, **kwargs: Any
    ) -> Iterable[MutableMapping[str, Any]]:
        if self._started is None:
            self._started = clock.safe_now(response, self.context.warn_once)
        yield from super().parse_response(response, **kwargs)

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
            plan = self._read_plan or self._plan()
            started = self._started or clock.local_now()
            self._sync_state = self._state_at_start.finished(
                self._newest_change, self._newest_paid, plan.end, started, plan.today
            )


INVOICE_DATES = DateFilter("INVOICE_DATE", (("START_DATE", "END_DATE"),))
PAID_DATES = DateFilter("PAID_DATE", (("START_PAID_DATE", "END_PAID_DATE"),))


class Customers(FastbillStream):
    """customer.get"""

    lane_weight = 2

    service, response_key, primary_key = "customer.get", "CUSTOMERS", "CUSTOMER_ID"
    editions = BOTH_EDITIONS
    deleted_field = "DELETED_DATE"  # a deleted customer is still listed, with this date


class Contacts(FastbillStream):
    """contact.get: all contacts at once, or customer by customer where FastBill insists."""

    lane_weight = 2

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
        customers = Customers(self.config, self.authenticator, self.api_budget, self.context)
        for customer in customers.read_records(SyncMode.full_refresh):
            customer_id = customer["CUSTOMER_ID"]
            one = {"filter": {"CUSTOMER_ID": customer_id}}
            for contact in super().read_records(sync_mode, stream_slice=one):
                contact.setdefault("CUSTOMER_ID", customer_id)
                yield contact


class Invoices(DateWindowStream):
    """invoice.get (Pro): incremental by invoice date, payment date and LASTUPDATE."""

    lane_weight = 4

    service, response_key, primary_key = "invoice.get", "INVOICES", "INVOICE_ID"
    date_filter, paid_filter = INVOICE_DATES, PAID_DATES


class RecurringInvoices(FastbillStream):
    """recurring.get: answers under INVOICES, like invoice.get."""

    service, response_key, primary_key = "recurring.get", "INVOICES", "INVOICE_ID"


class Revenues(DateWindowStream):
    """revenue.get: the invoice.get filters apply."""

    lane_weight = 3

    service, response_key, primary_key = "revenue.get", "REVENUES", "INVOICE_ID"
    date_filter, paid_filter = INVOICE_DATES, PAID_DATES


class Expenses(DateWindowStream):
    """expense.get"""

    lane_weight = 3

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

    lane_weight = 5

    service, response_key, primary_key = "time.get", "TIMES", "TIME_ID"
    date_filter = DateFilter("DATE", (("START_DATE", "END_DATE"),))
    change_field = None
    windowed_full_refresh = True


class Estimates(DateWindowStream):
    """estimate.get: docs say START_DATE/END_DATE, SDKs START_ESTIMATE_DATE; both are sent."""

    lane_weight = 2

    service, response_key, primary_key = "estimate.get", "ESTIMATES", "ESTIMATE_ID"
    date_filter = DateFilter(
        "ESTIMATE_DATE",
        (("START_DATE", "END_DATE"), ("START_ESTIMATE_DATE", "END_ESTIMATE_DATE")),
    )


class EditionProbe(FastbillStream):
    """`check`'s one call: a service only the configured edition offers proves the edition."""

    primary_key = "ID"
    editions = frozenset()  # never a stream of the catalog

    @staticmethod
    def for_edition(edition: str) -> type[FastbillStream]:
        return AutomaticProbe if edition == "automatic" else ProProbe

    def get_json_schema(self) -> Mapping[str, Any]:
        return {"type": "object", "properties": {}}  # its one record is not emitted


class ProProbe(EditionProbe):
    name = "check"
    service, response_key, primary_key = "revenue.get", "REVENUES", "INVOICE_ID"


class AutomaticProbe(EditionProbe):
    name = "check"
    service, response_key, primary_key = "subscription.get", "SUBSCRIPTIONS", "SUBSCRIPTION_ID"


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
