"""Mock-server helpers: exact request bodies in, FastBill-shaped answers out, no sleeping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, read
from responses import matchers

from source_fastbill import SourceFastbill, estimates
from source_fastbill.run import FastbillEntrypoint
from unit_tests import fake_time
from unit_tests.fake_time import FakeClock

PRO_URL = "https://my.fastbill.com/api/1.0/api.php"
AUTOMATIC_URL = "https://app.monsum.com/api/1.0/api.php"
USERNAME = "buchhaltung@example.de"
API_KEY = "unit-test-api-key-0123456789abcdef"  # long: the CDK masks every occurrence in logs


def cursor_state(message: Any) -> dict[str, Any]:
    """A state message's stream state as the stream keeps it: without the record count the
    reader keeps beside it for the next sync's ESTIMATE (asserted in test_estimates.py)."""
    state = dict(message.state.stream.stream_state.__dict__)
    state.pop(estimates.KEY, None)
    return state


def config(**overrides: Any) -> dict[str, Any]:
    # One call at a time unless a test asks for more: the fake clock is one clock for one
    # thread (a wait in one thread moves time for all). Reading side by side and asking ahead
    # are tested with workers here without waits (test_read_ahead.py, test_reader.py) and
    # against the local FastBill on the real clock (integration_tests).
    return {"username": USERNAME, "api_key": API_KEY, "num_workers": 1, **overrides}


def body(service: str, offset: int = 0, limit: int = 100, **filters: str) -> dict[str, Any]:
    sent: dict[str, Any] = {"SERVICE": service, "LIMIT": limit, "OFFSET": offset}
    if filters:
        sent["FILTER"] = filters
    return sent


def page(key: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"REQUEST": {}, "RESPONSE": {key: rows}}


def failure(*errors: str) -> dict[str, Any]:
    return {"REQUEST": {}, "RESPONSE": {"ERRORS": list(errors)}}


class FakeFastbill:
    """A `responses` mock that answers only the exact bodies it was told to expect."""

    def __init__(self, mock: responses.RequestsMock, url: str = PRO_URL) -> None:
        self.mock, self.url = mock, url

    def expect(
        self,
        sent: dict[str, Any],
        answer: dict[str, Any] | str,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        text = answer if isinstance(answer, str) else json.dumps(answer)
        self.mock.post(
            self.url,
            body=text,
            status=status,
            headers=headers,
            content_type="text/plain; charset=UTF-8",
            match=[matchers.json_params_matcher(sent)],
        )

    def fail_with(self, sent: dict[str, Any], error: Exception) -> None:
        self.mock.post(self.url, body=error, match=[matchers.json_params_matcher(sent)])

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [json.loads(call.request.body) for call in self.mock.calls]


@pytest.fixture
def api() -> Iterator[FakeFastbill]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield FakeFastbill(mock)


@pytest.fixture
def automatic_api() -> Iterator[FakeFastbill]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield FakeFastbill(mock, AUTOMATIC_URL)


@pytest.fixture(autouse=True)
def connector_entrypoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs go through the connector's own entry point, as `source-fastbill` does."""
    monkeypatch.setattr(entrypoint_wrapper, "AirbyteEntrypoint", FastbillEntrypoint)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The retry waits (backoff), the budget's waits (quota holds) and the connector's clock."""
    return fake_time.install(monkeypatch)


@pytest.fixture
def slept(clock: FakeClock) -> list[float]:
    """Every wait of the connector, in order, in seconds."""
    return clock.waits


def catalog(*streams: str, mode: SyncMode = SyncMode.full_refresh) -> Any:
    builder = CatalogBuilder()
    for stream in streams:
        builder.with_stream(stream, mode)
    return builder.build()


def run_read(
    cfg: dict[str, Any],
    *streams: str,
    mode: SyncMode = SyncMode.full_refresh,
    state: list[Any] | None = None,
    expect_error: bool = False,
) -> EntrypointOutput:
    from airbyte_cdk.test.models.scenario import ExpectedOutcome

    outcome = ExpectedOutcome.EXPECT_EXCEPTION if expect_error else ExpectedOutcome.EXPECT_SUCCESS
    return read(
        SourceFastbill(), cfg, catalog(*streams, mode=mode), state=state, expected_outcome=outcome
    )


def run_check(cfg: dict[str, Any], tmp_path: Path) -> EntrypointOutput:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return _run_command(SourceFastbill(), ["check", "--config", str(path)])


def check_status(output: EntrypointOutput) -> tuple[str, str | None]:
    status = output.connection_status_messages[-1].connectionStatus
    return status.status.value, status.message


def records(output: EntrypointOutput) -> list[dict[str, Any]]:
    return [message.record.data for message in output.records]
