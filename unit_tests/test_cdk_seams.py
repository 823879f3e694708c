"""Canaries for cdk_seams.py: each fails, naming the installed CDK, when a release changes a seam.

The connector relies on these CDK details that no public API promises; everything else it uses
is public. A failing canary means: adapt source_fastbill/cdk_seams.py, then the canary.
"""

from __future__ import annotations

import inspect
import io
import logging
from typing import Any

import pytest
import requests
from airbyte_cdk.sources import abstract_source
from airbyte_cdk.sources.streams.http import HttpClient, HttpStream, rate_limiting
from airbyte_cdk.sources.streams.http.exceptions import UserDefinedBackoffException
from airbyte_cdk.sources.utils import slice_logger

from source_fastbill import cdk_seams
from source_fastbill.cdk_seams import describe
from source_fastbill.config import FastbillConfig
from source_fastbill.streams import Customers
from source_fastbill.sync import Sync
from unit_tests.conftest import config
from unit_tests.fake_time import FakeClock


def test_the_cdk_sleeps_one_second_more_than_a_backoff_strategy_asks(clock: FakeClock) -> None:
    response = requests.Response()
    response.status_code, response.raw = 500, io.BytesIO(b"")
    request = requests.Request("POST", "https://example.invalid/").prepare()
    calls = []

    @rate_limiting.user_defined_backoff_handler(max_tries=2)
    def send() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise UserDefinedBackoffException(backoff=5, request=request, response=response)

    send()
    assert clock.waits == [5 + cdk_seams.CDK_EXTRA_BACKOFF_SECONDS], describe(
        "the extra second it adds to a BackoffStrategy's wait"
    )


@pytest.mark.parametrize(
    ("method", "parameters"),
    [
        ("_get_response_body", ["self", "response"]),
        (
            "_handle_error_resolution",
            ["self", "response", "exc", "request", "error_resolution", "exit_on_rate_limit"],
        ),
        ("_evict_key", ["self", "prepared_request"]),
    ],
)
def test_the_http_client_methods_the_seam_overrides_are_there(
    method: str, parameters: list[str]
) -> None:
    found = getattr(HttpClient, method, None)
    assert found is not None, describe(f"HttpClient.{method} (gone)")
    assert list(inspect.signature(found).parameters) == parameters, describe(
        f"HttpClient.{method}'s parameters"
    )
    assert method in inspect.getsource(HttpClient), describe(f"the use of HttpClient.{method}")


def test_a_stream_reads_through_the_client_the_seam_installs() -> None:
    stream = Customers(**_stream_kwargs())
    assert isinstance(stream._http_client, cdk_seams.BoundedErrorsHttpClient), describe(
        "HttpStream._http_client"
    )
    assert "self._http_client.send_request" in inspect.getsource(HttpStream), describe(
        "how HttpStream sends its requests"
    )


@pytest.mark.parametrize(
    ("module", "wording"),
    [
        (inspect.getsource(HttpClient), cdk_seams.CDK_EXHAUSTED_LOG),
        (inspect.getsource(abstract_source), cdk_seams.CDK_STREAM_EXCEPTION_LOG),
        (inspect.getsource(abstract_source), "timer.report()"),
    ],
)
def test_the_cdk_log_lines_the_connector_replaces_still_read_so(module: str, wording: str) -> None:
    assert wording in module, describe(f"the log line {wording!r}")


def test_the_cdk_timer_report_still_names_runtimes() -> None:
    from airbyte_cdk.utils.event_timing import create_timer

    with create_timer("x") as timer:
        timer.start_event("y")
        timer.finish_event()
    assert cdk_seams.CDK_TIMER_LOG in timer.report(), describe("the timer report's wording")


def test_the_backoff_handlers_still_log_from_their_module() -> None:
    assert rate_limiting.__name__.rsplit(".", 1)[-1] == cdk_seams.CDK_RETRY_LOG_MODULE
    record = logging.LogRecord("airbyte", logging.INFO, rate_limiting.__file__, 1, "x", (), None)
    assert cdk_seams.cdk_log_replaced(record), describe("the backoff handlers' module")
    assert slice_logger  # the slice logger is public; kept as the CDK ships it


def _stream_kwargs() -> dict[str, Any]:
    current = Sync(FastbillConfig.from_mapping(config()))
    return {"config": current.settings, **current.stream_kwargs()}


def test_nothing_rides_on_a_response_object() -> None:
    """Issue 16 §2: decisions, parses and marks live beside an answer, never pinned on it."""
    from pathlib import Path

    package = Path(cdk_seams.__file__).parent
    pinned = [
        f"{path.name}:{number}"
        for path in sorted(package.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ".__dict__[" in line or ".__dict__.get(" in line
    ]
    assert pinned == []
