"""The primary-key rule: a key is a canonical string, or the record is keyless.

FastBill's PHP sends the same id as 4711, "4711" or "4711.0" depending on the service and the
release; an id that is an object, a list, a bool or empty identifies nothing. One canonical
string per id keeps the emitted key, paging's dedupe and the child rows' links equal.
"""

from __future__ import annotations

import math
import re
from collections.abc import MutableMapping
from typing import Any

# An integer as PHP prints it, optionally with a zero fraction. Leading zeros are no number
# spelling but a code ("007" as an article number or a coupon code): such a key stays text.
_INTEGRAL = re.compile(r"-?(?:0|[1-9]\d*)(?:\.0+)?")


def canonical_key(value: Any) -> str | None:
    """`4711`, `4711.0`, `"4711"`, `" 4711 "`, `"4711.0"` -> `"4711"`; junk -> None (keyless).

    Other texts are keys as they are, stripped ("007", "A-12"); bool, null, "", objects, lists,
    NaN and fractional numbers identify nothing.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value.is_integer() else None
    if not isinstance(value, str):
        return None  # an object or a list identifies nothing
    text = value.strip()
    if _INTEGRAL.fullmatch(text):
        return str(int(text.split(".")[0]))
    return text or None


def canonicalize(record: MutableMapping[str, Any], key: str) -> None:
    """Writes the canonical key into the record, where the record has the field at all."""
    if key in record:
        record[key] = canonical_key(record[key])
