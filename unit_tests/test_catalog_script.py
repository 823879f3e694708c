"""scripts/catalog.py turns what `discover` prints into a configured catalog `read` accepts."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteMessageSerializer, ConfiguredAirbyteCatalogSerializer
from airbyte_cdk.test.entrypoint_wrapper import discover

from source_fastbill.source import SourceFastbill
from unit_tests.conftest import config

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "catalog.py"
LOG = {"type": "LOG", "log": {"level": "INFO", "message": "discovering"}}


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastbill_catalog", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> dict[str, Any]:
    catalog = AirbyteMessageSerializer.dump(discover(SourceFastbill(), config()).catalog)
    stdout = "\n".join([json.dumps(LOG), json.dumps(catalog)]) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(stdout))
    load_script().main(list(args))
    return json.loads(capsys.readouterr().out)


def test_every_discovered_stream_in_its_best_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    written = run(monkeypatch, capsys)

    catalog = ConfiguredAirbyteCatalogSerializer.load(written)  # what `read` parses
    streams = {s.name: s for s in SourceFastbill().streams(config())}
    assert [c.stream.name for c in catalog.streams] == list(streams)
    for entry in written["streams"]:
        stream = streams[entry["stream"]["name"]]
        if stream.supports_incremental:
            assert entry["sync_mode"] == "incremental"
            assert entry["destination_sync_mode"] == "append_dedup"
            assert entry["cursor_field"] == entry["stream"]["default_cursor_field"]
        else:
            assert (entry["sync_mode"], entry["destination_sync_mode"]) == (
                "full_refresh",
                "overwrite",
            )
    assert any(entry["sync_mode"] == "incremental" for entry in written["streams"])


def test_chosen_streams_in_full_refresh(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    written = run(monkeypatch, capsys, "--streams", "invoices, customers", "--full-refresh")

    assert [(e["stream"]["name"], e["sync_mode"]) for e in written["streams"]] == [
        ("invoices", "full_refresh"),
        ("customers", "full_refresh"),
    ]


def test_an_unknown_stream_is_named_with_what_the_edition_offers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit, match=r"Not discovered: subscriptions\. .*offers: contacts"):
        run(monkeypatch, capsys, "--streams", "invoices,subscriptions")


def test_input_without_a_catalog_says_what_to_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(LOG) + "\n"))
    with pytest.raises(SystemExit, match="No CATALOG message"):
        load_script().main([])
