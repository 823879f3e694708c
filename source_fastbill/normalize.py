"""Type normalisation: the one place where FastBill's loose values become the declared schema types.

FastBill mixes `"19.00"` strings with numbers, sends `"0"`/`"1"` flags, zero dates such as
`"0000-00-00 00:00:00"`, and lists as `""`, `{}` or index-keyed objects. Each record is walked
along the stream's JSON schema and every declared field, nested ones included, takes its declared
type; undeclared fields pass through untouched.

The rule: every emitted value is valid for its declared type and means what FastBill meant, or it
is null and listed in the record's `nulled` (path and the raw value's type), which the stream
turns into the record's `meta.changes` and a log line. "No value" spellings (empty string, `[]`,
`{}`, PHP's `false`, zero dates) become null without a report: FastBill meant "nothing".

Numbers: `.` alone is the decimal point, as in the API's own format (`"19.00"`, `"1.000"` is 1);
`,` alone is a German decimal comma (`"19,50"`), except a comma followed by exactly three digits
and nothing else (`"1,000"`): a German 1 or an English 1000, so null and reported as ambiguous.
With both separators (`"1.234,56"`, `"1,234.56"`) the last one is the decimal separator and the
other groups exactly three digits; the same separator repeated (`"1.000.000"`) groups digits.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from airbyte_cdk.sources.utils.transform import TransformConfig, TypeTransformer

from source_fastbill.protocol import as_list

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})")
_TIME = re.compile(r"[ T](\d{2}):(\d{2})(?::(\d{2}))?")
_TRUE = frozenset({"1", "true", "yes", "y", "t", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "f", "off"})
# What float() reads, without its "inf"/"nan"/"1_000" spellings.
_PLAIN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"([+-]?\d+),(\d+)")
_GROUPED = re.compile(r"([+-]?)(\d{1,3}(?:([.,])\d{3})+)(?:([.,])(\d+))?")
# An object sent where a string is declared, and the key that names what FastBill meant: Monsum
# documents a subscription's COUPON as the coupon's CODE; one client models it as the coupon.
_REFERENCES = {"COUPON": "CODE"}
EXCERPT = 40


class Unconvertible(ValueError):
    """A value that cannot be expressed in the declared type."""


class Nulled(NamedTuple):
    """A value FastBill sent that had to become null: where, what type it had, and an excerpt.

    `raw_type` and `path` may go into the record's meta; `excerpt` (it could be personal data)
    only into the log.
    """

    path: str
    raw_type: str
    expected: str
    excerpt: str


class Record(dict):  # type: ignore[type-arg]
    """A normalised record: its data, plus the values that became null on the way."""

    __slots__ = ("nulled",)

    def __init__(self, data: Mapping[str, Any] = (), nulled: list[Nulled] | None = None) -> None:  # type: ignore[assignment]
        super().__init__(data)
        self.nulled: list[Nulled] = nulled if nulled is not None else []


# A converter takes the value, its path in the record and the list the nulled values go to.
Converter = Callable[[Any, str, list[Nulled]], Any]


def normalize_value(value: Any, schema: dict[str, Any]) -> Any:
    """One value (and what it contains) in the type its schema declares."""
    return convert(value, schema)[0]


def convert(value: Any, schema: dict[str, Any], path: str = "") -> tuple[Any, list[Nulled]]:
    """The value in its declared type, and the values that had to become null."""
    nulled: list[Nulled] = []
    return compile_schema(schema)(value, path, nulled), nulled


def compile_schema(schema: dict[str, Any]) -> Converter:
    """Turns a schema into nested converters once, instead of interpreting it for every value."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "array" in types:
        return _list_converter(schema.get("items"))
    if "object" in types:
        return _object_converter(schema.get("properties", {}))
    kind = next((t for t in types if t != "null"), None)
    if kind not in _CONVERTERS:
        return lambda value, path, nulled: value
    general = functools.partial(_scalar, convert=_CONVERTERS[kind], kind=kind, schema=schema)
    if kind == "string" and "format" not in schema:
        return functools.partial(_text, general=general)
    if kind == "number":
        return functools.partial(_numeric, general=general)
    return general


# Fast paths for the values most records are made of; anything else takes the general route.
def _text(value: Any, path: str, nulled: list[Nulled], general: Converter) -> Any:
    if value.__class__ is str:
        return value if value.strip() else None
    return general(value, path, nulled)


def _numeric(value: Any, path: str, nulled: list[Nulled], general: Converter) -> Any:
    if value.__class__ is int or (value.__class__ is float and math.isfinite(value)):
        return value
    return general(value, path, nulled)


def _is_empty(value: Any) -> bool:
    # FastBill's ways of saying "nothing", PHP's false included ("no external id").
    return (
        value is None
        or value is False
        or value == []
        or value == {}
        or (isinstance(value, str) and not value.strip())
    )


def _report(value: Any, path: str, expected: str, nulled: list[Nulled]) -> None:
    nulled.append(Nulled(path, type(value).__name__, expected, repr(value)[:EXCERPT]))


