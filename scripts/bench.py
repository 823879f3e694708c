"""`make bench`: source-fastbill's speed, memory, API calls and pacing, measured on the sandbox.

    .venv/bin/python scripts/bench.py           # full run, about 8 minutes (+1 the first time)
    .venv/bin/python scripts/bench.py --quick   # small sizes, under a minute (a smoke test)

Every figure comes from this run on this machine: the connector runs as `main.py read` in its own
process, and the FastBill sandbox in another (fastbill_sandbox), so neither the sandbox
nor this script's bookkeeping counts against the connector's CPU time or memory. Records are
counted from the connector's stdout, API calls by the sandbox, peak memory from the kernel's
high-water mark of the connector process (VmHWM).

The comparison with the previous Airbyte connector, airbyte-source-fastbill 0.2.24 (a low-code
manifest on airbyte-cdk 0.80 that runs on Python 3.10, not 3.11), installs it from PyPI into
.bench/old-venv on the first full run and points a copy of its manifest at the sandbox.

Results: .bench/results.json, and a Markdown table on stdout (also in .bench/results.md);
--quick writes .bench/results-quick.json and .md instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from fastbill_sandbox import DEFAULT_API_KEY, DEFAULT_USERNAME
from fastbill_sandbox.data import BASE_COUNTS, STREAM_SERVICES, stream_counts
from fastbill_sandbox.runner import command_line, parse_stdout, read_stream

ROOT = Path(__file__).resolve().parents[1]

BENCH_DIR = ROOT / ".bench"
WORK_DIR = BENCH_DIR / "work"  # configs, catalogs and connector logs of the latest run
OLD_VENV = BENCH_DIR / "old-venv"
OLD_PACKAGE = "airbyte-source-fastbill==0.2.24"
OLD_STREAMS = ("customers", "invoices", "recurring_invoices", "products", "revenues")
OLD_URL_BASE = "https://my.fastbill.com/api/1.0"
PAGE_SIZE = 100  # FastBill's maximum LIMIT; both connectors ask for it
UNPACED = 6000  # requests_per_minute for runs that measure memory, not pacing
INCREMENTAL_STREAMS = ("invoices", "revenues", "expenses", "estimates")
PER_MINUTE = 500  # FastBill's documented limit, the sandbox's default and the connector's default
STRICT_LIMIT = 20  # calls per minute in the "stricter plan" scenario
LATENCY_MS = 100
RSS_GOAL_MB = 200
WORKERS = 3  # the connector's default num_workers, which every run here keeps
GUESSES_GOAL = "minimum, + at most num_workers - 1 guesses per stream (read_ahead.py)"
SIZE_1_RECORDS = sum(BASE_COUNTS["pro"].values())
STARTED = time.monotonic()
# Both connectors print one message per line; the old CDK puts spaces after ':' and ','.
# Runs airbyte-source-fastbill's manifest from a file: its own entry point only loads the copy
# packaged inside it, whose url_base is FastBill's production host.
OLD_RUNNER = """\
import sys

import yaml
from airbyte_cdk.entrypoint import launch
from airbyte_cdk.sources.declarative.manifest_declarative_source import ManifestDeclarativeSource

with open(sys.argv[1]) as manifest:
    source = ManifestDeclarativeSource(yaml.safe_load(manifest))
