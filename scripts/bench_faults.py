"""The fault-injection benchmark: one full read while the sandbox breaks about 30 % of the calls.

    .venv/bin/python scripts/bench_faults.py                              # this checkout
    .venv/bin/python scripts/bench_faults.py --connector-root /tmp/old    # another checkout

The sandbox (fastbill_sandbox, run from this checkout whatever --connector-root says)
serves a small Pro dataset with no rate limit and answers calls, in turn, with a 5xx, an HTTP 429
with neither Retry-After nor a time in its text ("429bare"), a dropped connection and an HTML
maintenance page. max_consecutive_faults caps the faults in a row for one request, so a client
that retries always gets through. The connector runs as `PATH/main.py read` in its own process,
with this venv's Python, cwd PATH and PYTHONPATH=PATH, so that `source_fastbill` is PATH's package
(checked with `python -v` and reported as "package").

First a fault-free read (the record counts to match, and a wall time to compare with), then the
same read with faults on. Reported: wall time, records per stream against the fault-free read and
the sandbox's counts, API calls and faults by kind as the sandbox counted them, and the retry
waits the connector announced in its log (and its "Sync summary, all" line where it has one).

Results: .bench/faults-<label>.json, the connector's log messages in .bench/work/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import (
    BENCH_DIR,
    ROOT,
    SIZE_1_RECORDS,
    WORK_DIR,
    BenchError,
    Connector,
    Sandbox,
    new_config,
    progress,
)

from fastbill_sandbox.data import STREAM_SERVICES, stream_counts
from fastbill_sandbox.runner import read_stream

FAULT_KINDS = ("5xx", "429bare", "drop", "html")
FAULT_RATE = 0.3
FAULT_SEED = 7
MAX_CONSECUTIVE_FAULTS = 1
SIZE = 1.0  # 1,253 Pro records, about 20 calls
TIMEOUT_S = 900.0
SUMMARY_LINE = re.compile(r"Sync summary, all \d+ streams: .*")
# The new connector's own words, and the CDK's (which the old connector lets through).
RETRY_WAITS = (
    re.compile(r"Retrying in (\d+(?:\.\d+)?) (?:s\b|seconds)"),
    re.compile(r"Waiting (\d+(?:\.\d+)?) seconds then retrying"),
)


def connector_at(root: Path) -> tuple[Connector, dict[str, str], str]:
    """`python ROOT/main.py`, its environment, and the package file that it imports."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    prefix = (sys.executable, str(root / "main.py"))
    probe = subprocess.run(
        [sys.executable, "-v", str(root / "main.py"), "spec"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"(\S*/source_fastbill/__init__\.py)", probe.stderr)
    if probe.returncode != 0 or found is None:
        raise BenchError(f"`{' '.join(prefix)} spec` failed in {root}: {probe.stderr[-1000:]}")
    return Connector(f"source-fastbill at {root}", prefix), env, found.group(1)


def run_read(
    connector: Connector,
    env: Mapping[str, str],
    root: Path,
    config: Path,
    catalog: Path,
    label: str,
    timeout: float,
) -> dict[str, Any]:
    """One `read`: records per stream, exit code, wall time, and what its log says about waits."""
    log_path = WORK_DIR / f"{label}.log.jsonl"
    stderr_path = WORK_DIR / f"{label}.stderr.log"
    records: Counter[str] = Counter()
    waits: list[float] = []
    summary: list[str] = []
    errors: list[str] = []
    began = time.monotonic()
    with log_path.open("w") as log, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            connector.command("read", config, catalog),
            cwd=root,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        timer = threading.Timer(timeout, process.kill)  # only this connector process
        timer.start()
        assert process.stdout is not None
        for message in read_stream(process.stdout, records):
            if isinstance(message, bytes):  # not an Airbyte message: keep it with the log
                raw = str(message)
                log.write(json.dumps({"t": round(time.monotonic() - began, 2), "raw": raw}))
                log.write("\n")
                continue
            if message.get("type") == "LOG":
                text = str(message["log"]["message"])
                log.write(json.dumps({"t": round(time.monotonic() - began, 2), "log": text}))
                log.write("\n")
                for pattern in RETRY_WAITS:
                    waits += [float(seconds) for seconds in pattern.findall(text)]
                summary += SUMMARY_LINE.findall(text)
            elif message.get("type") == "TRACE" and message["trace"].get("error"):
                errors.append(str(message["trace"]["error"].get("message")))
        code = process.wait()
        timer.cancel()
    wall = time.monotonic() - began
    timed_out = wall >= timeout and code < 0
    return {
        "exit_code": code,
        "timed_out": timed_out,
        "wall_s": round(wall, 1),
        "records_by_stream": dict(sorted(records.items())),
        "records": sum(records.values()),
        "retry_waits_logged": len(waits),
        "retry_wait_s_logged": round(sum(waits), 1),
        "longest_retry_wait_s": max(waits, default=0.0),
        "sync_summary": summary[-1] if summary else None,
        "errors": errors,
        "log": str(log_path.relative_to(ROOT)),
    }


def with_stats(run: dict[str, Any], stats: Mapping[str, Any]) -> dict[str, Any]:
    faults = {kind: int(count) for kind, count in stats["faults"].items() if count}
    return {
        **run,
        "calls": stats["calls"],  # every call the sandbox received, faulted ones included
        "served": stats["served"],  # calls answered with data
        "rejected": stats["rejected"],  # refused by the sandbox's rate limit (off here)
        "faults": faults,
        "faults_total": sum(faults.values()),
    }


def bench_faults(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(args.connector_root).resolve()
    connector, env, package = connector_at(root)
    progress(f"connector {root / 'main.py'}; source_fastbill from {package}")
    with Sandbox(args.size, None) as sandbox:
        config = new_config(sandbox, f"faults-{args.label}")
        # By default the streams that read a service of their own (the sandbox knows their
        # counts): child streams add records but no calls, and older checkouts lack them.
        wanted = None if args.all_streams else STREAM_SERVICES
        catalog = connector.catalog(config, wanted, f"faults-{args.label}")
        streams = [s["stream"]["name"] for s in json.loads(catalog.read_text())["streams"]]
        expected = stream_counts(sandbox.counts, [n for n in streams if n in STREAM_SERVICES])
        sandbox.reset()
        clean = with_stats(
            run_read(
                connector, env, root, config, catalog, f"faults-{args.label}-clean", args.timeout
            ),
            sandbox.stats(),
        )
        progress(
            f"fault-free: {clean['records']:,} records, {clean['calls']} calls, {clean['wall_s']} s"
        )
        knobs = {
            "fault_rate": args.fault_rate,
            "fault_kinds": list(FAULT_KINDS),
            "fault_seed": args.fault_seed,
            "fault_pick": "round_robin",
            "max_consecutive_faults": args.max_consecutive_faults,
        }
        sandbox.configure(**knobs)  # restarts the fault sequence from the seed
        sandbox.reset()
        faulty = with_stats(
            run_read(
                connector, env, root, config, catalog, f"faults-{args.label}-faults", args.timeout
            ),
            sandbox.stats(),
        )
        sandbox.configure(fault_rate=0.0)
    known = {name: clean["records_by_stream"].get(name, 0) for name in expected}
    faulty["complete"] = faulty["records_by_stream"] == clean["records_by_stream"]
    faulty["complete"] = faulty["complete"] and known == expected
    progress(
        f"with faults: {faulty['records']:,} records in {faulty['wall_s']} s, {faulty['calls']} "
        f"calls, faults {faulty['faults']}, {faulty['retry_waits_logged']} retry waits logged "
        f"({faulty['retry_wait_s_logged']} s), exit {faulty['exit_code']}"
        + (" (TIMED OUT)" if faulty["timed_out"] else "")
    )
    if faulty["sync_summary"]:
        progress(faulty["sync_summary"])
    return {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "connector_root": str(root),
        "package": package,
        "sandbox": {
            "edition": "pro",
            "size": args.size,
            "seed": 42,
            "rate_limit": None,
            "records": sum(expected.values()),
            **knobs,
        },
        "size_1_records": SIZE_1_RECORDS,
        "streams": streams,
        "expected_records": sum(expected.values()),  # the sandbox's counts (parent streams)
        "fault_free": clean,
        "with_faults": faulty,
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connector-root", default=str(ROOT), help="a checkout with main.py")
    parser.add_argument("--label", default=None, help="names the result and log files")
    parser.add_argument("--size", type=float, default=SIZE, help="sandbox size, 1.0 = 1,253")
    parser.add_argument("--fault-rate", type=float, default=FAULT_RATE)
    parser.add_argument("--fault-seed", type=int, default=FAULT_SEED)
    parser.add_argument("--max-consecutive-faults", type=int, default=MAX_CONSECUTIVE_FAULTS)
    parser.add_argument("--all-streams", action="store_true", help="child streams too")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per read")
    args = parser.parse_args(argv)
    root = Path(args.connector_root).resolve()
    args.label = args.label or ("current" if root == ROOT else root.name)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    try:
        results = bench_faults(args)
    except BenchError as error:
        print(f"\nBENCHMARK FAILED: {error}", file=sys.stderr)
        return 1
    path = BENCH_DIR / f"faults-{args.label}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    progress(f"done; results in {path.relative_to(ROOT)}")
    faulty = results["with_faults"]
    return 0 if faulty["exit_code"] == 0 and faulty["complete"] else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
