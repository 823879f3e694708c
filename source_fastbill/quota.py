"""FastBill's hourly quota: reading a refusal in any wording, waiting it out, pacing after it.

FastBill counts each account's successful calls of the last 3600 s and refuses the rest, saying
from when calls are accepted again; nobody has published that answer (docs/fastbill.md). So:
- a refusal is recognised by its status (429), its words (English or German), or a time in the
  next hour anywhere in it; `refusal_wait` is the one reading of its wait: Retry-After (any
  status), a JSON field (RETRY_AFTER, RESET, WAIT, ...), or a moment or duration in the text
  (ISO, HTTP date, `dd.mm.yyyy HH:MM[:SS] [Uhr]`, `3:05 PM`, `15 Uhr`, zone names, "in einer
  Minute", "zwanzig Sekunden"; naive times are Berlin time). A wait of 0 or a past moment is
  no usable hint: such a refusal is retried as one without a time, never in a 1 s loop;
- an hourly quota is learned only from evidence: at least LEARN_MIN_CALLS accepted calls within
  the hour before a refusal, and never below the most seen so far;
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
from dateparser.search import search_dates

from source_fastbill import clock
from source_fastbill.config import FASTBILL_TIMEZONE
from source_fastbill.progress import HOUR, MINUTE, Ledger, duration, suggested_hourly
from source_fastbill.status import RateLimitedStatus

logger = logging.getLogger("airbyte")
HEARTBEAT_SECONDS = 300.0  # a waiting sync says so at least this often
NOTEWORTHY_SECONDS = 5.0
MAX_WAIT_SECONDS = HOUR  # FastBill's window is one hour: no single wait is longer
HONOURED_AHEAD_SECONDS = HOUR + 10 * MINUTE  # a time this far ahead is a quota time
WINDOW_MARGIN_SECONDS = 5.0  # FastBill's clock and ours, and the call in flight
LEARN_MIN_CALLS = 10  # fewer accepted calls before a refusal teach nothing about the quota
SHORT_RETRIES = 3  # a limit answer without a hint is retried quickly this often first
MIN_WAIT_SECONDS = 0.001  # pyrate-limiter's resolution
TIME_RESOLUTION_SECONDS = 0.01  # a wait shorter than this is over: the clocks' rounding

QUOTA_WORDING = re.compile(
    r"(rate|api|call|request|hour|stunden|anfrage|aufruf)[ -]?limit|limit\w* (reached|exceeded|"
    r"erreicht|überschritten|ueberschritten)|quota|kontingent|too many|zu viele|throttl"
    r"|try again later|später erneut|spaeter erneut",
    re.IGNORECASE,
)
MAX_TEXT_CHARS = 400  # dateparser is slow on long texts; a refusal names its time early
PAST_TOLERANCE_SECONDS = HOUR  # a clock time up to an hour ago is past, not tomorrow
WAIT_FIELDS = frozenset(
    {"RETRY_AFTER", "RETRYAFTER", "RETRY_IN", "RESET", "RESET_AT", "RESET_IN", "WAIT",
     "WAIT_SECONDS", "SECONDS", "RATELIMIT_RESET", "X_RATELIMIT_RESET"}
)  # fmt: skip
_ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "CET": 1, "MEZ": 1, "CEST": 2, "MESZ": 2}
_ONES_EN = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS_EN = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
_TENS_EN = ["twenty", "thirty", "forty", "fifty", "sixty"]
_ONES_DE = ["eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"]
_TEENS_DE = "zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn"
_TENS_DE = ["zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig"]


def _number_words() -> dict[str, float]:
    """one..sixty and eins..sechzig (with ein/eine/einer/einem/einen, a/an, halves)."""
    words: dict[str, float] = {"a": 1, "an": 1, "ein": 1, "eine": 1, "einer": 1, "einem": 1}
    words |= {"einen": 1, "anderthalb": 1.5, "eineinhalb": 1.5, "half an": 0.5, "half a": 0.5}
    words |= {"einer halben": 0.5, "eine halbe": 0.5, "einer viertel": 0.25}
    words |= {"a quarter of an": 0.25, "quarter of an": 0.25, "three quarters of an": 0.75}
    words |= {"einer dreiviertel": 0.75, "dreiviertel": 0.75}
    for i, w in enumerate(_ONES_EN + _TEENS_EN.split(), start=1):
        words[w] = i
    for i, w in enumerate(_ONES_DE + _TEENS_DE.split(), start=1):
        words[w] = i
    for t, (en, de) in enumerate(zip(_TENS_EN, _TENS_DE, strict=True), start=2):
        words[en] = words[de] = t * 10
        if t < 6:
            for o in range(1, 10):
                words[f"{en}-{_ONES_EN[o - 1]}"] = words[f"{en} {_ONES_EN[o - 1]}"] = t * 10 + o
                one = "ein" if o == 1 else _ONES_DE[o - 1]
                words[f"{one}und{de}"] = t * 10 + o
    return words


NUMBER_WORDS = _number_words()


def _unit_seconds(unit: str) -> float:
    # "stunde"/"std" begin with an s too: hours are told apart first.
    if unit.startswith(("stu", "std", "h")):
        return HOUR
    return MINUTE if unit.startswith("m") else 1.0


# dateparser reads "20 Sekunden" and "in einer Minute", but not "zwanzig Minuten", "anderthalb
# Stunden" or "90 Sekunden" next to other numbers reliably: durations are read here.
_DURATION = re.compile(
    r"(?<![\w.,:])(\d+(?:[.,]\d+)?|"
    + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len, reverse=True))
    + r")\s*(sekunden|sekunde|seconds?|secs?|sek|s|minuten|minute|minutes?|mins?|min|"
    r"stunden|stunde|hours?|hrs?|std|h)\b",
    re.IGNORECASE,
)
_JOINER = re.compile(r"\s*(?:,|und|and)?\s*", re.IGNORECASE)
# A clock time without a date: dateparser rolls "3:05 PM" over to tomorrow when it is still
# ahead today, and does not know "um 15 Uhr" or MEZ/MESZ, so clock times are read here.
_CLOCK = re.compile(
    r"(?<![\d:.])(\d{1,2})(?::(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*"
    r"(?:(a\.?m\.?|p\.?m\.?)(?!\w))?\s*(uhr)?\s*(utc|gmt|cest|cet|mesz|mez|z)?(?![\w:])",
    re.IGNORECASE,
)
_HTTP_DATE = re.compile(
    r"(?:mon|tue|wed|thu|fri|sat|sun), \d{1,2} \w{3} \d{4} \d{2}:\d{2}:\d{2} (?:gmt|utc|[+-]\d{4})",
    re.IGNORECASE,
)
_ISO = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2}|UTC|GMT)?"
)
_GERMAN = re.compile(
    r"(\d{1,2})\.(\d{1,2})\.(\d{4}),?\s*(?:um\s*)?(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?"
    r"\s*(?:uhr)?\s*(utc|gmt|cest|cet|mesz|mez)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Hint:
    """What an answer says about when to ask again."""

    seconds: float | None  # None: no usable time (none given, or already past)
    source: str  # "Retry-After", "FastBill's time 14:05", ...


def hint(response: requests.Response, text: str, data: Any = None) -> Hint:
    """The wait that a refusal asks for (see `refusal_wait`), read from a response."""
    if data is None:
        try:
            data = response.json()
        except (AttributeError, ValueError):
            data = None
    status = getattr(response, "status_code", 0)
    return refusal_wait(status, response.headers, text, data, clock.server_now(response))


def refusal_wait(status: int, headers: Any, text: str, data: Any, now: datetime) -> Hint:
    """THE rule for reading a refusal's wait, whatever its status: the first usable of
    Retry-After, a JSON field naming the wait (RETRY_AFTER, RESET, WAIT, ... at any depth), and a
    moment or duration in the text (English or German). A wait of 0, a negative one or a moment
    already past is no usable hint: the caller then waits as for a refusal without a time.
    """
    unusable: Hint | None = None
    for source, seconds in _candidates(headers, text, data, now):
        if seconds is None:
            continue
        if seconds > TIME_RESOLUTION_SECONDS:
            return Hint(seconds, source)
        unusable = unusable or Hint(None, f"{source}, already past: no usable time")
    return unusable or Hint(None, "no time given")


def _candidates(headers: Any, text: str, data: Any, now: datetime) -> Any:
    yield "Retry-After", _retry_after((headers or {}).get("Retry-After"), now)
    field = _wait_field(data, depth=0)
    if field is not None:
        yield f"FastBill's field {field[0]}", _value_seconds(field[1], now)
    yield from _text_wait(text or "", now)


def _retry_after(header: str | None, now: datetime) -> float | None:
    if not header or not str(header).strip():
        return None
    return _value_seconds(str(header).strip(), now)


def _value_seconds(value: Any, now: datetime) -> float | None:
    """Seconds, an epoch timestamp (a RESET field), an HTTP date or a text naming the time."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is not None:
        return number - now.timestamp() if number > 1e9 else number
    if not isinstance(value, str):
        return None
    try:
        return (parsedate_to_datetime(value).astimezone(timezone.utc) - now).total_seconds()
    except (TypeError, ValueError, IndexError):
        pass
    return next((s for _, s in _text_wait(value, now) if s is not None), None)


