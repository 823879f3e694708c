"""Issue 18 §1: a deleted customer arrives with `_ab_cdc_deleted_at`, the others with null."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from source_fastbill.deletions import DELETED_AT
from unit_tests.conftest import FakeFastbill, body, config, page, records, run_read


def test_a_deleted_customer_carries_its_deletion_time_for_deduped_destinations(
    api: FakeFastbill,
) -> None:
    api.expect(
        body("customer.get"),
        page(
            "CUSTOMERS",
            [
                {"CUSTOMER_ID": "1", "DELETED_DATE": "2025-03-04 10:11:12"},
                {"CUSTOMER_ID": "2", "DELETED_DATE": "0000-00-00 00:00:00"},
                {"CUSTOMER_ID": "3", "DELETED_DATE": ""},
                {"CUSTOMER_ID": "4"},
            ],
        ),
    )

    rows = records(run_read(config(), "customers"))

    # A null is sent as a missing key (the CDK's serializer omits None): destinations read null.
    assert [(r["CUSTOMER_ID"], r.get(DELETED_AT)) for r in rows] == [
        ("1", "2025-03-04T10:11:12"),
        ("2", None),
        ("3", None),
        ("4", None),
    ]


DELETED_DATES = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(["0000-00-00", "0000-00-00 00:00:00", "2024-02-30 10:00:00", "nie"]),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    st.integers(),
)


@given(deleted=DELETED_DATES)
def test_only_a_valid_deletion_time_marks_a_customer_deleted(deleted: Any) -> None:
    from source_fastbill import deletions
    from source_fastbill.normalize import FastbillTransformer
    from source_fastbill.streams import _schema

    record = {"CUSTOMER_ID": "1", "DELETED_DATE": deleted}
    FastbillTransformer().normalize(record, _schema("customers"))
    deletions.mark(record, "DELETED_DATE")

    assert record[DELETED_AT] == (record["DELETED_DATE"] or None)
    if record[DELETED_AT] is not None:
        assert record[DELETED_AT][:4] not in ("0000",) and "T" in record[DELETED_AT]
