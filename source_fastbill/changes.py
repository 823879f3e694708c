"""Values that had to become null, made visible: in the record's meta, the log and the summary.

The normaliser lists them per record (normalize.Record.nulled); this turns a record that has any
into the Airbyte record message whose `meta.changes` says NULLED / SOURCE_SERIALIZATION_ERROR per
field, so the destination shows it. Only the field path goes into meta; the log quotes a bounded
excerpt of the raw value, for at most LOGGED_PER_FIELD values per stream and field. The summary
counts every one (progress.Ledger.nulled).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

# The CDK's own message classes: AbstractSource passes these through unchanged.
from airbyte_cdk.models.airbyte_protocol import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteRecordMessageMeta,
    AirbyteRecordMessageMetaChange,
    Change,
    Reason,
    Type,
)

from source_fastbill.normalize import Record
from source_fastbill.progress import Ledger

LOGGED_PER_FIELD = 10


class NulledValues:
    """One stream's reporter of nulled values."""

    def __init__(self, ledger: Ledger, logger: logging.Logger) -> None:
        self.ledger, self.logger = ledger, logger
        self._logged: Counter[str] = Counter()

    def message(self, stream: str, primary_key: Any, record: Record) -> AirbyteMessage:
        self.ledger.nulled(stream, len(record.nulled))
        key = _key(primary_key, record)
        for value in record.nulled:
            self._log(stream, key, value.path, value.expected, value.excerpt)
        changes = [
            AirbyteRecordMessageMetaChange(
                field=value.path, change=Change.NULLED, reason=Reason.SOURCE_SERIALIZATION_ERROR
            )
            for value in record.nulled
        ]
        return AirbyteMessage(
            type=Type.RECORD,
            record=AirbyteRecordMessage(
                stream=stream,
                data=dict(record),
                emitted_at=time.time_ns() // 1_000_000,  # as the CDK stamps plain records
                meta=AirbyteRecordMessageMeta(changes=changes),
            ),
        )

    def _log(self, stream: str, key: str, path: str, expected: str, excerpt: str) -> None:
        self._logged[path] += 1
        seen = self._logged[path]
        if seen <= LOGGED_PER_FIELD:
            self.logger.warning(
                f"{stream}: FastBill sent {excerpt} in {path} of the record {key}, where a "
                f"{expected} was expected; emitted as null. The record's meta.changes marks it; "
                "correct the value in FastBill to sync it."
            )
        if seen == LOGGED_PER_FIELD:
            self.logger.warning(
                f"{stream}: more values of {path} that are not a valid {expected} are not logged; "
                "they are counted in the sync summary and marked in each record's meta.changes."
            )


def _key(primary_key: Any, record: Record) -> str:
    names = [primary_key] if isinstance(primary_key, str) else list(primary_key or [])
    return ", ".join(f"{name}={record.get(name)!r}" for name in names) or "(no key)"
