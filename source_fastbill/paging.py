"""What a page says about the paging itself: junk entries, repeated pages, keys that misbehave.

FastBill's OFFSET paging has no total count and no order, so the connector watches each page:
- an entry that is not a record (`null`, `""`, `[]`) is skipped and said, but still counts for
  the page being full: only a short page ends a stream;
- a full page that brings no record not yet seen in its window means the server ignores OFFSET;
  paging on would spend the quota forever, so the stream fails after `STALE_PAGES_TOLERATED`;
- a record without a primary key, or a key served again with different content, is counted and
  said once per stream (the first version of a key is the one delivered).
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Mapping
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill import protocol
from source_fastbill.keys import canonical_key

STALE_PAGES_TOLERATED = 1  # one repeated page can be data moving mid-sync; two are not


def _fingerprint(record: Mapping[str, Any]) -> int:
    return hash(json.dumps(record, sort_keys=True, default=str))


class PageGuard:
    """The paging bookkeeping of one stream."""

    def __init__(self, stream: str, service: str, key: str, logger: logging.Logger) -> None:
        self.stream, self.service, self.key, self.logger = stream, service, key, logger
        self._delivered: dict[Any, int] = {}  # key -> fingerprint, over the stream's slices
        self._in_slice: set[Any] = set()
        self._stale = 0
        # What each page brought that was new, beside the page, not pinned on it.
        self._fresh: weakref.WeakKeyDictionary[requests.Response, int] = weakref.WeakKeyDictionary()
        self.junk = self.keyless = self.conflicting = self.non_finite = 0

    def new_slice(self) -> None:
        self._in_slice, self._stale = set(), 0

    def page(self, response: requests.Response, found: list[Any], records: list[Any]) -> None:
        """Called with every page: what it brought that is new in this window."""
        junk = len(found) - len(records)
        if junk:
            self.junk += junk
            shown = ", ".join(sorted({json.dumps(e)[:20] for e in found if e not in records}))
            self.logger.warning(
                f"{self.stream}: FastBill's {self.service} page at OFFSET "
                f"{_offset(response)} held {junk} entries that are not records ({shown}); "
                "they were skipped, and paging went on."
            )
        self.non_finite += protocol.parse(response).non_finite
        fresh = 0
        for record in records:
            # Canonical already for list streams; child rows' own keys get the same rule here.
            identity: Any = canonical_key(record.get(self.key))
            if identity is None:
                identity = ("no key", _fingerprint(record))
            if identity not in self._in_slice:
                self._in_slice.add(identity)
                fresh += 1
        self._fresh[response] = fresh

    def after_full_page(self, response: requests.Response, offset: int) -> None:
        """A full page asks for the next one, unless it repeated what this window already had."""
        if self._fresh.get(response, 1):
            self._stale = 0
            return
        self._stale += 1
        if self._stale > STALE_PAGES_TOLERATED:
            raise AirbyteTracedException(
                message=(
                    f"{self.stream}: FastBill answered {self.service} at OFFSET {offset} with the "
                    f"same records as the pages before, {self._stale} times in a row: the server "
                    "seems to ignore OFFSET, and paging on would never end. Stopped to protect "
                    "the API quota; the records of this stream are incomplete. Report this to "
                    "FastBill support, with the time of the sync."
                ),
                failure_type=FailureType.system_error,
            )

    def delivered_before(self, record: Mapping[str, Any]) -> bool:
        """Whether the stream already emitted this key in this sync (paging over moving data)."""
        key = canonical_key(record.get(self.key))
        if key is None:
            self.keyless += 1
            return False
        fingerprint = _fingerprint(record)
        known = self._delivered.get(key)
        if known is None:
            self._delivered[key] = fingerprint
            return False
        if known != fingerprint:
            self.conflicting += 1
        return True

    def finish(self) -> None:
        """The stream's last slice ended: say what went wrong with keys, free the memory."""
        said = []
        if self.keyless:
            said.append(f"{self.keyless} records without {self.key} were emitted as they are")
        if self.conflicting:
            said.append(
                f"{self.conflicting} records repeated a {self.key} already delivered, with "
                "different content (the first version was kept)"
            )
        if self.non_finite:
            said.append(
                f"{self.non_finite} numbers that are not finite (NaN, Infinity) became null"
            )
        if said:
            self.logger.warning(f"{self.stream}: " + "; ".join(said) + ".")
        self._delivered, self._in_slice = {}, set()
        self.keyless = self.conflicting = self.non_finite = 0


def _offset(response: requests.Response) -> Any:
    try:
        return json.loads(response.request.body or b"{}").get("OFFSET", 0)
    except (ValueError, AttributeError):
        return "?"
