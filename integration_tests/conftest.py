"""Shared fixtures of the end-to-end tests: sandboxes, scripted sandboxes, configs, a fake clock.

The connector itself runs through fastbill_sandbox.runner.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest

from fastbill_sandbox import DEFAULT_API_KEY, DEFAULT_USERNAME, FastbillSandbox
from fastbill_sandbox.faults import Handler, scripted
from unit_tests import fake_time
from unit_tests.fake_time import FakeClock

# ---------------------------------------------------------------------------------------------
# Configs and catalogs


def connector_config(sandbox: FastbillSandbox, **overrides: Any) -> dict[str, Any]:
    """A config for the sandbox's default account; an override of None removes that key."""
    config = {
        "username": DEFAULT_USERNAME,
        "api_key": DEFAULT_API_KEY,
        "edition": sandbox.edition,
        "api_url": sandbox.url,
        **overrides,
    }
    return {key: value for key, value in config.items() if value is not None}


def configured_catalog(
    catalog: Mapping[str, Any], streams: Iterable[str] | None = None
) -> dict[str, Any]:
    """A full-refresh/overwrite ConfiguredAirbyteCatalog of the named (default: all) streams."""
    wanted = None if streams is None else set(streams)
    chosen = [s for s in catalog["streams"] if wanted is None or s["name"] in wanted]
    if wanted is not None:
        assert {s["name"] for s in chosen} == wanted, "a requested stream is not in the catalog"
    return {
        "streams": [
            {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
            for stream in chosen
        ]
    }


def closed_port_url() -> str:
    """An api_url on loopback where nothing listens: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/1.0/api.php"


# ---------------------------------------------------------------------------------------------
# Sandboxes


@pytest.fixture(scope="module")
def pro_sandbox() -> Iterator[FastbillSandbox]:
    """A Pro sandbox without limits, shared by a module: tests may reset its stats only."""
    with FastbillSandbox(edition="pro", size=1.0, seed=42, rate_limit=None) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def automatic_sandbox() -> Iterator[FastbillSandbox]:
    """A read-only Automatic sandbox without limits, shared by a module."""
    with FastbillSandbox(edition="automatic", size=1.0, seed=42, rate_limit=None) as sandbox:
        yield sandbox


@pytest.fixture
def private_sandbox() -> Iterator[Callable[..., FastbillSandbox]]:
    """Starts sandboxes with their own knobs for one test: private_sandbox("pro", **knobs)."""
    started: list[FastbillSandbox] = []

    def start(edition: str, **knobs: Any) -> FastbillSandbox:
        sandbox = FastbillSandbox(edition=edition, size=1.0, seed=42, **knobs).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


# ---------------------------------------------------------------------------------------------
# In-process runs against scripted sandboxes (test_faults.py, test_concurrency.py)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The connector's waits are recorded, not slept; runs go through its own entry point."""
    from airbyte_cdk.test import entrypoint_wrapper

    from source_fastbill.run import FastbillEntrypoint

    monkeypatch.setattr(entrypoint_wrapper, "AirbyteEntrypoint", FastbillEntrypoint)
    return fake_time.install(monkeypatch)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Starts scripted sandboxes on free loopback ports for one test: serve(handler)."""
    started: list[FastbillSandbox] = []

    def start(handler: Handler) -> FastbillSandbox:
        server = scripted(handler).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
