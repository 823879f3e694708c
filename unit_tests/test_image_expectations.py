"""`make image-test`'s expectations stay in step with `discover` (fast, no container needed)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteMessageSerializer
from airbyte_cdk.test.entrypoint_wrapper import discover

from source_fastbill.source import SourceFastbill

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "image_test_assert.py"
SANDBOX = {"url": "http://127.0.0.1:1/api/1.0/api.php", "username": "u@example.com", "api_key": "k"}


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_test_assert", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The files image_test.sh writes before running the container, with the host's discover."""
    script = load_script()
    streams = SourceFastbill().streams({"username": "u", "api_key": "k", "api_url": SANDBOX["url"]})
    counts = {s.service: 3 for s in streams}
    (tmp_path / "sandbox.json").write_text(json.dumps({**SANDBOX, "counts": counts}) + "\n")
    script.write_files(tmp_path / "sandbox.json", tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    output = discover(SourceFastbill(), config)
    (tmp_path / "discover.out").write_text(
        json.dumps(AirbyteMessageSerializer.dump(output.catalog)) + "\n"
    )
    return tmp_path


def test_the_image_check_accepts_what_discover_prints(work: Path) -> None:
    load_script().check_discover(work / "discover.out", work / "config.json")


def test_the_image_check_fails_when_the_image_lacks_a_stream(work: Path) -> None:
    messages = [json.loads(line) for line in (work / "discover.out").read_text().splitlines()]
    for message in messages:
        if message["type"] == "CATALOG":
            message["catalog"]["streams"].pop()
    (work / "discover.out").write_text("\n".join(json.dumps(m) for m in messages))

    with pytest.raises(SystemExit, match="discover: streams"):
        load_script().check_discover(work / "discover.out", work / "config.json")


def test_the_read_check_expects_the_sandbox_count_of_each_catalog_stream(work: Path) -> None:
    script = load_script()
    catalog = json.loads((work / "catalog.json").read_text())
    names = [s["stream"]["name"] for s in catalog["streams"]]
    discovered = {
        s.name for s in SourceFastbill().streams(json.loads((work / "config.json").read_text()))
    }
    assert names == script.STREAMS and set(names) <= discovered
    records: list[dict[str, Any]] = [
        {"type": "RECORD", "record": {"stream": name, "data": {}, "emitted_at": 0}}
        for name in names
        for _ in range(3)
    ]
    (work / "read.out").write_text("\n".join(json.dumps(r) for r in records))

    script.check_read(
        work / "read.out", work / "sandbox.json", work / "catalog.json", work / "config.json"
    )
    (work / "read.out").write_text("\n".join(json.dumps(r) for r in records[1:]))
    with pytest.raises(SystemExit, match="RECORD counts"):
        script.check_read(
            work / "read.out", work / "sandbox.json", work / "catalog.json", work / "config.json"
        )
