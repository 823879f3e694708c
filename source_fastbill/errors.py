"""Error policy: what each FastBill answer means, and how long to wait before asking again.

FastBill reports most failures as HTTP 200 with `RESPONSE.ERRORS`, so the CDK's status-code
mapping alone would read a wrong API key as an empty page. Every answer passes through here, and
every answer is counted (progress.Ledger). Waits for the quota happen in the budget
(quota.QuotaPolicy); this module decides them.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorResolution,
    HttpStatusErrorHandler,
    ResponseAction,
)
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import (
    DEFAULT_ERROR_MAPPING,
)

from source_fastbill import protocol
from source_fastbill.cdk_seams import CDK_EXTRA_BACKOFF_SECONDS as CDK_EXTRA_SECONDS
from source_fastbill.config import API_URLS, FastbillConfig
from source_fastbill.failures import Failure, Failures
from source_fastbill.progress import Ledger, wall_clock
from source_fastbill.quota import NOTEWORTHY_SECONDS, Decision, Quota, hint, looks_like_quota
from source_fastbill.quota import until_text as _until_text
from source_fastbill.sharing import SharedPages

AUTH_HINTS = (
    "unauthori", "not authori", "login", "api key", "apikey", "credential", "authenti",
    "nicht berechtigt", "zugriff verweigert", "anmeldung", "access denied", "forbidden",
    "permission", "berechtigung",
)  # fmt: skip
UNKNOWN_SERVICE_HINTS = (
    "unknown service",
    "invalid service",
    "service not found",
    "unknown action",
    "unbekannter service",
)
MISSING_FIELD = re.compile(r"missing\s*/\s*invalid field:\s*([A-Z_]+)", re.IGNORECASE)
UNREACHABLE = "Could not reach FastBill"
CREDENTIALS_REJECTED = "FastBill rejected the credentials"
MAX_RETRY_WAIT_SECONDS = 30.0


@dataclass
class Credentials:
    """Whether this sync's credentials are proven: a refusal after that is about one service.

    `prove` makes one customer.get call (both editions have it) and says whether it succeeded;
    it runs only when a refusal arrives before any call of the sync succeeded.
    """

    prove: Callable[[], bool] = lambda: False
    proven: bool = False
    # Set with `proven`: concurrent lanes wait for it (concurrency.py).
    event: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def confirmed(self) -> None:
        self.proven = True
        self.event.set()

    def work(self) -> bool:
        with self._lock:
            if not self.proven and self.prove():
                self.confirmed()
            return self.proven


@dataclass
class SyncContext:
    """What the streams of one sync share besides the budget: ledger, quota, credentials, pages."""

    ledger: Ledger
    quota: Quota
    credentials: Credentials
    pages: SharedPages = field(default_factory=SharedPages)
    failures: Failures = field(default_factory=Failures)
    decisions: Decisions = field(default_factory=lambda: Decisions())
    _said: set[str] = field(default_factory=set)

    def warn_once(self, kind: str, text: str) -> None:
        """A warning said once per sync, however many streams come across the same thing."""
        if kind not in self._said:
            self._said.add(kind)
            logging.getLogger("airbyte").warning(text)


@dataclass(frozen=True)
class Endpoint:
    """What the error handler must know of the stream it serves."""

    stream: str
    service: str
    response_key: str
    config: FastbillConfig
    check_call: bool = False


def _resolution(action: ResponseAction, failure: FailureType, message: str) -> ErrorResolution:
    return ErrorResolution(response_action=action, failure_type=failure, error_message=message)


class Decisions:
    """The waits the error handler decided, by the answer (or exception) they are about.

    The CDK asks the BackoffStrategy right after the handler, about the same object; the
    decision is kept beside it (weakly: it goes with the answer), not pinned on it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decided: weakref.WeakKeyDictionary[object, tuple[float, str, bool]] = (
            weakref.WeakKeyDictionary()
        )

    def decide(self, carrier: object, seconds: float, why: str, hold: bool = False) -> None:
        with self._lock:
            self._decided[carrier] = (seconds, why, hold)

    def of(self, carrier: object) -> tuple[float, str, bool] | None:
        if carrier is None:
            return None
        with self._lock:
            return self._decided.get(carrier)


