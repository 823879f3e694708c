"""Input files and output checks for scripts/image_test.sh (the connector run inside podman).

    image_test_assert.py files <sandbox.json> <dir>     write config.json and catalog.json
    image_test_assert.py spec <spec.out>                one SPEC with the required fields
    image_test_assert.py check <check.out>              CONNECTION_STATUS SUCCEEDED
    image_test_assert.py discover <discover.out> <config.json>
                                                        the catalog `discover` gives on the host
    image_test_assert.py read <read.out> <sandbox.json> <catalog.json>
                                                        RECORDs per stream == sandbox counts

Exits non-zero with a message on the first failed assertion. The expectations come from the
connector itself (this checkout, imported on the host): the image must discover the same catalog,
so a new stream or schema never makes this check stale. unit_tests/test_image_expectations.py
keeps them in step in `make test`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from fastbill_sandbox.runner import parse_stdout

ROOT = Path(__file__).resolve().parents[1]

# A small catalog: one stream per kind of read (plain list, edition-shared, windowed history).
STREAMS = ["customers", "products", "templates", "invoices"]


def host_catalog(config: dict[str, Any]) -> dict[str, Any]:
    """The CATALOG the connector in this checkout discovers for `config`, as it prints it."""
    from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, Type

    from source_fastbill.source import SourceFastbill

    catalog = SourceFastbill().discover(logging.getLogger("airbyte"), config)
    message = AirbyteMessage(type=Type.CATALOG, catalog=catalog)
    return json.loads(json.dumps(AirbyteMessageSerializer.dump(message)))["catalog"]


def services(config: dict[str, Any]) -> dict[str, str]:
    """Each catalog stream's FastBill service: the sandbox counts records per service."""
    from source_fastbill.source import SourceFastbill

    return {s.name: s.service for s in SourceFastbill().streams(config) if s.name in STREAMS}


def messages(path: Path) -> list[dict[str, Any]]:
    found, noise = parse_stdout(path.read_text())
    if noise:
        sys.exit(f"{path.name}: not an Airbyte message: {noise[0][:200]!r}")
    return found


def of_type(path: Path, kind: str) -> list[dict[str, Any]]:
    return [m for m in messages(path) if m.get("type") == kind]


def write_files(announcement: Path, target: Path) -> None:
    sandbox = json.loads(announcement.read_text().splitlines()[0])
    config = {"username": sandbox["username"], "api_key": sandbox["api_key"],
              "api_url": sandbox["url"]}  # fmt: skip
    catalog = {"streams": [_configured(name) for name in STREAMS]}
    (target / "config.json").write_text(json.dumps(config))
    (target / "catalog.json").write_text(json.dumps(catalog))


def _configured(name: str) -> dict[str, Any]:
    return {
        "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh",
        "destination_sync_mode": "overwrite",
    }


def check_spec(out: Path) -> None:
    specs = of_type(out, "SPEC")
    if len(specs) != 1:
        sys.exit(f"spec: expected 1 SPEC message, got {len(specs)}")
    required = specs[0]["spec"]["connectionSpecification"]["required"]
    if required != ["username", "api_key"]:
        sys.exit(f"spec: required fields are {required}")
    print(f"spec: 1 SPEC message, required {required}")


def check_check(out: Path) -> None:
    statuses = [m["connectionStatus"] for m in of_type(out, "CONNECTION_STATUS")]
    if [s["status"] for s in statuses] != ["SUCCEEDED"]:
        sys.exit(f"check: expected one SUCCEEDED status, got {statuses}")
    print("check: CONNECTION_STATUS SUCCEEDED")


def check_discover(out: Path, config: Path) -> None:
    catalogs = of_type(out, "CATALOG")
    if len(catalogs) != 1:
        sys.exit(f"discover: expected 1 CATALOG message, got {len(catalogs)}")
    got = {s["name"]: s for s in catalogs[0]["catalog"]["streams"]}
    expected = {s["name"]: s for s in host_catalog(json.loads(config.read_text()))["streams"]}
    if sorted(got) != sorted(expected):
        sys.exit(f"discover: streams {sorted(got)} != the host's {sorted(expected)}")
    # The image's schemas are the package data of the wheel: they must equal the checkout's.
    for name, stream in got.items():
        if stream != expected[name]:
            sys.exit(f"discover: the {name} stream in the image differs from the host's discover")
    print(f"discover: {len(got)} streams, each equal to the host's discover")


def check_read(out: Path, announcement: Path, catalog: Path, config: Path) -> None:
    counts = json.loads(announcement.read_text().splitlines()[0])["counts"]
    read = [s["stream"]["name"] for s in json.loads(catalog.read_text())["streams"]]
    service = services(json.loads(config.read_text()))
    expected = {name: counts[service[name]] for name in read}
    got = Counter(m["record"]["stream"] for m in of_type(out, "RECORD"))
    errors = [m for m in of_type(out, "TRACE") if m["trace"].get("type") == "ERROR"]
    if errors:
        sys.exit(f"read: {len(errors)} error trace(s): {errors[0]['trace']['error']['message']}")
    if dict(got) != expected:
        sys.exit(f"read: RECORD counts {dict(got)} != sandbox counts {expected}")
    print(f"read: {sum(got.values())} RECORDs, per stream as in the sandbox: {dict(got)}")


def main(argv: list[str]) -> None:
    command, *paths = argv
    files = [Path(p) for p in paths]
    if command == "files":
        write_files(*files)
    elif command == "spec":
        check_spec(*files)
    elif command == "check":
        check_check(*files)
    elif command == "discover":
        check_discover(*files)
    elif command == "read":
        check_read(*files)
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
