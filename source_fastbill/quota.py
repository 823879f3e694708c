"""FastBill's hourly quota: reading a refusal in any wording, waiting it out, pacing after it.

FastBill counts each account's successful calls of the last 3600 s and refuses the rest, saying
from when calls are accepted again; nobody here has seen that answer (fastbill-api.md §4). So:
- a refusal is recognised by its status (429), its words (English or German), or a time in the
  next hour anywhere in its text; the time may be ISO, `dd.mm.yyyy HH:MM`, `HH:MM Uhr`, a bare
  `HH:MM` (German local time), a relative "in 5 Minuten", or a Retry-After header;
- an answer in words the connector does not know, after this sync's own calls succeeded, is
  taken for the quota once: the connector waits until the oldest of its own calls of the last
  hour has left FastBill's window, and fails with FastBill's text if refused the same way again;
- every wait happens in the shared budget (`QuotaPolicy`), which says why and until when, and
  keeps saying so every five minutes: the CDK only sleeps.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import pendulum
import requests
from airbyte_cdk.sources.streams.call_rate import AbstractCallRatePolicy, CallRateLimitHit

from source_fastbill import clock
from source_fastbill.config import FASTBILL_TIMEZONE
from source_fastbill.progress import HOUR, MINUTE, Ledger, duration, suggested_hourly

logger = logging.getLogger("airbyte")
HEARTBEAT_SECONDS = 300.0  # a waiting sync says so at least this often
NOTEWORTHY_SECONDS = 5.0
MAX_WAIT_SECONDS = HOUR  # FastBill's window is one hour: no single wait is longer
HONOURED_AHEAD_SECONDS = HOUR + 10 * MINUTE  # a time this far ahead is a quota time
WINDOW_MARGIN_SECONDS = 5.0  # FastBill's clock and ours, and the call in flight
SHORT_RETRIES = 3  # a limit answer without a hint is retried quickly this often first
TIME_RESOLUTION_SECONDS = 0.01  # a wait shorter than this is over: the clocks' rounding

QUOTA_WORDING = re.compile(
    r"(rate|api|call|request|hour|stunden|anfrage|aufruf)[ -]?limit|limit\w* (reached|exceeded|"
    r"erreicht|überschritten|ueberschritten)|quota|kontingent|too many|zu viele|throttl"
    r"|try again later|später erneut|spaeter erneut",
    re.IGNORECASE,
)
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2})?)(Z|[+-]\d{2}:?\d{2})?")
_GERMAN = re.compile(
    r"(\d{1,2})\.(\d{1,2})\.(\d{4}),?\s*(?:um\s*)?(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?"
)
_CLOCK = re.compile(r"(?<![\d:.])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])")
_RELATIVE = re.compile(
    r"(?:in|after|nach|wait|warten|retry)\s+(?:\w+\s+)?(\d+(?:[.,]\d+)?)\s*"
    r"(sekunden|seconds?|secs?|s|minuten|minutes?|mins?|min|stunden|hours?|std|h)\b",
    re.IGNORECASE,
)
_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Hint:
    """What an answer says about when to ask again."""

    seconds: float | None  # None: no time given
    source: str  # "Retry-After", "FastBill's time 14:05", ...


def server_now(response: requests.Response | None) -> datetime:
    """FastBill's clock (its Date header) where it gives one: its named times are in its clock."""
    return clock.server_now(response)


def hint(response: requests.Response, text: str) -> Hint:
    """The wait that FastBill asks for: Retry-After first, then a time or duration in the text."""
    now = server_now(response)
    retry_after = _retry_after(response.headers.get("Retry-After"), now)
    if retry_after is not None:
        return Hint(retry_after, "Retry-After")
    named = named_moment(text, now)
    if named is not None:
        return Hint((named - now).total_seconds(), f"FastBill's time {_local(named)}")
    relative = _RELATIVE.search(text)
    if relative:
        amount = float(relative[1].replace(",", "."))
        return Hint(amount * _UNITS[relative[2][0].lower()], f"FastBill's '{relative[0]}'")
    return Hint(None, "no time given")


def _retry_after(header: str | None, now: datetime) -> float | None:
    if not header or not header.strip():
        return None
    value = header.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return (moment.astimezone(timezone.utc) - now).total_seconds()


