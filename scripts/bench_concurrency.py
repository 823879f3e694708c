"""The concurrency benchmark: one full refresh at 1, 3 and 5 workers under an enforced 500/minute.

    .venv/bin/python scripts/bench_concurrency.py                 # about 9 minutes
    .venv/bin/python scripts/bench_concurrency.py --workers 1,3 --no-large
    .venv/bin/python scripts/bench_concurrency.py --latencies '' --large-workers 1,3 --output x

The sandbox (fastbill_sandbox, Pro, seed 42) refuses a call over 500 within any 60 s
(HTTP 429, counted as "rejected") and sleeps `latency_ms` before each answer. Its size is the
smallest (in steps of 0.01) whose 11 parent streams need --calls calls, floor(n/100)+1 each (the
child streams read their parents' pages and cost no call). The connector runs as `main.py read`
in its own process (bench.py's way: records from its stdout, peak RSS from its VmHWM, API calls
and rejections from the sandbox), with `requests_per_minute: 500` and `num_workers` 1, 3 and 5,
first at 250 ms per call and then at 0 ms.

The limit-bound time: with a moving window of 500 calls per 60 s, call k+500 cannot be served
before call k plus 60 s. For C calls, m = (C-1) // 500 windows lie between call C - 500m and
call C, and those first C - 500m calls take at least ceil((C - 500m) / W) round trips of the
latency on W workers; the round trips of all C calls are another floor. So

    bound = max(60 m + ceil((C - 500m) / W) x latency, ceil(C / W) x latency)

The issue's reference is 60 s for 562 calls ("about 60 s"): both ratios are reported.

Last, memory at 10x the data (bench.py's 10x run: size 400, unpaced, sandbox limit off, 0 ms),
with 3 workers (--large-workers).

Results: .bench/concurrency.json (--output NAME: .bench/NAME.json) and a Markdown table on stdout
(also .bench/concurrency.md); the connector's log messages in .bench/work/concurrency-*.log.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import (
    BENCH_DIR,
    FULL,
    NEW,
    PER_MINUTE,
    ROOT,
    RSS_GOAL_MB,
    UNPACED,
    WORK_DIR,
    BenchError,
    PeakRss,
    Run,
    Sandbox,
    minimum_calls,
    new_config,
    progress,
    summary,
)

from fastbill_sandbox.data import Dataset
from fastbill_sandbox.runner import read_stream

PARENT_STREAMS = (
    "customers", "contacts", "invoices", "recurring_invoices", "revenues", "expenses",
    "products", "projects", "time_entries", "estimates", "templates",
)  # fmt: skip
TARGET_CALLS = 562
WINDOW_S = 60.0
REFERENCE_S = 60.0  # the "about 60 s" for 562 calls at 500/minute
GOAL_RATIO = 1.2
LATENCIES_MS = (250, 0)
WORKERS = (1, 3, 5)
WORKERS_AT_0_MS = (1, 3)
LARGE_WORKERS = (3,)
TIMEOUT_S = 900.0
SUMMARY_LINE = re.compile(r"Sync summary, all \d+ streams: .*")
SUMMARY_FIELDS = re.compile(r"([\d,]+) records, ([\d,]+) API calls, ([\d,]+) refused")
# Log lines worth keeping in the results: the lane count, and anything about refusals or waits.
STREAM_STARTED = re.compile(r"Marking stream (\w+) as STARTED")
STREAM_FINISHED = re.compile(r"Finished syncing (\w+)")
NOTABLE = re.compile(r"workers at once|429|refus|retry|Retrying|rate limit|quota", re.IGNORECASE)


def size_for(calls: int) -> float:
    """The smallest sandbox size, in steps of 0.01, whose parent streams need `calls` calls."""
    for hundredths in range(1, 100_000):
        size = hundredths / 100
        least = minimum_calls(Dataset("pro", size, 42).counts(), PARENT_STREAMS)
        if least == calls:
            return size
        if least > calls:
            break
    raise BenchError(f"no sandbox size needs exactly {calls} calls")


def limit_bound(calls: int, workers: int, latency_s: float, per_minute: int | None) -> float:
    """The least wall time of `calls` calls on `workers` lanes (see the module's docstring)."""
    round_trips = math.ceil(calls / workers) * latency_s
    if not per_minute:
        return round_trips
    windows = (calls - 1) // per_minute
    first = calls - windows * per_minute
    return max(WINDOW_S * windows + math.ceil(first / workers) * latency_s, round_trips)


def read(command: Sequence[str], label: str) -> tuple[Run, dict[str, Any]]:
    """One `read` to the end: records per stream, peak RSS, CPU time and the notable log lines."""
    log_path = WORK_DIR / f"{label}.log.jsonl"
    stderr_path = WORK_DIR / f"{label}.stderr.log"
    records: Counter[str] = Counter()
    summaries: list[str] = []
    notable: list[str] = []
    errors: list[str] = []
    timeline: dict[str, list[float]] = {}  # stream: [started, finished] seconds after launch
    began = time.monotonic()
    with log_path.open("w") as log, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)
        rss = PeakRss(process.pid)
        assert process.stdout is not None
        for message in read_stream(process.stdout, records):
            if isinstance(message, bytes):
                continue
            moment = round(time.monotonic() - began, 2)
            if message.get("type") == "LOG":
                text = str(message["log"]["message"])
                log.write(json.dumps({"t": moment, "log": text}) + "\n")
                summaries += SUMMARY_LINE.findall(text)
                started, finished = STREAM_STARTED.match(text), STREAM_FINISHED.match(text)
                if started:
                    timeline[started.group(1)] = [moment]
                elif finished and finished.group(1) in timeline:
                    timeline[finished.group(1)].append(moment)
                if NOTABLE.search(text) and not text.startswith("Sync summary"):
                    notable.append(f"{moment} s: {text}")
            elif message.get("type") == "TRACE" and message["trace"].get("error"):
                errors.append(str(message["trace"]["error"].get("message")))
        # wait4: this child's own CPU times (bench.py's run_connector explains why).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - began
    peak = rss.stop()
    if code != 0:
        raise BenchError(f"{label}: exit code {code}; see {stderr_path} and {log_path}: {errors}")
    found = SUMMARY_FIELDS.search(summaries[-1]) if summaries else None
    extra = {
        "sync_summary": summaries[-1] if summaries else None,
        "summary_refused": int(found.group(3).replace(",", "")) if found else None,
        "summary_calls": int(found.group(2).replace(",", "")) if found else None,
        "streams_timeline_s": timeline,
        "notable_log": notable[:20],
        "errors": errors,
        "log": str(log_path.relative_to(ROOT)),
    }
    return Run(records, wall, usage.ru_utime + usage.ru_stime, peak), extra