def _wait_field(data: Any, depth: int) -> tuple[str, Any] | None:
    """The first field naming the wait: top level, RESPONSE, ERRORS entries (any depth <= 4)."""
    if depth > 4:
        return None
    items = data.items() if isinstance(data, dict) else enumerate(data or [])
    if not isinstance(data, (dict, list)):
        return None
    nested = []
    for key, value in items:
        name = str(key).upper().replace("-", "_")
        if name in WAIT_FIELDS and value not in (None, ""):
            return name, value
        if isinstance(value, (dict, list)):
            nested.append(value)
    for value in nested:
        found = _wait_field(value, depth + 1)
        if found:
            return found
    return None


def _text_wait(text: str, now: datetime) -> Any:
    text = text[:MAX_TEXT_CHARS]
    named = named_moment(text, now)
    if named is not None:
        yield f"FastBill's time {_local(named)}", (named - now).total_seconds()
    length = _duration(text)
    if length is not None:
        yield f"FastBill's '{length[1]}'", length[0]
    if named is None and length is None:
        parsed = _dateparser_moment(text, now)
        if parsed is not None:
            yield f"FastBill's time {_local(parsed)}", (parsed - now).total_seconds()


def _duration(text: str) -> tuple[float, str] | None:
    """The first duration, with the parts that follow it ("1 Stunde und 30 Minuten")."""
    total, start, end = 0.0, None, None
    for found in _DURATION.finditer(text):
        if end is not None and not _JOINER.fullmatch(text[end : found.start()]):
            break
        amount = found[1].lower()
        number = NUMBER_WORDS.get(amount)
        value = number if number is not None else float(amount.replace(",", "."))
        total += value * _unit_seconds(found[2].lower())
        start = found.start() if start is None else start
        end = found.end()
    if start is None or end is None:
        return None
    return total, text[start:end]


