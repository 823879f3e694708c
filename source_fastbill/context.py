"""What the streams of one sync share besides the budget: ledger, quota, credentials, pages.

Created by sync.Sync for one `read` or `check` and dropped at its end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from source_fastbill import protocol
from source_fastbill.answers import Decisions
from source_fastbill.failures import Failures
from source_fastbill.progress import Ledger
from source_fastbill.quota import Quota
from source_fastbill.read_ahead import InFlight, ReadAhead
from source_fastbill.sharing import SharedPages


@dataclass
class Credentials:
    """Whether this sync's credentials are proven: a refusal after that is about one service.

    `prove` makes one customer.get call (both editions have it) and says whether it succeeded;
    it runs only when a refusal arrives before any call of the sync succeeded.
    """

    prove: Callable[[], bool] = lambda: False
    proven: bool = False
    # Set with `proven`: concurrent lanes wait for it (concurrency.py).
    event: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def confirmed(self) -> None:
        self.proven = True
        self.event.set()

    def work(self) -> bool:
        with self._lock:
            if not self.proven and self.prove():
                self.confirmed()
            return self.proven


@dataclass
class SyncContext:
    """One sync's shared parts; answers.AnswerDesk is what changes them as answers arrive."""

    ledger: Ledger
    quota: Quota
    credentials: Credentials
    pages: SharedPages = field(default_factory=SharedPages)
    failures: Failures = field(default_factory=Failures)
    decisions: Decisions = field(default_factory=Decisions)
    in_flight: InFlight = field(default_factory=lambda: InFlight(1))
    speculate: Callable[[], bool] = lambda: False  # may a stream ask pages ahead? (read_ahead.py)
    aheads: list[ReadAhead] = field(default_factory=list)
    _said: set[str] = field(default_factory=set)

    def read_ahead(
        self, stream: str, response_key: protocol.Keys, page_size: int
    ) -> ReadAhead | None:
        """A stream's asks ahead: none when the sync makes one call at a time."""
        if self.in_flight.workers < 2:
            return None
        ahead = ReadAhead(
            stream, response_key, page_size, self.in_flight, self.ledger, self.speculate
        )
        self.aheads.append(ahead)
        return ahead

    def close(self) -> None:
        """The sync is over: nothing asked ahead is left running, nothing shared on disk."""
        for ahead in self.aheads:
            ahead.close()
        self.in_flight.close()
        self.pages.close()

    def warn_once(self, kind: str, text: str) -> None:
        """A warning said once per sync, however many streams come across the same thing."""
        if kind not in self._said:
            self._said.add(kind)
            logging.getLogger("airbyte").warning(text)
