"""The records a sync delivered that the saved positions alone would call news next time.

The saved cursor stops a few minutes short of the sync's start (incremental.cursor_cap), and the
saved payment date a day short: that is what makes a change landing during a sync arrive with the
next one. Records changed in those minutes (or paid that day, or dated or changed after today)
were delivered all the same, so the state names them, key and version, and the next sync skips a
record only while it is exactly that version. Any other version is news, as before.

The memory holds no more than `MAX_REMEMBERED` records: one left out is delivered once more, never
lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from source_fastbill.normalize import to_date, to_timestamp

# About 60 bytes each in the state; a sync that delivered more inside its margin (a bulk edit in
# its last minutes) repeats the rest once.
MAX_REMEMBERED = 1000
STATE_KEY = "delivered"

# A record's version as delivered: (LASTUPDATE, PAID_DATE). PAID_DATE takes part because
# FastBill is not known to move LASTUPDATE when an invoice is paid (incremental.is_news).
Version = tuple[str, str | None]


@dataclass(frozen=True)
class Seen:
    """One record read by a sync: its key, version and date (for the positions' test)."""

    key: str
    version: Version
    day: str | None


def seen(
    record: Mapping[str, Any], key_field: str, date_field: str, change_field: str | None
) -> Seen | None:
    """What the memory needs of a record; None where there is no key or no LASTUPDATE to tell."""
    key, changed = record.get(key_field), record.get(change_field) if change_field else None
    if key is None or not isinstance(changed, str) or not changed:
        return None
    paid, day = record.get("PAID_DATE"), record.get(date_field)
    return Seen(
        str(key),
        (changed, paid if isinstance(paid, str) and paid else None),
        day[:10] if isinstance(day, str) and day else None,
    )


def remembered(memory: Mapping[str, Version], record: Seen | None) -> bool:
    return record is not None and memory.get(record.key) == record.version


def keep(read: Iterable[Seen], still_news: Callable[[Seen], bool]) -> dict[str, Version]:
    """The memory to save: what was read (so delivered, now or before) that is news by position.

    Newest versions first where there are more than MAX_REMEMBERED.
    """
    kept = [one for one in read if still_news(one)]
    kept.sort(key=lambda one: (one.version[0], one.key), reverse=True)
    return {one.key: one.version for one in kept[:MAX_REMEMBERED]}


def parse(raw: Any) -> dict[str, Version]:
    """The memory as saved: {"<key>": ["<LASTUPDATE>", "<PAID_DATE>" or null]}."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{STATE_KEY} is not an object")
    memory: dict[str, Version] = {}
    for key, value in raw.items():
        changed, paid = value  # exactly two: a list of another length is not this state
        normal = to_timestamp(changed) if isinstance(changed, str) else None
        paid_normal = to_date(paid) if isinstance(paid, str) else None
        if normal is None or (paid is not None and paid_normal is None):
            raise ValueError(f"{STATE_KEY}[{key!r}] is not [LASTUPDATE, PAID_DATE]")
        memory[str(key)] = (normal, paid_normal)
    return memory


def dump(memory: Mapping[str, Version]) -> dict[str, list[str | None]]:
    return {key: [changed, paid] for key, (changed, paid) in sorted(memory.items())}
