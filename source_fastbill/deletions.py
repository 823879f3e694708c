"""Deleted records as Airbyte destinations understand them: `_ab_cdc_deleted_at`.

FastBill lists a deleted customer with its DELETED_DATE (since 2025) instead of leaving it out.
A stream that declares such a field (`deleted_field`) carries `_ab_cdc_deleted_at`: the deletion
time as normalised (a valid timestamp), else null; Append + Deduped destinations then remove the
record. An empty or zero DELETED_DATE is normalised to null already (normalize.py): not deleted.
"""

from __future__ import annotations

from typing import Any

DELETED_AT = "_ab_cdc_deleted_at"


def mark(record: dict[str, Any], field: str) -> None:
    """Sets `_ab_cdc_deleted_at` from the record's (normalised) deletion field."""
    value = record.get(field)
    record[DELETED_AT] = value if isinstance(value, str) and value else None
