"""FastBill streams. `FastbillStream` owns the protocol; each stream below is a declaration.

FastBill has one endpoint. Every read is a POST of `{"SERVICE": "<name>.get", "LIMIT": 100,
"OFFSET": n, "FILTER": {...}}`; the records come back under `RESPONSE.<response_key>`. API docs:
https://apidocs.fastbill.com/fastbill/en/ (Pro) and https://apidocs.monsum.com/automatic/en/.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from abc import ABC
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import timedelta
from typing import Any, ClassVar

import airbyte_cdk.sources.utils.casing as casing
import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams import CheckpointMixin
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from requests.auth import AuthBase

from source_fastbill import deletions, protocol
from source_fastbill.answers import AnswerDesk, FastbillBackoffStrategy
from source_fastbill.cdk_seams import install_http_client
from source_fastbill.changes import NulledValues
from source_fastbill.config import FastbillConfig
from source_fastbill.context import SyncContext
from source_fastbill.cursor import DateCursor, NoCursor
from source_fastbill.errors import Endpoint
from source_fastbill.incremental import DateFilter
from source_fastbill.keys import canonicalize
from source_fastbill.nesting import Nesting, child_schema
from source_fastbill.normalize import FastbillTransformer, Record
from source_fastbill.paging import PageGuard
from source_fastbill.pipeline import PerParent, Pipeline
from source_fastbill.transport import FastbillHttpClient, quiet_cdk_retry_logs

PRO = frozenset({"pro"})
AUTOMATIC = frozenset({"automatic"})
BOTH_EDITIONS = PRO | AUTOMATIC
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


@functools.cache
def _child_schema(parent: str, parent_key: str, nesting: Nesting) -> dict[str, Any]:
    return child_schema(_schema(parent), parent, parent_key, nesting)


def stream_name(stream: type[HttpStream]) -> str:
    """A stream class's name as the CDK gives it: its `name`, else its class name in snake case."""
    name = vars(stream).get("name")
    return name if isinstance(name, str) else casing.camel_to_snake(stream.__name__)