class FastbillErrorHandler(HttpStatusErrorHandler):
    """Maps HTTP statuses, network errors and FastBill's in-body ERRORS to CDK actions."""

    def __init__(
        self,
        logger: logging.Logger,
        endpoint: Endpoint,
        context: SyncContext,
        max_retries: int = 5,
        max_time: timedelta = timedelta(hours=2),
    ) -> None:
        super().__init__(logger, DEFAULT_ERROR_MAPPING, max_retries=max_retries, max_time=max_time)
        self.endpoint, self.context = endpoint, context
        self.service, self.api_url = endpoint.service, endpoint.config.api_url
        self.attempts: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        # A stream can take over "missing / invalid field: X" (contacts fall back to a per-customer
        # read); returning True ignores the answer instead of failing.
        self.on_missing_field: Callable[[str], bool] = lambda field: False

    def interpret_response(
        self, response_or_exception: requests.Response | Exception | None = None
    ) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response):
            return self._interpret(response_or_exception)
        if isinstance(response_or_exception, (requests.exceptions.InvalidURL, ValueError)):
            return _resolution(
                ResponseAction.FAIL,
                FailureType.config_error,
                f"The FastBill api_url {self.api_url} is not usable: {response_or_exception}",
            )
        if isinstance(response_or_exception, requests.RequestException):
            self.context.failures.noted(self.endpoint.stream, Failure.UNREACHABLE)
            return self._retry(
                response_or_exception,
                f"{UNREACHABLE} at {self.api_url} ({type(response_or_exception).__name__}: "
                f"{protocol.excerpt(str(response_or_exception))}). "
                "Check api_url and the network, then retry.",
            )
        return super().interpret_response(response_or_exception)

    def _interpret(self, response: requests.Response) -> ErrorResolution:
        self.context.failures.cleared(self.endpoint.stream)  # any answer: FastBill is reachable
        status = response.status_code
        texts = protocol.errors(response) if status < 500 else []
        if texts:
            return self._in_body_errors(texts, response)
        if response.is_redirect or 300 <= status < 400:
            return self._redirected(response)
        if status in (401, 403):
            return self._refused_access(f"HTTP {status}", status)
        if status == 429 or (not response.ok and hint(response, "").seconds is not None):
            # Any refusal naming its wait (Retry-After, or a JSON field such as RETRY_AFTER) is
            # honoured whatever its status: a 503 with Retry-After is waited out as it says.
            return self._quota(response, "")
        if (
            status == 404
        ):  # FastBill answers 404 during deploys ("api not found. Probably a deploy.")
            return self._retry(response, self._not_found(), count=True)
        if status >= 500 or status == 408:
            return self._retry(response, f"FastBill answered HTTP {status}", count=True)
        if response.ok:
            return self._answer(response)
        return super().interpret_response(response)

    def _redirected(self, response: requests.Response) -> ErrorResolution:
        """A redirect is never followed (streams.py): it would take the credentials elsewhere."""
        self.context.ledger.answered(self.endpoint.stream)
        target = urlsplit(response.headers.get("Location") or "")
        host = target.hostname or "(no Location given)"
        return _resolution(
            ResponseAction.FAIL,
            FailureType.config_error,
            f"FastBill answered HTTP {response.status_code} at {self.api_url}, redirecting to "
            f"the host {host}. The connector follows no redirect, so your credentials are never "
            "sent to another host: set api_url to the final https:// URL of the FastBill API.",
        )

    def _not_found(self) -> str:
        # A URL without the API's script path is the common mistake: say so, not "deploy".
        api_path = "/api/1.0/api.php"
        if not requests.compat.urlsplit(self.api_url).path.endswith(api_path):
            return (
                f"FastBill answered 404 for {self.api_url}: the api_url must end in {api_path} "
                f"(for example https://my.fastbill.com{api_path}). Correct api_url and retry."
            )
        return (
            f"FastBill answered 404 for {self.api_url}: a deploy in progress, or a wrong api_url."
        )

    def _answer(self, response: requests.Response) -> ErrorResolution:
        """A 2xx without ERRORS: an answer only if it is a FastBill envelope with the list."""
        parsed = protocol.parse(response)
        if parsed.data is None or not protocol.is_envelope(response):
            what = parsed.problem or "a JSON object without a RESPONSE part"
            kind = response.headers.get("Content-Type", "no content type")
            return self._retry(
                response,
                f"FastBill answered {self.service} with {what} ({kind}: "
                f"{protocol.body_excerpt(response)!r}), not with FastBill's answer; probably a "
                "maintenance page or a proxy. No record of it was emitted",
                count=True,
            )
        if not protocol.has_list(response, self.endpoint.response_key):
            return self._retry(
                response,
                f"FastBill answered {self.service} without RESPONSE.{self.endpoint.response_key} "
                f"({protocol.body_excerpt(response)!r})",
                count=True,
            )
        if not self.context.pages.served(
            response
        ):  # a page another stream of this sync paid for costs nothing
            self.context.ledger.answered(self.endpoint.stream)
            self.context.pages.put(response)
        self.context.credentials.confirmed()
        return ErrorResolution(ResponseAction.SUCCESS)

    def _in_body_errors(self, texts: list[str], response: requests.Response) -> ErrorResolution:
        text = "; ".join(texts)
        lowered = text.lower()
        if any(hint in lowered for hint in UNKNOWN_SERVICE_HINTS):
            self.context.ledger.answered(self.endpoint.stream)
            return _resolution(
                ResponseAction.FAIL,
                FailureType.config_error,
                f"The FastBill API at {self.api_url} does not offer {self.service} ({text}). "
                f"The connector is set to the '{self.endpoint.config.edition}' edition: choose "
                "the edition your account belongs to (pro = my.fastbill.com, "
                "automatic = FastBill Automatic/Monsum).",
            )
        missing = MISSING_FIELD.search(text)
        if missing:
            self.context.ledger.answered(self.endpoint.stream)
            if self.on_missing_field(missing[1].upper()):
                return _resolution(ResponseAction.IGNORE, FailureType.config_error, text)
            return self._failed(text)
        if response.status_code == 429 or looks_like_quota(text, hint(response, text)):
            return self._quota(response, text)
        if response.status_code in (401, 403) or any(hint in lowered for hint in AUTH_HINTS):
            self.context.ledger.answered(self.endpoint.stream)
            return self._refused_access(text, response.status_code)
        decision = None if self.endpoint.check_call else self.context.quota.unrecognised(
            self.endpoint.stream, text
        )  # fmt: skip
        if decision is None:
            self.context.ledger.answered(self.endpoint.stream)
            return self._failed(text + self.context.quota.tried(text))
        return self._hold(response, decision)

    def _failed(self, text: str) -> ErrorResolution:
        return _resolution(
            ResponseAction.FAIL,
            FailureType.system_error,
            f"FastBill rejected {self.service}: {text}",
        )

    def _quota(self, response: requests.Response, text: str) -> ErrorResolution:
        attempt = self._attempt(response)
        decision = self.context.quota.refused(self.endpoint.stream, response, text, attempt)
        return self._hold(response, decision)

    def _hold(self, response: requests.Response, decision: Decision) -> ErrorResolution:
        assert decision.wait is not None
        self.context.decisions.decide(response, decision.wait, decision.message, decision.hold)
        return _resolution(
            ResponseAction.RATE_LIMITED, FailureType.transient_error, decision.message
        )

    def _retry(
        self, carrier: requests.Response | Exception, message: str, count: bool = False
    ) -> ErrorResolution:
        if count and isinstance(carrier, requests.Response):
            self.context.ledger.answered(self.endpoint.stream)
        wait = retry_wait(self._attempt(carrier))
        self.context.decisions.decide(carrier, wait, message)
        return _resolution(ResponseAction.RETRY, FailureType.transient_error, message)

    def _attempt(self, carrier: requests.Response | Exception) -> int:
        """How often this request was answered so far (the CDK retries the same object)."""
        request = getattr(carrier, "request", None) or self
        self.attempts[request] = self.attempts.get(request, 0) + 1
        return self.attempts[request]

    def _refused_access(self, detail: str, status: int) -> ErrorResolution:
        """Wrong credentials, or a service this account may not use: one proof tells them apart."""
        proves_itself = self.endpoint.check_call or self.service == "customer.get"
        if not proves_itself and self.context.credentials.work():
            self.context.failures.noted(self.endpoint.stream, Failure.REFUSED_BY_PLAN)
            return _resolution(
                ResponseAction.FAIL,
                FailureType.config_error,
                f"FastBill refused {self.service} for this account ({detail}), while the "
                "credentials work for other calls: the account's plan or its API permissions "
                f"probably do not include it. Deselect the stream '{self.endpoint.stream}', or "
                "ask FastBill to enable it.",
            )
        self.context.failures.noted(self.endpoint.stream, Failure.CREDENTIALS)
        return _resolution(
            ResponseAction.FAIL,
            FailureType.config_error,
            credentials_message(detail, self.endpoint),
        )


