"""Run the FastBill sandbox as a process: prints one JSON line, then serves until SIGTERM/SIGINT.

python -m fastbill_sandbox --edition pro --size 1 --seed 42 --port 0
{"url": "http://127.0.0.1:41234/api/1.0/api.php", "username": "...", "api_key": "...", ...}

With `--write-config secrets/sandbox.json` it also writes a connector config for the running
sandbox (username, api_key, edition, api_url) to that file before it announces the URL, and
removes the file again when it stops: `main.py check --config secrets/sandbox.json` just works.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from .server import LIMIT_RESPONSES, FastbillSandbox


def _optional_int(text: str) -> int | None:
    """'none' or 0 mean unlimited."""
    if text.lower() in ("none", "off", "0"):
        return None
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fastbill_sandbox", description="Local FastBill API sandbox."
    )
    parser.add_argument("--edition", choices=("pro", "automatic"), default="pro")
    parser.add_argument("--size", type=float, default=1.0, help="1.0 = about 1,300 records")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--host", default="127.0.0.1", help="loopback only")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--rate-limit", type=_optional_int, default=500, help="calls per window")
    parser.add_argument("--rate-window-seconds", type=float, default=60.0)
    parser.add_argument("--hourly-quota", type=_optional_int, default=None)
    parser.add_argument("--quota-window-seconds", type=float, default=3600.0)
    parser.add_argument("--limit-response", choices=LIMIT_RESPONSES, default="http429")
    parser.add_argument("--auth-failure", choices=("errors200", "http401"), default="errors200")
    parser.add_argument("--unknown-service-status", type=int, choices=(200, 400), default=200)
    parser.add_argument("--contacts-require-customer-id", action="store_true")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-kinds", default="5xx,429,drop,html", help="comma-separated")
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument(
        "--warm", action="store_true", help="build every row before announcing the URL"
    )
    parser.add_argument(
        "--write-config",
        type=Path,
        default=None,
        metavar="PATH",
        help="write a connector config for this sandbox to PATH (removed again on exit)",
    )
    return parser


def connector_config(sandbox: FastbillSandbox) -> dict[str, Any]:
    """What the connector needs to read this sandbox; no end_date, so incremental syncs move."""
    return {
        "username": sandbox.username,
        "api_key": sandbox.api_key,
        "edition": sandbox.edition,
        "api_url": sandbox.url,
    }


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Whole or not at all: a script waiting for the file never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sandbox = FastbillSandbox(
        edition=args.edition,
        size=args.size,
        seed=args.seed,
        port=args.port,
        record_calls=False,  # a long-running server: its counters are in stats()
        host=args.host,
        rate_limit=args.rate_limit,
        rate_window_seconds=args.rate_window_seconds,
        hourly_quota=args.hourly_quota,
        quota_window_seconds=args.quota_window_seconds,
        limit_response=args.limit_response,
        auth_failure=args.auth_failure,
        unknown_service_status=args.unknown_service_status,
        contacts_require_customer_id=args.contacts_require_customer_id,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        fault_kinds=tuple(kind for kind in args.fault_kinds.split(",") if kind),
        fault_seed=args.fault_seed,
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if args.warm:
        sandbox.warm()
    sandbox.start()
    try:
        if args.write_config is not None:
            write_config(args.write_config, connector_config(sandbox))
        announcement = {
            "url": sandbox.url,
            "admin_url": sandbox.base_url + "/_sandbox/",
            "username": sandbox.username,
            "api_key": sandbox.api_key,
            "edition": sandbox.edition,
            "counts": sandbox.counts(),
        }
        print(json.dumps(announcement), flush=True)
        while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
            pass
    finally:
        sandbox.stop()
        if args.write_config is not None:  # its port is gone: a stale file would only mislead
            with contextlib.suppress(FileNotFoundError):
                args.write_config.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
