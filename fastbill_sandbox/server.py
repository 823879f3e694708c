"""A local HTTP server that behaves like the FastBill API (Pro and Automatic editions).

It follows the published FastBill API docs: one POST endpoint with a JSON body (SERVICE,
FILTER, LIMIT, OFFSET), HTTP Basic auth, replies as ``text/plain`` JSON envelopes
``{"REQUEST": ..., "RESPONSE": ...}``,
business errors as HTTP 200 + ``RESPONSE.ERRORS``, pages of 10 by default and at most 100.
On top of that it can limit, slow down and break calls on purpose (rate limits, quotas, faults)
and counts what it saw, so that tests and benchmarks can check how a client behaved.

Where the real API is unknown, the sandbox picks one behaviour and makes it switchable where that
matters (see SandboxConfig). Timestamps in ``stats()`` are ``time.time()`` floats (wall clock),
so that other processes can compare them; rate and quota windows use ``time.monotonic()``
internally, or the clock passed as ``FastbillSandbox(clock=...)`` (a test's fake clock, so that
an hour-long quota window passes without sleeping).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import math
import random
import re
import socket
import socketserver
import sys
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from select import select as wait_readable  # `select` below is the record filter
from typing import Any
from urllib.parse import urlsplit

from .data import Dataset, Record, Table, document_folders, is_zero_date

DEFAULT_USERNAME = "demo@example.com"
DEFAULT_API_KEY = "sandbox-api-key-0123456789abcdef"
API_PATH = "/api/1.0/api.php"
ADMIN_PREFIX = "/_sandbox/"
FAULT_KINDS = ("5xx", "429", "drop", "html")  # the default mix
# Opt-in kinds (name them in fault_kinds): "429bare" is an HTTP 429 with no Retry-After and
# no time in its text ("Too Many Requests"), so a client must pick its own wait.
OPTIONAL_FAULT_KINDS = ("429bare",)
KNOWN_FAULT_KINDS = FAULT_KINDS + OPTIONAL_FAULT_KINDS
LIMIT_RESPONSES = ("http429", "errors200", "unknown200")
DOCUMENT_SHAPES = ("docs", "go-sdk")
# The "unknown200" refusal: no time, no clock-like digits, no limit or quota words.
UNKNOWN_REFUSAL = "Vorgang derzeit nicht möglich (Code 4711)"
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
TEXT_PLAIN = "text/plain; charset=UTF-8"
AUTH_ERROR = "Unauthorized: Wrong API key or user credentials."
MAINTENANCE_PAGE = (
    b"<html><head><title>FastBill</title></head><body><h1>Wartungsarbeiten</h1>"
    b"<p>FastBill wird gerade gewartet. Bitte versuchen Sie es in wenigen Minuten erneut.</p>"
    b"</body></html>"
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")


# ---------------------------------------------------------------------------------------------
# Knobs


@dataclass(frozen=True)
class SandboxConfig:
    """Runtime knobs. All can be changed while the server runs (FastbillSandbox.configure)."""

    accounts: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_USERNAME: DEFAULT_API_KEY})
    auth_failure: str = "errors200"  # "errors200" | "http401"
    unknown_service_status: int = 200  # 200 or 400, body is the same
    contacts_require_customer_id: bool = False
    rate_limit: int | None = 500  # successful calls per rate_window_seconds; None = unlimited
    rate_window_seconds: float = 60.0
    hourly_quota: int | None = None  # successful calls per quota_window_seconds
    quota_window_seconds: float = 3600.0
    # How a call over rate_limit or hourly_quota is refused:
    # "http429": HTTP 429 + Retry-After, "Too many requests: ... retry after N seconds";
    # "errors200": HTTP 200 + ERRORS naming the time calls are accepted again (sandbox local time);
    # "unknown200": HTTP 200 + ERRORS in words no client has a rule for, naming no time and no
    #   limit ("Vorgang derzeit nicht möglich (Code 4711)"), as an unseen FastBill answer might.
    limit_response: str = "http429"  # "http429" | "errors200" | "unknown200"
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fault_seed: int = 0
    fault_pick: str = "round_robin"  # "round_robin" | "random"
    max_consecutive_faults: int = 3  # per identical request, so retrying clients get through
    # document.get's answer: "docs" as FastBill's docs show it (RESPONSE.FOLDERS, .DOCUMENTS),
    # "go-sdk" as the Go SDK decodes it (RESPONSE.ITEMS.FOLDERS keyed by id, .ITEMS.DOCUMENTS).
    document_shape: str = "docs"
    # Services this account's plan lacks (e.g. webhook.get below Pro): answered as unknown.
    missing_services: tuple[str, ...] = ()

    def replace(self, **knobs: Any) -> SandboxConfig:
        unknown = set(knobs) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown sandbox knob(s): {', '.join(sorted(unknown))}")
        if "fault_kinds" in knobs:
            knobs["fault_kinds"] = tuple(knobs["fault_kinds"])
        if "missing_services" in knobs:
            knobs["missing_services"] = tuple(knobs["missing_services"])
        if "accounts" in knobs:
            knobs["accounts"] = dict(knobs["accounts"])
        config = dataclasses.replace(self, **knobs)
        config.validate()
        return config

    def validate(self) -> None:
        choices = {
            "auth_failure": ("errors200", "http401"),
            "limit_response": LIMIT_RESPONSES,
            "fault_pick": ("round_robin", "random"),
            "unknown_service_status": (200, 400),
            "document_shape": DOCUMENT_SHAPES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        if bad := set(self.fault_kinds) - set(KNOWN_FAULT_KINDS):
            raise ValueError(f"unknown fault kind(s): {sorted(bad)}; known: {KNOWN_FAULT_KINDS}")
        if self.rate_window_seconds <= 0 or self.quota_window_seconds <= 0:
            raise ValueError("window lengths must be positive")

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["fault_kinds"] = list(self.fault_kinds)
        return data


# ---------------------------------------------------------------------------------------------
# Services and filters


@dataclass(frozen=True)
class ServiceRules:
    """How one read service answers: its wrapper key and the FILTER keys it honours."""

    wrapper: str
    equals: tuple[str, ...] = ()  # FILTER key == the record field of the same name
    dates: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # key -> (field, bound)
    month_year: str | None = None  # date field that MONTH / YEAR select on
    state: bool = False  # STATE = paid | unpaid | overdue
    term: tuple[str, ...] = ()  # TERM searches these fields
    current_month_only: bool = False  # time.get without a date filter


def _date_filters(field_name: str, *prefixes: str) -> dict[str, tuple[str, str]]:
    rules: dict[str, tuple[str, str]] = {}
    for prefix in prefixes:
        rules[f"START_{prefix}"] = (field_name, "from")
        rules[f"END_{prefix}"] = (field_name, "to")
    return rules


_INVOICE_DATES = {
    **_date_filters("INVOICE_DATE", "DATE"),
    **_date_filters("DUE_DATE", "DUE_DATE"),
    **_date_filters("PAID_DATE", "PAID_DATE"),
}
_CUSTOMER_TERM = ("ORGANIZATION", "FIRST_NAME", "LAST_NAME", "ADDRESS", "ADDRESS_2", "ZIPCODE",
                  "EMAIL", "TAGS")  # fmt: skip
_INVOICE_EQUALS = ("INVOICE_ID", "INVOICE_NUMBER", "INVOICE_TITLE", "CUSTOMER_ID", "TYPE")

PRO_RULES: dict[str, ServiceRules] = {
    "customer.get": ServiceRules(
        "CUSTOMERS",
        equals=("CUSTOMER_ID", "CUSTOMER_NUMBER", "COUNTRY_CODE", "CITY"),
        term=_CUSTOMER_TERM,
    ),
    # CUSTOMER_NUMBER is resolved through the customers (contacts do not carry it).
    "contact.get": ServiceRules(
        "CONTACTS", equals=("CUSTOMER_ID", "CONTACT_ID"), term=_CUSTOMER_TERM[:7]
    ),
    "invoice.get": ServiceRules(
        "INVOICES", _INVOICE_EQUALS, _INVOICE_DATES, month_year="INVOICE_DATE", state=True
    ),
    "recurring.get": ServiceRules("INVOICES", equals=("INVOICE_ID",)),
    "revenue.get": ServiceRules(
        "REVENUES", _INVOICE_EQUALS, _INVOICE_DATES, month_year="INVOICE_DATE", state=True
    ),
    "expense.get": ServiceRules(
        "EXPENSES", ("INVOICE_ID", "INVOICE_NUMBER"), _INVOICE_DATES, month_year="INVOICE_DATE"
    ),
    "article.get": ServiceRules("ARTICLES", equals=("ARTICLE_NUMBER", "ARTICLE_ID")),
    "project.get": ServiceRules("PROJECTS", equals=("PROJECT_ID", "PROJECT_NUMBER", "CUSTOMER_ID")),
    "time.get": ServiceRules(
        "TIMES",
        equals=("CUSTOMER_ID", "PROJECT_ID", "TASK_ID", "TIME_ID"),
        dates={**_date_filters("DATE", "DATE"), "DATE": ("DATE", "on")},
        current_month_only=True,
    ),
    # The docs say START_DATE/END_DATE, the SDKs START_ESTIMATE_DATE/...: both work here.
    "estimate.get": ServiceRules(
        "ESTIMATES",
        equals=("CUSTOMER_ID", "ESTIMATE_ID", "ESTIMATE_NUMBER"),
        dates=_date_filters("ESTIMATE_DATE", "DATE", "ESTIMATE_DATE"),
    ),
    "template.get": ServiceRules("TEMPLATES"),
    # Paging is not documented for either: both lists are paged by LIMIT/OFFSET here, the
    # folders (a few) beside every page of documents.
    "document.get": ServiceRules("DOCUMENTS", equals=("FOLDER_ID",)),
    "webhook.get": ServiceRules("WEBHOOKS"),  # "NO FILTER AVAILABLE" (D-wh)
}
AUTOMATIC_RULES: dict[str, ServiceRules] = {
    "customer.get": ServiceRules(
        "CUSTOMERS",
        equals=(
            "CUSTOMER_ID",
            "CUSTOMER_EXT_UID",
            "CUSTOMER_NUMBER",
            "COUNTRY_CODE",
            "CITY",
            "HASH",
        ),
        term=_CUSTOMER_TERM[:7],
    ),
    "subscription.get": ServiceRules(
        "SUBSCRIPTIONS", equals=("SUBSCRIPTION_ID", "CUSTOMER_ID", "SUBSCRIPTION_EXT_UID")
    ),
    # Automatic documents no invoice-date or paid-date windows: START_DATE etc. are ignored.
    "invoice.get": ServiceRules(
        "INVOICES",
        _INVOICE_EQUALS,
        _date_filters("DUE_DATE", "DUE_DATE"),
        month_year="INVOICE_DATE",
        state=True,
    ),
    "article.get": ServiceRules("ARTICLES", equals=("ARTICLE_NUMBER",)),
    "coupon.get": ServiceRules("COUPONS", equals=("CODE",)),
    "template.get": ServiceRules("TEMPLATES"),
}
RULES = {"pro": PRO_RULES, "automatic": AUTOMATIC_RULES}


@dataclass
class ApiRequest:
    """One parsed API call. ``echo`` is what goes back under REQUEST."""

    service: str
    limit: int
    offset: int
    filters: dict[str, str]
    echo: dict[str, Any]


def _json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object ({} when empty); ValueError when it is not one."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("invalid request: the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ValueError("invalid request: the body must be a JSON object")
    return body


def parse_request(raw: bytes) -> ApiRequest:
    """Parse a JSON body; top-level and FILTER key case does not matter, extra keys are ignored."""
    body = _json_object(raw)
    top = {str(key).upper(): value for key, value in body.items()}
    service = top.get("SERVICE", "")
    raw_filter = top.get("FILTER")
    filters: dict[str, str] = {}
    if isinstance(raw_filter, dict):
        filters = {str(key).upper(): _filter_text(value) for key, value in raw_filter.items()}
    echo: dict[str, Any] = {"SERVICE": service}
    for key in ("LIMIT", "OFFSET"):
        if key in top:
            echo[key] = top[key]
    # PHP echoes an empty FILTER as [] (WF, WEL recordings).
    echo["FILTER"] = raw_filter if raw_filter else []
    limit = _int_or(top.get("LIMIT"), DEFAULT_LIMIT)
    offset = _int_or(top.get("OFFSET"), 0)
    return ApiRequest(
        service=service if isinstance(service, str) else json.dumps(service),
        limit=min(limit, MAX_LIMIT) if limit > 0 else DEFAULT_LIMIT,
        offset=max(offset, 0),
        filters=filters,
        echo=echo,
    )


def _int_or(value: object, default: int) -> int:
    if isinstance(value, bool) or value is None:
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        return default


def _filter_text(value: object) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value).strip()


def page_of(rows: list[Any], request: ApiRequest, page: int = MAX_LIMIT) -> list[Any]:
    """The rows one call gets: from OFFSET, at most LIMIT (10 if missing, 100 at most) and `page`.

    The sandbox's own pages and a script's `paged` rows (fastbill_sandbox.faults) both come from
    here, so the two cannot disagree on how FastBill pages.
    """
    size = min(request.limit, page)
    return rows[request.offset : request.offset + size]


@dataclass(frozen=True)
class Call:
    """One API call as the sandbox received it, so tests can assert on what the connector sent.

    The fields are what was sent, as sent (LIMIT is None when missing); ``request`` is the same
    call as the sandbox reads it (defaults filled in, an unparsable body read as ``{}``).
    """

    index: int  # 0-based count of API calls received so far by this sandbox
    service: str  # body["SERVICE"] ("" if missing or unparsable)
    limit: int | None
    offset: int
    filter: dict[str, Any]
    body: dict[str, Any]  # the whole parsed JSON body ({} if unparsable)
    headers: dict[str, str]
    received_at: float  # time.time()
    request: ApiRequest


def parse_call(index: int, raw: bytes, headers: Mapping[str, str]) -> Call:
    """Turn a request into a Call, whatever the body looks like: a broken one is recorded too."""
    try:
        body = _json_object(raw)
    except ValueError:
        body = {}
    found_filter = body.get("FILTER")
    limit = body.get("LIMIT")
    return Call(
        index=index,
        service=str(body.get("SERVICE") or ""),
        limit=None if limit is None else _int_or(limit, 0),
        offset=_int_or(body.get("OFFSET"), 0),
        filter=found_filter if isinstance(found_filter, dict) else {},
        body=body,
        headers=dict(headers),
        received_at=time.time(),
        request=parse_request(json.dumps(body).encode()),
    )


def validate_filters(request: ApiRequest, rules: ServiceRules, config: SandboxConfig) -> str | None:
    """Return an ERRORS message for filters the sandbox refuses, or None."""
    if (
        request.service == "contact.get"
        and config.contacts_require_customer_id
        and not request.filters.get("CUSTOMER_ID")
    ):
        return "missing / invalid field: CUSTOMER_ID"
    for key in rules.dates:
        value = request.filters.get(key)
        if value is not None and not _DATE_VALUE.match(value):
            return f"missing / invalid field: {key}"
    return None


def select(ds: Dataset, table: Table, rules: ServiceRules, filters: dict[str, str]) -> list[int]:
    """Indices of the matching records, ascending by primary key."""
    picked = table.order
    for key in rules.equals:
        if key in filters:
            picked = _where(table, picked, key, filters[key].__eq__)
    if table.service == "contact.get" and "CUSTOMER_NUMBER" in filters:
        owners = _customers_with_number(ds, filters["CUSTOMER_NUMBER"])
        picked = _where(table, picked, "CUSTOMER_ID", owners.__contains__)
    for field_name, (low, high) in _date_bounds(rules, filters).items():
        picked = _where(table, picked, field_name, lambda v, lo=low, hi=high: _date_in(v, lo, hi))
    if rules.month_year:
        picked = _month_year(table, picked, rules.month_year, filters)
    if rules.state and "STATE" in filters:
        picked = _state(table, picked, filters["STATE"].lower(), ds.today())
    if rules.term and filters.get("TERM"):
        picked = _term(table, picked, rules.term, filters["TERM"].lower())
    if rules.current_month_only and not filters.keys() & rules.dates.keys():
        picked = _last_ten_of_month(table, picked, ds.today())
    return picked


def _where(
    table: Table, picked: list[int], field_name: str, test: Callable[[str], bool]
) -> list[int]:
    col = table.cols.get(field_name)
    if col is not None:  # core columns make filtering on large tables cheap
        return [i for i in picked if test(col[i])]
    return [i for i in picked if test(_text(table.record(i).get(field_name)))]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _date_bounds(
    rules: ServiceRules, filters: dict[str, str]
) -> dict[str, tuple[str | None, str | None]]:
    bounds: dict[str, tuple[str | None, str | None]] = {}
    for key, (field_name, bound) in rules.dates.items():
        if key not in filters:
            continue
        low, high = bounds.get(field_name, (None, None))
        day = filters[key][:10]
        if bound in ("from", "on"):
            low = day if low is None else max(low, day)
        if bound in ("to", "on"):
            high = day if high is None else min(high, day)
        bounds[field_name] = (low, high)
    return bounds


def _date_in(value: str, low: str | None, high: str | None) -> bool:
    """Inclusive, on the date part; zero dates ("not paid yet") never match."""
    day = value[:10]
    if is_zero_date(day):
        return False
    return (low is None or day >= low) and (high is None or day <= high)


def _month_year(
    table: Table, picked: list[int], field_name: str, filters: dict[str, str]
) -> list[int]:
    if "YEAR" in filters:
        year = filters["YEAR"].zfill(4)
        picked = _where(table, picked, field_name, lambda v: v[:4] == year)
    if "MONTH" in filters:
        month = filters["MONTH"].zfill(2)
        picked = _where(table, picked, field_name, lambda v: v[5:7] == month)
    return picked


def _state(table: Table, picked: list[int], state: str, today: date) -> list[int]:
    paid = table.cols["PAID_DATE"]
    if state == "paid":
        return [i for i in picked if not is_zero_date(paid[i])]
    unpaid = [i for i in picked if is_zero_date(paid[i])]
    if state == "unpaid":  # includes overdue, as documented
        return unpaid
    if state == "overdue":
        due, cutoff = table.cols["DUE_DATE"], today.isoformat()
        return [i for i in unpaid if due[i][:10] < cutoff]
    return []


def _term(table: Table, picked: list[int], fields: Iterable[str], term: str) -> list[int]:
    fields = tuple(fields)

    def hit(i: int) -> bool:
        record = table.record(i)
        return any(term in _text(record.get(name)).lower() for name in fields)

    return [i for i in picked if hit(i)]


def _customers_with_number(ds: Dataset, number: str) -> set[str]:
    customers = ds.table("customer.get")
    numbers, ids = customers.cols["CUSTOMER_NUMBER"], customers.cols["CUSTOMER_ID"]
    return {ids[i] for i in range(customers.count) if numbers[i] == number}


def _last_ten_of_month(table: Table, picked: list[int], today: date) -> list[int]:
    """time.get without a date filter: only the last 10 entries of the current month."""
    dates, month = table.cols["DATE"], today.isoformat()[:7]
    in_month = [i for i in picked if dates[i][:7] == month]
    latest = set(sorted(in_month, key=dates.__getitem__)[-10:])  # stable: ties keep PK order
    return [i for i in in_month if i in latest]


# ---------------------------------------------------------------------------------------------
# Replies


@dataclass
class Reply:
    """One answer: a normal HTTP reply, or a fault (drop, hang, trickle) in its place.

    The sandbox's own answers and a test's scripted ones (fastbill_sandbox.faults) are both
    Replies, sent by the one HTTP handler below.
    """

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""  # dict/list -> JSON; str -> `charset`
    content_type: str = TEXT_PLAIN  # what FastBill really sends, JSON included
    headers: dict[str, str] = field(default_factory=dict)  # override defaults; "" removes one
    drop: bool = False  # close the connection without answering
    charset: str = "utf-8"  # encodes a str body (and the JSON text of a dict/list body)
    trickle_seconds: float = 0.0  # >0: the body one byte every this many seconds
    hang_seconds: float = 0.0  # >0: answer nothing, close after this long
    close: bool = False  # Connection: close (scripted answers: one call per connection)

    def encoded(self) -> bytes:
        """The body as sent on the wire, so Content-Length always matches what is written."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode(self.charset)
        return json.dumps(self.body, ensure_ascii=False).encode(self.charset)