def measure(
    sandbox: Sandbox,
    catalog: Path,
    label: str,
    workers: int,
    latency_ms: float,
    per_minute: int | None,
    **settings: Any,
) -> dict[str, Any]:
    config = new_config(sandbox, label, num_workers=workers, **settings)
    sandbox.configure(latency_ms=latency_ms)
    sandbox.reset()  # counters at zero and a full rate window
    run, extra = read(NEW.command("read", config, catalog), label)
    result = {
        "workers": workers,
        "latency_ms": latency_ms,
        **summary(run, sandbox, list(PARENT_STREAMS), per_minute),
        **extra,
    }
    bound = limit_bound(result["calls"], workers, latency_ms / 1000, per_minute)
    result["bound_s"] = round(bound, 2)
    result["wall_per_bound"] = round(run.wall_s / bound, 3) if bound else None
    result["wall_per_reference"] = round(run.wall_s / REFERENCE_S, 3)
    progress(
        f"{label}: {run.wall_s:.1f} s wall (bound {bound:.1f} s, {run.wall_s / REFERENCE_S:.2f}x "
        f"of {REFERENCE_S:.0f} s), {result['calls']} calls (minimum {result['min_calls']}), "
        f"{result['rejected']} rejected, {result['records']:,} records"
        f"{'' if result['complete'] else ' (INCOMPLETE)'}, peak RSS {result['peak_rss_mb']} MB"
    )
    progress(f"  {result['sync_summary']}")
    return result


