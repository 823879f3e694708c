"""The cursor of one stream's read: which records are news, and what the state says after a part.

A stream without date filters has `NoCursor`: every record is news, nothing is saved. A stream
with them has a `DateCursor`: its plan (incremental.py) cuts the read into date windows, its
state says how far the last complete sync got, and after each window it saves where to resume.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import requests
from airbyte_cdk.models import SyncMode

from source_fastbill import clock
from source_fastbill.clock import fastbill_today
from source_fastbill.config import FastbillConfig
from source_fastbill.incremental import (
    DateFilter,
    Plan,
    ReadLog,
    SyncState,
    is_news,
    newest,
    with_resume,
)


class NoCursor:
    """A service FastBill cannot filter by date: every read is the whole list."""

    def answered(self, response: requests.Response) -> None:
        """FastBill's first answer of the read (its clock matters to date cursors only)."""

    def news(self, records: Iterable[Mapping[str, Any]], sync_mode: SyncMode) -> Iterator[Any]:
        yield from records

    def part_done(self, then: dict[str, Any] | None) -> None:
        """A part of the read is complete: nothing to remember."""


class DateCursor(NoCursor):
    """The state of a date-filtered stream, and its read's plan (set when the read starts)."""

    def __init__(
        self,
        config: FastbillConfig,
        date_filter: DateFilter,
        paid_filter: DateFilter | None,
        change_field: str | None,
        name: str,
        logger: logging.Logger,
        warn_once: Any,
        windowed_full_refresh: bool = False,
        key_field: str = "",
    ) -> None:
        self.config, self.date_filter, self.paid_filter = config, date_filter, paid_filter
        self.change_field, self.name, self.logger, self.warn_once = (
            change_field, name, logger, warn_once,
        )  # fmt: skip
        self.field = change_field or date_filter.field
        self.windowed_full_refresh = windowed_full_refresh  # FastBill serves it only by window
        self.at_start = SyncState()  # as the read found it: what news are measured against
        self.now = SyncState()  # what the state says at this moment of the read
        self.plan: Plan | None = None
        self.started: datetime | None = None  # FastBill's clock at this read's first answer
        self.newest_change: str | None = None
        self.newest_paid: str | None = None
        self.key_field = key_field
        self.read_log = ReadLog(key_field, date_filter.field, change_field)

    def state(self) -> dict[str, Any]:
        return self.now.to_dict(self.field)

    def set_state(self, value: Mapping[str, Any]) -> None:
        self.now = SyncState.parse(value, self.field, self.logger)

    def _plan(self) -> Plan:
        return Plan(self.config, self.date_filter, self.paid_filter, today=fastbill_today())

    def parts(self, sync_mode: SyncMode) -> Iterator[Mapping[str, Any]]:
        """The read's parts (date windows); the plan's end is also the position saved at the end,
        even if the read runs past midnight."""
        self.plan, self.started = self._plan(), None
        self.now = self.plan.sane(self.now, self.logger, self.name)
        self.at_start = self.now
        if sync_mode == SyncMode.incremental:
            yield from self.plan.incremental(self.now)
        else:
            yield from self.plan.full_refresh(self.windowed_full_refresh)

    def answered(self, response: requests.Response) -> None:
        if self.started is None:
            self.started = clock.safe_now(response, self.warn_once)

    def news(self, records: Iterable[Mapping[str, Any]], sync_mode: SyncMode) -> Iterator[Any]:
        start, incremental = self.at_start, sync_mode == SyncMode.incremental
        date_field, change_field = self.date_filter.field, self.change_field
        for record in records:
            # Every record read here was delivered, now or before (a skipped one is a version
            # already delivered): the positions move past it, so the memory can forget it.
            self.read_log.note(record, self.started)
            self.newest_change = newest(self.newest_change, record.get(self.field))
            self.newest_paid = newest(self.newest_paid, record.get("PAID_DATE"))
            if incremental and not is_news(record, start, date_field, change_field, self.key_field):
                continue
            yield record

    def part_done(self, then: dict[str, Any] | None) -> None:
        if then:  # more windows follow: keep the completed sync's cursor, remember where to resume
            self.now = with_resume(self.now, then)
            return
        plan = self.plan or self._plan()
        started = self.started or clock.local_now()
        self.now = self.at_start.finished(
            self.newest_change, self.newest_paid, plan.end, started, plan.today,
            self.read_log.kept,
        )  # fmt: skip
