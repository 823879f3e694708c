"""Deleted customers carry `_ab_cdc_deleted_at`, Airbyte's CDC mark; all other customers null."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill.deletions import DELETED_AT, deleted_at, mark_deleted
from source_fastbill.streams import NORMALIZER, Customers, _schema
from unit_tests.conftest import FakeFastbill, body, config, page, records, run_read

CUSTOMERS = _schema("customers")
NOT_DELETED = ["", "  ", None, "0000-00-00 00:00:00", "0000-00-00", False, [], {}, "yes", 0]


@pytest.mark.parametrize(
    ("value", "mark"),
    [
        ("2025-03-01 10:11:12", "2025-03-01T10:11:12"),  # FastBill's spelling
        ("2025-03-01T10:11:12", "2025-03-01T10:11:12"),  # as normalised
        ("2025-03-01", "2025-03-01T00:00:00"),  # a bare date: midnight
        ("01.03.2025", "2025-03-01T00:00:00"),  # the German form the normaliser reads too
    ],
)
def test_a_deletion_date_is_the_mark(value: str, mark: str) -> None:
    assert deleted_at(value) == mark


@pytest.mark.parametrize("value", NOT_DELETED, ids=repr)
def test_no_date_is_no_deletion(value: Any) -> None:
    # Empty and zero dates are FastBill's "nothing"; a value that is no date was reported by the
    # normaliser as nulled and is not taken for a deletion.
    assert deleted_at(value) is None


def test_a_stream_without_a_deletion_field_gets_no_mark() -> None:
    record = {"CONTACT_ID": "1", "DELETED_DATE": "2025-03-01 10:11:12"}
    mark_deleted(record, None)
    assert DELETED_AT not in record


def test_customers_declare_the_rule() -> None:
    assert Customers.deleted_field == "DELETED_DATE"
    assert CUSTOMERS["properties"][DELETED_AT]["format"] == "date-time"


_MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
DELETED_DATES = st.one_of(
    st.sampled_from(["", " ", None, "0000-00-00 00:00:00", "0000-00-00"]),
    st.none(),
    _MOMENTS.map(lambda m: m.strftime("%Y-%m-%d %H:%M:%S")),
    _MOMENTS.map(lambda m: m.strftime("%Y-%m-%d")),
    _MOMENTS.map(lambda m: m.strftime("%Y-%m-%d %H:%M:%S")).map(lambda t: f" {t} "),
)


@given(value=DELETED_DATES, present=st.booleans())
def test_the_mark_is_the_normalised_deletion_date_and_always_there(
    value: str | None, present: bool
) -> None:
    record: dict[str, Any] = {"CUSTOMER_ID": "7"}
    if present:
        record["DELETED_DATE"] = value
    mark_deleted(record, "DELETED_DATE")  # as parse_response does: before normalising
    NORMALIZER.normalize(record, CUSTOMERS)
    mark = record[DELETED_AT]
    assert mark == record.get("DELETED_DATE")  # the same timestamp, or both null
    if mark is not None:
        assert datetime.fromisoformat(mark).strftime("%Y-%m-%d") == str(value).strip()[:10]


def test_a_read_marks_the_deleted_customer_and_nulls_the_others(api: FakeFastbill) -> None:
    rows = [
        {"CUSTOMER_ID": "1", "DELETED_DATE": "2025-06-30 17:45:00"},
        {"CUSTOMER_ID": "2", "DELETED_DATE": "0000-00-00 00:00:00"},
        {"CUSTOMER_ID": "3"},
    ]
    api.expect(body("customer.get"), page("CUSTOMERS", rows))
    found = records(run_read(config(), "customers"))
    # The CDK's serializer leaves out every top-level null, this one too: a destination reads the
    # missing field as null, which is what Airbyte's CDC sources send for a record not deleted.
    assert [(r["CUSTOMER_ID"], r.get(DELETED_AT, "absent")) for r in found] == [
        ("1", "2025-06-30T17:45:00"),
        ("2", "absent"),
        ("3", "absent"),
    ]
