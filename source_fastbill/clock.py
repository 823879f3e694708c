"""The connector's two clocks and the one rule that reconciles them.

The local clock is `progress.wall_clock` (the tests' fake clock replaces it). FastBill's clock is
the `Date` header of an answer. Caps on saved positions use the earlier of the two, so neither a
fast server nor a fast local clock lets a saved position pass changes not yet delivered. A server
clock far from the local one (1970, 2099) is a broken header, not a clock: it is disregarded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

import pendulum
import requests

from source_fastbill import progress

# Clocks that disagree by less than this are in step; more is worth one warning.
SKEW_TOLERANCE = timedelta(minutes=5)
# A Date header further than this from the local clock is broken, not a skewed clock.
PLAUSIBLE_SKEW = timedelta(days=1)
# FastBill keeps dates and timestamps in German local time, without a zone.
FASTBILL_TIMEZONE = "Europe/Berlin"
# Without zone data on the system (slim images), zoneinfo reads the tzdata package pendulum needs.
FASTBILL_ZONE = ZoneInfo(FASTBILL_TIMEZONE)


def local_now() -> datetime:
    """The local clock, aware, in UTC."""
    return datetime.fromtimestamp(progress.wall_clock(), timezone.utc)


def server_time(response: requests.Response | None) -> datetime | None:
    """FastBill's clock as its Date header gives it, or None without a readable header."""
    header = response.headers.get("Date") if response is not None else None
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # RFC 7231 dates are GMT; "-0000" parses naive
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def plausible(server: datetime | None, local: datetime) -> bool:
    return server is not None and abs(server - local) <= PLAUSIBLE_SKEW


def server_now(response: requests.Response | None) -> datetime:
    """FastBill's clock where its Date header is plausible, else the local clock.

    For reading times FastBill names in its own words (quota refusals): those are in its clock.
    """
    local, server = local_now(), server_time(response)
    return server if server is not None and plausible(server, local) else local


Warn = Callable[[str, str], None]  # (what kind of warning, its text): said once per sync


def safe_now(response: requests.Response | None, warn: Warn | None = None) -> datetime:
    """The moment a cap may trust: the earlier clock, or the local one if FastBill's is broken.

    Says so when the clocks disagree, through `warn`, which says each kind once per sync.
    """
    local, server = local_now(), server_time(response)
    if server is None:
        return local
    if not plausible(server, local):
        _warn(
            warn,
            "implausible",
            f"FastBill's clock reads {server:%Y-%m-%d %H:%M} UTC, far from this machine's "
            f"{local:%Y-%m-%d %H:%M} UTC: it is disregarded and the saved position follows this "
            "machine's clock. If this machine's clock is wrong, set it right (NTP).",
        )
        return local
    if abs(server - local) > SKEW_TOLERANCE:
        _warn(
            warn,
            "skew",
            f"FastBill's clock ({server:%H:%M:%S} UTC) and this machine's ({local:%H:%M:%S} UTC) "
            "disagree by more than a few minutes: the saved position follows the earlier one, "
            "so no change is skipped. Check this machine's clock (NTP) if this repeats.",
        )
    return min(server, local)


def fastbill_today(now: datetime | None = None) -> date:
    """Today where FastBill's dates are written: a sync at 00:30 in Berlin reads that day too."""
    moment = pendulum.instance(now or local_now())
    return moment.in_timezone(FASTBILL_TIMEZONE).date()


def fastbill_reading(moment: datetime) -> datetime:
    """What FastBill's clock reads at `moment`: German local time, naive, as LASTUPDATE is."""
    return moment.astimezone(FASTBILL_ZONE).replace(tzinfo=None)


def read_again_later(moment: datetime) -> bool:
    """Whether FastBill's clock shows `moment`'s reading once more, after it goes back an hour.

    German local time goes back an hour once a year (03:00 CEST becomes 02:00 CET): the moments
    of the first of the two hours from 02:00 are the ones whose readings come again.
    """
    local = moment.astimezone(FASTBILL_ZONE)
    before, after = local.utcoffset(), local.replace(fold=1).utcoffset()
    return not local.fold and before is not None and after is not None and after < before


def lowest_reading_from(moment: datetime) -> datetime:
    """The lowest reading of FastBill's clock at `moment` or at any later moment (naive).

    For a moment whose reading comes again, the reading where the second hour begins (02:00);
    elsewhere, the hour skipped in spring included (no moment reads so), its own reading.
    """
    if not read_again_later(moment):
        return fastbill_reading(moment)
    # The clocks go back within the next hour: find that instant to the second, and read it.
    local = moment.astimezone(FASTBILL_ZONE)
    before = local.utcoffset() or timedelta()
    low = moment.astimezone(timezone.utc)
    high = low + (before - (local.replace(fold=1).utcoffset() or timedelta()))
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(FASTBILL_ZONE).utcoffset() == before:
            low = middle
        else:
            high = middle
    return fastbill_reading(high).replace(microsecond=0)


def _warn(warn: Warn | None, kind: str, text: str) -> None:
    if warn is None:
        logging.getLogger("airbyte").warning(text)
    else:
        warn(kind, text)