def _dateparser_moment(text: str, now: datetime) -> datetime | None:
    """dateparser for what the helpers above do not read; only moments near now count."""
    berlin = pendulum.instance(now).in_timezone(FASTBILL_TIMEZONE)
    settings = {
        "RELATIVE_BASE": berlin.naive(),
        "TIMEZONE": FASTBILL_TIMEZONE,
        "RETURN_AS_TIMEZONE_AWARE": True,
        "PREFER_DATES_FROM": "future",
        "DATE_ORDER": "DMY",
    }
    try:
        found = search_dates(text, languages=["en", "de"], settings=settings) or []
    except Exception:  # a parser failure is "no time given", never a crash
        return None
    for _, moment in found:
        ahead = (moment - now).total_seconds()
        if -PAST_TOLERANCE_SECONDS < ahead <= HONOURED_AHEAD_SECONDS:
            return moment
    return None


def _zone(name: str | None, default: Any) -> Any:
    if not name:
        return default
    hours = _ZONES[name.upper()]
    return pendulum.fixed_timezone(hours * 3600)


def named_moment(text: str, now: datetime) -> datetime | None:
    """The moment a text names: ISO, an HTTP date, a German date and time, or a clock time
    (FastBill's zone, Europe/Berlin, unless a zone is named). It may lie in the past."""
    text = text[:MAX_TEXT_CHARS]
    berlin = pendulum.timezone(FASTBILL_TIMEZONE)
    iso = _ISO.search(text)
    if iso:
        zone = iso[3]
        stamp = f"{iso[1]}T{iso[2].zfill(5) if len(iso[2]) < 5 else iso[2]}".replace(",", ".")
        try:
            if zone and zone[0] in "+-":
                return pendulum.parse(stamp + zone)
            return pendulum.parse(stamp, tz=_zone(zone, berlin))
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            return None
    http = _HTTP_DATE.search(text)
    if http:
        try:
            return parsedate_to_datetime(http[0].replace("UTC", "GMT"))
        except (TypeError, ValueError, IndexError):
            return None
    german = _GERMAN.search(text)
    if german:
        day, month, year, hour, minute, second, zone = german.groups()
        try:
            return pendulum.datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                tz=_zone(zone, berlin),
            )  # fmt: skip
        except ValueError:
            return None
    return _clock_moment(text, now)


