"""Property tests for the one reading of a refusal's wait (quota.refusal_wait, issue 15 §9).

A moment 1 s..1 h after a random 'now' is written in many formats, languages and sentences; the
wait read back equals what was written, to the rendering's precision. Text with no time gives no
hint, and a moment already past is never a wait (so never an immediate-retry loop).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pendulum
from hypothesis import assume, given
from hypothesis import strategies as st

from source_fastbill.quota import refusal_wait

BERLIN = "Europe/Berlin"
NOWS = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.just(timezone.utc),
).map(lambda d: d.replace(microsecond=0))
OFFSETS = st.integers(min_value=1, max_value=3600)
PREFIXES = [
    "",
    "Too many requests, try again at ",
    "Rate limit exceeded; retry after ",
    "Zu viele Anfragen. Bitte wieder ab ",
    "Limit erreicht, weiter um ",
]
SUFFIXES = ["", ".", " erneut versuchen.", " please."]


def _berlin(moment: datetime) -> pendulum.DateTime:
    return pendulum.instance(moment).in_timezone(BERLIN)


def _ambiguous(moment: datetime) -> bool:
    """In the hour that Berlin repeats in October a local time names two moments: left out."""
    local = moment.astimezone(ZoneInfo(BERLIN)).replace(tzinfo=None)
    zone = ZoneInfo(BERLIN)
    return (
        local.replace(tzinfo=zone, fold=0).utcoffset()
        != local.replace(tzinfo=zone, fold=1).utcoffset()
    )


def _ampm(m: datetime) -> str:
    b = _berlin(m)
    return f"{(b.hour % 12) or 12}:{b.minute:02d} {'PM' if b.hour >= 12 else 'AM'}"


# Each format: how it writes a moment, and what it keeps of it (the wait's precision).
FORMATS: dict[str, tuple[Callable[[datetime], str], str]] = {
    "ISO Z": (lambda m: m.strftime("%Y-%m-%dT%H:%M:%SZ"), "second"),
    "ISO fraction offset": (lambda m: _berlin(m).isoformat(timespec="milliseconds"), "second"),
    "ISO naive Berlin": (lambda m: _berlin(m).format("YYYY-MM-DD HH:mm:ss"), "second"),
    "ISO UTC word": (lambda m: m.strftime("%Y-%m-%d %H:%M:%S UTC"), "second"),
    "RFC 1123": (lambda m: format_datetime(m, usegmt=True), "second"),
    "dd.mm.yyyy HH:MM Uhr": (lambda m: _berlin(m).format("DD.MM.YYYY HH:mm") + " Uhr", "minute"),
    "dd.mm.yyyy HH:MM:SS": (lambda m: _berlin(m).format("DD.MM.YYYY HH:mm:ss"), "second"),
    "H:MM AM/PM": (_ampm, "minute"),
    "HH:MM:SS UTC": (lambda m: m.strftime("%H:%M:%S UTC"), "second"),
    "HH:MM MEZ": (
        lambda m: m.astimezone(timezone(timedelta(hours=1))).strftime("%H:%M MEZ"),
        "minute",
    ),
    "HH:MM:SS MESZ": (
        lambda m: m.astimezone(timezone(timedelta(hours=2))).strftime("%H:%M:%S MESZ"),
        "second",
    ),
    "HH:MM Uhr": (lambda m: _berlin(m).format("HH:mm") + " Uhr", "minute"),
}
_TRUNC = {"second": lambda m: m, "minute": lambda m: m.replace(second=0)}

EN_ONES = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
EN_ONES += "fifteen sixteen seventeen eighteen nineteen"
EN_TENS = ["twenty", "thirty", "forty", "fifty", "sixty"]
DE_ONES = "eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn "
DE_ONES += "fünfzehn sechzehn siebzehn achtzehn neunzehn"
DE_TENS = ["zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig"]


def english(n: int) -> str:
    if n < 20:
        return EN_ONES.split()[n - 1]
    tens, ones = divmod(n, 10)
    return EN_TENS[tens - 2] + (f"-{EN_ONES.split()[ones - 1]}" if ones else "")


def german(n: int) -> str:
    if n < 20:
        return "eine" if n == 1 else DE_ONES.split()[n - 1]
    tens, ones = divmod(n, 10)
    one = "ein" if ones == 1 else DE_ONES.split()[ones - 1] if ones else ""
    return (f"{one}und" if ones else "") + DE_TENS[tens - 2]


@given(
    now=NOWS,
    offset=OFFSETS,
    fmt=st.sampled_from(sorted(FORMATS)),
    prefix=st.sampled_from(PREFIXES),
    suffix=st.sampled_from(SUFFIXES),
)
def test_a_written_moment_is_read_back_as_its_wait(
    now: datetime, offset: int, fmt: str, prefix: str, suffix: str
) -> None:
    render, precision = FORMATS[fmt]
    moment = now + timedelta(seconds=offset)
    expected = (_TRUNC[precision](moment) - now).total_seconds()
    assume(not _ambiguous(moment))
    assume(expected >= 1)  # truncated to the minute, it may lie in the past: another test

    found = refusal_wait(429, {}, prefix + render(moment) + suffix, None, now)

    assert found.seconds is not None, (fmt, render(moment))
    assert abs(found.seconds - expected) <= 0.5, (fmt, render(moment), found)


UNITS = {
    "en": [("second", "seconds", 1), ("minute", "minutes", 60), ("hour", "hours", 3600)],
    "de": [("Sekunde", "Sekunden", 1), ("Minute", "Minuten", 60), ("Stunde", "Stunden", 3600)],
}
SENTENCES = {
    "en": ["Too many requests, retry in {}.", "Please wait {}", "try again in {} please"],
    "de": ["Bitte {} warten.", "Zu viele Anfragen, in {} erneut versuchen", "Limit: {}"],
}


@given(
    n=st.integers(min_value=1, max_value=60),
    lang=st.sampled_from(["en", "de"]),
    unit=st.integers(min_value=0, max_value=2),
    as_word=st.booleans(),
    sentence=st.integers(min_value=0, max_value=2),
    now=NOWS,
)
def test_a_written_duration_is_read_back_as_its_wait(
    n: int, lang: str, unit: int, as_word: bool, sentence: int, now: datetime
) -> None:
    singular, plural, seconds = UNITS[lang][unit]
    if as_word:
        amount = english(n) if lang == "en" else german(n)
        if lang == "de" and n == 1:
            amount = "einer" if sentence == 1 else "eine"
    else:
        amount = str(n)
    written = f"{amount} {singular if n == 1 else plural}"

    found = refusal_wait(429, {}, SENTENCES[lang][sentence].format(written), None, now)

    assert found.seconds == n * seconds, (written, found)


JUNK = [
    "Fehler", "error", "limit", "bitte", "später", "erneut", "request", "denied", "Konto",
    "gesperrt", "service", "unavailable", "try", "again", "Anfrage", "abgelehnt", "API",
    "quota", "Kontingent", "erschöpft", "too", "many", "requests", "zu", "viele", "code",
]  # fmt: skip


@given(words=st.lists(st.sampled_from(JUNK), min_size=1, max_size=12), now=NOWS)
def test_text_without_a_time_gives_no_hint(words: list[str], now: datetime) -> None:
    assert refusal_wait(429, {}, " ".join(words), None, now).seconds is None


@given(
    now=NOWS,
    offset=OFFSETS,
    fmt=st.sampled_from(sorted(FORMATS)),
    prefix=st.sampled_from(PREFIXES),
)
def test_a_moment_already_past_is_no_wait(
    now: datetime, offset: int, fmt: str, prefix: str
) -> None:
    render, _ = FORMATS[fmt]
    assume(not _ambiguous(now - timedelta(seconds=offset)))
    found = refusal_wait(429, {}, prefix + render(now - timedelta(seconds=offset)), None, now)
    # No usable hint (the caller then retries slowly); only a clock time without a date more
    # than an hour past (minute truncation can make it so) is read as tomorrow's: a long wait.
    assert found.seconds is None or found.seconds > 20 * 3600, (fmt, found)


@given(value=st.integers(min_value=-3600, max_value=0), now=NOWS)
def test_a_zero_or_negative_retry_after_is_no_wait(value: int, now: datetime) -> None:
    assert refusal_wait(503, {"Retry-After": str(value)}, "", None, now).seconds is None


@given(
    hours=st.integers(min_value=1, max_value=2),
    minutes=st.integers(min_value=1, max_value=59),
    german_words=st.booleans(),
    now=NOWS,
)
def test_a_duration_in_parts_is_their_sum(
    hours: int, minutes: int, german_words: bool, now: datetime
) -> None:
    text = (
        f"in {hours} {'Stunde' if hours == 1 else 'Stunden'} und {minutes} Minuten"
        if german_words
        else f"retry in {hours} hour{'s' if hours > 1 else ''}, {minutes} minutes"
    )
    assert refusal_wait(429, {}, text, None, now).seconds == hours * 3600 + minutes * 60