class FastbillStream(HttpStream, ABC):
    """One FastBill read service, paged with LIMIT 100 / OFFSET += 100 until a short page.

    A stream class declares data: the service and where its records are, their key, the
    editions, and where it applies its date filters (DateWindowStream), the list it unfolds
    (`nesting`, a child stream: a subclass of its parent) or the parent it reads per record
    (`per_parent`). How every stream reads is pipeline.py.
    """

    http_method = "POST"
    page_size = 100  # FastBill's maximum; without LIMIT it answers only 10 rows
    service: ClassVar[str]  # e.g. "invoice.get"
    response_key: ClassVar[str]  # e.g. "INVOICES"
    # A service answered in more than one shape: where its list may sit (protocol.Keys).
    response_keys: ClassVar[tuple[str, ...]] = ()
    primary_key: ClassVar[str | list[str]]
    editions: ClassVar[frozenset[str]] = PRO
    # How many pages a typical account has here, relative to the others: the largest lanes start
    # first when streams are read side by side, so none is left running alone at the end.
    lane_weight: ClassVar[int] = 1
    # A child stream: the nested list of its parent's records it unfolds, one row per entry.
    nesting: ClassVar[Nesting | None] = None
    parent: ClassVar[type[FastbillStream] | None] = None  # set for a child: its base class
    per_parent: ClassVar[PerParent | None] = None
    # A field FastBill fills when it lists a deleted record: `_ab_cdc_deleted_at` (deletions.py).
    deleted_field: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "nesting" in vars(cls):  # a child stream is declared as a subclass of its parent
            cls.parent = cls.__bases__[0]
            cls.primary_key = list(cls.nesting.key) if cls.nesting else cls.primary_key

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
        self.pipeline = Pipeline(self, self._pages)
        self.position: NoCursor = self.make_cursor()
        super().__init__(authenticator=authenticator, api_budget=api_budget)
        self.authenticator, self.api_budget = authenticator, api_budget
        self.deadline = float(config.request_timeout_seconds)
        if check_call:
            self.deadline = min(self.deadline, CHECK_DEADLINE_SECONDS)
        self.ahead = None if check_call else context.read_ahead(
            self.name, self.listed_under, self.page_size
        )  # fmt: skip
        client = FastbillHttpClient(
            deadline_seconds=self.deadline,
            pages=context.pages,
            ahead=self.ahead,
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
        self.normalizer = FastbillTransformer()
        quiet_cdk_retry_logs(self.logger)

    def make_cursor(self) -> NoCursor:
        return NoCursor()

    @property
    def is_resumable(self) -> bool:
        # HttpStream's own state setter would make every stream "resumable full refresh": read a
        # page per checkpoint and end in a state that makes the next full refresh return nothing.
        return self.supports_incremental

    @property
    def record_key(self) -> str:
        """The key of what the service lists (a child stream's rows have their own)."""
        return str((self.parent or type(self)).primary_key)

    @property
    def url_base(self) -> str:
        return self.config.api_url

    def path(self, **_: Any) -> str:
        return ""

    def get_json_schema(self) -> Mapping[str, Any]:
        if self.parent is not None and self.nesting is not None:
            return _child_schema(stream_name(self.parent), self.record_key, self.nesting)
        return _schema(self.name)

    def record_schema(self) -> Mapping[str, Any]:
        """The schema the service's records are normalised by (a child stream's parent's)."""
        return _schema(stream_name(self.parent)) if self.parent else self.get_json_schema()

    def get_error_handler(self) -> ErrorHandler:
        endpoint = Endpoint(
            self.name, self.service, self.listed_under, self.config, self.check_call
        )
        # `check` must answer within seconds, not minutes
        max_time = timedelta(seconds=20) if self.check_call else timedelta(hours=2)
        return AnswerDesk(endpoint, self.context, self.retries, max_time, self.pipeline.insists_on)

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
        if self.check_call or len(self.entries(response)) < self.page_size:
            return None
        sent = json.loads(response.request.body or b"{}")
        self.paging.after_full_page(response, sent["OFFSET"])
        return {"OFFSET": sent["OFFSET"] + self.page_size}

    def parse_response(
        self, response: requests.Response, **_: Any
    ) -> Iterable[MutableMapping[str, Any]]:
        # Normalised here, not by the CDK after the fact, so cursors compare the emitted values.
        self.position.answered(response)
        schema = self.record_schema()
        found = self.entries(response)
        records = [entry for entry in found if isinstance(entry, dict)]
        for record in records:  # the one place keys are made canonical (keys.py)
            canonicalize(record, self.record_key)
        self.paging.page(response, found, records)
        for record in records:
            nulled = self.normalizer.normalize(record, schema)
            if self.deleted_field:
                deletions.mark(record, self.deleted_field)
            yield Record(record, nulled)

    def entries(self, response: requests.Response) -> list[Any]:
        """What the service listed, junk included."""
        return protocol.entries(response, self.listed_under)

    @property
    def listed_under(self) -> protocol.Keys:
        return self.response_keys or self.response_key

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        return self.pipeline.read(sync_mode, stream_slice or {})

    def _pages(self, sync_mode: SyncMode, part: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """The pipeline's first step: the CDK's paged read of the part's request."""
        return HttpStream.read_records(self, sync_mode, stream_slice=part)


class DateWindowStream(FastbillStream, CheckpointMixin, ABC):
    """A service with server-side date filters: incremental by date window (see incremental.py)."""

    date_filter: ClassVar[DateFilter]
    paid_filter: ClassVar[DateFilter | None] = None
    change_field: ClassVar[str | None] = "LASTUPDATE"
    # FastBill serves some services only by date window; others read everything in full refresh.
    windowed_full_refresh: ClassVar[bool] = False

    def make_cursor(self) -> DateCursor:
        return DateCursor(
            self.config, self.date_filter, self.paid_filter, self.change_field, self.name,
            self.logger, self.context.warn_once, self.windowed_full_refresh, self.record_key,
        )  # fmt: skip

    @property
    def cursor_field(self) -> str:  # type: ignore[override]
        return self.change_field or self.date_filter.field

    @property
    def state(self) -> MutableMapping[str, Any]:
        assert isinstance(self.position, DateCursor)
        return self.position.state()

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        assert isinstance(self.position, DateCursor)
        self.position.set_state(value)

    def stream_slices(
        self,
        *,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any] | None]:
        assert isinstance(self.position, DateCursor)
        parts = list(self.position.parts(sync_mode))
        if self.ahead is not None:  # the parts' first pages are asked ahead (read_ahead.py)
            self.ahead.expect_parts([dict(self.request_body_json(None, part)) for part in parts])
        return parts


INVOICE_DATES = DateFilter("INVOICE_DATE", (("START_DATE", "END_DATE"),))
PAID_DATES = DateFilter("PAID_DATE", (("START_PAID_DATE", "END_PAID_DATE"),))


class Customers(FastbillStream):
    """customer.get"""

    lane_weight = 2

    service, response_key, primary_key = "customer.get", "CUSTOMERS", "CUSTOMER_ID"
    editions = BOTH_EDITIONS
    deleted_field = "DELETED_DATE"


class Contacts(FastbillStream):
    """contact.get: all contacts at once, or customer by customer where FastBill insists."""

    lane_weight = 2

    service, response_key, primary_key = "contact.get", "CONTACTS", "CONTACT_ID"
    # Some accounts answer "missing / invalid field: CUSTOMER_ID" without a customer filter.
    per_parent = PerParent(Customers, "CUSTOMER_ID", "customer")


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


class Documents(FastbillStream):
    """document.get (Pro): the files of the document store, without their folders."""

    service, response_key, primary_key = "document.get", "DOCUMENTS", "DOCUMENT_ID"
    # The docs answer RESPONSE.DOCUMENTS; the Go SDK decodes RESPONSE.ITEMS.DOCUMENTS.
    response_keys = ("DOCUMENTS", "ITEMS.DOCUMENTS")


class DocumentFolders(FastbillStream):
    """document.get (Pro): the folders, a list or an object keyed by FOLDER_ID."""

    service, response_key, primary_key = "document.get", "FOLDERS", "FOLDER_ID"
    response_keys = ("FOLDERS", "ITEMS.FOLDERS")


class Webhooks(FastbillStream):
    """webhook.get (Pro; the docs mark it Beta): the registered webhooks, no filter."""

    service, response_key, primary_key = "webhook.get", "WEBHOOKS", "WEBHOOK_ID"


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
    Documents,
    DocumentFolders,
    Webhooks,
    Subscriptions,
    Coupons,
)