def named_moment(text: str, now: datetime) -> datetime | None:
    """The moment a text names: ISO, German date and time, or a clock time (German local time)."""
    berlin_now = pendulum.instance(now).in_timezone(FASTBILL_TIMEZONE)
    iso = _ISO.search(text)
    if iso:
        zone = iso[3]
        stamp = f"{iso[1]}T{iso[2].zfill(5) if len(iso[2]) < 5 else iso[2]}"
        try:
            if zone:
                return pendulum.parse(stamp + ("+00:00" if zone == "Z" else zone))
            return pendulum.parse(stamp, tz=FASTBILL_TIMEZONE)
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            return None
    german = _GERMAN.search(text)
    if german:
        day, month, year, hour, minute, second = german.groups()
        try:
            return pendulum.datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                tz=FASTBILL_TIMEZONE,
            )  # fmt: skip
        except ValueError:
            return None
    clock = _CLOCK.search(text)
    if clock:
        hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        if hour > 23 or minute > 59 or second > 59:
            return None
        moment = berlin_now.set(hour=hour, minute=minute, second=second, microsecond=0)
        return moment if moment > berlin_now else moment.add(days=1)
    return None


def looks_like_quota(text: str, found: Hint) -> bool:
    """Quota words, or a time within the next hour or so, whatever the words around it."""
    if QUOTA_WORDING.search(text):
        return True
    return found.seconds is not None and 0 < found.seconds <= HONOURED_AHEAD_SECONDS


def _local(moment: datetime) -> str:
    return pendulum.instance(moment).in_timezone(FASTBILL_TIMEZONE).format("YYYY-MM-DD HH:mm:ss")


def until_text(epoch: float) -> str:
    moment = pendulum.from_timestamp(epoch)
    berlin = moment.in_timezone(FASTBILL_TIMEZONE).format("HH:mm:ss")
    return f"until {berlin} German time, {moment.format('HH:mm:ss')} UTC"


@dataclass
class Hold:
    until: float  # epoch seconds
    reason: str
    named: bool  # FastBill named the time: it wins over what the connector inferred


class QuotaPolicy(AbstractCallRatePolicy):
    """The one place where the sync waits: FastBill's refusals, learned quota, and pacing.

    Wraps the pacing policy (moving windows under the configured limits). A wait longer than
    the heartbeat is handed to the CDK in pieces, so the log says at least every five minutes
    why the sync waits and until when.
    """

    def __init__(self, pacing: AbstractCallRatePolicy, ledger: Ledger) -> None:
        self.pacing, self.ledger = pacing, ledger
        self.hold: Hold | None = None
        self.learned_hourly: int | None = None
        self._lock = threading.Lock()
        self._episode: tuple[str, float] | None = None
        self._last_line = 0.0

    def matches(self, request: Any) -> bool:
        return True

    def update(self, available_calls: int | None, call_reset_ts: datetime | None) -> None:
        self.pacing.update(available_calls, call_reset_ts)

    def hold_until(self, until: float, reason: str, named: bool) -> None:
        with self._lock:
            if (
                self.hold is None
                or self.hold.until < self.ledger.clock()
                or until > self.hold.until
            ):
                self.hold = Hold(until, reason, named)

    def try_acquire(self, request: Any, weight: int) -> None:
        stream = self.ledger.stream_of(request)
        waiting = self._quota_wait()
        if waiting:
            until, reason = waiting
            self._wait(stream, "quota", until, reason, request)
        try:
            self.pacing.try_acquire(request, weight)
        except CallRateLimitHit as hit:
            until = self.ledger.clock() + hit.time_to_wait.total_seconds()
            reason = f"pacing under the configured limit of {hit.rate} calls"
            self._wait(stream, "pacing", until, reason, request)
        self._episode = None

    def _quota_wait(self) -> tuple[float, str] | None:
        now = self.ledger.clock()
        hold = self.hold
        if hold and hold.until - now > TIME_RESOLUTION_SECONDS:
            return hold.until, hold.reason
        if self.learned_hourly and not (hold and hold.named):
            oldest = self.ledger.oldest_in_hour()
            frees = (oldest or 0.0) + HOUR + WINDOW_MARGIN_SECONDS
            full = self.ledger.accepted_within(HOUR) >= self.learned_hourly
            if oldest and full and frees - now > TIME_RESOLUTION_SECONDS:
                return (
                    frees,
                    f"spreading calls under the observed quota of {self.learned_hourly} "
                    "calls per hour",
                )
        return None

    def _wait(self, stream: str, kind: str, until: float, reason: str, request: Any) -> None:
        now = self.ledger.clock()
        left = max(until - now, 0.0)
        piece = min(left, HEARTBEAT_SECONDS)
        self._announce(stream, kind, until, left, reason)
        self.ledger.waited(stream, kind, piece)
        raise CallRateLimitHit(
            error=reason, item=request, weight=1, rate=reason, time_to_wait=timedelta(seconds=piece)
        )

    def _announce(self, stream: str, kind: str, until: float, left: float, reason: str) -> None:
        if left < NOTEWORTHY_SECONDS:
            return
        episode = (kind, round(until / 5) * 5)
        now = self.ledger.clock()
        if self._episode != episode:
            self._episode, self._last_line = episode, now
            logger.info(f"{stream}: waiting {duration(left)} ({until_text(until)}): {reason}.")
        elif now - self._last_line >= HEARTBEAT_SECONDS - 1:
            self._last_line = now
            logger.info(
                f"{stream}: still waiting, {duration(left)} left ({until_text(until)}): {reason}."
            )


