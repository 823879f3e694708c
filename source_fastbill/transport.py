"""The HTTP layer under the CDK's HttpClient: a deadline for every answer, bounded error texts.

requests' timeouts bound each socket read, not the answer: a server that sends its headers and
then one byte a second holds a sync forever. `DeadlineAdapter` reads every body against a total
deadline. `FastbillHttpClient` is the CDK's client with two differences: a failure carries a
bounded excerpt of the body (the CDK quotes whole pages, customer addresses included), and it is
said once, in the trace, not also in an error log line before it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http import HttpClient
from airbyte_cdk.sources.streams.http.error_handlers import ErrorResolution, ResponseAction
from airbyte_cdk.sources.streams.http.exceptions import BaseBackoffException
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error

from source_fastbill import protocol
from source_fastbill.sharing import SharedPages, SharingSession

CHUNK = 64 * 1024


class _ConnectorSaysItself(logging.Filter):
    """Drops the CDK's generic retry lines; the connector logs every wait in its own words.

    Those lines also quote whole response bodies ("Response Content: b'...'") on every retry.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.module == "rate_limiting":
            return False
        text = str(record.msg)
        if text.startswith("Encountered an exception while reading stream"):
            record.exc_info = record.exc_text = None  # the error trace carries the message
            return True
        # A stack trace before the trace message that says the same, and the CDK's timing table
        # after every stream.
        return not (
            text.startswith("Retries exhausted with backoff exception") or " runtimes:" in text
        )


_FILTER = _ConnectorSaysItself()


def quiet_cdk_retry_logs(logger: logging.Logger) -> None:
    """Filters on a logger do not reach its children: each stream's logger gets its own."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


quiet_cdk_retry_logs(logging.getLogger("airbyte"))  # the CDK's backoff handlers log there


class AnswerTooSlow(requests.exceptions.ReadTimeout):
    """FastBill started an answer but did not finish it within the deadline."""


class DeadlineAdapter(HTTPAdapter):
    """Reads each whole answer within `deadline_seconds`, however slowly the bytes arrive."""

    def __init__(self, deadline_seconds: float) -> None:
        super().__init__()
        self.deadline_seconds = deadline_seconds

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        deadline = time.monotonic() + self.deadline_seconds
        response = super().send(request, stream=True, **kwargs)
        if stream:  # the caller reads the body itself
            return response
        chunks: list[bytes] = []
        try:
            while True:
                chunk = response.raw.read1(CHUNK, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise AnswerTooSlow(
                        f"FastBill did not complete its answer within {self.deadline_seconds:g} s "
                        f"({sum(map(len, chunks)):,} bytes received)",
                        request=request,
                    )
        except Urllib3Error as error:  # as requests itself translates them
            raise requests.exceptions.ChunkedEncodingError(error, request=request) from error
        finally:
            response.raw.close()
        response._content = b"".join(chunks)
        response._content_consumed = True
        return response


class FastbillHttpClient(HttpClient):
    """The CDK's HttpClient; failures are reported once, with a bounded excerpt of the answer."""

    def __init__(self, deadline_seconds: float, pages: SharedPages, **kwargs: Any) -> None:
        session = SharingSession(pages, api_budget=kwargs["api_budget"])
        super().__init__(session=session, **kwargs)
        adapter = DeadlineAdapter(deadline_seconds)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def _send_with_retry(self, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super()._send_with_retry(*args, **kwargs)
        except AirbyteTracedException as error:
            cause = error.__context__
            if isinstance(cause, BaseBackoffException) and str(cause):
                # The CDK says "Exhausted available request attempts. Please see logs ...".
                error.message = f"{cause} (gave up after repeated attempts)"
            raise

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