def bench_paced(args: argparse.Namespace, size: float) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with Sandbox(size, PER_MINUTE) as sandbox:
        counts = sandbox.counts
        least = minimum_calls(counts, PARENT_STREAMS)
        progress(
            f"sandbox size {size}: {sum(counts.values()):,} records, minimum {least} calls, "
            f"enforced {PER_MINUTE} calls per {WINDOW_S:.0f} s"
        )
        catalog = NEW.catalog(new_config(sandbox, "concurrency"), PARENT_STREAMS, "concurrency")
        for latency in args.latencies:
            for workers in args.workers if latency else args.workers_at_0_ms:
                label = f"concurrency-{latency}ms-{workers}w"
                runs.append(
                    measure(
                        sandbox, catalog, label, workers, latency, PER_MINUTE,
                        requests_per_minute=PER_MINUTE,
                    )
                )  # fmt: skip
    return {"size": size, "records": sum(counts.values()), "min_calls": least, "runs": runs}


def bench_large(size: float, workers: Sequence[int]) -> list[dict[str, Any]]:
    """bench.py's 10x memory run (unpaced, no sandbox limit, 0 ms), once per number of workers."""
    runs = []
    with Sandbox(size, None) as sandbox:
        progress(f"sandbox size {size}: {sum(sandbox.counts.values()):,} records (10x, unpaced)")
        catalog = NEW.catalog(new_config(sandbox, "concurrency-large"), None, "concurrency-large")
        for count in workers:
            run = measure(
                sandbox, catalog, f"concurrency-large-{count}w", count, 0, None,
                requests_per_minute=UNPACED,
            )  # fmt: skip
            runs.append({"size": size, **run})
    return runs


# ---------------------------------------------------------------------------------------------
# Report


def markdown(results: Mapping[str, Any]) -> str:
    lines = paced_lines(results) if "paced" in results else [measured(results)]
    for large in results.get("large", []):
        lines.append(
            f"\nMemory at {large['size'] / FULL.base:g}x bench.py's base size "
            f"({large['records']:,} records, {large['calls']} calls, size {large['size']}, "
            f"{large['workers']} workers, unpaced): peak RSS "
            f"{large['peak_rss_mb']:.0f} MB (goal < {RSS_GOAL_MB} MB: "
            f"{'met' if large['peak_rss_mb'] < RSS_GOAL_MB else 'NOT MET'}), "
            f"{large['wall_s']:.1f} s wall, {large['rejected']} rejected."
        )
    lines.append("\nSync summaries:\n")
    for run in results.get("paced", {}).get("runs", []):
        lines.append(f"- {run['latency_ms']:.0f} ms, {run['workers']} w: {run['sync_summary']}")
    for run in results.get("large", []):
        lines.append(f"- size {run['size']}, {run['workers']} w: {run['sync_summary']}")
    return "\n".join(lines)


def measured(results: Mapping[str, Any]) -> str:
    machine = results["machine"]
    return (
        f"Measured {results['started'][:10]} by `{results['command']}` on {machine['cpus']} "
        f"CPUs ({machine['cpu']}), Python {machine['python']}."
    )