def _clock_moment(text: str, now: datetime) -> datetime | None:
    for found in _CLOCK.finditer(text):
        hour_s, minute_s, second_s, meridiem, uhr, zone = found.groups()
        if minute_s is None and not meridiem and not uhr:
            continue  # a bare number is not a time
        hour, minute, second = int(hour_s), int(minute_s or 0), int(second_s or 0)
        if meridiem:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if meridiem.lower().startswith("p") else 0)
        if hour > 23 or minute > 59 or second > 59:
            continue
        local_now = pendulum.instance(now).in_timezone(_zone(zone, FASTBILL_TIMEZONE))
        moment = local_now.set(hour=hour, minute=minute, second=second, microsecond=0)
        if (now - moment).total_seconds() > PAST_TOLERANCE_SECONDS:
            moment = moment.add(days=1)  # long past today: tomorrow's
        return moment
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

    def __init__(
        self,
        pacing: AbstractCallRatePolicy,
        ledger: Ledger,
        limits: str = "requests_per_minute",
    ) -> None:
        self.pacing, self.ledger, self.limits = pacing, ledger, limits
        self.status = RateLimitedStatus()
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
            reason = f"pacing under the configured limit of {self.limits}"
            self._wait(stream, "pacing", until, reason, request)
        self._episode = None
        self.status.resumed(stream)

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
        # pyrate-limiter counts whole milliseconds: a window that frees "in 0 ms" may still be
        # full, and a zero wait would ask again at once, up to the CDK's 100,000 attempts.
        piece = max(min(left, HEARTBEAT_SECONDS), MIN_WAIT_SECONDS)
        if kind == "quota":  # the Airbyte UI shows the stream as rate limited until then
            self.status.waiting(stream, until)
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
        # Pacing is the connector's own plan; a wait FastBill imposed is worth a warning.
        say = logger.info if kind == "pacing" else logger.warning
        if self._episode != episode:
            self._episode, self._last_line = episode, now
            say(f"{stream}: waiting {duration(left)} ({until_text(until)}): {reason}.")
        elif now - self._last_line >= HEARTBEAT_SECONDS - 1:
            self._last_line = now
            say(f"{stream}: still waiting, {duration(left)} left ({until_text(until)}): {reason}.")


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
        """The hourly quota, learned only from evidence (the one rule).

        FastBill accepted `observed` calls of this sync within the last hour before refusing.
        The account's quota is at least the most calls FastBill accepted within one hour in this
        sync (`Ledger.most_in_hour`): a learned quota is never below that, and never shrinks.
        With fewer than LEARN_MIN_CALLS accepted calls the refusal says more about other API
        users of the account than about its quota: nothing is learned, the refusal is waited out
        as it says (or by the window rule), and the pace stays as configured.
        """
        observed = self.ledger.accepted_within(HOUR)
        evidence = max(observed, self.ledger.most_in_hour)
        if evidence < LEARN_MIN_CALLS:
            return
        learned = max(evidence, self.ledger.observed_quota or 0)
        if self.ledger.observed_quota != learned:
            logger.info(
                f"FastBill refused a call after this sync made {observed} accepted calls within "
                f"the last hour (at most {evidence} in one hour): the account's quota is probably "
                f"about {learned} calls per hour (less what other API users of the account take). "
                f"Suggested requests_per_hour: {suggested_hourly(learned)}."
            )
        self.ledger.observed_quota = learned
        if not named:
            self.policy.learned_hourly = max(learned, self.policy.learned_hourly or 0)

    def _far_from_limits(self) -> bool:
        per_minute, per_hour = self.limits
        if self.ledger.accepted_within(MINUTE) >= per_minute / 2:
            return False
        return per_hour is None or self.ledger.accepted_within(HOUR) < per_hour / 2
