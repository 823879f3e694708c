"""Incremental sync by date window: the state, the plan of windows, and which records are news.

A sync from saved state reads three kinds of records (docs/fastbill.md, "Incremental sync"):
1. records dated after the last sync (the "created" pass, by invoice/estimate/time date);
2. records dated before the created pass and paid since the last sync (the "paid" pass, by
   PAID_DATE and END_DATE together) where the service filters by payment;
3. records changed within `lookback_days` before the saved position (the created pass starts that
   many days early), emitted only if their LASTUPDATE moved past the saved cursor.
Records the last sync delivered in the minutes its cursor stops short of are skipped while
unchanged (margin.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from source_fastbill import margin
from source_fastbill.clock import fastbill_reading, lowest_reading_from, read_again_later
from source_fastbill.config import DEFAULT_START_DATE, EARLIEST_DATE, ConfigError, FastbillConfig
from source_fastbill.margin import Seen, Version
from source_fastbill.normalize import Unconvertible, to_date, to_timestamp

CREATED, PAID = "created", "paid"
RECENT_YEARS = 2  # this year and last year get a window (and a checkpoint) of their own
# Changes committed while the first call was answered, and clocks that disagree by minutes.
CURSOR_MARGIN = timedelta(minutes=10)
# Resume markers carry this version, the pass, and the plan they belong to ("start": where its
# created pass began, "end": its last day), so a marker is followed only if it checks out. A marker
# without it (foreign, hand-edited, or written by 1.1.0) is not followed: re-reading is safe.
MARKER_VERSION = 2
MARKER_KEYS = {"v", "pass", "from", "start", "end"}


@dataclass(frozen=True)
class DateFilter:
    """A FastBill date-range filter: the record field it tests and the FILTER keys that bound it."""

    field: str
    bounds: tuple[tuple[str, str], ...]  # (start key, end key) pairs, all sent with the same dates

    def filter(self, start: date, end: date | None) -> dict[str, str]:
        sent: dict[str, str] = {}
        for start_key, end_key in self.bounds:
            sent[start_key] = start.isoformat()
            if end:
                sent[end_key] = end.isoformat()
        return sent

    def until(self, end: date) -> dict[str, str]:
        """The filter for "on or before `end`" alone."""
        return {end_key: end.isoformat() for _, end_key in self.bounds}


@dataclass(frozen=True)
class SyncState:
    """A stream's saved position; `resume` is set only while a sync is unfinished."""

    cursor: str | None = None  # newest LASTUPDATE (or DATE) delivered by a completed sync
    paid: str | None = None  # newest PAID_DATE delivered by a completed sync
    synced_until: date | None = None  # windows up to this date were read by a completed sync
    # {"v": 2, "pass": "created"|"paid", "from": next window (created), "start", "end"}
    resume: dict[str, Any] | None = None
    # key -> (LASTUPDATE, PAID_DATE) delivered by the last completed sync past its positions
    delivered: Mapping[str, Version] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, raw: Mapping[str, Any] | None, cursor_field: str, logger: logging.Logger
    ) -> SyncState:
        """Any state this connector did not write starts over from start_date, with a warning."""
        if not raw:
            return cls()
        try:
            return cls._parse(dict(raw), cursor_field)
        except (Unconvertible, ValueError, TypeError, KeyError, AttributeError) as error:
            logger.warning(
                f"Ignoring saved state {dict(raw)!r} ({error or type(error).__name__}): "
                "it is not a state this connector wrote. Reading from start_date instead."
            )
            return cls()

    @classmethod
    def _parse(cls, raw: dict[str, Any], cursor_field: str) -> SyncState:
        known = {cursor_field, "PAID_DATE", "synced_until", "resume", margin.STATE_KEY}
        if not raw.keys() <= known or ("synced_until" not in raw and "resume" not in raw):
            raise ValueError("unknown keys or no position")
        resume = raw.get("resume")
        if resume is not None:
            if resume.get("pass") not in (CREATED, PAID) or not resume.keys() <= MARKER_KEYS:
                raise ValueError("bad resume marker")
            if resume["pass"] == CREATED:
                date.fromisoformat(resume["from"])
            for key in ("start", "end"):
                if key in resume:
                    date.fromisoformat(resume[key])
        return cls(
            cursor=_checked(raw.get(cursor_field), cursor_field),
            paid=_checked(raw.get("PAID_DATE"), "date"),
            synced_until=_date_or_none(raw.get("synced_until")),
            resume=dict(resume) if resume else None,
            delivered=margin.parse(raw.get(margin.STATE_KEY)),
        )

    def to_dict(self, cursor_field: str) -> dict[str, Any]:
        saved: dict[str, Any] = {}
        if self.cursor:
            saved[cursor_field] = self.cursor
        if self.paid:
            saved["PAID_DATE"] = self.paid
        if self.synced_until:
            saved["synced_until"] = self.synced_until.isoformat()
        if self.resume:
            saved["resume"] = dict(self.resume)
        if self.delivered:
            saved[margin.STATE_KEY] = margin.dump(self.delivered)
        return saved

    def finished(
        self,
        cursor: str | None,
        paid: str | None,
        end: date,
        started: datetime,
        today: date,
        read: Iterable[Seen] = (),
    ) -> SyncState:
        """The state after a completed read that began at `started` (clock.safe_now).

        The saved positions never pass that moment, less a margin: a change landing while the
        sync pages on, on a page already read, must still count as news next time, and one
        record dated in the future (bad data, a skewed clock) must not hide every later edit.
        An end_date in the future is read, but saved as today: tomorrow's invoices are news.
        The records `read` (each delivered, by this sync or an earlier one) that these positions
        would call news are remembered, so that the next sync skips them while unchanged.
        """
        after = SyncState(
            cursor=oldest(newest(self.cursor, cursor), cursor_cap(started)),
            paid=oldest(newest(self.paid, paid), paid_cap(started)),
            synced_until=min(max(self.synced_until or end, end), today),
        )
        return replace(after, delivered=margin.keep(read, after.news_by_position))

    def news_by_position(self, record: Seen) -> bool:
        return _news_by_position(self, record.day, record.version[0], record.version[1])

    def dates(self) -> Iterator[tuple[str, str]]:
        """Every date the state holds, as (what, YYYY-MM-DD...), for the range check."""
        for what, value in (("cursor", self.cursor), ("PAID_DATE", self.paid)):
            if value:
                yield what, value
        if self.synced_until:
            yield "synced_until", self.synced_until.isoformat()
        for key in ("from", "start", "end"):
            if self.resume and key in self.resume:
                yield f"resume.{key}", self.resume[key]