def paced_lines(results: Mapping[str, Any]) -> list[str]:
    paced = results["paced"]
    head = [
        "Latency", "Workers", "Wall", "First to last call", "Limit-bound", "Wall / 60 s",
        "Wall / bound", "Calls", "Rejected", "Records", "Peak RSS", "Busiest 60 s",
        "Last stream to finish",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in paced["runs"]:
        cells = [
            f"{run['latency_ms']:.0f} ms",
            str(run["workers"]),
            f"{run['wall_s']:.1f} s",
            f"{run['call_span_s']:.1f} s",
            f"{run['bound_s']:.1f} s",
            f"{run['wall_per_reference']:.2f}x",
            "n/a" if run["wall_per_bound"] is None else f"{run['wall_per_bound']:.2f}x",
            f"{run['calls']} / {run['min_calls']}",
            str(run["rejected"]),
            f"{run['records']:,}" + ("" if run["complete"] else " (incomplete)"),
            f"{run['peak_rss_mb']:.0f} MB",
            str(run["busiest_window"]),
            last_stream(run),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        f"\n{paced['records']:,} records of the 11 parent streams (sandbox size {paced['size']}), "
        f"{PER_MINUTE} calls per 60 s enforced by the sandbox, `requests_per_minute: "
        f"{PER_MINUTE}`. {measured(results)} Wall = the whole `read` process, start-up "
        "included; limit-bound = the least time the moving window and the round trips allow; "
        "calls = served / minimum."
    )
    goal = [r for r in paced["runs"] if r["latency_ms"] == 250 and r["workers"] > 1]
    for run in goal:
        met = run["wall_per_reference"] <= GOAL_RATIO and run["rejected"] == 0
        lines.append(
            f"\nGoal (250 ms, {run['workers']} workers): wall ≤ {GOAL_RATIO}x of "
            f"{REFERENCE_S:.0f} s and 0 rejected: {'met' if met else 'NOT MET'}."
        )
    return lines


def last_stream(run: Mapping[str, Any]) -> str:
    """The stream that finished last, and the seconds after launch it ran from and to."""
    spans = [(span[-1], name, span[0]) for name, span in run["streams_timeline_s"].items()]
    if not spans:
        return "?"
    end, name, start = max(spans)
    return f"{name}, {start:.1f} to {end:.1f} s"


def cpu_model() -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else None


def numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=TARGET_CALLS, help="calls of the sync")
    parser.add_argument("--size", type=float, default=None, help="sandbox size (else --calls)")
    parser.add_argument("--workers", type=numbers, default=WORKERS, help="e.g. 1,3,5")
    parser.add_argument("--workers-at-0-ms", type=numbers, default=WORKERS_AT_0_MS)
    parser.add_argument("--latencies", type=numbers, default=LATENCIES_MS, help="ms, e.g. 250,0")
    parser.add_argument("--large-size", type=float, default=FULL.large, help="the 10x run")
    parser.add_argument("--large-workers", type=numbers, default=LARGE_WORKERS, help="e.g. 1,3")
    parser.add_argument("--no-large", action="store_true", help="skip the 10x memory run")
    parser.add_argument("--output", default="concurrency", help="names .bench/NAME.json, .md")
    args = parser.parse_args(argv)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "scripts/bench_concurrency.py", *argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
        },
        "limit": {"calls": PER_MINUTE, "window_s": WINDOW_S},
        "reference_s": REFERENCE_S,
    }
    try:
        size = args.size if args.size is not None else size_for(args.calls)
        if args.latencies:
            results["paced"] = bench_paced(args, size)
        if not args.no_large:
            results["large"] = bench_large(args.large_size, args.large_workers)
    except BenchError as error:
        print(f"\nBENCHMARK FAILED: {error}", file=sys.stderr)
        return 1
    table = markdown(results)
    path = BENCH_DIR / f"{args.output}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    path.with_suffix(".md").write_text(table + "\n")
    progress(f"done; results in {path.relative_to(ROOT)} and .md\n")
    print(table)
    runs = [*results.get("paced", {}).get("runs", []), *results.get("large", [])]
    return 0 if all(r["rejected"] == 0 and r["complete"] for r in runs) else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
