"""Run the connector as Airbyte does (`python main.py <command>`) and read back its messages.

The one way the tests, the golden file, the image test and the benchmarks start the connector
and parse its stdout: a line is an Airbyte message when it is a JSON object with a "type";
anything else is noise (and there must be none).

    run = run_connector("read", tmp_path, config=config, catalog=catalog)
    assert run.exit_code == 0 and run.record_counts() == {"customers": 130}
"""

from __future__ import annotations

import json
import os
import re
import signal
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

REPO = Path(__file__).resolve().parents[1]
MAIN = REPO / "main.py"
Message = dict[str, Any]


class ConnectorError(AssertionError):
    """The connector did not do what the caller waited for (a test reads it as a failure)."""


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


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_line(line: str | bytes) -> Message | None:
    """The Airbyte message on one stdout line, or None when the line is not one."""
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and "type" in parsed else None


# A RECORD line, recognised without parsing it: a benchmark's 500k records would otherwise spend
# their time in json.loads. Both separators: the CDK prints compact JSON, older connectors don't.
RECORD_LINE = re.compile(rb'^\{"type": ?"RECORD", ?"record": ?\{"stream": ?"([^"]+)"')


def read_stream(lines: Iterable[bytes], records: Counter[str]) -> Iterator[Message | bytes]:
    """Messages as a running connector prints them; RECORD lines are only counted per stream
    into `records`, and a line that is no Airbyte message comes as its bytes."""
    for line in lines:
        match = RECORD_LINE.match(line, 0, 200)
        if match:
            records[match.group(1).decode()] += 1
            continue
        message = parse_line(line)
        yield line if message is None else message


def parse_stdout(stdout: str | Iterable[str]) -> tuple[list[Message], list[str]]:
    """Messages and noise (every other line), each in the order printed."""
    lines = stdout.splitlines() if isinstance(stdout, str) else stdout
    messages: list[Message] = []
    noise: list[str] = []
    for line in lines:
        message = parse_line(line)
        if message is None:
            noise.append(line.rstrip("\n"))
        else:
            messages.append(message)
    return messages, noise


# ---------------------------------------------------------------------------------------------
# Running


def command_line(
    command: str, files: Mapping[str, Path], prefix: Sequence[str] | None = None
) -> list[str]:
    """`python main.py <command> --config ... --catalog ... --state ...` (files by flag name).

    `prefix` replaces `python main.py`: the benchmarks run another checkout's connector too.
    """
    args = [*(prefix or (sys.executable, str(MAIN))), command]
    for flag in ("config", "catalog", "state"):
        if flag in files:
            args += [f"--{flag}", str(files[flag])]
    return args


def write_inputs(
    folder: Path,
    config: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    state: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """The JSON files a command reads, written into `folder`; their paths by flag name."""
    files: dict[str, Path] = {}
    for flag, content in (("config", config), ("catalog", catalog), ("state", state)):
        if content is not None:
            files[flag] = folder / f"{flag}.json"
            files[flag].write_text(json.dumps(content), encoding="utf-8")
    return files


def run_connector(
    command: str,
    workdir: Path,
    config: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    state: Sequence[Mapping[str, Any]] | None = None,
    timeout: float = 300,
    catalog_path: Path | None = None,
) -> ConnectorRun:
    """Run `python main.py <command>` from the repository root, with its files in workdir."""
    folder = Path(tempfile.mkdtemp(prefix=f"{command}-", dir=workdir))
    files = write_inputs(folder, config, catalog, state)
    if catalog_path is not None:
        files["catalog"] = catalog_path
    started = time.monotonic()
    done = subprocess.run(
        command_line(command, files), cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.monotonic() - started
    messages, noise = parse_stdout(done.stdout)
    return ConnectorRun(command, done.returncode, messages, noise, done.stderr, seconds)


def run_concurrently(
    jobs: Mapping[str, Callable[[], ConnectorRun]], workers: int = 3
) -> dict[str, ConnectorRun]:
    """Run independent connector processes side by side, started in the order given."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


class ConnectorProcess:
    """One running `python main.py <command>` whose stdout is read line by line as it comes.

    For what a finished run cannot show: waiting until the connector says something, then
    signalling it (test_interrupt.py). Its own TMPDIR shows what it leaves behind.
    """

    def __init__(
        self,
        workdir: Path,
        command: str = "read",
        config: Mapping[str, Any] | None = None,
        catalog: Mapping[str, Any] | None = None,
        state: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.command = command
        self.temp = workdir / "tmp"
        self.temp.mkdir(parents=True, exist_ok=True)
        args = command_line(command, write_inputs(workdir, config, catalog, state))
        env = {**os.environ, "TMPDIR": str(self.temp)}
        self.process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []

    def wait_for(self, seen: Callable[[Message], bool]) -> Message:
        """Read stdout until a message matches (a blocking read: the process says things)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            message = parse_line(line)
            if message is not None and seen(message):
                return message
        raise ConnectorError("the connector ended before the expected message:\n" + self.text())

    def stop(self, signum: int = signal.SIGTERM, within: float = 2.0) -> ConnectorRun:
        """Signal the process and collect what it printed; it must be gone `within` seconds."""
        self.process.send_signal(signum)
        return self.finish(within, f"still running {within} s after signal {signum}")

    def finish(self, within: float, why: str = "") -> ConnectorRun:
        """Wait for the end (bounded) and collect everything the process printed."""
        try:
            stdout, stderr = self.process.communicate(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise ConnectorError(why or f"still running after {within} s") from None
        messages, noise = parse_stdout(self.text() + stdout)
        code = self.process.returncode
        return ConnectorRun(self.command, code, messages, noise, stderr, 0.0)

    def text(self) -> str:
        return "".join(self.lines)
