"""documents, document_folders and webhooks: exact bodies and both document.get answer shapes."""

from __future__ import annotations

from typing import Any

import pytest

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


@pytest.mark.parametrize(
    "answer",
    [
        FLAT,
        pytest.param(
            NESTED,
            marks=pytest.mark.xfail(
                strict=True,
                reason="errors.py's has_list wants RESPONSE.<key>; ITEMS needs a change there",
            ),
        ),
    ],
    ids=["docs", "go-sdk"],
)
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
    assert "does not offer webhook.get" in output.errors[0].trace.error.message
    assert len(api.mock.calls) == 2
