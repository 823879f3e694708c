"""Input files and output checks for scripts/image_test.sh (the connector run inside podman).

    image_test_assert.py files <sandbox.json> <dir>     write config.json and catalog.json
    image_test_assert.py spec <spec.out>                one SPEC with the required fields
    image_test_assert.py check <check.out>              CONNECTION_STATUS SUCCEEDED
    image_test_assert.py discover <discover.out>        the Pro streams, schemas as in the repo
    image_test_assert.py read <read.out> <sandbox.json> <catalog.json>
                                                        RECORDs per stream == sandbox counts

Exits non-zero with a message on the first failed assertion. Standard library only, so it runs
with any Python 3.10+.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parents[1] / "source_fastbill" / "schemas"
PRO_STREAMS = ["customers", "contacts", "invoices", "recurring_invoices", "revenues", "expenses",
               "products", "projects", "time_entries", "estimates", "templates"]  # fmt: skip
# A small catalog: one stream per kind of read (plain list, edition-shared, windowed history).
STREAMS = {
    "customers": "customer.get",
    "products": "article.get",
    "templates": "template.get",
    "invoices": "invoice.get",
}


def messages(path: Path) -> list[dict[str, Any]]:
    found = []
    for line in path.read_text().splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            sys.exit(f"{path.name}: not an Airbyte message: {line[:200]!r}")
        found.append(message)
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


def check_discover(out: Path) -> None:
    catalogs = of_type(out, "CATALOG")
    if len(catalogs) != 1:
        sys.exit(f"discover: expected 1 CATALOG message, got {len(catalogs)}")
    streams = {s["name"]: s["json_schema"] for s in catalogs[0]["catalog"]["streams"]}
    if sorted(streams) != sorted(PRO_STREAMS):
        sys.exit(f"discover: streams {sorted(streams)} != {sorted(PRO_STREAMS)}")
    # The image's schemas are the package data of the wheel: they must equal the repo's files.
    for name, schema in streams.items():
        if schema != json.loads((SCHEMAS / f"{name}.json").read_text()):
            sys.exit(f"discover: the {name} schema in the image differs from {SCHEMAS.name}/")
    print(f"discover: {len(streams)} Pro streams, each schema equal to the repo's file")


def check_read(out: Path, announcement: Path, catalog: Path) -> None:
    counts = json.loads(announcement.read_text().splitlines()[0])["counts"]
    read = [s["stream"]["name"] for s in json.loads(catalog.read_text())["streams"]]
    expected = {name: counts[STREAMS[name]] for name in read}
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
