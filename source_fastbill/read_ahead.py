"""One stream's calls in parallel: the requests it will send next, asked before it sends them.

Streams of different services are read side by side (concurrency.py); an account whose invoices
hold most of the calls would still be bound by one stream's round trips. So each stream asks
ahead, on the sync's worker pool, and the CDK's read takes the answers in order, exactly as if
it had asked itself (same error handling, same checkpoints, records in order):
- certain calls: the next page after a full page, and the first page of the next `num_workers`
  parts of the read (date windows): each part walks its own pages, so windows are read side by
  side;
- speculative calls, in any long list (a service without date filters, a full refresh without
  start_date, or a large date window: the shape of the data decides, not the service): once a
  part has shown four full pages, `num_workers` pages are kept in flight ahead of its furthest
  full page (a part of up to four pages never costs a call more), at most `num_workers - 1`
  beyond an end per stream, counted and shown in the summary; none under an hourly quota
  (`requests_per_hour` set, or once FastBill refused a call), where a wasted call costs minutes.
At most `num_workers` calls are in flight in the whole sync (`InFlight`), asks ahead included,
and as many answers wait to be taken.
An answer asked ahead that the read never takes (beyond the end, or a read that stopped) was
still a call: it is counted when the read ends. The saved state is the CDK's, after each part
the read completed: an interrupted sync resumes at the first part not complete.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from source_fastbill import interrupt, protocol
from source_fastbill.progress import Ledger

Send = Callable[..., requests.Response]
SURE_PAGES = 3  # full pages a part shows before pages are asked ahead on a guess
MAX_BUFFERED = 20  # answers asked ahead and not yet taken, per stream: memory stays bounded


class InFlight:
    """The sync's `num_workers`: how many calls may be in flight at once, asks ahead included."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._slots = threading.BoundedSemaphore(self.workers)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._asked = 0  # asked ahead and not yet taken, in the whole sync

    def hold(self) -> bool:
        """Room for one more answer asked ahead? Each waits, parsed, until its read takes it:
        `num_workers` in flight and as many waiting are all the sync keeps (memory stays flat
        however many streams are read side by side)."""
        with self._lock:
            if self._asked >= 2 * self.workers:
                return False
            self._asked += 1
            return True

    def taken(self) -> None:
        with self._lock:
            self._asked -= 1

    def __enter__(self) -> InFlight:
        self._slots.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self._slots.release()

    def submit(self, work: Callable[[], requests.Response]) -> Future[requests.Response]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ahead")
            return self._pool.submit(work)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Asked:
    """One request asked ahead."""

    future: Future[requests.Response]
    offset: int
    speculative: bool  # asked before the page before it was known to be full
    part: str  # the FILTER it belongs to


def request_key(request: requests.PreparedRequest) -> tuple[str, str] | None:
    """The same request whatever the bytes: the URL and the body's JSON, keys sorted."""
    raw = request.body or b""
    try:
        sent = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(sent, dict):
        return None
    return request.url or "", json.dumps(sent, sort_keys=True)


def _with_body(
    template: requests.PreparedRequest, sent: Mapping[str, Any]
) -> requests.PreparedRequest:
    request = template.copy()
    request.prepare_body(data=None, files=None, json=dict(sent))
    return request