class ReadLog:
    """The records a read went through that the state it saves may have to remember.

    Only those past the caps of the read's start can be news by the saved positions: a record
    changed (paid, dated) no later than them is behind the positions saved at the end, so it is
    not kept here. Leaving one out is safe either way: it would only be delivered once more.
    """

    def __init__(self, key_field: str, date_field: str, change_field: str | None) -> None:
        self.fields = key_field, date_field, change_field
        self.kept: list[Seen] = []
        self._caps: tuple[datetime, str, str, str] | None = None

    def note(self, record: Mapping[str, Any], started: datetime | None) -> None:
        one = margin.seen(record, *self.fields)
        if one is None or started is None:
            return
        if self._caps is None or self._caps[0] != started:
            today = fastbill_reading(started).date().isoformat()
            self._caps = (started, cursor_cap(started), paid_cap(started), today)
        _, cursor, paid, today = self._caps
        changed, paid_on = one.version
        if changed > cursor or (paid_on or "") > paid or (one.day or "") > today:
            self.kept.append(one)


def cursor_cap(started: datetime) -> str:
    """The latest LASTUPDATE a read that began at `started` may save.

    FastBill writes LASTUPDATE in German local time, without a zone: the cap is the reading of
    FastBill's clock CURSOR_MARGIN before the start, so that every change at the start or later
    reads higher. Where that reading comes again after the clocks go back in October, the cap is
    the second before the repeated hour: a LASTUPDATE in that hour counts as the later of its two
    moments, and is news until a sync has begun after both.
    """
    moment = started - CURSOR_MARGIN
    cap = lowest_reading_from(moment)
    if read_again_later(moment):
        cap -= timedelta(seconds=1)  # the reading where the clocks went back is a later change
    return cap.strftime("%Y-%m-%dT%H:%M:%S")


def paid_cap(started: datetime) -> str:
    # A payment booked on the day the read began (FastBill's day) may have landed after its page
    # was read.
    return (fastbill_reading(started).date() - timedelta(days=1)).isoformat()


def oldest(current: str | None, cap: str) -> str | None:
    return None if current is None else min(current, cap)


def _checked(value: Any, kind: str) -> str | None:
    if value in (None, ""):
        return None
    normal = to_date(value) if kind in ("date", "DATE") else to_timestamp(value)
    if normal is None:
        raise ValueError(f"{value!r} is not a {kind}")
    return normal


