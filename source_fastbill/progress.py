"""What a sync costs and how far it got: the calls of every stream, the waits, and the summary.

One `Ledger` per sync, shared by every stream's error handler (which sees every answer) and by the
budget (which sees every wait). The source logs progress while streams run and a summary at the
end of every sync, successful or not: the user's API bill, stream by stream.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airbyte_cdk.models import AirbyteMessage, AirbyteStreamStatus, Type

logger = logging.getLogger("airbyte")
Clock = Callable[[], float]
HOUR = 3600.0
MINUTE = 60.0
PROGRESS_EVERY_SECONDS = 60.0
WAIT_KINDS = ("pacing", "quota", "retries")
DONE, FAILED, INTERRUPTED, NOT_STARTED = "done", "failed", "interrupted", "not started"


def wall_clock() -> float:
    """Seconds since the epoch; the one clock of quota and progress, replaced in tests."""
    return time.time()


@dataclass
class Tally:
    calls: int = 0  # answers received (refused ones included)
    refused: int = 0  # quota or limit refusals
    records: int = 0
    nulled: int = 0  # values emitted as null because they were not valid for their type
    unused: int = 0  # calls asked ahead whose answers the read did not need (read_ahead.py)
    waits: list[tuple[str, float, float]] = field(default_factory=list)  # kind, start, end

    def add(self, other: Tally) -> None:
        self.calls += other.calls
        self.refused += other.refused
        self.records += other.records
        self.nulled += other.nulled
        self.unused += other.unused
        self.waits.extend(other.waits)

    def waited(self, kind: str, now: float) -> float:
        """Wall time spent in waits of a kind up to `now`: overlapping waits count once.

        Streams read side by side wait at the same time; a wait cut short (an interrupted
        sync) counts until `now`, not as long as it was meant to last.
        """
        spans = sorted((start, min(end, now)) for k, start, end in self.waits if k == kind)
        spans = [(start, end) for start, end in spans if end > start]
        total, reach = 0.0, float("-inf")
        for start, end in spans:
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total


class Ledger:
    """Every call of one sync: when FastBill accepted it, for which stream, and the waits."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or (lambda: wall_clock())
        self._lock = threading.Lock()
        self._accepted: deque[float] = deque()  # this sync's accepted calls of the last hour
        self._services: dict[str, str] = {}
        self.tallies: dict[str, Tally] = {}
        self.observed_quota: int | None = None
        self.started = self.clock()
        self.most_in_hour = 0  # the most calls FastBill accepted within one hour in this sync

    def register(self, service: str, stream: str) -> None:
        """The first stream to declare a service owns the waits of its requests."""
        self._services.setdefault(service, stream)
        self.tallies.setdefault(stream, Tally())

    def stream_of(self, request: Any) -> str:
        try:
            service = json.loads(getattr(request, "body", None) or b"{}").get("SERVICE", "")
        except (ValueError, AttributeError):
            service = ""
        return self._services.get(service, service or "?")

    def answered(self, stream: str, refused: bool = False) -> None:
        with self._lock:
            tally = self.tallies.setdefault(stream, Tally())
            tally.calls += 1
            if refused:
                tally.refused += 1
            else:
                now = self.clock()
                self._accepted.append(now)
                self._trim(now)
                self.most_in_hour = max(self.most_in_hour, len(self._accepted))

    def waited(self, stream: str, kind: str, seconds: float) -> None:
        """A wait of `seconds` beginning now."""
        with self._lock:
            start = self.clock()
            self.tallies.setdefault(stream, Tally()).waits.append(
                (kind, start, start + max(seconds, 0.0))
            )

    def asked_ahead_unused(self, stream: str) -> None:
        with self._lock:
            self.tallies.setdefault(stream, Tally()).unused += 1

    def any_refused(self) -> bool:
        with self._lock:
            return any(tally.refused for tally in self.tallies.values())

    def emitted(self, stream: str, count: int = 1) -> None:
        self.tallies.setdefault(stream, Tally()).records += count

    def nulled(self, stream: str, count: int) -> None:
        with self._lock:
            self.tallies.setdefault(stream, Tally()).nulled += count

    def accepted_within(self, seconds: float) -> int:
        with self._lock:
            now = self.clock()
            self._trim(now)
            return sum(1 for moment in self._accepted if moment > now - seconds)

    def oldest_in_hour(self) -> float | None:
        with self._lock:
            self._trim(self.clock())
            return self._accepted[0] if self._accepted else None

    def accepted_since(self, moment: float) -> bool:
        with self._lock:
            return bool(self._accepted) and self._accepted[-1] > moment

    def _trim(self, now: float) -> None:
        while self._accepted and self._accepted[0] <= now - HOUR:
            self._accepted.popleft()

    def total(self, streams: Iterable[str] | None = None) -> Tally:
        total = Tally()
        for name, tally in self.tallies.items():
            if streams is None or name in streams:
                total.add(tally)
        return total