@dataclass(frozen=True)
class Decision:
    """How the error handler answers a refusal: wait (the budget holds) or fail."""

    wait: float | None  # seconds until the next try; None: do not retry
    message: str
    hold: bool = True  # the budget holds every call until then (the quota is per account)


class Quota:
    """The quota rules of one sync: shared by every stream's error handler and by the budget."""

    def __init__(
        self,
        ledger: Ledger,
        policy: QuotaPolicy,
        requests_per_minute: int,
        requests_per_hour: int | None,
    ) -> None:
        self.ledger, self.policy = ledger, policy
        self.limits = (requests_per_minute, requests_per_hour)
        self._inferred: tuple[str, float] | None = None  # text, when the inferred wait began

    def refused(
        self, stream: str, response: requests.Response, text: str, attempt: int
    ) -> Decision:
        """A recognised refusal (429, quota wording, or a named time): wait as long as it says."""
        self.ledger.answered(stream, refused=True)
        found = hint(response, text)
        said = f"FastBill refused a call ({text or f'HTTP {response.status_code}'})"
        if found.seconds is not None:
            wait = min(max(found.seconds, 1.0), MAX_WAIT_SECONDS)
            self._learn(named=True)
            self._hold(wait, f"{said}; calls are accepted again per {found.source}", named=True)
            return Decision(wait, said)
        if attempt <= SHORT_RETRIES and self._far_from_limits():
            short = float(2 ** (attempt - 1)) + 1.0  # the CDK adds its second
            return Decision(short, f"{said} without saying until when", hold=False)
        return self._wait_for_window(said)

    def unrecognised(self, stream: str, text: str) -> Decision | None:
        """An ERRORS answer in unknown words: the quota, once, if this sync's calls succeeded."""
        previous = self._inferred
        if previous and previous[0] == text and not self.ledger.accepted_since(previous[1]):
            return None  # refused the same way right after the wait: not the quota
        if self.ledger.oldest_in_hour() is None:
            return None
        self.ledger.answered(stream, refused=True)
        self._inferred = (text, self.ledger.clock())
        return self._wait_for_window(
            f"FastBill answered '{text}', which the connector takes for the hourly quota"
        )

    def tried(self, text: str) -> str:
        """What was tried before failing on an unknown answer (for the failure message)."""
        if self._inferred and self._inferred[0] == text:
            return (
                " The connector took it for FastBill's hourly quota, waited until the oldest of "
                "its own calls of the last hour had left FastBill's window, and asked again: "
                "FastBill answered the same."
            )
        return ""

    def _wait_for_window(self, said: str) -> Decision:
        oldest = self.ledger.oldest_in_hour()
        now = self.ledger.clock()
        self._learn(named=False)
        if oldest is None:
            wait = MINUTE
            why = f"{said}; no call of this sync is in the last hour, so waiting a minute"
        else:
            wait = min(max(oldest + HOUR + WINDOW_MARGIN_SECONDS - now, 1.0), MAX_WAIT_SECONDS)
            why = (
                f"{said}; waiting until the oldest of this sync's calls of the last hour leaves "
                "FastBill's window"
            )
        self._hold(wait, why, named=False)
        return Decision(wait, why)

    def _hold(self, wait: float, reason: str, named: bool) -> None:
        self.policy.hold_until(self.ledger.clock() + wait, reason, named)

    def _learn(self, named: bool) -> None:
        observed = self.ledger.accepted_within(HOUR)
        if observed <= 0:
            return
        if self.ledger.observed_quota != observed:
            logger.info(
                f"FastBill refused a call after this sync made {observed} accepted calls within "
                f"the last hour: the account's quota is probably about {observed} calls per hour "
                f"(less what other API users of the account take). Suggested requests_per_hour: "
                f"{suggested_hourly(observed)}."
            )
        self.ledger.observed_quota = observed
        if not named:
            self.policy.learned_hourly = observed

    def _far_from_limits(self) -> bool:
        per_minute, per_hour = self.limits
        if self.ledger.accepted_within(MINUTE) >= per_minute / 2:
            return False
        return per_hour is None or self.ledger.accepted_within(HOUR) < per_hour / 2
