"""The structure: a stream class declares data, an answer's meaning depends on the answer alone.

A stream class holds no read logic (pipeline.py reads every stream the same way); `classify`
reads an answer without a sync, so counting, sharing and proofs cannot hide in it (answers.py).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import requests
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill.children import ALL_STREAMS, CHILDREN
from source_fastbill.config import FastbillConfig
from source_fastbill.errors import Endpoint, Kind, classify
from source_fastbill.streams import Contacts, Customers, FastbillStream, Invoices
from unit_tests.conftest import config

DATA = {"__module__", "__qualname__", "__doc__", "__firstlineno__", "__static_attributes__"}


def _behaviour(stream: type[FastbillStream]) -> list[str]:
    """The names a stream class defines that are code, not data."""
    found = []
    for name, value in vars(stream).items():
        if name in DATA:
            continue
        if inspect.isfunction(value) or isinstance(value, (property, classmethod, staticmethod)):
            found.append(name)
    return found


def test_every_stream_class_is_a_declaration_without_read_logic() -> None:
    assert {stream.__name__: _behaviour(stream) for stream in ALL_STREAMS} == {
        stream.__name__: [] for stream in ALL_STREAMS
    }


def test_a_child_stream_is_its_parent_with_a_nesting() -> None:
    for child in CHILDREN:
        assert child.parent is child.__bases__[0], child.__name__
        assert child.nesting is not None
        assert child.primary_key == list(child.nesting.key)
        assert child.service == child.parent.service
    assert Invoices.parent is None and Invoices.nesting is None


def test_contacts_declare_the_parent_fastbill_may_insist_on() -> None:
    assert Contacts.per_parent is not None
    assert (Contacts.per_parent.parent, Contacts.per_parent.field) == (Customers, "CUSTOMER_ID")


ENDPOINT = Endpoint("invoices", "invoice.get", "INVOICES", FastbillConfig.from_mapping(config()))
BODIES = st.one_of(
    st.just({"REQUEST": {}, "RESPONSE": {"INVOICES": []}}),
    st.just({"REQUEST": {}, "RESPONSE": {"ERRORS": ["Too many requests"]}}),
    st.just({"REQUEST": {}, "RESPONSE": {"ERRORS": ["Invoice Error: internal problem"]}}),
    st.just({"REQUEST": {}, "RESPONSE": {"ERRORS": ["missing / invalid field: CUSTOMER_ID"]}}),
    st.just({"REQUEST": {}, "RESPONSE": {"ERRORS": ["Unauthorized"]}}),
    st.just({"REQUEST": {}, "RESPONSE": {}}),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _answer(status: int, data: Any, retry_after: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(data).encode()
    response.headers["Content-Type"] = "application/json"
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    response.request = requests.Request("POST", "https://my.fastbill.com/api/1.0/api.php").prepare()
    return response


@given(
    status=st.sampled_from([200, 201, 301, 401, 403, 404, 408, 429, 500, 502, 503]),
    data=BODIES,
    retry_after=st.one_of(st.none(), st.sampled_from(["30", "0", "soon"])),
)
def test_an_answer_means_the_same_every_time_it_is_read(
    status: int, data: Any, retry_after: str | None
) -> None:
    first = classify(_answer(status, data, retry_after), ENDPOINT)
    again = classify(_answer(status, data, retry_after), ENDPOINT)
    assert first == again
    if status >= 500 and retry_after in (None, "soon"):
        assert first.kind is Kind.RETRY  # a server's trouble, asked again
    if first.kind is Kind.PAGE:  # the list, or an empty RESPONSE (PHP's empty list)
        part = data.get("RESPONSE")
        assert 200 <= status < 300 and isinstance(part, dict)
        assert "INVOICES" in part or not part
