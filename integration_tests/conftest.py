"""Shared helpers for the end-to-end tests: run `main.py` as Airbyte does and read its messages."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration_tests.faultserver import FaultServer, Handler
from integration_tests.sandbox import DEFAULT_API_KEY, DEFAULT_USERNAME, FastbillSandbox
from unit_tests import fake_time
from unit_tests.fake_time import FakeClock

REPO = Path(__file__).resolve().parents[1]
MAIN = REPO / "main.py"
Message = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# One connector process


@dataclass(frozen=True)
class ConnectorRun:
    """What one `python main.py <command>` printed, how it exited and how long it took."""

    command: str
    exit_code: int
    messages: list[Message]
    noise: list[str]  # stdout lines that are not Airbyte messages (there must be none)
    stderr: str
    seconds: float

    def of_type(self, kind: str) -> list[Message]:
        return [message for message in self.messages if message["type"] == kind]

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        found = [m["record"] for m in self.of_type("RECORD")]
        return [r["data"] for r in found if stream is None or r["stream"] == stream]

    def record_counts(self) -> dict[str, int]:
        return dict(Counter(m["record"]["stream"] for m in self.of_type("RECORD")))

    def final_states(self) -> dict[str, Message]:
        """The last STATE message of each stream, as Airbyte would save it."""
        states = [m["state"] for m in self.of_type("STATE")]
        return {s["stream"]["stream_descriptor"]["name"]: s for s in states}

    def last_message_kind_per_stream(self) -> dict[str, str]:
        last: dict[str, str] = {}
        for message in self.messages:
            if message["type"] == "RECORD":
                last[message["record"]["stream"]] = "RECORD"
            elif message["type"] == "STATE":
                last[message["state"]["stream"]["stream_descriptor"]["name"]] = "STATE"
        return last

    def stream_statuses(self) -> dict[str, list[str]]:
        statuses: dict[str, list[str]] = {}
        for trace in self._traces("STREAM_STATUS"):
            status = trace["stream_status"]
            name = status["stream_descriptor"]["name"]
            statuses.setdefault(name, []).append(status["status"])
        return statuses

    def errors(self) -> list[dict[str, Any]]:
        return [trace["error"] for trace in self._traces("ERROR")]

    def failure_types(self) -> list[str]:
        return [error["failure_type"] for error in self.errors()]

    def logs(self, level: str | None = None) -> list[str]:
        found = [m["log"] for m in self.of_type("LOG")]
        return [log["message"] for log in found if level is None or log["level"] == level]

    def connection_status(self) -> dict[str, Any]:
        (message,) = self.of_type("CONNECTION_STATUS")
        return dict(message["connectionStatus"])

    def catalog(self) -> dict[str, Any]:
        (message,) = self.of_type("CATALOG")
        return dict(message["catalog"])

    def spec(self) -> dict[str, Any]:
        (message,) = self.of_type("SPEC")
        return dict(message["spec"])

    def stdout_text(self) -> str:
        return "\n".join([json.dumps(m, ensure_ascii=False) for m in self.messages] + self.noise)

    def _traces(self, kind: str) -> list[dict[str, Any]]:
        traces = [m["trace"] for m in self.of_type("TRACE")]
        return [trace for trace in traces if trace["type"] == kind]


def run_connector(
    command: str,
    workdir: Path,
    config: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    state: Sequence[Mapping[str, Any]] | None = None,
    timeout: float = 300,
) -> ConnectorRun:
    """Run `python main.py <command>` from the repository root, with its files in workdir."""
    folder = Path(tempfile.mkdtemp(prefix=f"{command}-", dir=workdir))
    args = [sys.executable, str(MAIN), command]
    for flag, content in (("--config", config), ("--catalog", catalog), ("--state", state)):
        if content is not None:
            path = folder / f"{flag[2:]}.json"
            path.write_text(json.dumps(content), encoding="utf-8")
            args += [flag, str(path)]
    started = time.monotonic()
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - started
    messages, noise = _parse_stdout(done.stdout)
    return ConnectorRun(command, done.returncode, messages, noise, done.stderr, seconds)


def run_concurrently(
    jobs: Mapping[str, Callable[[], ConnectorRun]], workers: int = 3
) -> dict[str, ConnectorRun]:
    """Run independent connector processes side by side, started in the order given."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def _parse_stdout(stdout: str) -> tuple[list[Message], list[str]]:
    messages: list[Message] = []
    noise: list[str] = []
    for line in stdout.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            noise.append(line)
            continue
        if isinstance(parsed, dict) and "type" in parsed:
            messages.append(parsed)
        else:
            noise.append(line)
    return messages, noise


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
# In-process runs against the fault-injection server (test_faults.py, test_concurrency.py)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The connector's waits are recorded, not slept; runs go through its own entry point."""
    from airbyte_cdk.test import entrypoint_wrapper

    from source_fastbill.run import FastbillEntrypoint

    monkeypatch.setattr(entrypoint_wrapper, "AirbyteEntrypoint", FastbillEntrypoint)
    return fake_time.install(monkeypatch)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Starts fault-injection servers on free loopback ports for one test: serve(handler)."""
    started: list[FaultServer] = []

    def start(handler: Handler) -> FaultServer:
        server = FaultServer(handler).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