def _list_converter(items: dict[str, Any] | None) -> Converter:
    item = compile_schema(items) if items else None
    kinds = (items or {}).get("type", [])
    nullable = "null" in ([kinds] if isinstance(kinds, str) else kinds)

    def convert(value: Any, path: str, nulled: list[Nulled]) -> list[Any]:
        values = [] if value is False else as_list(value)
        if not item:
            return values
        converted = (item(v, f"{path}[{i}]", nulled) for i, v in enumerate(values))
        # An entry that cannot be an item is left out (and reported, unless it was empty).
        return [v for v in converted if v is not None or nullable]

    return convert


def _object_converter(properties: dict[str, Any]) -> Converter:
    fields = {name: _field(name, sub) for name, sub in properties.items()}

    def convert(value: Any, path: str, nulled: list[Nulled]) -> Any:
        if not isinstance(value, dict):
            if not _is_empty(value):  # PHP sends an empty object as [] or ""; anything else is lost
                _report(value, path, "object", nulled)
            return None
        prefix = f"{path}." if path else ""
        for name, field in fields.items():
            if name in value:
                value[name] = field(value[name], prefix + name, nulled)
        return value

    return convert


def _field(name: str, schema: dict[str, Any]) -> Converter:
    converter = compile_schema(schema)
    key = _REFERENCES.get(name)
    if key is None:
        return converter

    def referenced(value: Any, path: str, nulled: list[Nulled]) -> Any:
        if isinstance(value, dict) and key in value:
            value = value[key]
        return converter(value, path, nulled)

    return referenced


def _scalar(
    value: Any,
    path: str,
    nulled: list[Nulled],
    convert: Callable[..., Any],
    kind: str,
    schema: dict[str, Any],
) -> Any:
    if _is_empty(value) and not (value is False and kind == "boolean"):
        return None
    try:
        return convert(value, schema)
    except (Unconvertible, ValueError, TypeError, OverflowError):
        # Emitting the raw value would break the declared type for every destination.
        _report(value, path, schema.get("format") or kind, nulled)
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
        number: int | float = value
    elif isinstance(value, str):
        number = parse_number(value)
    else:
        raise Unconvertible
    if isinstance(number, float) and not math.isfinite(number):
        raise Unconvertible  # "1e999": no JSON number says that
    return number


def parse_number(text: str) -> float:
    """A decimal as FastBill or a person writes it, by the rule in the module docstring."""
    text = text.strip()
    if _PLAIN.fullmatch(text):
        return float(text)
    comma = _DECIMAL_COMMA.fullmatch(text)
    if comma:
        if len(comma[2]) == 3:
            raise Unconvertible  # "1,000": a German 1 or an English 1000
        return float(f"{comma[1]}.{comma[2]}")
    grouped = _GROUPED.fullmatch(text)
    if not grouped or grouped[4] == grouped[3]:
        raise Unconvertible
    sign, whole, group, _, fraction = grouped.groups()
    return float(f"{sign}{whole.replace(group, '')}.{fraction or '0'}")


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
    if isinstance(value, (dict, list)):
        raise Unconvertible
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Unconvertible


_CONVERTERS = {"string": _string, "number": _number, "integer": _integer, "boolean": _boolean}


def to_date(value: Any) -> str | None:
    """`2024-03-15`, `2024-03-15 00:00:00` or `15.03.2024` → `2024-03-15`; zero dates → None.

    A day that is not in the calendar (`2024-02-30`) raises Unconvertible.
    """
    if not isinstance(value, str):
        raise Unconvertible
    text = value.strip()
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
    return dt.date(int(year), int(month), int(day)).isoformat()  # ValueError if not a real day


def to_timestamp(value: Any) -> str | None:
    """`2024-03-02 10:11:12` → `2024-03-02T10:11:12`; a bare date gets midnight; zero → None.

    A time that is not on the clock (`24:00:00`, `25:61`) raises Unconvertible: FastBill's meaning
    of `24:00:00` is not documented, so it is reported rather than guessed.
    """
    day = to_date(value)
    if day is None:
        return None
    clock = _TIME.search(str(value))
    if not clock:
        return f"{day}T00:00:00"
    time = dt.time(int(clock[1]), int(clock[2]), int(clock[3] or 0))  # ValueError if not a time
    return f"{day}T{time.isoformat()}"


class FastbillTransformer(TypeTransformer):
    """The CDK's TypeTransformer, with FastBill's rules compiled once per schema.

    The stock transformer interprets the JSON schema with jsonschema for every record: about 2 ms
    for one invoice with its items, which capped a sync at a few hundred records per second.
    """

    def __init__(self) -> None:
        super().__init__(TransformConfig.CustomSchemaNormalization)
        self._compiled: dict[int, tuple[Mapping[str, Any], Converter]] = {}

    def transform(self, record: dict[str, Any], schema: Mapping[str, Any]) -> None:
        self.normalize(record, schema)

    def normalize(self, record: dict[str, Any], schema: Mapping[str, Any]) -> list[Nulled]:
        """Normalises the record in place; returns the values that became null."""
        cached = self._compiled.get(id(schema))
        if cached is None or cached[0] is not schema:
            cached = self._compiled[id(schema)] = (schema, compile_schema(dict(schema)))
        nulled: list[Nulled] = []
        cached[1](record, "", nulled)
        return nulled
