"""Type normalisation: the one place where FastBill's loose values become the declared schema types.

FastBill mixes `"19.00"` strings with numbers, sends `"0"`/`"1"` flags, zero dates such as
`"0000-00-00 00:00:00"`, and lists as `""`, `{}` or index-keyed objects. The CDK's TypeTransformer
walks each record along the stream's JSON schema and calls `normalize_value` for every declared
field, nested ones included; undeclared fields pass through untouched.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from airbyte_cdk.sources.utils.transform import TransformConfig, TypeTransformer

from source_fastbill.protocol import as_list

logger = logging.getLogger("airbyte")

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})")
_TIME = re.compile(r"[ T](\d{2}):(\d{2})(?::(\d{2}))?")
_TRUE = frozenset({"1", "true", "yes", "y", "t", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "f", "off"})
_MAX_WARNINGS = 50


class Unconvertible(ValueError):
    """A value that cannot be expressed in the declared type."""


def normalize_value(value: Any, schema: dict[str, Any]) -> Any:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "array" in types:
        return as_list(value)
    if "object" in types:
        return value if isinstance(value, dict) else None  # PHP sends an empty object as [] or ""
    if (
        value is None
        or value == []
        or value == {}
        or (isinstance(value, str) and not value.strip())
    ):
        return None  # FastBill's ways of saying "empty"
    kind = next((t for t in types if t != "null"), None)
    try:
        return _CONVERTERS[kind](value, schema)
    except (Unconvertible, KeyError, ValueError, TypeError):
        _warn(value, kind, schema)
        return None


def _string(value: Any, schema: dict[str, Any]) -> str | None:
    fmt = schema.get("format")
    if fmt == "date":
        return to_date(value)
    if fmt == "date-time":
        return to_timestamp(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an ID sent as 4711.0 stays "4711"
    if isinstance(value, (dict, list)):
        raise Unconvertible
    return str(value)


def _number(value: Any, _: dict[str, Any]) -> int | float:
    if isinstance(value, bool):
        raise Unconvertible
    if isinstance(value, (int, float)):
        return value
    text = str(value).strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # a German decimal comma: "19,00"
    return float(text)


def _integer(value: Any, schema: dict[str, Any]) -> int:
    number = _number(value, schema)
    if isinstance(number, float):
        if not number.is_integer():
            raise Unconvertible
        return int(number)
    return number


def _boolean(value: Any, _: dict[str, Any]) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Unconvertible


_CONVERTERS = {"string": _string, "number": _number, "integer": _integer, "boolean": _boolean}


def to_date(value: Any) -> str | None:
    """`2024-03-15`, `2024-03-15 00:00:00` or `15.03.2024` → `2024-03-15`; zero dates → None."""
    text = str(value).strip()
    match = _DATE.match(text)
    if match:
        year, month, day = match.groups()
    else:
        german = _GERMAN_DATE.match(text)
        if not german:
            raise Unconvertible
        day, month, year = german[1].zfill(2), german[2].zfill(2), german[3]
    if year == "0000" or month == "00" or day == "00":
        return None
    return f"{year}-{month}-{day}"


def to_timestamp(value: Any) -> str | None:
    """`2024-03-02 10:11:12` → `2024-03-02T10:11:12`; a bare date gets midnight; zero → None."""
    day = to_date(value)
    if day is None:
        return None
    clock = _TIME.search(str(value))
    if not clock:
        return f"{day}T00:00:00"
    hours, minutes, seconds = clock[1], clock[2], clock[3] or "00"
    return f"{day}T{hours}:{minutes}:{seconds}"


_warned: set[tuple[str | None, str]] = set()


def _warn(value: Any, kind: str | None, schema: dict[str, Any]) -> None:
    # Emitting the raw value would break the declared type for every destination, so it becomes
    # null; the log names it so the loss is visible and can be reported.
    key = (kind, repr(value)[:60])
    if key in _warned or len(_warned) >= _MAX_WARNINGS:
        return
    _warned.add(key)
    expected = schema.get("format") or kind
    logger.warning(f"FastBill sent {value!r} where a {expected} was expected; emitted as null.")


def fastbill_transformer() -> TypeTransformer:
    transformer = TypeTransformer(TransformConfig.CustomSchemaNormalization)
    transformer.registerCustomTransform(normalize_value)
    return transformer