launch(source, sys.argv[2:])
"""


@dataclass(frozen=True)
class Plan:
    """Sandbox sizes per scenario (1.0 = 1,253 Pro records); None skips a scenario."""

    base: float  # at least 50,000 records
    large: float  # the memory-flatness run: 10x base, unpaced
    latency: float
    pacing: float | None  # contacts read customer by customer: over 500 cheap calls
    strict: float | None  # a 20 calls/minute limit, new and old connector side by side
    install_old: bool  # False: compare with the old connector only if already installed
    incremental: float = 12  # 3,000 invoices


FULL = Plan(base=40, large=400, latency=1, pacing=5, strict=4, install_old=True)
# Pacing and the stricter limit need more than a minute by nature (a 60 s window).
QUICK = Plan(base=2, large=4, latency=1, pacing=None, strict=None, install_old=False, incremental=2)


class BenchError(Exception):
    """A run failed; the message names it and its log."""


# ---------------------------------------------------------------------------------------------
# The sandbox, in its own process


class Sandbox:
    """`python -m fastbill_sandbox`, driven through its admin endpoints."""

    def __init__(self, size: float, rate_limit: int | None, *flags: str) -> None:
        self._command = [
            sys.executable, "-m", "fastbill_sandbox", "--edition", "pro",
            "--size", str(size), "--seed", "42", "--port", "0",
            "--rate-limit", str(rate_limit or 0), "--warm", *flags,
        ]  # fmt: skip
        self._process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> Sandbox:
        self._process = subprocess.Popen(self._command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # blocks until rows are built and the port is open
        if not line:
            self.__exit__()
            raise BenchError(f"the sandbox did not start: {' '.join(self._command)}")
        self.info = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.info["counts"])

    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "stats")

    def configure(self, **knobs: Any) -> None:
        self._admin("POST", "config", knobs)

    def mutate(self, action: str, n: int) -> None:
        self._admin("POST", "mutate", {"action": action, "n": n})

    def reset(self) -> None:
        """Zero the counters and forget earlier calls, so a run starts with a full rate window."""
        self._admin("POST", "reset_stats", {})
        self._admin("POST", "reset_limits", {})

    def _admin(self, method: str, action: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.info["admin_url"] + action, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


# ---------------------------------------------------------------------------------------------
# Running a connector process


@dataclass
class Run:
    records: Counter[str]
    wall_s: float
    cpu_s: float  # user + system time of the connector process
    peak_rss_mb: float | None


class PeakRss:
    """Follows a process's VmHWM, the kernel's own peak-RSS mark: polling misses no peak."""

    def __init__(self, pid: int) -> None:
        self._status = Path(f"/proc/{pid}/status")
        self._stop = threading.Event()
        self.peak_kb: int | None = None
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while True:
            try:
                text = self._status.read_text()
            except OSError:  # the process has ended, or this is not Linux
                return
            match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
            if match:  # a zombie has no memory map and no VmHWM line: keep the last value
                self.peak_kb = int(match.group(1))
            if self._stop.wait(0.05):
                return

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join()
        return None if self.peak_kb is None else self.peak_kb / 1024


def run_connector(command: Sequence[str], label: str) -> Run:
    """Run one `read` to the end, counting records per stream; stdout is otherwise discarded."""
    log_path = WORK_DIR / f"{label}.stderr.log"
    began = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log)
        rss = PeakRss(process.pid)
        assert process.stdout is not None
        records = count_records(process.stdout)
        # wait4 gives this child's own CPU times (getrusage(RUSAGE_CHILDREN) would mix in the
        # sandboxes and the parallel runs). Its ru_maxrss is not used: after a vfork it can carry
        # the parent's peak, while VmHWM belongs to the exec'd process alone.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - began
    peak = rss.stop()
    if code != 0:
        raise BenchError(f"{label}: exit code {code}; see {log_path} and the LOG/TRACE messages")
    return Run(records, wall, usage.ru_utime + usage.ru_stime, peak)


def count_records(stdout: IO[bytes]) -> Counter[str]:
    records: Counter[str] = Counter()
    for _ in read_stream(stdout, records):
        pass
    return records


def run_json_lines(command: Sequence[str], message_type: str) -> dict[str, Any]:
    """The first message of a type from a spec/check/discover run."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    messages, _ = parse_stdout(done.stdout)
    for message in messages:
        if message["type"] == message_type:
            return message
    raise BenchError(f"no {message_type} from {' '.join(command)}:\n{done.stderr[-2000:]}")


# ---------------------------------------------------------------------------------------------
# The two connectors


