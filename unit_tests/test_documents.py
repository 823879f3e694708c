"""documents, document_folders and webhooks: exact bodies and both document.get answer shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill import protocol
from source_fastbill.streams import DocumentFolders, Documents
from unit_tests.conftest import FakeFastbill, body, config, run_read

DOC = {"DOCUMENT_ID": "5", "TYPE": "pdf", "TITLE": "Beleg", "DATE": "2026-01-02", "NOTE": ""}
FOLDER = {
    "FOLDER_ID": "12",
    "NAME": "Belege",
    "PARENTFOLDER_ID": "0",
    "CREATED": "",
    "CONTENT_COUNT": "1",
}
FLAT = {"FOLDERS": [FOLDER], "DOCUMENTS": [DOC]}  # the docs (D-doc)
NESTED = {"ITEMS": {"FOLDERS": {"12": FOLDER}, "DOCUMENTS": [DOC]}}  # the Go SDK's shape


def _records(output: Any, stream: str) -> list[dict[str, Any]]:
    return [m.record.data for m in output.records if m.record.stream == stream]


@pytest.mark.parametrize("answer", [FLAT, NESTED], ids=["docs", "go-sdk"])
@pytest.mark.parametrize(
    "stream, key, value",
    [("documents", "DOCUMENT_ID", "5"), ("document_folders", "FOLDER_ID", "12")],
)
def test_document_get_is_one_exact_body_per_stream(
    api: FakeFastbill, answer: dict[str, Any], stream: str, key: str, value: str
) -> None:
    api.expect(body("document.get"), {"REQUEST": {}, "RESPONSE": answer})

    output = run_read(config(), stream)

    assert [r[key] for r in _records(output, stream)] == [value]


def test_webhooks_exact_body(api: FakeFastbill) -> None:
    hook = {"WEBHOOK_ID": "15", "ENDPOINT": "https://x.example/h", "TYPE": "json", "EVENTS": "a"}
    api.expect(body("webhook.get"), {"REQUEST": {}, "RESPONSE": {"WEBHOOKS": [hook]}})

    output = run_read(config(), "webhooks")

    assert _records(output, "webhooks") == [hook]


def test_a_plan_without_webhooks_fails_only_that_stream(api: FakeFastbill) -> None:
    unknown = {"REQUEST": {}, "RESPONSE": {"ERRORS": ["unknown SERVICE: webhook.get"]}}
    api.expect(body("webhook.get"), unknown)
    api.expect(body("document.get"), {"REQUEST": {}, "RESPONSE": FLAT})

    output = run_read(config(), "webhooks", "documents", expect_error=True)

    assert [r["DOCUMENT_ID"] for r in _records(output, "documents")] == ["5"]
    message = output.errors[0].trace.error.message
    assert "does not offer webhook.get" in message
    assert "If the account's plan does not include it, deselect the stream 'webhooks'" in message
    assert "the other streams are read as usual" in message
    assert len(api.mock.calls) == 2


def test_documents_and_folders_read_together_pay_for_one_call(api: FakeFastbill) -> None:
    api.expect(body("document.get"), {"REQUEST": {}, "RESPONSE": NESTED})

    output = run_read(config(), "documents", "document_folders")

    assert [r["DOCUMENT_ID"] for r in _records(output, "documents")] == ["5"]
    assert [r["FOLDER_ID"] for r in _records(output, "document_folders")] == ["12"]
    assert len(api.mock.calls) == 1


def test_an_answer_in_neither_shape_names_both_places(api: FakeFastbill, slept: Any) -> None:
    odd = {"REQUEST": {}, "RESPONSE": {"STATUS": "ok"}}
    for _ in range(6):  # the first try and five retries
        api.expect(body("document.get"), odd)

    output = run_read(config(), "documents", expect_error=True)

    message = output.errors[0].trace.error.message
    assert "without RESPONSE.DOCUMENTS or RESPONSE.ITEMS.DOCUMENTS" in message


def _answer(part: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps({"REQUEST": {}, "RESPONSE": part}).encode()
    return response


IDS = st.lists(st.integers(1, 10**6).map(str), unique=True, max_size=5)


@given(IDS, IDS, st.booleans(), st.booleans())
def test_both_shapes_list_the_same_entries(
    documents: list[str], folders: list[str], nested: bool, keyed: bool
) -> None:
    docs = [{"DOCUMENT_ID": d} for d in documents]
    shown: Any = [{"FOLDER_ID": f} for f in folders]
    if keyed:  # the Go SDK's FOLDERS: an object keyed by FOLDER_ID
        shown = {f: {"FOLDER_ID": f} for f in folders}
    lists = {"DOCUMENTS": docs, "FOLDERS": shown}
    response = _answer({"ITEMS": lists} if nested else lists)

    found = protocol.entries(response, Documents.response_keys)
    assert protocol.has_list(response, Documents.response_keys)
    assert found == docs
    by_id = protocol.entries(response, DocumentFolders.response_keys)
    assert sorted(f["FOLDER_ID"] for f in by_id) == sorted(folders)
