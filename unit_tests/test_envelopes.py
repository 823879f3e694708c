"""Keys and envelopes: how a body is read (BOM, charset, duplicate keys, depth), and what a key is.

The rules: a body the connector cannot read one way only is a non-answer (retried, then a clear
failure); a primary key is a canonical string, anything else makes the record keyless.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

import pytest
import requests
from airbyte_cdk.models import FailureType
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill import protocol
from source_fastbill.keys import canonical_key
from unit_tests.conftest import FakeFastbill, body, config, page, records, run_read

RETRY_WAITS = [2, 3, 5, 9, 17]  # six answers: the first and five retries


def invoices(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"INVOICE_ID": str(start + i), "INVOICE_NUMBER": f"R{start + i}"} for i in range(count)]


def serve_bytes(api: FakeFastbill, offset: int, raw: bytes, content_type: str) -> None:
    """An exact body, byte for byte, as FastBill (or a proxy in front of it) might send it."""
    from responses import matchers

    api.mock.post(
        api.url,
        body=raw,
        content_type=content_type,
        match=[matchers.json_params_matcher(body("invoice.get", offset))],
    )


def last_error(output: Any) -> tuple[FailureType, str]:
    error = output.errors[-1].trace.error
    return error.failure_type, error.message


def messages(output: Any) -> str:
    return "\n".join(e.trace.error.message for e in output.errors)


# The observed cases of issue 15, section 3 (each fails on the code before it)


def test_a_utf8_bom_before_a_body_declared_utf8_is_read(api: FakeFastbill) -> None:
    for offset, rows in ((0, invoices(100)), (100, invoices(50, 100))):
        raw = codecs.BOM_UTF8 + json.dumps(page("INVOICES", rows)).encode()
        serve_bytes(api, offset, raw, "application/json; charset=utf-8")

    output = run_read(config(), "invoices")

    assert [r["INVOICE_ID"] for r in records(output)] == [str(i) for i in range(150)]
    assert len(api.mock.calls) == 2


def test_an_object_or_list_invoice_id_makes_the_record_keyless_not_the_stream_fail(
    api: FakeFastbill, caplog: pytest.LogCaptureFixture
) -> None:
    rows = invoices(150)
    for i in range(0, 150, 3):  # 50 records with an id that identifies nothing
        rows[i]["INVOICE_ID"] = {"ID": i} if i % 2 else [i]
    api.expect(body("invoice.get", 0), page("INVOICES", rows[:100]))
    api.expect(body("invoice.get", 100), page("INVOICES", rows[100:]))

    output = run_read(config(), "invoices")

    emitted = records(output)
    assert [r["INVOICE_NUMBER"] for r in emitted] == [f"R{i}" for i in range(150)]
    assert [r.get("INVOICE_ID") for r in emitted].count(None) == 50
    assert "50 records without INVOICE_ID were emitted as they are" in caplog.text


def test_numerically_equal_invoice_ids_are_one_record(api: FakeFastbill) -> None:
    served = [{"INVOICE_ID": "4711.0", "V": 1}, {"INVOICE_ID": "4711", "V": 1}]
    api.expect(body("invoice.get", 0), page("INVOICES", served))

    output = run_read(config(), "invoices")

    assert records(output) == [{"INVOICE_ID": "4711", "V": 1}]


def test_a_duplicate_response_key_is_retried_then_fails_clearly(
    api: FakeFastbill, slept: list[float]
) -> None:
    rows = json.dumps(invoices(3))
    for _ in range(6):
        api.expect(
            body("invoice.get", 0),
            f'{{"REQUEST": {{}}, "RESPONSE": {{"INVOICES": {rows}, "INVOICES": []}}}}',
        )

    output = run_read(config(), "invoices", expect_error=True)

    assert records(output) == [] and len(api.mock.calls) == 6 and slept == RETRY_WAITS
    assert last_error(output)[0] == FailureType.transient_error
    assert "holds the key 'INVOICES' twice in one object" in messages(output)
    assert "No record of it was emitted" in messages(output)


def test_a_body_nested_100000_deep_is_retried_then_fails_clearly(
    api: FakeFastbill, slept: list[float]
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for _ in range(6):
        api.expect(
            body("invoice.get", 0), f'{{"REQUEST": {{}}, "RESPONSE": {{"INVOICES": {deep}}}}}'
        )

    output = run_read(config(), "invoices", expect_error=True)

    assert records(output) == [] and len(api.mock.calls) == 6 and slept == RETRY_WAITS
    assert last_error(output)[0] == FailureType.transient_error
    assert "nested deeper than 200 levels" in messages(output)
    assert "Something went wrong" not in messages(output)


def test_child_rows_carry_the_parents_canonical_key_and_a_canonical_own_key(
    api: FakeFastbill,
) -> None:
    items = [{"INVOICE_ITEM_ID": 12.0, "NOTE": "a"}, {"INVOICE_ITEM_ID": {"X": 1}, "NOTE": "b"}]
    api.expect(body("invoice.get"), page("INVOICES", [{"INVOICE_ID": " 4711.0 ", "ITEMS": items}]))

    got = [m.record.data for m in run_read(config(), "invoice_items").records]

    assert [r["INVOICE_ID"] for r in got] == ["4711", "4711"]
    assert got[0]["INVOICE_ITEM_ID"] == "12"
    assert got[1]["INVOICE_ITEM_ID"].startswith("4711:")  # no usable id: the content's digest


# The rules, over generated input


def response_of(raw: bytes, content_type: str | None) -> requests.Response:
    response = requests.Response()
    response._content = raw  # requests' own field for a body already read
    response.status_code = 200
    if content_type is not None:
        response.headers["Content-Type"] = content_type
    return response


# Record text as German invoices hold it. Not every character: a cp1252 body whose bytes happen
# to be valid UTF-8 ("Ä€" is C4 80) is read as UTF-8 by rule; real text never has these pairs.
TEXT = st.text('ABCabcxyz019 -.,/:@äöüÄÖÜß"\\\n', max_size=12)
KEYS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
RECORD_KEYS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(-1e6, 1e6), TEXT
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**9), 10**9), TEXT)
FIELDS = st.dictionaries(
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=8).filter(
        lambda k: k != "INVOICE_ID"
    ),
    st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(TEXT, SCALARS, max_size=3)),
    max_size=5,
)
KEY_SHAPES = (
    RECORD_KEYS | st.lists(SCALARS, max_size=2) | st.dictionaries(TEXT, SCALARS, max_size=2)
)
RECORDS = st.lists(
    st.tuples(KEY_SHAPES, FIELDS).map(lambda t: {"INVOICE_ID": t[0], **t[1]}), max_size=5
)
# How a body can be written: (codec, the bytes' mark, the names a server could declare)
ENCODINGS = [
    ("utf-8", b"", "utf-8"),
    ("utf-8", codecs.BOM_UTF8, "utf-8"),
    ("utf-16-le", b"", "utf-16le"),
    ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
    ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16"),
    ("utf-32-le", codecs.BOM_UTF32_LE, "utf-32"),
    ("utf-32-be", b"", "utf-32be"),
    ("cp1252", b"", "windows-1252"),
]


@given(
    rows=RECORDS,
    encoding=st.sampled_from(ENCODINGS),
    declaration=st.sampled_from(["matching", "missing", "utf-8", "iso-8859-1", "utf-16"]),
)
def test_any_envelope_in_any_encoding_is_read_exactly_or_is_a_non_answer(
    rows: list[dict[str, Any]], encoding: tuple[str, bytes, str], declaration: str
) -> None:
    codec, mark, name = encoding
    text = json.dumps(page("INVOICES", rows), ensure_ascii=False)
    try:
        raw = mark + text.encode(codec)
    except UnicodeEncodeError:
        raw = mark + json.dumps(page("INVOICES", rows)).encode(codec)  # cp1252: \u escapes
    declared = {"matching": name, "missing": None}.get(declaration, declaration)
    content_type = "application/json" + (f"; charset={declared}" if declared else "")

    parsed = protocol.parse(response_of(raw, content_type))

    if parsed.data is not None:
        assert parsed.data["RESPONSE"]["INVOICES"] == rows
    else:
        assert parsed.problem
    ascii_compatible = codec in ("utf-8", "cp1252")
    if mark or declaration == "matching" or (declaration == "missing" and ascii_compatible):
        assert parsed.data is not None  # the evidence was unambiguous: read, not refused


@given(st.integers(-(10**15), 10**15), st.sampled_from(["{}", "{}.0", " {} ", "{}.00"]))
def test_integral_spellings_of_one_number_are_one_key(number: int, spelling: str) -> None:
    expected = canonical_key(number)

    assert canonical_key(spelling.format(number)) == expected == str(number)
    assert canonical_key(float(number)) == expected  # exact below 2**53


@given(KEYS | st.floats())
def test_canonical_key_is_idempotent_and_a_string_or_none(value: Any) -> None:
    key = canonical_key(value)

    assert key is None or (isinstance(key, str) and key == key.strip() and key)
    assert canonical_key(key) == key
    if isinstance(value, (dict, list, bool)) or value is None:
        assert key is None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        assert key is None


@given(
    rows=RECORDS,
    where=st.sampled_from(["response", "request", "record"]),
)
def test_a_body_with_a_duplicate_key_anywhere_is_a_non_answer(
    rows: list[dict[str, Any]], where: str
) -> None:
    text = json.dumps(page("INVOICES", rows))
    doubled = {
        "response": text.replace('"RESPONSE": {', '"RESPONSE": {"X": 1, "X": 2, ', 1),
        "request": text.replace('"REQUEST": {', '"REQUEST": {"S": 1, "S": 1', 1),
        "record": text.replace(
            '"INVOICES": [', '"INVOICES": [{"A": 1, "A": 1}' + ", " * bool(rows), 1
        ),
    }[where]

    parsed = protocol.parse(response_of(doubled.encode(), "application/json"))

    assert parsed.data is None and parsed.problem is not None and "twice" in parsed.problem


@given(depth=st.integers(201, 5000), opener=st.sampled_from(["[", '{"A": ']))
def test_a_body_nested_too_deep_is_a_non_answer(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    inner = opener * depth + "1" + closer * depth
    text = f'{{"REQUEST": {{}}, "RESPONSE": {{"INVOICES": [{inner}]}}}}'

    parsed = protocol.parse(response_of(text.encode(), "application/json"))

    assert parsed.data is None and parsed.problem is not None and "deeper" in parsed.problem


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    rows = [{"INVOICE_ID": "1", "NOTE": "[" * 500 + '\\"' + "{" * 500}]
    raw = json.dumps(page("INVOICES", rows)).encode()

    assert protocol.parse(response_of(raw, "application/json")).data == page("INVOICES", rows)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_BRACKETY_TEXT = st.text(alphabet='[]{}"\\aä\n', max_size=8)
_JSON_VALUES = st.recursive(
    st.none() | st.integers() | _BRACKETY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_BRACKETY_TEXT, inner, max_size=3),
    max_leaves=12,
)


@given(value=_JSON_VALUES, wrap=st.integers(min_value=0, max_value=protocol.MAX_DEPTH + 5))
def test_the_depth_rule_counts_brackets_outside_strings_only(value: Any, wrap: int) -> None:
    """Refused exactly when deeper than MAX_DEPTH, whatever brackets and escapes strings hold."""
    for _ in range(wrap):
        value = [value]
    text = json.dumps(value, ensure_ascii=bool(wrap % 2))
    deep = _depth(value) > protocol.MAX_DEPTH
    try:
        protocol._check_depth(text)
        refused = False
    except protocol.Unreadable:
        refused = True
    assert refused == deep


@given(
    value=_JSON_VALUES,
    key=st.text(alphabet='ab"\\ä', min_size=1, max_size=3),
    depth=st.integers(min_value=0, max_value=3),
)
def test_a_key_repeated_in_any_object_at_any_depth_is_refused_by_name(
    value: Any, key: str, depth: int
) -> None:
    inner = json.dumps(key)
    text = f'{{{inner}: 1, "x": {json.dumps(value)}, {inner}: 2}}'
    for _ in range(depth):
        text = f'{{"RESPONSE": [{text}]}}'
    with pytest.raises(
        protocol.Unreadable, match=r"holds the key .* twice in one object"
    ) as raised:
        json.loads(text, object_pairs_hook=protocol._unique_keys)
    assert repr(key) in str(raised.value)
