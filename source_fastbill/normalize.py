"""Type normalisation: the one place where FastBill's loose values become the declared schema types.

FastBill mixes `"19.00"` strings with numbers, sends `"0"`/`"1"` flags, zero dates such as
`"0000-00-00 00:00:00"`, and lists as `""`, `{}` or index-keyed objects. Each record is walked
along the stream's JSON schema and every declared field, nested ones included, takes its declared
type; undeclared fields pass through untouched.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Mapping
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
    """One value (and what it contains) in the type its schema declares."""
    return compile_schema(schema)(value)


Converter = Callable[[Any], Any]


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
        return lambda value: value
    general = functools.partial(_scalar, convert=_CONVERTERS[kind], kind=kind, schema=schema)
    if kind == "string" and "format" not in schema:
        return functools.partial(_text, general=general)
    if kind == "number":
        return functools.partial(_numeric, general=general)
    return general


# Fast paths for the values most records are made of; anything else takes the general route.
def _text(value: Any, general: Converter) -> Any:
    if value.__class__ is str:
        return value if value.strip() else None
    return general(value)


def _numeric(value: Any, general: Converter) -> Any:
    if value.__class__ is int or (value.__class__ is float and math.isfinite(value)):
        return value
    return general(value)


def _list_converter(items: dict[str, Any] | None) -> Converter:
    item = compile_schema(items) if items else None

    def convert(value: Any) -> list[Any]:
        values = as_list(value)
        return [item(v) for v in values] if item else values

    return convert


def _object_converter(properties: dict[str, Any]) -> Converter:
    fields = {name: compile_schema(sub) for name, sub in properties.items()}

    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            return None  # PHP sends an empty object as [] or ""
        for name, field in fields.items():
            if name in value:
                value[name] = field(value[name])
        return value

    return convert


def _scalar(value: Any, convert: Callable[..., Any], kind: str, schema: dict[str, Any]) -> Any:
    if (
        value is None
        or value == []
        or value == {}
        or (isinstance(value, str) and not value.strip())
    ):
        return None  # FastBill's ways of saying "empty"
    try:
        return convert(value, schema)
    except (Unconvertible, ValueError, TypeError):
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
        number: int | float = value
    else:
        text = str(value).strip()
        if "," in text and "." not in text:
            text = text.replace(",", ".")  # a German decimal comma: "19,00"
        number = float(text)
    if isinstance(number, float) and not math.isfinite(number):
        raise Unconvertible  # "NAN", "INF", "1e999": no JSON number says that
    return number


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


class FastbillTransformer(TypeTransformer):
    """The CDK's TypeTransformer, with FastBill's rules compiled once per schema.

    The stock transformer interprets the JSON schema with jsonschema for every record: about 2 ms
    for one invoice with its items, which capped a sync at a few hundred records per second.
    """

    def __init__(self) -> None:
        super().__init__(TransformConfig.CustomSchemaNormalization)
        self._compiled: dict[int, tuple[Mapping[str, Any], Converter]] = {}

    def transform(self, record: dict[str, Any], schema: Mapping[str, Any]) -> None:
        cached = self._compiled.get(id(schema))
        if cached is None or cached[0] is not schema:
            cached = self._compiled[id(schema)] = (schema, compile_schema(dict(schema)))
        cached[1](record)  # in place, like the CDK's transformer