def credentials_message(detail: str, endpoint: Endpoint) -> str:
    message = (
        f"{CREDENTIALS_REJECTED} ({detail}). Check the e-mail address (username) and the API key "
        "(FastBill: Settings > Account > API key)."
    )
    config = endpoint.config
    if config.api_url == API_URLS.get(config.edition):
        other = "automatic" if config.edition == "pro" else "pro"
        product = "FastBill Automatic / Monsum" if other == "automatic" else "FastBill (Pro)"
        message += (
            f" If the account is a {product} account, set edition to '{other}': the "
            f"'{config.edition}' host does not know it."
        )
    return message


class FastbillBackoffStrategy(BackoffStrategy):
    """Waits as the error handler decided, and says so in the connector's own words.

    The CDK sleeps what this returns plus one second, and logs it in its own generic words,
    which the source filters out. Waits for the quota are taken by the budget (QuotaPolicy),
    which announces them: this returns a token wait for them.
    """

    def __init__(
        self, stream: str, logger: logging.Logger, context: SyncContext, max_retries: int
    ) -> None:
        self.stream, self.logger, self.max_retries = stream, logger, max_retries
        self.ledger, self.decisions = context.ledger, context.decisions

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float | None:
        decided = self.decisions.of(response_or_exception)
        if decided is None:
            return None
        seconds, why, hold = decided
        if hold:
            return 0.001  # the budget holds the next call until the quota frees, and says so
        if attempt_count <= self.max_retries:  # the CDK asks about the last failure too
            self._announce(seconds, why, attempt_count)
            self.ledger.waited(self.stream, "retries", seconds)
        return max(seconds - CDK_EXTRA_SECONDS, 0.001)

    def _announce(self, seconds: float, why: str, attempt: int) -> None:
        until = f" ({_until_text(wall_clock() + seconds)})" if seconds >= NOTEWORTHY_SECONDS else ""
        self.logger.warning(
            f"{self.stream}: {why.rstrip('.')}. Retrying in {seconds:.0f} s{until}, "
            f"attempt {attempt + 1}."
        )


def retry_wait(attempt: int) -> float:
    """2, 3, 5, 9, 17 ... s: one second (the CDK's) plus a doubling, at most half a minute."""
    return min(float(2 ** (attempt - 1)), MAX_RETRY_WAIT_SECONDS) + CDK_EXTRA_SECONDS
