"""Write a configured catalog for `source-fastbill read` from what `discover` prints.

    source-fastbill discover --config secrets/config.json | python scripts/catalog.py > catalog.json
    python scripts/catalog.py --config secrets/config.json --streams invoices,customers > c.json

With --config it runs `discover` itself (the source-fastbill next to this Python, or on PATH);
otherwise it reads discover's output on stdin. Every stream is taken unless --streams names some.
A stream is read incrementally when it supports it (append_dedup), unless --full-refresh;
otherwise full refresh (overwrite). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def discovered_streams(lines: list[str]) -> list[dict[str, Any]]:
    """The streams of the CATALOG message among discover's output lines (LOG lines skipped)."""
    for line in lines:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("type") == "CATALOG":
            return list(message["catalog"]["streams"])
    raise SystemExit(
        "No CATALOG message in the input: pipe the output of `source-fastbill discover --config "
        "<config.json>` into this script, or pass --config."
    )


def configured(stream: dict[str, Any], full_refresh: bool) -> dict[str, Any]:
    incremental = "incremental" in stream.get("supported_sync_modes", []) and not full_refresh
    entry: dict[str, Any] = {
        "stream": stream,
        "sync_mode": "incremental" if incremental else "full_refresh",
        "destination_sync_mode": "append_dedup" if incremental else "overwrite",
    }
    if incremental and stream.get("default_cursor_field"):
        entry["cursor_field"] = stream["default_cursor_field"]
    if stream.get("source_defined_primary_key"):
        entry["primary_key"] = stream["source_defined_primary_key"]
    return entry


def build(
    streams: list[dict[str, Any]], chosen: list[str] | None, full_refresh: bool
) -> dict[str, Any]:
    by_name = {stream["name"]: stream for stream in streams}
    unknown = sorted(set(chosen or []) - set(by_name))
    if unknown:
        raise SystemExit(
            f"Not discovered: {', '.join(unknown)}. The account's edition offers: "
            f"{', '.join(sorted(by_name))}."
        )
    names = chosen or list(by_name)
    return {"streams": [configured(by_name[name], full_refresh) for name in names]}


def run_discover(config: str) -> list[str]:
    beside = Path(sys.executable).parent / "source-fastbill"
    command = str(beside) if beside.exists() else shutil.which("source-fastbill")
    if not command:
        raise SystemExit("source-fastbill is not installed here: pipe discover's output instead.")
    done = subprocess.run(
        [command, "discover", "--config", config], capture_output=True, text=True, check=False
    )
    return done.stdout.splitlines()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="run discover with this config instead of reading stdin")
    parser.add_argument("--streams", help="comma-separated stream names (default: all)")
    parser.add_argument("--full-refresh", action="store_true", help="no incremental streams")
    args = parser.parse_args(argv)
    lines = run_discover(args.config) if args.config else sys.stdin.read().splitlines()
    chosen = [name.strip() for name in args.streams.split(",")] if args.streams else None
    catalog = build(discovered_streams(lines), chosen, args.full_refresh)
    json.dump(catalog, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