@dataclass(frozen=True)
class Connector:
    name: str
    prefix: tuple[str, ...]  # the command before "read --config ..."

    def command(self, verb: str, config: Path, catalog: Path | None = None) -> list[str]:
        files = {"config": config, **({"catalog": catalog} if catalog else {})}
        return command_line(verb, files, self.prefix)

    def catalog(self, config: Path, streams: Iterable[str] | None, label: str) -> Path:
        """A full-refresh catalog of the chosen streams, from this connector's own discover."""
        found = run_json_lines(self.command("discover", config), "CATALOG")["catalog"]["streams"]
        # The figures are per API service: the child streams (invoice_items, ...) read their
        # parents' pages and cost no call of their own (test_e2e.py shows it).
        every = {s["name"] for s in found if s["name"] in STREAM_SERVICES}
        wanted = set(streams) if streams is not None else every
        configured = [
            {"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
            for s in found
            if s["name"] in wanted
        ]
        return write_json(f"{label}.catalog.json", {"streams": configured})


NEW = Connector("source-fastbill", (sys.executable, str(ROOT / "main.py")))


def new_config(sandbox: Sandbox, label: str, **settings: Any) -> Path:
    config = {"username": DEFAULT_USERNAME, "api_key": DEFAULT_API_KEY, "api_url": sandbox.url}
    return write_json(f"{label}.config.json", {**config, **settings})


def old_config(label: str) -> Path:
    """The old connector's spec has only these two settings; its URL is in the manifest."""
    return write_json(
        f"{label}.config.json", {"username": DEFAULT_USERNAME, "api_key": DEFAULT_API_KEY}
    )


def write_json(name: str, data: Any) -> Path:
    path = WORK_DIR / name
    path.write_text(json.dumps(data, indent=1))
    return path


def old_connector(sandbox: Sandbox, install: bool) -> tuple[Connector | None, str]:
    """The old connector pointed at this sandbox, or None and the reason it cannot run."""
    python = OLD_VENV / "bin" / "python"
    if not (OLD_VENV / ".installed").exists():
        if not install:
            return None, "not installed (a full `make bench` installs it)"
        reason = install_old_connector()
        if reason:
            return None, reason
    packaged = next(OLD_VENV.glob("lib/python3.*/site-packages/source_fastbill/manifest.yaml"))
    text = packaged.read_text()
    if text.count(OLD_URL_BASE) != 1:
        return None, f"{packaged} no longer has url_base {OLD_URL_BASE}"
    manifest = WORK_DIR / "old_manifest.yaml"
    manifest.write_text(text.replace(OLD_URL_BASE, sandbox.url.removesuffix("/api.php")))
    runner = WORK_DIR / "run_old.py"
    runner.write_text(OLD_RUNNER)
    prefix = (str(python), str(runner), str(manifest))
    return Connector("airbyte-source-fastbill 0.2.24", prefix), ""


def install_old_connector() -> str:
    """Create .bench/old-venv (Python 3.10; the package fails on 3.11) and install from PyPI."""
    python310 = find_python310()
    if python310 is None:
        return "no Python 3.10 found (the package's CDK 0.80 fails on Python >= 3.11)"
    progress(f"installing {OLD_PACKAGE} into {OLD_VENV.relative_to(ROOT)} (once, ~1 minute)")
    shutil.rmtree(OLD_VENV, ignore_errors=True)
    steps = [
        [python310, "-m", "venv", str(OLD_VENV)],
        [str(OLD_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", OLD_PACKAGE],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            return f"`{' '.join(step)}` failed: {done.stderr.strip()[-500:]}"
    (OLD_VENV / ".installed").touch()
    return ""


def find_python310() -> str | None:
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates = [shutil.which("python3.10"), *map(str, sorted(pyenv.glob("3.10*/bin/python3.10")))]
    for candidate in candidates:
        if (
            candidate
            and subprocess.run([candidate, "--version"], capture_output=True).returncode == 0
        ):
            return candidate
    return None


# ---------------------------------------------------------------------------------------------
# Measurements


def pacing_floor(calls: int, per_minute: int) -> float:
    """Call k > limit may start only once call k - limit has left the 60 s window: counting the
    calls themselves as instantaneous, the last call starts no earlier than this."""
    return 60.0 * ((calls - 1) // per_minute)


def minimum_calls(counts: Mapping[str, int], streams: Iterable[str]) -> int:
    """One call per full page of 100, plus the call that returns the last, short page; streams
    of one service (documents, document_folders) share its pages."""
    services = {STREAM_SERVICES[name] for name in streams}
    return sum(counts[service] // PAGE_SIZE + 1 for service in services)


def measure(
    sandbox: Sandbox,
    connector: Connector,
    config: Path,
    streams: Iterable[str] | None,
    label: str,
    min_calls: int | None = None,
    per_minute: int | None = PER_MINUTE,
) -> dict[str, Any]:
    """One full-refresh read of the streams, with the sandbox's view of the calls it made."""
    catalog = connector.catalog(config, streams, label)
    names = [s["stream"]["name"] for s in json.loads(catalog.read_text())["streams"]]
    sandbox.reset()
    run = run_connector(connector.command("read", config, catalog), label)
    result = {
        "connector": connector.name,
        "streams": names,
        **summary(run, sandbox, names, per_minute),
    }
    if min_calls is not None:
        result["min_calls"] = min_calls
    if not result["complete"]:
        progress(f"WARNING {label}: records per stream differ from the sandbox's counts")
    progress(
        f"{label}: {result['records']:,} records in {run.wall_s:.1f} s = "
        f"{result['records_per_s']:,}/s, peak RSS {result['peak_rss_mb']} MB, "
        f"{result['calls']} calls (minimum {result['min_calls']}), {result['rejected']} rejected"
    )
    return result


def summary(
    run: Run, sandbox: Sandbox, names: list[str], per_minute: int | None = PER_MINUTE
) -> dict[str, Any]:
    stats = sandbox.stats()
    expected = stream_counts(sandbox.counts, names)
    total = sum(run.records.values())
    return {
        "records": total,
        "complete": dict(run.records) == expected,
        "wall_s": round(run.wall_s, 2),
        "records_per_s": round(total / run.wall_s),
        "cpu_s": round(run.cpu_s, 2),
        "records_per_cpu_s": round(total / run.cpu_s),
        "peak_rss_mb": None if run.peak_rss_mb is None else round(run.peak_rss_mb, 1),
        "calls": stats["served"],
        "min_calls": minimum_calls(sandbox.counts, names),
        # Asked ahead on a guess: at most num_workers - 1 beyond a list's end per stream.
        "max_calls": minimum_calls(sandbox.counts, names) + (WORKERS - 1) * len(names),
        "rejected": stats["rejected"],
        "busiest_window": stats["busiest_window"],
        "call_span_s": round(stats["last_call_ts"] - stats["first_call_ts"], 2),
        "pacing_floor_s": pacing_floor(stats["served"], per_minute) if per_minute else 0,
    }


def check_calls(sandbox: Sandbox, config: Path) -> int:
    sandbox.reset()
    status = run_json_lines(NEW.command("check", config), "CONNECTION_STATUS")
    if status["connectionStatus"]["status"] != "SUCCEEDED":
        raise BenchError(f"check failed: {status['connectionStatus']}")
    return int(sandbox.stats()["served"])


def discover_calls(sandbox: Sandbox, config: Path) -> int:
    sandbox.reset()
    run_json_lines(NEW.command("discover", config), "CATALOG")
    return int(sandbox.stats()["served"])


def bench_base(plan: Plan) -> dict[str, Any]:
    """Throughput, memory and API calls at >= 50,000 records; then both connectors, 5 streams."""
    with Sandbox(plan.base, None) as sandbox:
        progress(f"sandbox size {plan.base}: {sum(sandbox.counts.values()):,} records")
        config = new_config(sandbox, "base")
        result: dict[str, Any] = {
            "size": plan.base,
            "check_calls": check_calls(sandbox, config),
            "discover_calls": discover_calls(sandbox, config),
            "all_streams": measure(sandbox, NEW, config, None, "base-all"),
        }
        # FastBill's limit is enforced from here on: the old connector has no pacing.
        sandbox.configure(rate_limit=PER_MINUTE)
        result["new_5"] = measure(sandbox, NEW, config, OLD_STREAMS, "base-new-5")
        old, reason = old_connector(sandbox, plan.install_old)
        result["old_5"] = (
            measure(sandbox, old, old_config("base-old"), OLD_STREAMS, "base-old-5")
            if old
            else {"skipped": reason}
        )
    return result


def bench_large(plan: Plan) -> dict[str, Any]:
    """Memory at 10x the data. 5,000 calls would take 10 minutes at 500/minute, and pacing is not
    what this measures: the sandbox's limit is off and the connector may send 6,000/minute."""
    with Sandbox(plan.large, None) as sandbox:
        progress(f"sandbox size {plan.large}: {sum(sandbox.counts.values()):,} records")
        config = new_config(sandbox, "large", requests_per_minute=UNPACED)
        run = measure(sandbox, NEW, config, None, "large-all", per_minute=None)
        return {"size": plan.large, **run}


def bench_incremental(size: float) -> dict[str, Any]:
    """Issue 4's scenario: calls of a full sync, a first incremental sync, and the next one after
    5 invoices are added and 3 old ones paid; then one after no change at all."""
    with Sandbox(size, None) as sandbox:
        config = new_config(sandbox, "incremental")
        full = measure(sandbox, NEW, config, INCREMENTAL_STREAMS, "incremental-full")
        catalog = incremental_catalog(config)
        first = incremental_read(sandbox, config, catalog, None, "incremental-1")
        sandbox.mutate("add_invoices", 5)
        sandbox.mutate("pay_invoices", 3)
        second = incremental_read(sandbox, config, catalog, first["states"], "incremental-2")
        third = incremental_read(sandbox, config, catalog, second["states"], "incremental-3")
    return {
        "size": size,
        "invoices": sandbox.counts["invoice.get"],
        "full_refresh": {"calls": full["calls"], "records": full["records"]},
        **{name: {k: v for k, v in run.items() if k != "states"} for name, run in
           (("first", first), ("after_changes", second), ("unchanged", third))},
    }  # fmt: skip


def incremental_catalog(config: Path) -> Path:
    found = run_json_lines(NEW.command("discover", config), "CATALOG")["catalog"]["streams"]
    configured = [
        {"stream": s, "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
         "cursor_field": s["default_cursor_field"], "primary_key": s["source_defined_primary_key"]}
        for s in found
        if s["name"] in INCREMENTAL_STREAMS
    ]  # fmt: skip
    return write_json("incremental.catalog.json", {"streams": configured})


def incremental_read(
    sandbox: Sandbox, config: Path, catalog: Path, states: list[Any] | None, label: str
) -> dict[str, Any]:
    sandbox.reset()
    command = NEW.command("read", config, catalog)
    if states:
        command += ["--state", str(write_json(f"{label}.state.json", states))]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise BenchError(f"{label}: exit code {done.returncode}")
    records: Counter[str] = Counter()
    final: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records[message["record"]["stream"]] += 1
        elif message["type"] == "STATE":
            final[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
    calls = int(sandbox.stats()["served"])
    progress(f"{label}: {sum(records.values())} records in {calls} calls {dict(records)}")
    return {"calls": calls, "records": dict(records), "states": list(final.values())}


def bench_latency(plan: Plan) -> dict[str, Any]:
    """The same sync with 0 and 100 ms per call: the difference is the latency's cost."""
    with Sandbox(plan.latency, None) as sandbox:
        config = new_config(sandbox, "latency")
        fast = measure(sandbox, NEW, config, None, "latency-0ms")
        sandbox.configure(latency_ms=LATENCY_MS)
        slow = measure(sandbox, NEW, config, None, f"latency-{LATENCY_MS}ms")
    return {"size": plan.latency, "latency_ms": LATENCY_MS, "no_latency": fast, "latency": slow}


def bench_pacing(size: float) -> dict[str, Any]:
    """Over 500 calls under an enforced 500/minute: wall time against the moving-window bound.

    The calls must be cheap, or the connector's own CPU time would hide its pacing: contacts read
    customer by customer (FastBill accounts that insist on a CUSTOMER_ID) cost one call each.
    """
    flags = ("--contacts-require-customer-id",)
    with Sandbox(size, PER_MINUTE, *flags) as sandbox:
        config = new_config(sandbox, "pacing")
        customers = sandbox.counts[STREAM_SERVICES["customers"]]
        # The customer list, then one call per customer (the refused contact.get is not served).
        least = customers // PAGE_SIZE + 1 + customers
        return {"size": size, **measure(sandbox, NEW, config, ["contacts"], "pacing", least)}


def bench_strict(size: float, plan: Plan) -> dict[str, Any]:
    """A plan that allows only 20 calls/minute: the new connector configured for it, the old one
    as it is (it has no setting). Both run at the same time, each against its own sandbox."""
    with Sandbox(size, STRICT_LIMIT) as new_box, Sandbox(size, STRICT_LIMIT) as old_box:
        old, reason = old_connector(old_box, plan.install_old)
        if old is None:
            return {"skipped": reason}
        new_cfg = new_config(new_box, "strict-new", requests_per_minute=STRICT_LIMIT)
        with ThreadPoolExecutor(max_workers=2) as pool:
            new_run = pool.submit(measure, new_box, NEW, new_cfg, OLD_STREAMS, "strict-new")
            old_run = pool.submit(
                measure, old_box, old, old_config("strict-old"), OLD_STREAMS, "strict-old"
            )
            return {
                "size": size,
                "limit_per_minute": STRICT_LIMIT,
                "new": new_run.result(),
                "old": old_run.result(),
            }


# ---------------------------------------------------------------------------------------------
# Report


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f} s] {message}", flush=True)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def verdict(ok: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[ok]


def markdown(results: Mapping[str, Any]) -> str:
    rows = [*base_rows(results["base"]), *large_rows(results), *pacing_rows(results)]
    rows += [*latency_rows(results["latency"]), *old_rows(results)]
    rows += incremental_rows(results["incremental"])
    head = ["Measure", "Result", "Goal", "Met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    machine = results["machine"]
    command = ".venv/bin/python scripts/bench.py --quick" if results["quick"] else "make bench"
    lines.append(
        f"\nMeasured {results['started'][:10]} by `{command}`"
        f" on {machine['cpus']} CPUs, Python {machine['python']}, against the local sandbox "
        f"(loopback, warmed; size 1 = {results['size_1_records']:,} records). Records/s = records "
        "/ wall time of the whole `read` process, start-up included. Peak RSS = VmHWM of the "
        "connector process."
    )
    return "\n".join(lines)


def base_rows(base: Mapping[str, Any]) -> list[list[str]]:
    run = base["all_streams"]
    return [
        [
            f"Records/s, all 11 Pro streams, {run['records']:,} records, {run['calls']} calls",
            f"{speed(run)}; {run['records_per_cpu_s']:,} records per CPU second, start-up included",
            "—",
            "",
        ],
        [
            "Peak memory (RSS), same sync",
            f"{run['peak_rss_mb']:.0f} MB",
            f"< {RSS_GOAL_MB} MB",
            verdict(run["peak_rss_mb"] < RSS_GOAL_MB if run["peak_rss_mb"] else None),
        ],
        [
            "API calls, same sync (minimum: ⌊n/100⌋+1 per stream)",
            f"{run['calls']} / {run['min_calls']} ({ratio(run['calls'], run['min_calls'])})",
            GUESSES_GOAL,
            verdict(run["min_calls"] <= run["calls"] <= run["max_calls"]),
        ],
        [
            "API calls of `check` / `discover`",
            f"{base['check_calls']} / {base['discover_calls']}",
            "1 / 0",
            verdict((base["check_calls"], base["discover_calls"]) == (1, 0)),
        ],
    ]


def incremental_rows(incremental: Mapping[str, Any]) -> list[list[str]]:
    full, first = incremental["full_refresh"], incremental["first"]
    second, third = incremental["after_changes"], incremental["unchanged"]
    streams = ", ".join(INCREMENTAL_STREAMS)
    return [
        [
            f"Incremental ({streams}; {incremental['invoices']:,} invoices): calls of a full "
            "refresh / a first incremental sync",
            f"{full['calls']} / {first['calls']} calls ({full['records']:,} records each)",
            "—",
            "",
        ],
        [
            "Next incremental sync after 5 invoices added and 3 old ones paid",
            f"{sum(second['records'].values())} records ({second['records']}) in "
            f"{second['calls']} calls ({ratio(second['calls'], first['calls'])} of the first)",
            "all 8, ≤ 1/10 of the calls",
            verdict(
                second["records"].get("invoices") == 8 and second["calls"] * 10 <= first["calls"]
            ),
        ],
        [
            # The saved cursor stops short of the previous sync's start (README, "Incremental
            # sync"): what changed within the hour before it comes once more, nothing else.
            "Next incremental sync with nothing changed, seconds later",
            f"{sum(third['records'].values())} records in {third['calls']} calls",
            "only the 8 changed just before the last sync",
            verdict(sum(third["records"].values()) <= sum(second["records"].values())),
        ],
    ]


def speed(run: Mapping[str, Any]) -> str:
    """Records/s, and the floor that FastBill's limit puts under the wall time, if any."""
    text = f"{run['records_per_s']:,}/s ({run['wall_s']:.1f} s"
    if run["pacing_floor_s"]:
        text += f"; {PER_MINUTE} calls/minute allow no less than {run['pacing_floor_s']:.0f} s"
    return text + ")"


def large_rows(results: Mapping[str, Any]) -> list[list[str]]:
    large, base = results["large"], results["base"]["all_streams"]
    scale = large["records"] / base["records"]
    peak_ok = large["peak_rss_mb"] < RSS_GOAL_MB if large["peak_rss_mb"] else None
    growth = ratio(large["peak_rss_mb"], base["peak_rss_mb"])
    return [
        [
            f"Same at {scale:.0f}x the data: {large['records']:,} records, {large['calls']} calls "
            f"(unpaced: requests_per_minute {UNPACED}, sandbox limit off)",
            f"{speed(large)}; peak RSS {large['peak_rss_mb']:.0f} MB ({growth} of "
            f"{base['peak_rss_mb']:.0f} MB); {large['calls']} / {large['min_calls']} calls",
            f"flat, < {RSS_GOAL_MB} MB",
            verdict(peak_ok),
        ],
        [
            "Busiest 60 s window the sandbox saw in the first sync (limit not enforced)",
            f"{base['busiest_window']} calls",
            f"≤ {PER_MINUTE}",
            verdict(base["busiest_window"] <= PER_MINUTE),
        ],
    ]


def pacing_rows(results: Mapping[str, Any]) -> list[list[str]]:
    pacing = results.get("pacing")
    if not pacing:
        return [["Pacing under 500 calls/minute", "skipped (--quick)", "", ""]]
    ideal = pacing["pacing_floor_s"]
    over = pacing["wall_s"] / ideal - 1
    return [
        [
            f"Pacing: {pacing['calls']} calls (minimum {pacing['min_calls']}) under an enforced "
            f"{PER_MINUTE}/minute",
            f"{pacing['wall_s']:.1f} s wall ({pacing['call_span_s']:.1f} s first to last call) "
            f"vs {ideal:.0f} s ideal: {over:+.1%}; {pacing['rejected']} rejected; "
            f"busiest 60 s window {pacing['busiest_window']} calls",
            "≤ +10 %, 0 rejected",
            verdict(over <= 0.10 and pacing["rejected"] == 0),
        ]
    ]


def latency_rows(latency: Mapping[str, Any]) -> list[list[str]]:
    slow, fast = latency["latency"], latency["no_latency"]
    seconds = latency["latency_ms"] / 1000
    # Measured between the first and the last call, so process start-up noise stays out; that
    # span holds calls - 1 round trips.
    added = slow["call_span_s"] - fast["call_span_s"]
    expected = (slow["calls"] - 1) * seconds
    return [
        [
            f"Wall time with {latency['latency_ms']} ms per call, {slow['records']:,} records",
            f"{slow['wall_s']:.1f} s vs {slow['calls']} calls x {latency['latency_ms']} ms = "
            f"{slow['calls'] * seconds:.1f} s ({fast['wall_s']:.1f} s at 0 ms); first to last "
            f"call {slow['call_span_s']:.2f} s vs {fast['call_span_s']:.2f} s at 0 ms: latency "
            f"added {added:.2f} s for {slow['calls'] - 1} round trips ({ratio(added, expected)})",
            "one latency per call, nothing more",
            verdict(added <= expected * 1.1),
        ]
    ]


def old_rows(results: Mapping[str, Any]) -> list[list[str]]:
    new, old = results["base"]["new_5"], results["base"]["old_5"]
    if "skipped" in old:
        return [["vs airbyte-source-fastbill 0.2.24", f"skipped: {old['skipped']}", "", ""]]
    old_pace = old["calls"] / old["call_span_s"] * 60
    rows = [
        [
            f"vs 0.2.24, records/s, {new['records']:,} records of its 5 streams, "
            f"{new['calls']} calls",
            f"{new['records_per_s']:,}/s vs {old['records_per_s']:,}/s "
            f"({ratio(new['records_per_s'], old['records_per_s'])}); per CPU second "
            f"{new['records_per_cpu_s']:,} vs {old['records_per_cpu_s']:,}",
            "≥ 1.5x",
            verdict(new["records_per_s"] >= 1.5 * old["records_per_s"]),
        ],
        [
            "vs 0.2.24, peak RSS, same sync",
            f"{new['peak_rss_mb']:.0f} MB vs {old['peak_rss_mb']:.0f} MB",
            "flat (see the 10x row)",
            "",
        ],
        [
            "vs 0.2.24, API calls, same sync",
            f"{new['calls']} vs {old['calls']} (minimum {new['min_calls']})",
            GUESSES_GOAL,
            verdict(new["min_calls"] <= new["calls"] <= new["max_calls"]),
        ],
        [
            f"vs 0.2.24, rejected calls under {PER_MINUTE}/minute, same sync",
            f"{new['rejected']} vs {old['rejected']} (0.2.24's own pace: {old_pace:.0f} "
            f"calls/minute, {old['calls']} calls)",
            "0",
            verdict(new["rejected"] == 0),
        ],
    ]
    return rows + strict_rows(results.get("strict"))


def strict_rows(strict: Mapping[str, Any] | None) -> list[list[str]]:
    if not strict or "skipped" in strict:
        return [[f"vs 0.2.24 under {STRICT_LIMIT} calls/minute", "skipped", "", ""]]
    new, old = strict["new"], strict["old"]
    return [
        [
            f"vs 0.2.24, rejected calls under {STRICT_LIMIT} calls/minute, "
            f"{new['records']:,} records, {new['calls']} calls",
            f"{new['rejected']} ({new['wall_s']:.0f} s, `requests_per_minute: {STRICT_LIMIT}`) "
            f"vs {old['rejected']} ({old['wall_s']:.0f} s)",
            "0 where it has some",
            verdict(new["rejected"] == 0),
        ]
    ]


# ---------------------------------------------------------------------------------------------


def run_all(plan: Plan, quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "plan": asdict(plan),
        "size_1_records": SIZE_1_RECORDS,
    }
    progress("base sync (check, discover, read; then the 5 streams of 0.2.24, both connectors)")
    results["base"] = bench_base(plan)
    progress("large sync (memory flatness)")
    results["large"] = bench_large(plan)
    progress(f"latency {LATENCY_MS} ms per call")
    results["latency"] = bench_latency(plan)
    if plan.pacing is not None:
        progress(f"pacing under {PER_MINUTE} calls/minute (over a minute by design)")
        results["pacing"] = bench_pacing(plan.pacing)
    if plan.strict is not None:
        progress(f"a stricter {STRICT_LIMIT} calls/minute limit, new and old side by side")
        results["strict"] = bench_strict(plan.strict, plan)
    progress("incremental: full sync vs incremental syncs after small changes")
    results["incremental"] = bench_incremental(plan.incremental)
    results["duration_s"] = round(time.monotonic() - STARTED)
    return results


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only, under a minute")
    args = parser.parse_args(argv)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    try:
        results = run_all(QUICK if args.quick else FULL, args.quick)
    except BenchError as error:
        print(f"\nBENCHMARK FAILED: {error}", file=sys.stderr)
        return 1
    table = markdown(results)
    # A smoke test must not overwrite the figures of the last full run.
    stem = BENCH_DIR / ("results-quick" if args.quick else "results")
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(table + "\n")
    progress(f"done; results in {stem.relative_to(ROOT)}.json and .md\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
