"""Every place the connector relies on what the CDK does not promise, and nowhere else.

airbyte-cdk 7.39 has no public hook for these; each is written against the version locked in
constraints.txt, and each has a canary in unit_tests/test_cdk_seams.py that fails, naming the
installed CDK version, when a CDK release changes what it relies on. Everything else in the
connector uses public CDK API (HttpStream's hooks, HttpStatusErrorHandler, BackoffStrategy,
HttpAPIBudget, the HttpClient constructor and its `send_request`).
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http import HttpClient, HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import ErrorResolution, ResponseAction
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill import protocol

CDK_VERSION = importlib.metadata.version("airbyte-cdk")

# 1. The CDK sleeps one second more than a BackoffStrategy asks for
#    (rate_limiting.user_defined_backoff_handler: "extra second to cover any fractions").
CDK_EXTRA_BACKOFF_SECONDS = 1.0

# 2. The CDK's own log lines the connector replaces with its own words: the backoff handlers'
#    retry lines (module rate_limiting), which also quote whole bodies; the stack trace logged
#    before the error trace that says the same; the timing table after every stream.
CDK_RETRY_LOG_MODULE = "rate_limiting"
CDK_EXHAUSTED_LOG = "Retries exhausted with backoff exception"
CDK_STREAM_EXCEPTION_LOG = "Encountered an exception while reading stream"
CDK_TIMER_LOG = " runtimes:"


def install_http_client(stream: HttpStream, client: HttpClient) -> None:
    """HttpStream builds its HttpClient in __init__ and offers no hook for the client's class."""
    stream._http_client = client


class BoundedErrorsHttpClient(HttpClient):
    """The CDK's client; a failure is said once, with a bounded excerpt of the answer.

    The CDK quotes whole response bodies (customer addresses, IBANs) in its failure messages
    and logs them before raising; these two methods are where it does so.
    """

    def _get_response_body(self, response: requests.Response) -> str:
        return protocol.body_excerpt(response)

    def _handle_error_resolution(
        self,
        response: requests.Response | None,
        exc: requests.RequestException | None,
        request: requests.PreparedRequest,
        error_resolution: ErrorResolution,
        exit_on_rate_limit: bool | None = False,
    ) -> None:
        if error_resolution.response_action != ResponseAction.FAIL:
            super()._handle_error_resolution(
                response, exc, request, error_resolution, exit_on_rate_limit
            )
            return
        self._evict_key(request)
        if response is not None:
            answer = f"HTTP {response.status_code}: {protocol.body_excerpt(response)}"
        else:
            answer = protocol.excerpt(f"{type(exc).__name__}: {exc}")
        sent = protocol.excerpt(str(request.body))
        raise AirbyteTracedException(
            message=error_resolution.error_message or f"FastBill answered {answer}",
            internal_message=filter_secrets(f"POST {request.url} {sent} -> {answer}"),
            failure_type=error_resolution.failure_type or FailureType.system_error,
        )


def cdk_log_replaced(record: logging.LogRecord) -> bool | None:
    """True: drop the CDK's line; None: keep it (exc_info stripped where the trace says it)."""
    if record.module == CDK_RETRY_LOG_MODULE:
        return True
    text = str(record.msg)
    if text.startswith(CDK_STREAM_EXCEPTION_LOG):
        record.exc_info = record.exc_text = None  # the error trace carries the message
        return None
    return text.startswith(CDK_EXHAUSTED_LOG) or CDK_TIMER_LOG in text or None


def describe(what: str) -> str:
    """A canary's failure message."""
    return (
        f"airbyte-cdk {CDK_VERSION} changed {what}: source_fastbill/cdk_seams.py relies on it "
        "(written against 7.39.1). Adapt the seam, then this canary."
    )


__all__: list[Any] = [
    "CDK_EXTRA_BACKOFF_SECONDS",
    "BoundedErrorsHttpClient",
    "cdk_log_replaced",
    "install_http_client",
]
