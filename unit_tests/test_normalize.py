"""Type normalisation against the schemas, and FastBill's list and error shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from source_fastbill import protocol
from source_fastbill.normalize import normalize_value
from source_fastbill.streams import NORMALIZER, _schema

SCHEMAS = Path(__file__).parents[1] / "source_fastbill" / "schemas"

# The composite invoice.get record of the API notes (section 5b), with the quirks of section 5.
RAW_INVOICE = {
    "INVOICE_ID": "123456", "TYPE": "outgoing", "CUSTOMER_ID": 4711, "CUSTOMER_NUMBER": "K100",
    "INVOICE_NUMBER": "2024-017", "INVOICE_DATE": "2024-03-01", "DUE_DATE": "2024-03-15 00:00:00",
    "PAID_DATE": "0000-00-00 00:00:00", "IS_CANCELED": "0", "DELIVERY_DATE": "März 2024",
    "PAYMENT_TYPE": "1", "CASH_DISCOUNT_PERCENT": "0.00", "CASH_DISCOUNT_DAYS": "0",
    "ORGANIZATION": "M\u00fcller GmbH", "SUB_TOTAL": 100, "VAT_TOTAL": "19,00", "TOTAL": 119,
    "VAT_ITEMS": {"0": {"VAT_PERCENT": "19.00", "COMPLETE_NET": 100, "VAT_VALUE": 19}},
    "ITEMS": [{"INVOICE_ITEM_ID": "998877", "ARTICLE_NUMBER": "", "DESCRIPTION": "Beratung",
               "QUANTITY": "1.00", "UNIT_PRICE": "100.0000", "VAT_PERCENT": "19.00",
               "VAT_VALUE": 19, "COMPLETE_NET": 100, "COMPLETE_GROSS": 119, "SORT_ORDER": 1}],
    "PAYMENTS": "", "COMMENTS": {}, "TEMPLATE_ID": 2, "LASTUPDATE": "2024-03-02 10:11:12",
    "DOCUMENT_URL": "https://example.invalid/doc", "SOMETHING_NEW": {"kept": "as sent"},
}  # fmt: skip
NORMALIZED_INVOICE = {
    "INVOICE_ID": "123456", "TYPE": "outgoing", "CUSTOMER_ID": "4711", "CUSTOMER_NUMBER": "K100",
    "INVOICE_NUMBER": "2024-017", "INVOICE_DATE": "2024-03-01", "DUE_DATE": "2024-03-15",
    "PAID_DATE": None, "IS_CANCELED": False, "DELIVERY_DATE": "März 2024",
    "PAYMENT_TYPE": "1", "CASH_DISCOUNT_PERCENT": 0.0, "CASH_DISCOUNT_DAYS": 0,
    "ORGANIZATION": "Müller GmbH", "SUB_TOTAL": 100, "VAT_TOTAL": 19.0, "TOTAL": 119,
    "VAT_ITEMS": [{"VAT_PERCENT": 19.0, "COMPLETE_NET": 100, "VAT_VALUE": 19}],
    "ITEMS": [{"INVOICE_ITEM_ID": "998877", "ARTICLE_NUMBER": None, "DESCRIPTION": "Beratung",
               "QUANTITY": 1.0, "UNIT_PRICE": 100.0, "VAT_PERCENT": 19.0,
               "VAT_VALUE": 19, "COMPLETE_NET": 100, "COMPLETE_GROSS": 119, "SORT_ORDER": 1}],
    "PAYMENTS": [], "COMMENTS": [], "TEMPLATE_ID": "2", "LASTUPDATE": "2024-03-02T10:11:12",
    "DOCUMENT_URL": "https://example.invalid/doc", "SOMETHING_NEW": {"kept": "as sent"},
}  # fmt: skip


def test_a_raw_invoice_becomes_the_declared_types_and_validates() -> None:
    record = json.loads(json.dumps(RAW_INVOICE))
    NORMALIZER.transform(record, _schema("invoices"))

    assert record == NORMALIZED_INVOICE
    validator = jsonschema.Draft7Validator(
        _schema("invoices"), format_checker=jsonschema.FormatChecker()
    )
    assert list(validator.iter_errors(record)) == []


NUMBER = {"type": ["null", "number"]}
INTEGER = {"type": ["null", "integer"]}
BOOLEAN = {"type": ["null", "boolean"]}
STRING = {"type": ["null", "string"]}
DATE = {"type": ["null", "string"], "format": "date"}
TIMESTAMP = {"type": ["null", "string"], "format": "date-time"}
LIST = {"type": "array", "items": {"type": "object"}}
OBJECT = {"type": ["null", "object"]}


@pytest.mark.parametrize(
    "value, schema, expected",
    [
        ("19.00", NUMBER, 19.0), (19, NUMBER, 19), ("19,50", NUMBER, 19.5), ("-5.5", NUMBER, -5.5),
        ("", NUMBER, None), ([], NUMBER, None), ("14", INTEGER, 14), ("14.00", INTEGER, 14),
        (14.0, INTEGER, 14), ("1", BOOLEAN, True), ("0", BOOLEAN, False), (1, BOOLEAN, True),
        ("true", BOOLEAN, True), (464626, STRING, "464626"), (4711.0, STRING, "4711"),
        ("", STRING, None), ("  ", STRING, None), ("0000-00-00", DATE, None),
        ("0000-00-00 00:00:00", DATE, None), ("2024-03-15 00:00:00", DATE, "2024-03-15"),
        ("15.03.2024", DATE, "2024-03-15"),
        ("2024-03-02 10:11:12", TIMESTAMP, "2024-03-02T10:11:12"),
        ("2024-03-02", TIMESTAMP, "2024-03-02T00:00:00"),
        ("2024-03-02 10:11", TIMESTAMP, "2024-03-02T10:11:00"),
        ("0000-00-00 00:00:00", TIMESTAMP, None), ("", LIST, []), (None, LIST, []), ({}, LIST, []),
        ({"1": {"a": 2}, "0": {"a": 1}}, LIST, [{"a": 1}, {"a": 2}]),
        ({"ITEM": {"a": 1}}, LIST, [{"a": 1}]),
        ({"ELEMENT": [{"a": 1}]}, LIST, [{"a": 1}]), ({"a": 1, "b": 2}, LIST, [{"a": 1, "b": 2}]),
        ([], OBJECT, None), ("", OBJECT, None), ({"x": 1}, OBJECT, {"x": 1}),
    ],
)  # fmt: skip
def test_normalize_value(value: Any, schema: dict[str, Any], expected: Any) -> None:
    assert normalize_value(value, schema) == expected


@pytest.mark.parametrize(
    "value, schema", [("abc", NUMBER), ("1.5", INTEGER), ("maybe", BOOLEAN), ("soon", DATE)]
)
def test_a_value_that_cannot_take_its_type_becomes_null_with_a_warning(
    value: Any, schema: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    assert normalize_value(value, schema) is None
    assert f"FastBill sent {value!r}" in caplog.text


def test_every_schema_is_draft7_with_additional_properties_and_no_custom_keywords() -> None:
    allowed = {"type", "format", "properties", "items", "additionalProperties", "airbyte_type",
               "description"}  # fmt: skip
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        assert schema["additionalProperties"] is True, path.name
        for node in _nodes(schema["properties"]):
            assert set(node) <= allowed, (path.name, node)


def _nodes(properties: dict[str, Any]) -> Any:
    for node in properties.values():
        yield node
        yield from _nodes(node.get("properties", {}))
        yield from _nodes(node.get("items", {}).get("properties", {}))


def response(text: str) -> requests.Response:
    answer = requests.Response()
    answer._content = text.encode()
    answer.status_code = 200
    return answer


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"RESPONSE": {"ERRORS": ["a", "b"]}}', ["a", "b"]),
        ('{"RESPONSE": {"ERRORS": {"0": "a"}}}', ["a"]),
        ('{"RESPONSE": {"ERRORS": "a"}}', ["a"]),
        ('{"RESPONSE": {"ERRORS": []}}', []),
        ('{"RESPONSE": []}', []),
        ("<html>", []),
    ],
)
def test_errors_in_every_documented_shape(text: str, expected: list[str]) -> None:
    assert protocol.errors(response(text)) == expected


def test_rows_of_an_xml_style_wrapper_and_of_an_empty_response() -> None:
    wrapped = response('{"RESPONSE": {"CONTACTS": {"ELEMENT": [{"CONTACT_ID": "1"}]}}}')
    assert protocol.rows(wrapped, "CONTACTS") == [{"CONTACT_ID": "1"}]
    assert protocol.rows(response('{"RESPONSE": []}'), "CONTACTS") == []
    assert protocol.body(response("not json")) is None