Script = Callable[[Call], Reply]  # a test's answer to every call (fastbill_sandbox.faults)


def error_envelope(echo: Mapping[str, Any], *messages: str) -> dict[str, Any]:
    """FastBill's error shape (sent with HTTP 200 unless a knob says otherwise)."""
    return {"REQUEST": echo, "RESPONSE": {"ERRORS": list(messages)}}


def unknown_service(service: str) -> str:
    return f"unknown SERVICE: {service}"


def errors_reply(echo: Mapping[str, Any], message: str, status: int = 200, **headers: str) -> Reply:
    body = json.dumps(error_envelope(echo, message)).encode()
    return Reply(status, body, headers=dict(headers))


def json_reply(data: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(data).encode(), content_type="application/json")


# ---------------------------------------------------------------------------------------------
# Rate limits, faults, counters


class RateLimiter:
    """Moving-window limits per account; only calls that were served consume quota."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: dict[str, list[float]] = {}

    def reset(self) -> None:
        with self._lock:
            self._served.clear()

    def acquire(self, account: str, config: SandboxConfig, now: float) -> float:
        """Book a call and return 0, or return the seconds until a slot frees (booking nothing)."""
        limits = [
            (limit, window)
            for limit, window in (
                (config.rate_limit, config.rate_window_seconds),
                (config.hourly_quota, config.quota_window_seconds),
            )
            if limit is not None
        ]
        with self._lock:
            calls = self._served.setdefault(account, [])
            horizon = max((window for _, window in limits), default=0.0)
            del calls[: bisect_right(calls, now - horizon)]
            wait = max((self._wait(calls, lim, win, now) for lim, win in limits), default=0.0)
            if wait <= 0:
                calls.append(now)
            return wait

    @staticmethod
    def _wait(calls: list[float], limit: int, window: float, now: float) -> float:
        in_window = len(calls) - bisect_right(calls, now - window)
        if in_window < limit:
            return 0.0
        if limit <= 0:
            return window
        # A slot frees when the call that pushed the count to the limit leaves the window.
        return calls[len(calls) - limit] + window - now


class FaultInjector:
    """Decides, deterministically from the seed and the call order, which calls to break."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self.reset(seed)

    def reset(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)
            self._turn = 0
            self._status_turn = 0
            self._streaks: dict[object, int] = {}

    def decide(self, config: SandboxConfig, key: object) -> str | None:
        if config.fault_rate <= 0 or not config.fault_kinds:
            return None
        with self._lock:
            hit = self._rng.random() < config.fault_rate  # one draw per call keeps runs replayable
            streak = self._streaks.get(key, 0)
            if not hit or streak >= config.max_consecutive_faults:
                self._streaks.pop(key, None)
                return None
            if len(self._streaks) > 10_000:  # keys of clients that gave up
                self._streaks.clear()
            self._streaks[key] = streak + 1
            if config.fault_pick == "random":
                return self._rng.choice(config.fault_kinds)
            self._turn += 1
            return config.fault_kinds[(self._turn - 1) % len(config.fault_kinds)]

    def next_5xx(self) -> int:
        with self._lock:
            self._status_turn += 1
            return (503, 500, 502)[(self._status_turn - 1) % 3]


