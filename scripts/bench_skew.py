"""Issue 17's benchmark: one service holds 80 % of the calls; today's code against 43e9078's.

    .venv/bin/python scripts/bench_skew.py                     # about 12 minutes
    .venv/bin/python scripts/bench_skew.py --old 43e9078 --runs small,large

Five parent streams (customers, contacts, invoices, products, projects) in full refresh, with
and without start_date; the sandbox (fastbill_sandbox, Pro, seed 42, warmed) is sized so that
invoice.get needs 80 % of the calls, enforces 500 calls per 60 s (HTTP 429) and sleeps
`latency_ms` per answer. Each run is `main.py read` in its own process, of this checkout and of
the old commit (a `git worktree` in a temporary folder), with `requests_per_minute: 500` and
`num_workers` as given.

- small: 185 calls at 250 ms, 1 and 3 workers: never limit-bound, so the bound is the round
  trips (calls / workers x latency).
- small-dated: the same with start_date set (invoices in one date window and a paid pass).
- large-dated: issue 17's own case: 550 calls at 250 ms, 3 workers, start_date set: bound by
  the limit (one 60 s window, then the rest).
- large: 550 calls at 0 ms, 3 workers, without start_date: bound by the limit.

Each figure is a ratio to the limit-bound time (bench_concurrency.limit_bound), which counts
calls only: the ratio after start-up leaves out what a process spends before its first call
(measured with `spec`). Results: a Markdown table on stdout and .bench/skew.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_concurrency import limit_bound

from fastbill_sandbox import FastbillSandbox
from fastbill_sandbox.runner import (
    command_line,
    full_refresh_catalog,
    parse_stdout,
    write_inputs,
)

ROOT = Path(__file__).resolve().parents[1]
STREAMS = ("customers", "contacts", "invoices", "products", "projects")
SERVICES = ("customer.get", "contact.get", "invoice.get", "article.get", "project.get")
SHARE = 0.8
START_DATE = "2023-01-01"  # the sandbox's first day: every invoice is inside the dated window
SCENARIOS = {  # name: (sandbox size, latency in ms, workers, start_date)
    "small": (10.0, 250.0, (1, 3), None),
    "small-dated": (10.0, 250.0, (3,), START_DATE),
    "large-dated": (32.0, 250.0, (3,), START_DATE),
    "large": (32.0, 0.0, (3,), None),
}


def calls_of(rows: int) -> int:
    return rows // 100 + 1


def skewed(size: float) -> FastbillSandbox:
    """The sandbox at `size`, with as many invoices as make invoice.get 80 % of the calls."""
    sandbox = FastbillSandbox(size=size, rate_limit=500, record_calls=False)
    counts = sandbox.dataset.counts()
    others = sum(calls_of(counts[s]) for s in SERVICES if s != "invoice.get")
    invoice_calls = round(others * SHARE / (1 - SHARE))
    sandbox.dataset.base_counts["invoice.get"] = invoice_calls * 100 - 1
    sandbox.warm()  # rows built now: a page then costs the sandbox ~2 ms, not ~15 ms, per call
    return sandbox


def old_checkout(revision: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="source-fastbill-old-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), revision],
        check=True,
        capture_output=True,
    )
    return folder


def run(
    code: Path, sandbox: FastbillSandbox, workers: int, start_date: str | None, work: Path
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "username": sandbox.username,
        "api_key": sandbox.api_key,
        "api_url": sandbox.url,
        "requests_per_minute": 500,
        "num_workers": workers,
    }
    if start_date:
        config["start_date"] = start_date
    catalog = full_refresh_catalog(*STREAMS)
    files = write_inputs(Path(tempfile.mkdtemp(dir=work)), config, catalog)
    sandbox.reset_stats()
    sandbox.reset_limits()
    started = time.monotonic()
    done = subprocess.run(
        command_line("read", files, prefix=(sys.executable, str(code / "main.py"))),
        cwd=code,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.monotonic() - started
    messages, _ = parse_stdout(done.stdout)
    records = sum(1 for m in messages if m["type"] == "RECORD")
    stats = sandbox.stats()
    return {
        "exit": done.returncode,
        "seconds": round(seconds, 1),
        "records": records,
        "calls": stats.get("calls"),
        "rejected": stats.get("rejected"),
    }


def start_up(code: Path) -> float:
    """What a run spends before its first call: the fastest of three `spec` runs (Python and
    the CDK importing), the same for every scenario; shown beside the ratios."""
    times = []
    for _ in range(3):
        started = time.monotonic()
        subprocess.run(
            [sys.executable, str(code / "main.py"), "spec"], cwd=code, capture_output=True
        )
        times.append(time.monotonic() - started)
    return min(times)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default="43e9078")
    parser.add_argument("--runs", default=",".join(SCENARIOS))
    args = parser.parse_args(argv)
    work = ROOT / ".bench" / "skew"
    work.mkdir(parents=True, exist_ok=True)
    old = old_checkout(args.old)
    results = []
    starts = {"old": start_up(old), "new": start_up(ROOT)}
    try:
        for name in args.runs.split(","):
            size, latency, workers_list, start_date = SCENARIOS[name]
            sandbox = skewed(size).start()
            sandbox.configure(latency_ms=latency)
            try:
                counts = sandbox.dataset.counts()
                # With start_date, invoices take a paid pass too: one call at the least.
                needed = sum(calls_of(counts[s]) for s in SERVICES) + bool(start_date)
                share = calls_of(counts["invoice.get"]) / needed
                for workers in workers_list:
                    bound = limit_bound(needed, workers, latency / 1000, 500)
                    for label, code in (("old", old), ("new", ROOT)):
                        found = run(code, sandbox, workers, start_date, work)
                        found.update(
                            scenario=name, code=label, workers=workers, latency_ms=latency,
                            needed_calls=needed, invoice_share=round(share, 3),
                            bound_s=round(bound, 1),
                            ratio=round(found["seconds"] / bound, 2) if bound else None,
                            start_up_s=round(starts[label], 1),
                            ratio_after_start_up=round(
                                (found["seconds"] - starts[label]) / bound, 2),
                        )  # fmt: skip
                        results.append(found)
                        print(json.dumps(found), flush=True)
            finally:
                sandbox.stop()
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
            capture_output=True,
        )
    (ROOT / ".bench" / "skew.json").write_text(json.dumps(results, indent=2))
    print("| scenario | code | workers | latency | calls needed | calls made | rejected | records "
          "| time | limit-bound | ratio | start-up | ratio after start-up |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['scenario']} | {r['code']} | {r['workers']} | {r['latency_ms']:g} ms | "
            f"{r['needed_calls']} | {r['calls']} | {r['rejected']} | {r['records']:,} | "
            f"{r['seconds']} s | {r['bound_s']} s | {r['ratio']}x | {r['start_up_s']} s | "
            f"{r['ratio_after_start_up']}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
