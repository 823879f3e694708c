"""Error policy: what each FastBill answer means, and how long to wait before asking again.

FastBill reports most failures as HTTP 200 with `RESPONSE.ERRORS`, so the CDK's status-code
mapping alone would read a wrong API key as an empty page. Every answer passes through here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pendulum
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
from source_fastbill.config import FASTBILL_TIMEZONE

AUTH_HINTS = ("unauthori", "not authori", "login", "api key", "apikey", "credential", "authenti")
# Over-limit wording is undocumented (English or German); field names such as LIMIT must not match.
LIMIT_WORDING = re.compile(
    r"(rate|api|call|request)[ -]?limit|limit (reached|exceeded|erreicht|überschritten)"
    r"|quota|kontingent|too many|zu viele",
    re.IGNORECASE,
)
UNKNOWN_SERVICE_HINTS = (
    "unknown service",
    "invalid service",
    "service not found",
    "unknown action",
)
# FastBill's over-quota answer says from when calls are accepted again, in German local time.
RETRY_FROM = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?)")
MISSING_FIELD = re.compile(r"missing\s*/\s*invalid field:\s*([A-Z_]+)", re.IGNORECASE)
MAX_WAIT_SECONDS = 3600.0  # FastBill's quota window is one hour: never wait longer than that
DEFAULT_LIMIT_WAIT_SECONDS = 60.0
UNREACHABLE = "Could not reach FastBill"


def _resolution(action: ResponseAction, failure: FailureType, message: str) -> ErrorResolution:
    return ErrorResolution(response_action=action, failure_type=failure, error_message=message)


class FastbillErrorHandler(HttpStatusErrorHandler):
    """Maps HTTP statuses, network errors and FastBill's in-body ERRORS to CDK actions."""

    def __init__(
        self,
        logger: logging.Logger,
        service: str,
        api_url: str,
        edition: str,
        max_retries: int = 5,
        max_time: timedelta = timedelta(hours=2),
    ) -> None:
        super().__init__(logger, DEFAULT_ERROR_MAPPING, max_retries=max_retries, max_time=max_time)
        self.service, self.api_url, self.edition = service, api_url, edition
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
            return _resolution(
                ResponseAction.RETRY,
                FailureType.transient_error,
                f"{UNREACHABLE} at {self.api_url} "
                f"({type(response_or_exception).__name__}: {response_or_exception}). "
                "Check api_url and the network, then retry.",
            )
        return super().interpret_response(response_or_exception)

    def _interpret(self, response: requests.Response) -> ErrorResolution:
        status = response.status_code
        texts = protocol.errors(response) if status < 500 else []
        if texts:
            return self._in_body_errors(texts, status)
        if status in (401, 403):
            return self._credentials_rejected(f"HTTP {status}")
        if status == 429:
            return _resolution(
                ResponseAction.RATE_LIMITED,
                FailureType.transient_error,
                "FastBill's API limit was reached (HTTP 429); waiting before retrying.",
            )
        if (
            status == 404
        ):  # FastBill answers 404 during deploys ("api not found. Probably a deploy.")
            return _resolution(
                ResponseAction.RETRY,
                FailureType.transient_error,
                f"FastBill answered 404 for {self.api_url}: a deploy in progress, "
                "or a wrong api_url.",
            )
        if response.ok and protocol.body(response) is None:
            kind = response.headers.get("Content-Type", "unknown content type")
            return _resolution(
                ResponseAction.RETRY,
                FailureType.transient_error,
                f"FastBill answered {self.service} with a page that is not JSON ({kind}), "
                "probably a maintenance page; retrying.",
            )
        return super().interpret_response(response)

    def _in_body_errors(self, texts: list[str], status: int) -> ErrorResolution:
        text = "; ".join(texts)
        lowered = text.lower()
        if status in (401, 403) or any(hint in lowered for hint in AUTH_HINTS):
            return self._credentials_rejected(text)
        if any(hint in lowered for hint in UNKNOWN_SERVICE_HINTS):
            return _resolution(
                ResponseAction.FAIL,
                FailureType.config_error,
                f"The FastBill API at {self.api_url} does not offer {self.service} ({text}). "
                f"The connector is set to the '{self.edition}' edition: choose the edition your "
                "account belongs to (pro = my.fastbill.com, "
                "automatic = FastBill Automatic/Monsum).",
            )
        missing = MISSING_FIELD.search(text)
        if missing and self.on_missing_field(missing[1].upper()):
            return _resolution(ResponseAction.IGNORE, FailureType.config_error, text)
        if status == 429 or LIMIT_WORDING.search(text):
            return _resolution(
                ResponseAction.RATE_LIMITED,
                FailureType.transient_error,
                f"FastBill's API limit was reached ({text}); waiting before retrying.",
            )
        return _resolution(
            ResponseAction.FAIL,
            FailureType.system_error,
            f"FastBill rejected {self.service}: {text}",
        )

    @staticmethod
    def _credentials_rejected(detail: str) -> ErrorResolution:
        return _resolution(
            ResponseAction.FAIL,
            FailureType.config_error,
            f"FastBill rejected the credentials ({detail}). Check the e-mail address "
            "(username) and the API key (FastBill: Settings > Account > API key).",
        )


class FastbillBackoffStrategy(BackoffStrategy):
    """Waits as long as FastBill asks: Retry-After, or the time named in its quota message.

    Returns None for other retryable errors, leaving them to the CDK's exponential backoff.
    """

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float | None:
        if not isinstance(response_or_exception, requests.Response):
            return None
        response = response_or_exception
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            wait = _quota_wait(response, attempt_count)
        return None if wait is None else min(max(wait, 0.0), MAX_WAIT_SECONDS)


def retry_after_seconds(header: str | None) -> float | None:
    """Retry-After as delta-seconds or as an HTTP date."""
    if not header:
        return None
    header = header.strip()
    if header.replace(".", "", 1).isdigit():
        return float(header)
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return (pendulum.instance(moment) - pendulum.now("UTC")).total_seconds()


def _quota_wait(response: requests.Response, attempt_count: int) -> float | None:
    text = " ".join(protocol.errors(response))
    match = RETRY_FROM.search(text)
    if match:
        accepted_from = pendulum.parse(f"{match[1]}T{match[2]}", tz=FASTBILL_TIMEZONE)
        return (accepted_from - pendulum.now("UTC")).total_seconds()
    if response.status_code == 429 or LIMIT_WORDING.search(text):
        return DEFAULT_LIMIT_WAIT_SECONDS * 2 ** max(attempt_count - 1, 0)
    return None