class ReadAhead:
    """The calls one stream will make next, asked on the sync's pool (see the module's doc)."""

    def __init__(
        self,
        stream: str,
        response_key: protocol.Keys,
        page_size: int,
        in_flight: InFlight,
        ledger: Ledger,
        speculate: Callable[[], bool],
    ) -> None:
        self.stream, self.response_key, self.page_size = stream, response_key, page_size
        self.in_flight, self.ledger, self.speculate = in_flight, ledger, speculate
        self.workers = in_flight.workers
        self._asked: dict[tuple[str, str], Asked] = {}
        self._taken: dict[str, int] = {}  # per part: the highest OFFSET the read sent
        self._full: dict[str, tuple[int, dict[str, Any]]] = {}  # per part: furthest full page
        self._upcoming: list[dict[str, Any]] = []  # the bodies of the read's next parts
        # Reentrant: a future that is done already runs its callback (`_arrived`) at once, in
        # the thread that asks, which holds the lock.
        self._lock = threading.RLock()
        self._send: Send | None = None
        self._kwargs: dict[str, Any] = {}
        self._template: requests.PreparedRequest | None = None
        self.unused = 0  # answers asked ahead that the read never took
        self._closed = False

    def expect_parts(self, bodies: list[dict[str, Any]]) -> None:
        """The first requests of the read's parts, in order (a date window's filter each).

        Asked as soon as the read is at the part before: each is a call the read needs.
        """
        with self._lock:
            self._upcoming = [dict(body) for body in bodies]

    def send(
        self, send: Send, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        """The stream's own call: the answer asked ahead if there is one, else asked now."""
        key = request_key(request)
        sent = json.loads(request.body) if key else None
        with self._lock:
            self._send, self._kwargs, self._template = send, kwargs, request
            asked = self._asked.pop(key, None) if key else None
            if asked is not None:
                self.in_flight.taken()
            if sent is not None:
                part = _part(sent)
                self._taken[part] = max(self._taken.get(part, -1), _offset(sent))
                self._ask_upcoming_parts(sent)
                self._top_up(part)  # the read moved on: more is within its reach
        if asked is not None and not asked.future.cancel():
            response = asked.future.result()  # an exception is raised as the send's own
            # The answer is to the read's own request: retries of it count as its attempts.
            response.request = request
            return response
        response = self._call(send, request, kwargs)
        if sent is not None:
            self._seen(sent, response)
        return response

    def close(self) -> None:
        """The read is over: what was asked and not taken is cancelled, or counted."""
        with self._lock:
            self._closed = True
            left, self._asked = list(self._asked.values()), {}
        for asked in left:
            self.in_flight.taken()
            if not asked.future.cancel():
                asked.future.add_done_callback(self._count_unused)

    def _count_unused(self, future: Future[requests.Response]) -> None:
        if future.exception() is not None:
            return  # no answer: not a call FastBill counted
        with self._lock:
            self.unused += 1
        self.ledger.answered(self.stream)
        self.ledger.asked_ahead_unused(self.stream)

    def _call(
        self, send: Send, request: requests.PreparedRequest, kwargs: dict[str, Any]
    ) -> requests.Response:
        interrupt.check()  # a stopping process makes no further call, from any thread
        with self.in_flight:
            return send(request, **kwargs)

    def _ask_upcoming_parts(self, sent: Mapping[str, Any]) -> None:
        """Once the read is at a part, the first pages of the parts after it are certain.

        Only the next `num_workers` of them: each answer waits in memory, parsed, until the read
        takes it, and asking the others later costs nothing (time_entries has a window a year).
        """
        filters = sent.get("FILTER")
        index = next((i for i, b in enumerate(self._upcoming) if b.get("FILTER") == filters), None)
        if index is None:
            return
        for body in self._upcoming[index + 1 : index + 1 + self.workers]:
            self._ask(body, False)

    def _seen(self, sent: Mapping[str, Any], response: requests.Response) -> None:
        """A full page makes its next page certain; a long list is guessed further ahead."""
        if not response.ok or protocol.errors(response):
            return
        if len(protocol.entries(response, self.response_key)) < self.page_size:
            return
        offset, part = _offset(sent), _part(sent)
        with self._lock:
            for asked in self._asked.values():  # known now: the list reaches past them
                if asked.part == part and asked.offset <= offset + self.page_size:
                    asked.speculative = False
            if offset > self._full.get(part, (-1, {}))[0]:
                self._full[part] = (offset, dict(sent))
            self._top_up(part)

    def _top_up(self, part: str) -> None:
        """Pages in flight ahead of the part's furthest full page, within reach of the read.

        The next one is certain, the others guesses (after four full pages of the part, at
        most `num_workers - 1` beyond an end per stream); nothing further than
        `num_workers` pages ahead of what the read sent, so a read that stops wastes little.
        """
        if self._closed or self._template is None or part not in self._full:
            return
        offset, sent = self._full[part]
        full_pages = offset // self.page_size + 1
        guessing = full_pages > SURE_PAGES and self._may_speculate()
        depth = self.workers if guessing else 1
        taken = self._taken.get(part, -1)
        reach = max(taken, 0) + self.workers * self.page_size
        for step in range(1, depth + 1):
            target = offset + step * self.page_size
            if target > reach:
                break
            if target <= taken:
                continue
            speculative = step > 1
            if speculative and self._speculation_left() < 1:
                break
            self._ask({**sent, "OFFSET": target}, speculative)

    def _may_speculate(self) -> bool:
        return self.workers > 1 and self.speculate()

    def _speculation_left(self) -> int:
        outstanding = sum(1 for asked in self._asked.values() if asked.speculative)
        return max(0, self.workers - 1 - self.unused - outstanding)

    def _ask(self, sent: Mapping[str, Any], speculative: bool) -> None:
        """Asks one request ahead, unless asked already or too much is waiting to be taken."""
        assert self._template is not None and self._send is not None
        request = _with_body(self._template, sent)
        key = request_key(request)
        if key is None or key in self._asked or len(self._asked) >= MAX_BUFFERED:
            return
        if not self.in_flight.hold():
            return  # asked again at the read's next step, once an answer was taken
        send, kwargs = self._send, dict(self._kwargs)
        future = self.in_flight.submit(lambda: self._call(send, request, kwargs))
        self._asked[key] = Asked(future, _offset(sent), speculative, _part(sent))
        future.add_done_callback(lambda done: self._arrived(sent, done))

    def _arrived(self, sent: Mapping[str, Any], future: Future[requests.Response]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        self._seen(sent, future.result())


def _offset(sent: Mapping[str, Any]) -> int:
    return int(sent.get("OFFSET", 0) or 0)


def _part(sent: Mapping[str, Any]) -> str:
    """Which part of the read a request belongs to: its FILTER."""
    return json.dumps(sent.get("FILTER"), sort_keys=True)
