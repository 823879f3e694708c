"""Issue 15 §8: SIGINT and SIGTERM stop every worker and every wait, and leave nothing behind.

Each test starts the connector as Airbyte does (a process), waits until it is in a wait it
announced, signals it, and checks: it exits within 2 s with the signal's exit code and one
clear line, makes no further call, emits the states it finished, labels each stream, prints no
traceback, and leaves no temporary file. After a SIGKILL the next run removes what was left.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fastbill_sandbox import FastbillSandbox
from fastbill_sandbox.runner import ConnectorProcess, ConnectorRun
from integration_tests.conftest import connector_config
from source_fastbill.sharing import PREFIX

pytestmark = pytest.mark.e2e
EXIT_WITHIN_SECONDS = 2.0  # the rule of issue 15 §8
FULL = "full_refresh"


def _catalog(*streams: str) -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for name in streams
        ]
    }


class Connector(ConnectorProcess):
    """`python main.py read` with its files and its own TMPDIR in tmp_path."""

    def __init__(self, tmp_path: Path, config: dict[str, Any], catalog: dict[str, Any]) -> None:
        super().__init__(tmp_path, "read", config=config, catalog=catalog)

    def stop(self, signum: int, within: float = EXIT_WITHIN_SECONDS) -> ConnectorRun:
        return super().stop(signum, within)


def waiting(message: dict[str, Any]) -> bool:
    log = message.get("log") or {}
    return message.get("type") == "LOG" and ": waiting " in log.get("message", "")


@pytest.fixture
def sandbox() -> Iterator[FastbillSandbox]:
    with FastbillSandbox(edition="pro", size=1.0, seed=42, rate_limit=None) as started:
        yield started


def assert_stopped_cleanly(run: ConnectorRun, signum: int, temp: Path) -> None:
    name = signal.Signals(signum).name
    assert run.exit_code == 128 + signum
    assert run.logs()[-1].startswith(f"Stopped by {name}: no further FastBill calls were made.")
    assert "Traceback" not in run.stderr and not run.noise
    assert not list(temp.glob(f"{PREFIX}*")), "a temporary page folder outlived the sync"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_pacing_stops_every_lane_at_once(
    sandbox: FastbillSandbox, tmp_path: Path, signum: int
) -> None:
    # One call a minute: after the first, every lane sleeps in the shared budget.
    config = connector_config(sandbox, requests_per_minute=1, num_workers=3)
    catalog = _catalog("invoices", "invoice_items", "customers", "projects", "templates")
    connector = Connector(tmp_path, config, catalog)
    connector.wait_for(waiting)
    calls_at_signal = sandbox.stats()["calls"]

    run = connector.stop(signum)

    assert sandbox.stats()["calls"] == calls_at_signal  # no call after the signal
    assert_stopped_cleanly(run, signum, connector.temp)
    outcomes = [line for line in run.logs() if line.startswith("Sync summary, ")]
    assert len(outcomes) == len(catalog["streams"]) + 1
    labels = {line.split("(")[1].split(")")[0] for line in outcomes[:-1]}
    assert labels <= {"done", "interrupted", "not started"} and "interrupted" in labels


def test_a_signal_during_an_hourly_quota_wait_ends_the_process(
    tmp_path: Path,
) -> None:
    with FastbillSandbox(
        edition="pro", size=1.0, seed=42, rate_limit=None, hourly_quota=1,
        limit_response="errors200",
    ) as sandbox:  # fmt: skip
        connector = Connector(tmp_path, connector_config(sandbox, num_workers=1), _catalog(
            "customers", "templates"
        ))  # fmt: skip
        connector.wait_for(waiting)

        run = connector.stop(signal.SIGTERM)

        assert_stopped_cleanly(run, signal.SIGTERM, connector.temp)


def test_the_states_of_finished_streams_are_emitted_before_the_stop(
    sandbox: FastbillSandbox, tmp_path: Path
) -> None:
    config = connector_config(sandbox, requests_per_minute=1, num_workers=1)
    # Lanes of equal weight keep the catalog's order: templates' one call, then projects waits.
    connector = Connector(tmp_path, config, _catalog("templates", "projects"))
    connector.wait_for(waiting)

    run = connector.stop(signal.SIGINT)

    assert_stopped_cleanly(run, signal.SIGINT, connector.temp)
    assert "templates" in run.final_states()  # finished before the signal: its state is out
    assert any(line.startswith("Sync summary, templates (done)") for line in run.logs())


def test_the_next_run_removes_what_a_killed_run_left_behind(
    sandbox: FastbillSandbox, tmp_path: Path
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    temp = tmp_path / "tmp"
    left = temp / f"{PREFIX}{dead.pid}-x1y2z3"
    left.mkdir(parents=True)
    (left / "page").write_text('{"IBAN": "DE02120300000000202051"}')

    connector = Connector(tmp_path, connector_config(sandbox), _catalog("templates"))
    connector.process.communicate(timeout=120)

    assert connector.process.returncode == 0
    assert not left.exists()
