"""Type normalisation against the schemas, and FastBill's list and error shapes."""

from __future__ import annotations

import copy
import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import jsonschema
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill import protocol
from source_fastbill.normalize import (
    FastbillTransformer,
    Nulled,
    convert,
    normalize_value,
    parse_number,
)
from source_fastbill.streams import _schema
from unit_tests.conftest import FakeFastbill, body, config, page, run_read

NORMALIZER = FastbillTransformer()

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
def test_a_value_that_cannot_take_its_type_becomes_null_and_is_reported(
    value: Any, schema: dict[str, Any]
) -> None:
    # The warning itself is logged where the record is emitted, with stream and key
    # (test_a_nulled_value_is_in_meta_changes_the_log_and_the_summary).
    assert convert(value, schema, "F") == (None, [Nulled("F", "str", ANY, f"{value!r}")])


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


# Issue 15 §2: each observed value, what it must become, and whether that loss is reported.
@pytest.mark.parametrize(
    "value, schema, expected, reported",
    [
        ("2024-02-30", DATE, None, True),
        ("2023-02-29", DATE, None, True),
        ("2024-12-31 24:00:00", TIMESTAMP, None, True),
        ("2024-13-45 25:61:00", TIMESTAMP, None, True),
        ("2024-02-29 23:59:59", TIMESTAMP, "2024-02-29T23:59:59", False),
        ("1.234,56", NUMBER, 1234.56, False),
        ("1,234.56", NUMBER, 1234.56, False),
        ("-1.234.567,8", NUMBER, -1234567.8, False),
        ("1,000", NUMBER, None, True),  # a German 1 or an English 1000: ambiguous
        ("1.000", NUMBER, 1.0, False),  # the API's decimal point (documented rule)
        ("1.234.56", NUMBER, None, True),
        (False, STRING, None, False),  # Automatic's CUSTOMER_EXT_UID: false = no external id
        (False, NUMBER, None, False),
        (False, BOOLEAN, False, False),
        ("4711.0", INTEGER, 4711, False),
        ("4711.5", INTEGER, None, True),
        ({"CODE": "x"}, STRING, None, True),  # an object is no string, outside COUPON
        ("abc", OBJECT, None, True),
    ],
)  # fmt: skip
def test_each_observed_value(
    value: Any, schema: dict[str, Any], expected: Any, reported: bool
) -> None:
    output, nulled = convert(value, schema, "F")
    assert output == expected
    assert [v.path for v in nulled] == (["F"] if reported else [])


def test_a_coupon_sent_as_an_object_keeps_its_code() -> None:
    subscription = {"SUBSCRIPTION_ID": "1", "COUPON": {"CODE": "SPRING24", "DISCOUNT": "20,00%"}}
    NORMALIZER.transform(subscription, _schema("subscriptions"))
    assert subscription["COUPON"] == "SPRING24"


def test_a_nested_value_is_reported_by_its_path() -> None:
    record = {"INVOICE_ID": "6", "ITEMS": [{"UNIT_PRICE": "1"}, {"UNIT_PRICE": "abc"}]}
    nulled = NORMALIZER.normalize(record, _schema("invoices"))
    assert record["ITEMS"][1]["UNIT_PRICE"] is None
    assert nulled == [Nulled("ITEMS[1].UNIT_PRICE", "str", "number", "'abc'")]


# Properties: whatever FastBill sends, the output is valid for the declared type, or null.
SCALARS = {"NUMBER": NUMBER, "INTEGER": INTEGER, "BOOLEAN": BOOLEAN, "STRING": STRING,
           "DATE": DATE, "TIMESTAMP": TIMESTAMP}  # fmt: skip
ROWS = {"type": "array", "items": {"type": "object", "properties": {"C": INTEGER}}}
NESTED = {"type": ["null", "object"], "properties": {"A": NUMBER, "B": DATE, "L": ROWS}}
SCHEMAS_UNDER_TEST = [*SCALARS.values(), LIST, OBJECT, NESTED]
NUMBER_TEXT = st.one_of(
    st.from_regex(r"\A[+-]?\d{1,7}([.,]\d{1,4})?\Z"),
    st.from_regex(r"\A[+-]?\d{1,3}([.,]\d{3}){1,3}([.,]\d{1,3})?\Z"),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
DATE_TEXT = st.from_regex(r"\A\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?\Z") | st.from_regex(
    r"\A\d{1,2}\.\d{1,2}\.\d{4}\Z"
)
ATOMS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), NUMBER_TEXT,
    DATE_TEXT, st.sampled_from(["", " ", "0000-00-00", "0000-00-00 00:00:00", "24:00:00"]),
)  # fmt: skip
VALUES = st.recursive(
    ATOMS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["A", "B", "L", "C", "0", "1"]), inner, max_size=3)
    ),
    max_leaves=8,
)


def _valid(value: Any, schema: dict[str, Any]) -> bool:
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if value is None:
        return "null" in kinds
    if "array" in kinds:
        items = schema.get("items", {"type": []})
        return isinstance(value, list) and all(_valid(v, items) for v in value)
    if "object" in kinds:
        fields = schema.get("properties", {})
        return isinstance(value, dict) and all(
            _valid(value[k], fields[k]) for k in fields if k in value
        )
    if not kinds or kinds == ["null"]:
        return True
    return _valid_scalar(value, schema)