def summary_lines(ledger: Ledger, streams: list[str], outcomes: Mapping[str, str]) -> list[str]:
    """One line per stream of the sync (done, failed, interrupted or not started) and one more."""
    lines = []
    now = ledger.clock()
    for name in streams:
        tally = ledger.tallies.get(name, Tally())
        outcome = outcomes.get(name, NOT_STARTED)
        lines.append(f"Sync summary, {name} ({outcome}): {_describe(tally, now)}.")
    total = ledger.total()  # every call of the sync, the proofs of credentials included
    elapsed = duration(now - ledger.started)
    lines.append(
        f"Sync summary, all {len(streams)} streams: {_describe(total, now)}; elapsed {elapsed}."
    )
    if ledger.observed_quota:
        lines.append(
            f"FastBill refused calls after {ledger.observed_quota} calls within one hour: set "
            f"requests_per_hour to {suggested_hourly(ledger.observed_quota)} to spread the next "
            "syncs under the quota without refusals (leave room for the account's other API users)."
        )
    return lines


def suggested_hourly(observed: int) -> int:
    return max(1, observed - max(1, observed // 10))


def _describe(tally: Tally, now: float) -> str:
    waits = ", ".join(f"{kind} {duration(tally.waited(kind, now))}" for kind in WAIT_KINDS)
    nulled = (
        f"{tally.nulled:,} values emitted as null (invalid for their type; see meta.changes); "
        if tally.nulled
        else ""
    )
    unused = f" ({tally.unused:,} asked ahead, not needed)" if tally.unused else ""
    return (
        f"{tally.records:,} records, {tally.calls:,} API calls{unused}, {tally.refused:,} "
        f"refused; {nulled}waited: {waits}"
    )


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class Progress:
    """A log line per stream at least every minute while it emits records."""

    def __init__(self, ledger: Ledger, every: float = PROGRESS_EVERY_SECONDS) -> None:
        self.ledger, self.every = ledger, every
        self._last: dict[str, float] = {}
        self._status: dict[str, AirbyteStreamStatus] = {}
        self._about: dict[str, int] = {}  # the record count of each stream's last complete sync

    def observe(self, message: AirbyteMessage) -> None:
        """Every message of the sync: records count, stream statuses tell each stream's state."""
        if message.type == Type.RECORD and message.record:
            self.record(message.record.stream)
            return
        trace = message.trace if message.type == Type.TRACE else None
        status = trace.stream_status if trace else None
        if status is not None:
            self._status[status.stream_descriptor.name] = status.status
        guess = trace.estimate if trace else None
        if guess is not None and guess.row_estimate is not None:
            self._about[guess.name] = guess.row_estimate

    def outcomes(self, streams: Iterable[str], failed: Iterable[str]) -> dict[str, str]:
        """Each stream's outcome: one started and neither completed nor failed was cut short."""
        failed = set(failed)
        found = {}
        for name in streams:
            status = self._status.get(name)
            if name in failed or status == AirbyteStreamStatus.INCOMPLETE:
                found[name] = FAILED
            elif status == AirbyteStreamStatus.COMPLETE:
                found[name] = DONE
            elif status is None:
                found[name] = NOT_STARTED
            else:
                found[name] = INTERRUPTED
        return found

    def started(self, stream: str) -> None:
        self._last[stream] = self.ledger.clock()

    def record(self, stream: str) -> None:
        self.ledger.emitted(stream)
        now = self.ledger.clock()
        if now - self._last.setdefault(stream, now) >= self.every:
            self._last[stream] = now
            tally = self.ledger.tallies[stream]
            about = self._about.get(stream)
            of = f" (of about {about:,})" if about else ""
            logger.info(
                f"{stream}: {tally.records:,} records{of} and {tally.calls:,} API calls so far."
            )
