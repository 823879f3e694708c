"""The HTTP layer under the CDK's HttpClient: a deadline for every answer, bounded error texts.

requests' timeouts bound each socket read, not the answer: a server that sends its headers and
then one byte a second holds a sync forever. `DeadlineAdapter` reads every body against a total
deadline. `FastbillHttpClient` is the CDK's client with two differences: a failure carries a
bounded excerpt of the body (the CDK quotes whole pages, customer addresses included), and it is
said once, in the trace, not also in an error log line before it.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import requests
from airbyte_cdk.sources.streams.http.exceptions import BaseBackoffException
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error

from source_fastbill.cdk_seams import BoundedErrorsHttpClient, cdk_log_replaced
from source_fastbill.read_ahead import ReadAhead
from source_fastbill.sharing import SharedPages, SharingSession

CHUNK = 64 * 1024


class _ConnectorSaysItself(logging.Filter):
    """Drops the CDK's generic retry lines; the connector logs every wait in its own words.

    Those lines also quote whole response bodies ("Response Content: b'...'") on every retry.
    Which lines those are is the CDK's wording: cdk_seams.py.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not cdk_log_replaced(record)


_FILTER = _ConnectorSaysItself()


def quiet_cdk_retry_logs(logger: logging.Logger) -> None:
    """Filters on a logger do not reach its children: each stream's logger gets its own."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


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
        # The whole answer, read within the deadline, is what requests reads the content from.
        response.raw = io.BytesIO(b"".join(chunks))
        return response


class FastbillHttpClient(BoundedErrorsHttpClient):
    """The CDK's HttpClient on the connector's session: shared pages, answer deadlines."""

    def __init__(
        self,
        deadline_seconds: float,
        pages: SharedPages,
        ahead: ReadAhead | None = None,
        **kwargs: Any,
    ) -> None:
        session = SharingSession(pages, ahead, api_budget=kwargs["api_budget"])
        adapter = DeadlineAdapter(deadline_seconds)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        super().__init__(session=session, **kwargs)

    def send_request(self, *args: Any, **kwargs: Any) -> tuple[Any, requests.Response]:
        try:
            return super().send_request(*args, **kwargs)
        except AirbyteTracedException as error:
            cause = error.__context__
            if isinstance(cause, BaseBackoffException) and str(cause):
                # The CDK says "Exhausted available request attempts. Please see logs ...".
                error.message = f"{cause} (gave up after repeated attempts)"
            raise
