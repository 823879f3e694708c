"""The read of one part of a stream (a date window, or the whole list), step by step.

Every stream reads through the same steps, in this order; a stream class only declares what the
steps need (its service, keys, date filters, nesting, the parent it needs per record):
1. pages      FastBill's answers for the part's request, page by page; each record parsed, its
              key made canonical and its values normalised (FastbillStream.parse_response);
2. in part    records outside the part's date window (a filter FastBill ignored) and records an
              earlier part of this read delivered already are left out;
3. news       the cursor keeps what is new since the state the read started from, and notes the
              newest values it saw (cursor.py);
4. rows       a child stream unfolds each record into its rows (nesting.py);
5. per parent where FastBill insists on a filter by a parent's key (contact.get on some
              accounts wants a CUSTOMER_ID), the service is read once per parent record;
6. part done  the part is complete: the cursor saves its state (where to resume, or the end).
Nothing is saved for a part that did not complete: a read stopped half-way resumes before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airbyte_cdk.models import SyncMode

from source_fastbill.incremental import in_window
from source_fastbill.nesting import unfold

if TYPE_CHECKING:
    from source_fastbill.streams import FastbillStream

Pages = Callable[[SyncMode, Mapping[str, Any]], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class PerParent:
    """A service FastBill may insist on reading per parent record, filtered by the parent's key."""

    parent: type[FastbillStream]
    field: str  # e.g. "CUSTOMER_ID": the filter FastBill asks for, and the parent's key
    noun: str  # one parent record in words, e.g. "customer"


class Pipeline:
    """One stream's steps; `pages` is the CDK's paged read of one request."""

    def __init__(self, stream: FastbillStream, pages: Pages) -> None:
        self.stream, self.pages = stream, pages
        self.per_parent_needed = False  # FastBill answered "missing / invalid field: <field>"

    def read(self, sync_mode: SyncMode, part: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        stream = self.stream
        stream.paging.new_slice()
        records = self.pages(sync_mode, part)
        records = self.in_part(records, part)
        records = stream.position.news(records, sync_mode)
        yield from self.rows(records)
        yield from self.per_parent(sync_mode, part)
        self.part_done(part)

    def in_part(
        self, records: Iterable[Mapping[str, Any]], part: Mapping[str, Any]
    ) -> Iterator[Mapping[str, Any]]:
        window, paging = part.get("window"), self.stream.paging
        for record in records:
            if in_window(record, window) and not paging.delivered_before(record):
                yield record

    def rows(self, records: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        nesting = self.stream.nesting
        if nesting is None:
            yield from records
            return
        for record in records:
            yield from unfold(record, self.stream.record_key, nesting)

    def insists_on(self, field: str) -> bool:
        """FastBill wants `field` in the filter: True when the stream can read per parent."""
        declared, stream = self.stream.per_parent, self.stream
        if declared is None or field != declared.field or self.per_parent_needed:
            return False
        if stream.check_call:  # check's one call proves the credentials either way
            return False
        noun = declared.noun
        stream.logger.warning(
            f"FastBill's {stream.service} requires a {field} on this account: reading "
            f"{stream.name} {noun} by {noun}, which costs one API call per {noun}."
        )
        self.per_parent_needed = True
        return True

    def per_parent(
        self, sync_mode: SyncMode, part: Mapping[str, Any]
    ) -> Iterator[Mapping[str, Any]]:
        declared = self.stream.per_parent
        if declared is None or not self.per_parent_needed or part.get("filter"):
            return
        stream, key = self.stream, declared.field
        parents = declared.parent(
            stream.config, stream.authenticator, stream.api_budget, stream.context
        )
        for parent in parents.read_records(SyncMode.full_refresh):
            for record in self.read(sync_mode, {"filter": {key: parent[key]}}):
                record.setdefault(key, parent[key])  # type: ignore[attr-defined]
                yield record

    def part_done(self, part: Mapping[str, Any]) -> None:
        then = part.get("then")
        if not then:
            # The stream's last part: its keys served their purpose, and the source keeps every
            # stream object until the whole sync ends.
            self.stream.paging.finish()
            if self.stream.ahead is not None:
                self.stream.ahead.close()
        self.stream.position.part_done(then)