def _valid_scalar(value: Any, schema: dict[str, Any]) -> bool:
    kind = next(t for t in schema["type"] if t != "null")
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if not isinstance(value, str):
        return False
    if schema.get("format") == "date":
        return len(value) == 10 and date.fromisoformat(value).isoformat() == value
    if schema.get("format") == "date-time":
        return datetime.fromisoformat(value).isoformat() == value
    return True


@given(value=VALUES, schema=st.sampled_from(SCHEMAS_UNDER_TEST))
def test_every_output_is_valid_for_its_type_and_every_loss_is_reported(
    value: Any, schema: dict[str, Any]
) -> None:
    original = copy.deepcopy(value)
    output, nulled = convert(value, schema, "F")
    assert _valid(output, schema), (original, output)
    if output is None and not nulled:
        assert _says_nothing(original), original  # only FastBill's spellings of "no value"
    for change in nulled:
        assert change.path == "F" or change.path.startswith(("F.", "F["))
        assert len(change.excerpt) <= 40


def _says_nothing(value: Any) -> bool:
    if value is None or value is False or value == [] or value == {}:
        return True
    if not isinstance(value, str):
        return False
    # blank, or a date with a zero year, month or day ("0000-00-00", "00.00.0000")
    parts = value.strip()[:10].replace(".", "-").split("-")
    return not value.strip() or any(p.isdigit() and int(p) == 0 for p in parts)


@given(cents=st.integers(min_value=-(10**12), max_value=10**12))
def test_a_grouped_number_parses_back_to_itself(cents: int) -> None:
    number = cents / 100
    english = f"{number:,.2f}"
    german = english.translate(str.maketrans(",.", ".,"))
    assert parse_number(english) == float(f"{number:.2f}")
    assert parse_number(german) == float(f"{number:.2f}")


@given(whole=st.integers(min_value=1000, max_value=999_999))
def test_a_comma_before_exactly_three_digits_is_ambiguous_and_never_guessed(whole: int) -> None:
    text = f"{whole:,}"  # "1,000" .. "999,999": German decimals or English thousands
    assert convert(text, NUMBER, "F") == (None, [Nulled("F", "str", "number", repr(text))])


def test_a_nulled_value_is_in_meta_changes_the_log_and_the_summary(
    api: FakeFastbill, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("source_fastbill.cursor.fastbill_today", lambda: date(2026, 11, 21))
    customers = [{"CUSTOMER_ID": str(i), "CREATED": "2024-02-30 10:00:00"} for i in range(12)]
    customers.append({"CUSTOMER_ID": "99", "CUSTOMER_EXT_UID": False, "CREATED": "2024-02-29"})
    items = [{"INVOICE_ITEM_ID": "a", "UNIT_PRICE": "1.234,56"},
             {"INVOICE_ITEM_ID": "b", "UNIT_PRICE": "abc"}]  # fmt: skip
    api.expect(body("customer.get"), page("CUSTOMERS", customers))
    api.expect(body("invoice.get"), page("INVOICES", [{"INVOICE_ID": "6", "ITEMS": items}]))

    output = run_read(config(), "customers", "invoices", "invoice_items")

    changes = {
        (m.record.stream, _id(m.record.data)): [
            (c.field, c.change.value, c.reason.value) for c in m.record.meta.changes
        ]
        for m in output.records
        if m.record.meta and m.record.meta.changes
    }
    nulled = ("NULLED", "SOURCE_SERIALIZATION_ERROR")
    assert changes == {
        **{("customers", str(i)): [("CREATED", *nulled)] for i in range(12)},
        ("invoices", "6"): [("ITEMS[1].UNIT_PRICE", *nulled)],
        ("invoice_items", "b"): [("UNIT_PRICE", *nulled)],
    }
    data = {_id(m.record.data): m.record.data for m in output.records}
    # (the CDK's serialiser leaves null fields out of the emitted data)
    assert data["0"].get("CREATED") is None and data["99"].get("CUSTOMER_EXT_UID") is None
    assert data["a"]["UNIT_PRICE"] == 1234.56 and data["b"].get("UNIT_PRICE") is None
    assert data["99"]["CREATED"] == "2024-02-29T00:00:00"
    logged = [m.log.message for m in output.logs if m.log.level.value == "WARN"]
    assert (
        "customers: FastBill sent '2024-02-30 10:00:00' in CREATED of the record CUSTOMER_ID='0', "
        "where a date-time was expected; emitted as null. The record's meta.changes marks it; "
        "correct the value in FastBill to sync it." in logged
    )
    assert sum("in CREATED of the record" in line for line in logged) == 10  # bounded per field
    assert sum("more values of CREATED" in line for line in logged) == 1
    assert any("invoice_items: FastBill sent 'abc' in UNIT_PRICE of the record "
               "INVOICE_ITEM_ID='b'" in line for line in logged)  # fmt: skip
    assert output.is_in_logs(r"Sync summary, customers \(done\): 13 records, 1 API calls, 0 "
                             r"refused; 12 values emitted as null")  # fmt: skip
    assert output.is_in_logs(r"Sync summary, invoice_items \(done\): 2 records.*; 1 values")
    assert output.is_in_logs(r"Sync summary, all 3 streams: 16 records.*; 14 values emitted")


def _id(data: dict[str, Any]) -> str:
    return str(data.get("INVOICE_ITEM_ID") or data.get("INVOICE_ID") or data.get("CUSTOMER_ID"))