class Stats:
    """Thread-safe counters behind FastbillSandbox.stats()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counts: dict[str, Any] = {
                "calls": 0,
                "served": 0,
                "by_service": {},
                "rejected": 0,
                "faults": dict.fromkeys(FAULT_KINDS, 0),
                "auth_failures": 0,
                "errors": 0,
                "busiest_window": 0,
                "first_call_ts": None,
                "last_call_ts": None,
            }
            self._recent: deque[float] = deque()

    def call(self) -> None:
        stamp = time.time()
        with self._lock:
            self._counts["calls"] += 1
            if self._counts["first_call_ts"] is None:
                self._counts["first_call_ts"] = stamp
            self._counts["last_call_ts"] = stamp

    def bump(self, name: str, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._counts[name] += 1
            else:
                self._counts[name][key] = self._counts[name].get(key, 0) + 1

    def served(self, service: str, now: float, window: float) -> None:
        with self._lock:
            self._counts["served"] += 1
            by_service = self._counts["by_service"]
            by_service[service] = by_service.get(service, 0) + 1
            recent = self._recent
            recent.append(now)
            while recent and recent[0] <= now - window:
                recent.popleft()
            self._counts["busiest_window"] = max(self._counts["busiest_window"], len(recent))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._counts))


# ---------------------------------------------------------------------------------------------
# HTTP plumbing

MAX_SECONDS = 120.0  # upper bound of any hang or trickle, whatever a Reply asks for
MAX_BODY = 10 * 1024 * 1024  # a request body larger than this is read only this far
TICK = 0.05  # how often hangs and trickles look at the stop flag and the client
STOP_GRACE = 1.0  # how long stop() waits for handler threads to let go of their sockets


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections, so stop() can cut them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: FastbillSandbox) -> None:
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup (socket.getfqdn), which can stall."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every keep-alive call.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are what faults provoke; only real bugs get a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_open_connections(self) -> None:
        """Keep-alive, hanging and trickling connections would otherwise outlive stop()."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def wait_idle(self, seconds: float) -> None:
        """Wait (bounded) until the handler threads have let go of their connections."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._open_lock:
                if not self._open:
                    return
            self.stopping.wait(0.01)  # set already: a bounded poll, not a sleep on the clock


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections
    server_version = "Apache"  # what FastBill's recorded responses show
    timeout = 120  # idle keep-alive connections end eventually
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        raw = self._read_body()
        path = urlsplit(self.path).path
        sandbox = self.server.sandbox
        if path.startswith(ADMIN_PREFIX):
            reply = sandbox.handle_admin(method, path, raw)
        elif path == API_PATH and method == "POST":
            reply = sandbox.handle_api(raw, dict(self.headers.items()))
        elif path == API_PATH:
            reply = sandbox.handle_wrong_method(method)
        else:
            reply = Reply(404, b"api not found")
        self._deliver(reply)

    def _read_body(self) -> bytes:
        length = _int_or(self.headers.get("Content-Length"), 0)
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def _deliver(self, reply: Reply) -> None:
        """Send `reply` the way it asks: dropped, hung, trickled or all at once."""
        if reply.close or reply.drop or reply.hang_seconds > 0:
            self.close_connection = True
        if reply.drop:
            self._hang_up()
            return
        if reply.hang_seconds > 0:
            self._pause(min(reply.hang_seconds, MAX_SECONDS), time.monotonic() + MAX_SECONDS)
            self._hang_up()
            return
        payload = reply.encoded()
        self.send_response_only(reply.status)
        for name, value in _response_headers(reply, len(payload)).items():
            self.send_header(name, value)
        self.end_headers()
        if reply.trickle_seconds > 0:
            self._trickle(payload, reply.trickle_seconds)
        else:
            self._send(payload)

    def _send(self, data: bytes) -> bool:
        """Write `data`; False if the client is gone (a fault test often leaves early)."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return False
        return True

    def _trickle(self, payload: bytes, seconds: float) -> None:
        """One byte every `seconds`, until done, the client leaves, stop() or MAX_SECONDS."""
        deadline = time.monotonic() + MAX_SECONDS
        for i in range(len(payload)):
            if time.monotonic() >= deadline or not self._send(payload[i : i + 1]):
                return
            if i + 1 < len(payload) and not self._pause(seconds, deadline):
                return

    def _pause(self, seconds: float, deadline: float) -> bool:
        """Wait in short slices; False as soon as the server stops or the client hangs up."""
        stopping = self.server.stopping
        until = min(time.monotonic() + seconds, deadline)
        while (remaining := until - time.monotonic()) > 0:
            if stopping.wait(min(TICK, remaining)) or _peer_closed(self.connection):
                return False
        return not stopping.is_set()

    def _hang_up(self) -> None:
        """Close at once, answer or not, so the client sees the end of the connection now."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""


def _response_headers(reply: Reply, length: int) -> dict[str, str]:
    """Defaults, then the reply's own headers (case-insensitively), then the two the server owns.

    Content-Length and Connection are not overridable: a wrong length or a keep-alive promise
    would make the client's behaviour depend on timing. An empty value drops a header, which is
    how a test sends no Date at all.
    """
    merged = {
        "server": ("Server", _Handler.server_version),
        "date": ("Date", formatdate(usegmt=True)),
        "content-type": ("Content-Type", reply.content_type),
        "cache-control": ("Cache-Control", "no-store"),
    }
    for name, value in reply.headers.items():
        merged[name.lower()] = (name, value)
    merged["content-length"] = ("Content-Length", str(length))
    if reply.close:
        merged["connection"] = ("Connection", "close")
    return {name: value for name, value in merged.values() if value != ""}


def _peer_closed(sock: socket.socket) -> bool:
    """True once the client has hung up, so a hang or trickle stops holding a thread for nobody."""
    try:
        readable, _, _ = wait_readable([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # ValueError: the socket is already closed (fd -1)
        return True


# ---------------------------------------------------------------------------------------------
# The sandbox


class FastbillSandbox:
    """A FastBill API look-alike serving deterministic data on 127.0.0.1.

    Usage::

        with FastbillSandbox(edition="pro", size=1.0, seed=42, rate_limit=None) as sb:
            requests.post(sb.url, json={"SERVICE": "invoice.get", "LIMIT": 100},
                          auth=(sb.username, sb.api_key))

    Knobs are the fields of SandboxConfig; pass them here or later to configure().
    ``script`` (fastbill_sandbox.faults) answers every API call in the sandbox's place: how a
    test scripts hangs, drops, trickles, odd bodies and whole conversations. Every call is
    recorded in ``calls`` (``record_calls=False`` for long benchmark runs).
    ``clock`` (default ``time.monotonic``) is what the rate and quota windows are measured
    with: a test that fakes the client's time passes the same fake here, so that both sides
    see the same hour go by; ``sleep`` (default ``time.sleep``) is how ``latency_ms`` waits, so a
    test records the latency instead of waiting it out. stats() timestamps stay wall-clock
    ``time.time()``.
    """

    def __init__(
        self,
        edition: str = "pro",
        size: float = 1.0,
        seed: int = 42,
        port: int = 0,
        host: str = "127.0.0.1",
        clock: Callable[[], float] | None = None,
        script: Script | None = None,
        record_calls: bool = True,
        sleep: Callable[[float], None] | None = None,
        **knobs: Any,
    ) -> None:
        if host not in LOOPBACK_HOSTS:  # the admin endpoints are unauthenticated
            raise ValueError(f"the sandbox binds loopback only, not {host!r}")
        self.edition = edition
        self.dataset = Dataset(edition, size, seed)
        self.rules = RULES[edition]
        self._config = SandboxConfig().replace(**knobs)
        self._config_lock = threading.Lock()
        self._host, self._port = host, port
        self._stats = Stats()
        self._limiter = RateLimiter()
        self._clock: Callable[[], float] = clock or time.monotonic
        self._sleep: Callable[[float], None] = sleep or time.sleep  # latency_ms; a test's fake
        self._faults = FaultInjector(self._config.fault_seed)
        self._query_cache: dict[tuple[Any, ...], tuple[int, list[int]]] = {}
        self._script = script
        self._record_calls = record_calls
        self.calls: list[Call] = []
        self._calls_lock = threading.Lock()
        self._call_count = 0
        self._server: _Server | None = None
        self._bound_port: int | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FastbillSandbox:
        if self._server is not None:
            return self
        if self._bound_port is not None:
            raise RuntimeError("a sandbox can be started only once")
        self._server = _Server((self._host, self._port), self)
        self._bound_port = int(self._server.server_address[1])
        # A short poll interval keeps stop() fast; idle polling costs next to nothing.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": TICK},
            name="fastbill-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and end open connections promptly; safe to call twice or before start."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()  # hangs and trickles let go
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_GRACE)
        server.wait_idle(STOP_GRACE)

    def __enter__(self) -> FastbillSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port; it stays known after stop(), to test a refused connection."""
        if self._bound_port is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._bound_port

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + API_PATH

    @property
    def username(self) -> str:
        return next(iter(self._config.accounts), DEFAULT_USERNAME)

    @property
    def api_key(self) -> str:
        return self._config.accounts.get(self.username, DEFAULT_API_KEY)

    # -- knobs and counters

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def configure(self, **knobs: Any) -> SandboxConfig:
        """Change knobs at runtime. Passing any fault knob restarts the fault sequence."""
        with self._config_lock:
            self._config = self._config.replace(**knobs)
            if knobs.keys() & {"fault_seed", "fault_rate", "fault_kinds", "fault_pick"}:
                self._faults.reset(self._config.fault_seed)
            return self._config

    def stats(self) -> dict[str, Any]:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def reset_limits(self) -> None:
        """Forget the calls that count against rate limits and quotas."""
        self._limiter.reset()

    def counts(self) -> dict[str, int]:
        return self.dataset.counts()

    # -- data changes

    def add_invoices(self, n: int) -> list[Any]:
        return self.dataset.add_invoices(n)

    def pay_invoices(self, n: int) -> list[Any]:
        return self.dataset.pay_invoices(n)

    def add_records(self, service: str, n: int) -> list[Any]:
        self._check_service(service)
        return self.dataset.add_records(service, n)

    def update_records(self, service: str, ids: Iterable[Any], **fields: Any) -> list[Any]:
        self._check_service(service)
        return self.dataset.update_records(service, ids, fields)

    def warm(self, services: Iterable[str] | None = None) -> None:
        """Build and cache every row now, so that later pages cost ~0.2 ms of CPU to serve.

        Otherwise each row is built on its first read (30-150 us); benchmarks should warm first.
        """
        self.dataset.warm(list(services or self.rules))

    def _check_service(self, service: str) -> None:
        if service not in self.rules:
            raise ValueError(f"{self.edition} has no read service {service!r}")

    # -- request handling (called from the HTTP handler threads)

    def handle_api(self, raw: bytes, headers: Mapping[str, str]) -> Reply:
        """The one request path: record, fault hooks (a script, then random faults), parse,
        authenticate, dispatch the service, filter, page."""
        config = self._config
        self._stats.call()
        call = self._record(raw, headers)
        if self._script is not None:
            return _scripted(self._script, call)
        if config.latency_ms > 0:  # benchmarks' simulated round trip, in the server process
            self._sleep(config.latency_ms / 1000)
        credentials = _basic_credentials(headers.get("Authorization"))
        fault = self._faults.decide(config, (credentials, raw))
        if fault is not None:
            self._stats.bump("faults", fault)
            return self._fault_reply(fault)
        request, parse_error = _parse_or_error(raw)
        echo = request.echo if request else {}
        if credentials is None or config.accounts.get(credentials[0]) != credentials[1]:
            return self._auth_failure(echo, config)
        if request is None:
            return self._error(echo, parse_error or "invalid request")
        return self._answer(request, credentials[0], config)

    def _record(self, raw: bytes, headers: Mapping[str, str]) -> Call:
        """Parse and append under the lock, so `index` matches the position in `calls`."""
        with self._calls_lock:
            call = parse_call(self._call_count, raw, headers)
            self._call_count += 1
            if self._record_calls:
                self.calls.append(call)
        return call

    def services(self) -> list[str]:
        """The SERVICE of every recorded call so far, in order: what fault tests assert on."""
        with self._calls_lock:
            return [call.service for call in self.calls]

    def _answer(self, request: ApiRequest, account: str, config: SandboxConfig) -> Reply:
        """An authenticated, well-formed call: errors, rate limits, or a page of records."""
        echo = request.echo
        rules = self.rules.get(request.service)
        if rules is None or request.service in config.missing_services:
            message = unknown_service(request.service)
            return self._error(echo, message, config.unknown_service_status)
        problem = validate_filters(request, rules, config)
        if problem:
            return self._error(echo, problem)
        # Only calls that get data consume quota, so the check comes last.
        now = self._clock()
        wait = self._limiter.acquire(account, config, now)
        if wait > 0:
            self._stats.bump("rejected")
            return self._limit_reply(echo, wait, config)
        body = self._serve(request, rules)
        self._stats.served(request.service, now, config.rate_window_seconds)
        return Reply(200, body)

    def _auth_failure(self, echo: Mapping[str, Any], config: SandboxConfig) -> Reply:
        self._stats.bump("auth_failures")
        if config.auth_failure == "http401":
            challenge = {"WWW-Authenticate": 'Basic realm="FastBill"'}
            return errors_reply(echo, AUTH_ERROR, 401, **challenge)
        return errors_reply(echo, AUTH_ERROR)

    def handle_wrong_method(self, method: str) -> Reply:
        self._stats.call()
        return self._error({}, f"invalid request: use POST, not {method}", 405, Allow="POST")

    def _error(
        self, echo: Mapping[str, Any], message: str, status: int = 200, **headers: str
    ) -> Reply:
        self._stats.bump("errors")
        return errors_reply(echo, message, status, **headers)

    def _serve(self, request: ApiRequest, rules: ServiceRules) -> bytes:
        if request.service == "document.get":
            return self._serve_documents(request, rules)
        table = self.dataset.table(request.service)
        with self.dataset.lock:
            matches = self._select(request, rules, table)
            page = matches[request.offset : request.offset + request.limit]
            rows = ", ".join([table.row_json(i) for i in page])
        # Same bytes as json.dumps of the whole envelope, without re-encoding cached rows.
        head = json.dumps({"REQUEST": request.echo, "RESPONSE": {rules.wrapper: []}})
        return (head[:-3] + rows + "]}}").encode()

    def _serve_documents(self, request: ApiRequest, rules: ServiceRules) -> bytes:
        """document.get: the page of documents and the folders beside it, in the set shape."""
        table = self.dataset.table(request.service)
        with self.dataset.lock:
            matches = self._select(request, rules, table)
            page = matches[request.offset : request.offset + request.limit]
            documents = [table.record(i) for i in page]
            folders = document_folders(self.dataset)
        parent = request.filters.get("FOLDER_ID")
        if parent is not None:  # the folders inside the one asked for
            folders = [f for f in folders if f["PARENTFOLDER_ID"] == parent]
        folders = folders[request.offset : request.offset + request.limit]
        if self._config.document_shape == "docs":
            part: dict[str, Any] = {"FOLDERS": folders, "DOCUMENTS": documents}
        else:
            keyed = {f["FOLDER_ID"]: f for f in folders}
            part = {"ITEMS": {"FOLDERS": keyed, "DOCUMENTS": documents}}
        return json.dumps({"REQUEST": request.echo, "RESPONSE": part}).encode()

    def _select(self, request: ApiRequest, rules: ServiceRules, table: Table) -> list[int]:
        # Clients page through the same FILTER, so the match list is computed once per change.
        month = self.dataset.today().isoformat()[:7] if rules.current_month_only else ""
        key = (request.service, tuple(sorted(request.filters.items())), month)
        cached = self._query_cache.get(key)
        if cached is not None and cached[0] == table.version:
            return cached[1]
        matches = select(self.dataset, table, rules, request.filters)
        if len(self._query_cache) > 512:
            self._query_cache.clear()
        self._query_cache[key] = (table.version, matches)
        return matches

    def _fault_reply(self, kind: str) -> Reply:
        if kind == "drop":
            return Reply(0, drop=True)
        if kind == "html":
            return Reply(200, MAINTENANCE_PAGE, content_type="text/html; charset=UTF-8")
        if kind == "429":
            message = "Too many requests: API limit reached, retry after 1 seconds"
            return errors_reply({}, message, 429, **{"Retry-After": "1"})
        if kind == "429bare":
            return errors_reply({}, "Too Many Requests", 429)
        status = self._faults.next_5xx()
        return Reply(status, f"{status} Service Unavailable".encode())

    def _limit_reply(self, echo: Mapping[str, Any], wait: float, config: SandboxConfig) -> Reply:
        seconds = max(1, math.ceil(wait))
        if config.limit_response == "unknown200":
            return errors_reply(echo, UNKNOWN_REFUSAL)
        if config.limit_response == "errors200":
            moment = self.dataset.now() + timedelta(seconds=seconds)
            message = (
                f"API call limit exceeded. New calls are accepted from {moment:%Y-%m-%d %H:%M:%S}"
            )
            return errors_reply(echo, message)
        message = f"Too many requests: API limit reached, retry after {seconds} seconds"
        return errors_reply(echo, message, 429, **{"Retry-After": str(seconds)})

    # -- admin endpoints (other processes: CLI, demo, benchmarks)

    def handle_admin(self, method: str, path: str, raw: bytes) -> Reply:
        action = path[len(ADMIN_PREFIX) :].strip("/")
        try:
            args = json.loads(raw) if raw.strip() else {}
            if not isinstance(args, dict):
                raise ValueError("the body must be a JSON object")
            return json_reply(self._admin(method, action, args))
        except LookupError as exc:
            return json_reply({"error": str(exc)}, 404)
        except (ValueError, TypeError) as exc:
            return json_reply({"error": str(exc)}, 400)

    def _admin(self, method: str, action: str, args: dict[str, Any]) -> Any:
        if method == "GET" and action == "stats":
            return self.stats()
        if method == "GET" and action == "counts":
            return self.counts()
        if method == "GET" and action == "config":
            return self.config.as_json()
        if method == "POST" and action == "config":
            return self.configure(**args).as_json()
        if method == "POST" and action == "reset_stats":
            self.reset_stats()
            return {"ok": True}
        if method == "POST" and action == "reset_limits":
            self.reset_limits()
            return {"ok": True}
        if method == "POST" and action == "mutate":
            return {"ids": self._mutate(args)}
        raise LookupError(f"no admin endpoint {method} {ADMIN_PREFIX}{action}")

    def _mutate(self, args: dict[str, Any]) -> list[Any]:
        action = args.get("action")
        if action == "add_invoices":
            return self.add_invoices(int(args.get("n", 1)))
        if action == "pay_invoices":
            return self.pay_invoices(int(args.get("n", 1)))
        if action == "add_records":
            return self.add_records(str(args["service"]), int(args.get("n", 1)))
        if action == "update_records":
            fields: Record = dict(args.get("fields", {}))
            return self.update_records(str(args["service"]), list(args["ids"]), **fields)
        raise ValueError(f"unknown mutate action {action!r}")


def _scripted(script: Script, call: Call) -> Reply:
    """The script's answer, on a connection of its own; a broken script is a 500, not a dead
    server. One call per connection keeps a client's behaviour independent of timing."""
    try:
        reply = script(call)
        reply.encoded()  # a body that cannot be encoded is the script's error too
    except Exception as exc:
        reply = Reply(status=500, body=f"handler error: {exc!r}")
    return dataclasses.replace(reply, close=True)


def _parse_or_error(raw: bytes) -> tuple[ApiRequest | None, str | None]:
    try:
        return parse_request(raw), None
    except ValueError as exc:
        return None, str(exc)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")  # some clients encode credentials as latin-1 (PEER)
    user, sep, key = text.partition(":")
    return (user, key) if sep else None
