"""What each FastBill answer means: a `Verdict`, decided from the answer alone.

FastBill reports most failures as HTTP 200 with `RESPONSE.ERRORS`, so the CDK's status-code
mapping alone would read a wrong API key as an empty page. `classify` reads every answer (or the
exception instead of one) and says what it is, in kinds, not words; it counts nothing, shares
nothing and calls nobody. What an answer does to the sync (calls counted, pages shared, the
credentials proven, waits decided) happens where answers arrive: answers.py.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import Enum, auto
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import ErrorResolution, HttpStatusErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import (
    DEFAULT_ERROR_MAPPING,
)

from source_fastbill import protocol
from source_fastbill.cdk_seams import CDK_EXTRA_BACKOFF_SECONDS as CDK_EXTRA_SECONDS
from source_fastbill.config import API_URLS, FastbillConfig
from source_fastbill.quota import hint, looks_like_quota

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
API_PATH = "/api/1.0/api.php"


@dataclass(frozen=True)
class Endpoint:
    """What the classification must know of the stream it serves."""

    stream: str
    service: str
    response_key: protocol.Keys
    config: FastbillConfig
    check_call: bool = False


class Kind(Enum):
    PAGE = auto()  # FastBill's answer, with the list asked for
    RETRY = auto()  # worth asking again: 5xx, 408, a deploy's 404, a maintenance page
    NO_ANSWER = auto()  # no answer at all: DNS, connection, timeouts
    QUOTA = auto()  # a refusal recognised as the quota (429, its wording, a named time)
    UNKNOWN_ERROR = auto()  # ERRORS in words the connector does not know: perhaps the quota
    ACCESS_REFUSED = auto()  # the credentials, or this service for this account: a proof decides
    MISSING_FIELD = auto()  # "missing / invalid field: X": a stream may read another way
    FAIL = auto()  # final: a setting to fix, or FastBill refused this request
    CDK = auto()  # any other status: the CDK's own mapping decides


@dataclass(frozen=True)
class Verdict:
    """What an answer is. `counted`: FastBill answered, so the call counts against its limits."""

    kind: Kind
    message: str = ""
    failure_type: FailureType = FailureType.transient_error
    counted: bool = True
    text: str = ""  # FastBill's own words (a refusal, a missing field's error)
    field: str = ""  # the field of a MISSING_FIELD
    resolution: ErrorResolution | None = None  # kind CDK: the CDK's mapping


def classify(answer: requests.Response | Exception | None, endpoint: Endpoint) -> Verdict:
    """The one reading of an answer; the same answer always gets the same verdict."""
    if isinstance(answer, requests.Response):
        return _answer(answer, endpoint)
    if isinstance(answer, (requests.exceptions.InvalidURL, ValueError)):
        return _fail(
            f"The FastBill api_url {endpoint.config.api_url} is not usable: {answer}",
            FailureType.config_error,
            counted=False,
        )
    if isinstance(answer, requests.RequestException):
        return Verdict(
            Kind.NO_ANSWER,
            f"{UNREACHABLE} at {endpoint.config.api_url} ({type(answer).__name__}: "
            f"{protocol.excerpt(str(answer))}). Check api_url and the network, then retry.",
            counted=False,
        )
    return _cdk(answer)


def _cdk(answer: requests.Response | Exception | None) -> Verdict:
    resolution = _CDK_MAPPING.interpret_response(answer)
    return Verdict(Kind.CDK, counted=False, resolution=resolution)


def _fail(message: str, failure: FailureType, counted: bool = True) -> Verdict:
    return Verdict(Kind.FAIL, message, failure, counted=counted)


def _retry(message: str) -> Verdict:
    return Verdict(Kind.RETRY, message)


def _answer(response: requests.Response, endpoint: Endpoint) -> Verdict:
    status = response.status_code
    texts = protocol.errors(response) if status < 500 else []
    if texts:
        return _in_body_errors(texts, response, endpoint)
    if response.is_redirect or 300 <= status < 400:
        return _redirected(response, endpoint)
    if status in (401, 403):
        return Verdict(Kind.ACCESS_REFUSED, text=f"HTTP {status}", counted=False)
    if status == 429 or (not response.ok and hint(response, "").seconds is not None):
        # Any refusal naming its wait (Retry-After, or a JSON field such as RETRY_AFTER) is
        # honoured whatever its status: a 503 with Retry-After is waited out as it says.
        return Verdict(Kind.QUOTA, counted=False)  # the quota counts its refusals
    if status == 404:  # FastBill answers 404 during deploys ("api not found. Probably a deploy.")
        return _retry(_not_found(endpoint.config.api_url))
    if status >= 500 or status == 408:
        return _retry(f"FastBill answered HTTP {status}")
    if response.ok:
        return _listing(response, endpoint)
    return _cdk(response)


def _redirected(response: requests.Response, endpoint: Endpoint) -> Verdict:
    """A redirect is never followed (streams.py): it would take the credentials elsewhere."""
    target = urlsplit(response.headers.get("Location") or "")
    host = target.hostname or "(no Location given)"
    return _fail(
        f"FastBill answered HTTP {response.status_code} at {endpoint.config.api_url}, "
        f"redirecting to the host {host}. The connector follows no redirect, so your credentials "
        "are never sent to another host: set api_url to the final https:// URL of the FastBill "
        "API.",
        FailureType.config_error,
    )


def _not_found(api_url: str) -> str:
    # A URL without the API's script path is the common mistake: say so, not "deploy".
    if not urlsplit(api_url).path.endswith(API_PATH):
        return (
            f"FastBill answered 404 for {api_url}: the api_url must end in {API_PATH} "
            f"(for example https://my.fastbill.com{API_PATH}). Correct api_url and retry."
        )
    return f"FastBill answered 404 for {api_url}: a deploy in progress, or a wrong api_url."


def _listing(response: requests.Response, endpoint: Endpoint) -> Verdict:
    """A 2xx without ERRORS: an answer only if it is a FastBill envelope with the list."""
    parsed = protocol.parse(response)
    if parsed.data is None or not protocol.is_envelope(response):
        what = parsed.problem or "a JSON object without a RESPONSE part"
        kind = response.headers.get("Content-Type", "no content type")
        return _retry(
            f"FastBill answered {endpoint.service} with {what} ({kind}: "
            f"{protocol.body_excerpt(response)!r}), not with FastBill's answer; probably a "
            "maintenance page or a proxy. No record of it was emitted"
        )
    if not protocol.has_list(response, endpoint.response_key):
        return _retry(
            f"FastBill answered {endpoint.service} without "
            f"RESPONSE.{protocol.key_text(endpoint.response_key)} "
            f"({protocol.body_excerpt(response)!r})"
        )
    return Verdict(Kind.PAGE)


def _in_body_errors(texts: list[str], response: requests.Response, endpoint: Endpoint) -> Verdict:
    text = "; ".join(texts)
    lowered = text.lower()
    if any(word in lowered for word in UNKNOWN_SERVICE_HINTS):
        return _fail(unknown_service(endpoint, text), FailureType.config_error)
    missing = MISSING_FIELD.search(text)
    if missing:
        return Verdict(
            Kind.MISSING_FIELD, rejected(endpoint, text), FailureType.system_error,
            text=text, field=missing[1].upper(),
        )  # fmt: skip
    if response.status_code == 429 or looks_like_quota(text, hint(response, text)):
        return Verdict(Kind.QUOTA, text=text, counted=False)
    if response.status_code in (401, 403) or any(word in lowered for word in AUTH_HINTS):
        return Verdict(Kind.ACCESS_REFUSED, text=text)
    # Counted once it is clear whether it was the quota's refusal (answers.py).
    return Verdict(
        Kind.UNKNOWN_ERROR, rejected(endpoint, text), FailureType.system_error,
        text=text, counted=False,
    )  # fmt: skip


def unknown_service(endpoint: Endpoint, text: str) -> str:
    """Two causes, one answer: a plan without the service, or the other edition's host."""
    config = endpoint.config
    edition = (
        f"the connector is set to the '{config.edition}' edition: choose the edition your "
        "account belongs to (pro = my.fastbill.com, automatic = FastBill Automatic/Monsum)."
    )
    said = f"The FastBill API at {config.api_url} does not offer {endpoint.service} ({text}). "
    if endpoint.check_call:
        return said + "If the account belongs to the other product, " + edition
    return said + (
        f"If the account's plan does not include it, deselect the stream '{endpoint.stream}' or "
        "ask FastBill to enable it: the other streams are read as usual. If the account "
        "belongs to the other product, " + edition
    )


def rejected(endpoint: Endpoint, text: str) -> str:
    return f"FastBill rejected {endpoint.service}: {text}"


def refused_by_plan(endpoint: Endpoint, detail: str) -> str:
    return (
        f"FastBill refused {endpoint.service} for this account ({detail}), while the "
        "credentials work for other calls: the account's plan or its API permissions "
        f"probably do not include it. Deselect the stream '{endpoint.stream}', or "
        "ask FastBill to enable it."
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


def retry_wait(attempt: int) -> float:
    """2, 3, 5, 9, 17 ... s: one second (the CDK's) plus a doubling, at most half a minute."""
    return min(float(2 ** (attempt - 1)), MAX_RETRY_WAIT_SECONDS) + CDK_EXTRA_SECONDS


# The CDK's own mapping of HTTP statuses, for the statuses FastBill gives no meaning of its own.
_CDK_MAPPING = HttpStatusErrorHandler(logging.getLogger("airbyte"), DEFAULT_ERROR_MAPPING)
