"""Deleted records, marked the way Airbyte's destinations understand: `_ab_cdc_deleted_at`.

FastBill lists a deleted customer with a DELETED_DATE (seen since 2025) instead of leaving it
out. Airbyte's CDC sources mark a deletion with the field `_ab_cdc_deleted_at`: the moment of
the deletion on a deleted record, null on every other one. A destination whose stream declares
the field and is synced in a deduped mode (Append + Deduped, Overwrite + Deduped) removes the
rows whose latest record carries a value; other modes keep them, marked.

A stream opts in with `deleted_field` (the FastBill field that holds the deletion date). Every
record of such a stream carries the mark, null where the record is not deleted, as CDC sources
do, so typed destinations get one column with one meaning.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from source_fastbill.normalize import Unconvertible, to_timestamp

DELETED_AT = "_ab_cdc_deleted_at"


def mark_deleted(record: MutableMapping[str, Any], deleted_field: str | None) -> None:
    """Sets `_ab_cdc_deleted_at` from the record's (normalised) deletion date; None: no mark."""
    if deleted_field is not None:
        record[DELETED_AT] = deleted_at(record.get(deleted_field))


def deleted_at(value: Any) -> str | None:
    """The deletion date as an ISO timestamp; None for "not deleted".

    The value has been normalised already ("2025-03-01T10:00:00", or null for empty and zero
    dates); a raw FastBill spelling ("2025-03-01 10:00:00", "0000-00-00 00:00:00", "") gives the
    same answer, so the rule does not depend on the order of the steps. A value that is no date
    was reported as nulled by the normaliser; it is not taken for a deletion.
    """
    if not isinstance(value, str):
        return None
    try:
        return to_timestamp(value) if value.strip() else None
    except (Unconvertible, ValueError):
        return None