def _date_or_none(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def newest(current: str | None, candidate: Any) -> str | None:
    """The later of two ISO values; a missing or empty candidate changes nothing."""
    if not isinstance(candidate, str) or not candidate:
        return current
    return candidate if current is None or candidate > current else current


@dataclass(frozen=True)
class Plan:
    """Which windows to read, and what the saved state says after each of them."""

    config: FastbillConfig
    date_filter: DateFilter
    paid_filter: DateFilter | None
    today: date

    @property
    def end(self) -> date:
        return self.config.end_date or self.today

    @property
    def _start_bounded(self) -> bool:
        # start_date at its default reaches back before FastBill existed: nothing is older.
        return self.config.start_date > DEFAULT_START_DATE

    def sane(self, state: SyncState, logger: logging.Logger, stream: str) -> SyncState:
        """Dates out of range stop the stream; a resume marker that does not check out is dropped.

        Dropping a marker re-reads (from the saved position or start_date): never a skip.
        """
        self._check_dates(state, stream)
        resume = state.resume
        if not resume or self._marker_checks_out(state, resume):
            return state
        fresh = replace(state, resume=None) if state.synced_until else SyncState()
        where = "the saved position" if state.synced_until else "start_date"
        logger.warning(
            f"Ignoring the saved state's resume marker {resume!r} of stream {stream}: it was "
            f"not written by this version for a read up to {self.end} (an older version, an "
            f"edited or foreign state). Reading from {where} instead, so nothing is skipped."
        )
        return fresh

    def _check_dates(self, state: SyncState, stream: str) -> None:
        latest = self.today + timedelta(days=1)  # LASTUPDATE is Berlin time; allow the zone
        for what, value in state.dates():
            if not EARLIEST_DATE.isoformat() <= value[:10] <= latest.isoformat():
                raise ConfigError(
                    f"The saved state of stream {stream} holds {what} {value}, outside "
                    f"{EARLIEST_DATE} to today ({self.today}): following it would skip or "
                    f"repeat records. Reset the stream {stream} in Airbyte (or remove its "
                    "state) to read it again from start_date."
                )

    def _created_from(self, state: SyncState) -> date:
        """Where the created pass of a read from this state (without marker) starts."""
        if state.synced_until:
            lookback = timedelta(days=self.config.lookback_days)
            return max(self.config.start_date, state.synced_until - lookback)
        return self.config.start_date

    def _marker_checks_out(self, state: SyncState, resume: Mapping[str, Any]) -> bool:
        """Written by this version, for a plan that began no later than this one would."""
        if resume.get("v") != MARKER_VERSION or "start" not in resume or "end" not in resume:
            return False
        start, end = date.fromisoformat(resume["start"]), date.fromisoformat(resume["end"])
        if start > self._created_from(state) or end > self.end or start > end:
            return False
        if resume["pass"] == CREATED:
            return start <= date.fromisoformat(resume["from"]) <= self.end
        return self._paid_from(state, start) is not None

    def _paid_from(self, state: SyncState, origin: date) -> date | None:
        """Where the paid pass starts; None where there is none.

        The paid pass reads the records dated before `origin` (where the created pass began)
        and paid since the last sync (a first sync: since start_date). A created pass from the
        default start_date reads all history: nothing older can be paid, so there is none.
        """
        if not self.paid_filter or origin <= DEFAULT_START_DATE:
            return None
        start = self.config.start_date
        if state.synced_until:
            start = max(start, state.synced_until - timedelta(days=self.config.lookback_days))
        return start if start <= self.end else None

    def incremental(self, state: SyncState) -> Iterator[dict[str, Any]]:
        # Where this plan's created pass began: carried by every marker, checked on resume.
        origin = (
            date.fromisoformat(state.resume["start"]) if state.resume else self._created_from(state)
        )
        paid_from = self._paid_from(state, origin)
        created_from: date | None
        if state.resume and state.resume["pass"] == PAID:
            created_from = None
        elif state.resume:
            created_from = date.fromisoformat(state.resume["from"])
        else:
            created_from = origin
        windows = list(_windows(created_from, self.end)) if created_from else []
        for index, (start, stop) in enumerate(windows):
            if index + 1 < len(windows):
                then: dict[str, Any] | None = self._marker(
                    CREATED, origin.isoformat(), windows[index + 1][0].isoformat()
                )
            else:
                then = self._marker(PAID, origin.isoformat()) if paid_from else None
            yield self._slice(CREATED, self.date_filter, start, stop, then)
        if paid_from:
            yield self._paid_slice(paid_from, origin)

    def full_refresh(self, windowed: bool) -> Iterator[dict[str, Any]]:
        """The records a first incremental sync emits: dated, or paid, from start_date on.

        Without start_date or end_date that is everything, read without a filter (the fewest
        calls); time.get is always windowed, since unfiltered it returns this month's last ten.
        """
        if not (windowed or self._start_bounded or self.config.end_date):
            yield {"pass": CREATED, "filter": {}, "window": None, "then": None}
            return
        start = self.config.start_date
        paid_from = self._paid_from(SyncState(), start)
        then = self._marker(PAID, start.isoformat()) if paid_from else None
        yield self._slice(CREATED, self.date_filter, start, self.end, then)
        if paid_from:
            yield self._paid_slice(paid_from, start)

    def _paid_slice(self, paid_from: date, origin: date) -> dict[str, Any]:
        """Paid from `paid_from` on, dated before `origin`: the created pass read the others.

        Were FastBill to ignore one of the two filters, the answer would be more records, not
        fewer: the window drops those dated later, the stream's dedupe those read already.
        """
        assert self.paid_filter
        dated_before = origin - timedelta(days=1)
        paid = self._slice(PAID, self.paid_filter, paid_from, self.end, None)
        paid["filter"] |= self.date_filter.until(dated_before)
        paid["window"]["and"] = {"field": self.date_filter.field, "end": dated_before.isoformat()}
        return paid

    def _marker(self, pass_: str, origin: str, next_from: str | None = None) -> dict[str, Any]:
        marker: dict[str, Any] = {"v": MARKER_VERSION, "pass": pass_}
        if next_from:
            marker["from"] = next_from
        return marker | {"start": origin, "end": self.end.isoformat()}

    @staticmethod
    def _slice(
        pass_: str, date_filter: DateFilter, start: date, stop: date, then: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "pass": pass_,
            "filter": date_filter.filter(start, stop),
            "window": {
                "field": date_filter.field,
                "start": start.isoformat(),
                "end": stop.isoformat(),
            },
            "then": then,
        }


def _windows(start: date, end: date) -> Iterator[tuple[date, date]]:
    """Older history in one window, then one window per recent calendar year.

    Every window costs at least one call and is followed by a checkpoint. Yearly windows back to
    2010 would spend a call per empty year on a first sync; this costs at most two more calls
    than a full refresh, and an interrupted sync still resumes at the recent years.
    """
    recent = date(end.year - RECENT_YEARS + 1, 1, 1)
    if start < recent:
        history_end = min(recent - timedelta(days=1), end)
        yield start, history_end
        start = history_end + timedelta(days=1)
    while start <= end:
        stop = min(date(start.year, 12, 31), end)
        yield start, stop
        start = stop + timedelta(days=1)


def in_window(record: Mapping[str, Any], window: Mapping[str, Any] | None) -> bool:
    """Guards against a date filter the server ignored: such records belong to another window.

    A window may hold a second one under "and" (the paid pass: paid in its range, dated before
    the created pass), and a window without "start" is open towards the past.
    """
    if not window:
        return True
    value = record.get(window["field"])
    day = value[:10] if isinstance(value, str) else None
    inside = day is None or window.get("start", "") <= day <= window["end"]
    return inside and in_window(record, window.get("and"))


def is_news(
    record: Mapping[str, Any],
    start: SyncState,
    date_field: str,
    change_field: str | None,
    key_field: str | None = None,
) -> bool:
    """Whether a record read from state is new or changed since the sync that saved the state.

    A record that sync delivered as it is now (key, LASTUPDATE, PAID_DATE) is not news, whatever
    the positions say; `key_field` names the key the memory goes by.
    """
    if key_field and margin.remembered(
        start.delivered, margin.seen(record, key_field, date_field, change_field)
    ):
        return False
    changed = record.get(change_field) if change_field else None
    return _news_by_position(start, record.get(date_field), changed, record.get("PAID_DATE"))


def _news_by_position(start: SyncState, day: Any, changed: Any, paid: Any) -> bool:
    if start.synced_until is None and start.cursor is None:
        return True
    if isinstance(day, str) and start.synced_until and day[:10] > start.synced_until.isoformat():
        return True  # dated after the last completed sync read its windows: never delivered
    if changed is None or start.cursor is None or changed > start.cursor:
        return True
    # FastBill is not known to move LASTUPDATE when an invoice is paid.
    return bool(paid and start.paid and paid > start.paid)


def with_resume(state: SyncState, then: dict[str, Any] | None) -> SyncState:
    return replace(state, resume=then)
