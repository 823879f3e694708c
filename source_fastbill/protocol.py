"""How FastBill answers: one JSON envelope `{"REQUEST": ..., "RESPONSE": {...}}` for every service.

The error handler, the paginator and the record parser all read the same body; it is parsed once
per response and kept on the response object. A body that is not such an envelope is never read
as an empty page: the error handler retries it and then fails (README, "Reliability").
"""

from __future__ import annotations

import codecs
import json
import math
import re
import threading
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests

from source_fastbill import masking

# Each answer is parsed once; the result lives beside it (weakly: it goes with the answer).
_PARSED: weakref.WeakKeyDictionary[requests.Response, Parsed] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
EXCERPT_CHARS = 300  # what an error message or a log line may quote of a body
MAX_DEPTH = 200  # FastBill's envelopes nest about 6 deep; far deeper is no answer (and recursion)
# UTF-32 before UTF-16: the UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Where a service's list sits under RESPONSE: one key, or alternatives tried in order, each a
# dotted path, for a service answered in more than one shape (("DOCUMENTS", "ITEMS.DOCUMENTS")).
Keys = str | tuple[str, ...]
# A JSON string (unrolled so the regex engine runs it in C), and anything not a bracket.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class Unreadable(ValueError):
    """A body that is JSON, but not one answer: it can be read more than one way, or not safely."""


@dataclass
class Parsed:
    """A response body as the connector understood it."""

    data: dict[str, Any] | None  # None: not a JSON object (an HTML page, a truncated body ...)
    charset: str = "utf-8"
    non_finite: int = 0  # NaN/Infinity literals or overflowing numbers, emitted as null
    problem: str | None = None  # why data is None


def parse(response: requests.Response) -> Parsed:
    with _LOCK:
        cached = _PARSED.get(response)
    if cached is None:
        cached = _parse(response)
        with _LOCK:
            _PARSED[response] = cached
    return cached


def _parse(response: requests.Response) -> Parsed:
    text, charset = decode(response)
    if text is None:
        return Parsed(None, charset, problem=f"a body that is not {charset} text")
    counter = [0]

    def non_finite(_: str) -> None:
        counter[0] += 1
        return None

    def finite_float(literal: str) -> float | None:
        number = float(literal)
        return number if math.isfinite(number) else non_finite(literal)

    try:
        _check_depth(text)
        data = json.loads(
            text,
            parse_constant=non_finite,
            parse_float=finite_float,
            object_pairs_hook=_unique_keys,
        )
    except Unreadable as ambiguous:
        return Parsed(None, charset, problem=str(ambiguous))
    except (ValueError, RecursionError):
        return Parsed(None, charset, problem="a body that is not JSON")
    if not isinstance(data, dict):
        return Parsed(None, charset, problem=f"a JSON {type(data).__name__}, not an object")
    return Parsed(data, charset, non_finite=counter[0])


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Any object at any depth: PHP's json_encode cannot repeat a key, so a repeated one is a
    # broken proxy or concatenation, and which copy is the data is unknowable (a record too).
    found = dict(pairs)  # built in C; a repeated key makes it shorter than the pairs
    if len(found) == len(pairs):
        return found
    repeated = next(key for key, n in Counter(key for key, _ in pairs).items() if n > 1)
    raise Unreadable(f"a JSON body that holds the key {repeated!r} twice in one object")


def _check_depth(text: str) -> None:
    """Refuses a body nested deeper than MAX_DEPTH before the parser recurses into it."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # the common case costs two counts
    # Strings dropped and only brackets kept, both in C: the loop sees a page's few brackets,
    # not its characters (a 100-invoice page took 13 ms token by token).
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = 0
    for mark in brackets:
        if mark in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise Unreadable(f"a JSON body nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1


def decode(response: requests.Response) -> tuple[str | None, str]:
    """The body as text: one order of evidence, strongest first.

    1. A byte-order mark decides the encoding over any declaration, and is removed.
    2. A declared UTF-16/UTF-32 is tried next: such a body is no valid text otherwise.
    3. Bytes that are valid UTF-8 are UTF-8, whatever single-byte charset is declared: German
       text in ISO-8859-1 is never valid UTF-8, while a UTF-8 body read as Latin-1 would be
       read without error and emitted garbled ("GrÃ¼ÃŸe").
    4. Otherwise the declared charset (FastBill's PHP may say ISO-8859-1), else Windows-1252,
       the usual meaning of "Latin-1" on a German PHP server.
    """
    raw = response.content or b""
    for mark, charset in _BOMS:
        if raw.startswith(mark):
            return _decoded(raw[len(mark) :], charset), charset
    declared = _declared_charset(response.headers.get("Content-Type", ""))
    wide = declared is not None and declared.startswith(("utf-16", "utf-32"))
    order = [declared, "utf-8", "cp1252"] if wide else ["utf-8", declared, "cp1252"]
    for charset in filter(None, order):
        text = _decoded(raw, charset)
        if text is not None:
            return text, charset
    return None, declared or "utf-8"


def _decoded(raw: bytes, charset: str) -> str | None:
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return None


def _declared_charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            name = value.strip().strip("\"'")
            try:
                return codecs.lookup(name).name
            except LookupError:
                return None
    return None


def body(response: requests.Response) -> dict[str, Any] | None:
    """The parsed JSON object, or None when the body is not a JSON object (e.g. an HTML page)."""
    return parse(response).data


def is_envelope(response: requests.Response) -> bool:
    """Whether the body is a FastBill answer: a JSON object with a RESPONSE part.

    PHP encodes an empty RESPONSE as `[]`; `{}`, a body without RESPONSE, or `"RESPONSE": null`
    are not answers (a proxy, a maintenance script, a different API).
    """
    data = body(response)
    if data is None or "RESPONSE" not in data:
        return False
    part = data["RESPONSE"]
    return isinstance(part, dict) or part == []


def has_list(response: requests.Response, key: Keys) -> bool:
    """Whether RESPONSE carries the service's list, or is empty altogether.

    An empty RESPONSE (`[]` or `{}`) is an empty list; a RESPONSE with other keys and not this
    one (`{"STATUS": "ok"}`) is not an answer to a list request.
    """
    part = response_part(response)
    return _listed(part, key)[0] or not part


def key_text(key: Keys) -> str:
    """The key(s) in messages: RESPONSE.DOCUMENTS or RESPONSE.ITEMS.DOCUMENTS."""
    return " or RESPONSE.".join((key,) if isinstance(key, str) else key)


def _listed(part: dict[str, Any], key: Keys) -> tuple[bool, Any]:
    """The first of the alternatives present in RESPONSE, and what it holds."""
    for path in (key,) if isinstance(key, str) else key:
        value: Any = part
        for name in path.split("."):
            if not isinstance(value, dict) or name not in value:
                break
            value = value[name]
        else:
            return True, value
    return False, None


def response_part(response: requests.Response) -> dict[str, Any]:
    # An empty RESPONSE comes as `[]` from FastBill's PHP encoder.
    part = (body(response) or {}).get("RESPONSE")
    return part if isinstance(part, dict) else {}


def errors(response: requests.Response) -> list[str]:
    """FastBill's `RESPONSE.ERRORS` (a list, a `{"0": ...}` object or a bare string) as texts."""
    found = response_part(response).get("ERRORS")
    if not found:
        return []
    texts = [excerpt(str(e)) for e in as_list(found) if str(e).strip()]
    return texts or [excerpt(json.dumps(found))]


def entries(response: requests.Response, key: Keys) -> list[Any]:
    """Everything the server sent under `RESPONSE.<key>`, junk included: paging counts these."""
    return as_list(_listed(response_part(response), key)[1])


def rows(response: requests.Response, key: Keys) -> list[dict[str, Any]]:
    """The records under `RESPONSE.<key>`; an absent key is an empty page."""
    return [r for r in entries(response, key) if isinstance(r, dict)]


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A bounded, one-line piece of a text for messages: a body can be megabytes of addresses.

    Secrets are masked before the cut: a cut through an encoded key would leave its start.
    """
    flat = masking.mask(" ".join(text.split()))
    return flat if len(flat) <= limit else f"{flat[:limit]}… ({len(flat):,} characters)"


def body_excerpt(response: requests.Response) -> str:
    text, _ = decode(response)
    return excerpt(text if text is not None else repr(response.content[:EXCERPT_CHARS]))


def as_list(value: Any) -> list[Any]:
    """A FastBill list from an array, `""`, `{}`, `null`, an index-keyed object or a wrapper."""
    if isinstance(value, list):
        return value
    if value is None or value == "" or value == {}:
        return []
    if isinstance(value, dict):
        if _is_index_keyed(value):  # a PHP array encoded as an object: {"0": a, "1": b}
            return [value[k] for k in sorted(value, key=int)]
        if len(value) == 1:  # an XML-style wrapper such as {"ELEMENT": [...]} or {"ITEM": {...}}
            (inner,) = value.values()
            if isinstance(inner, list):
                return inner
            if isinstance(inner, dict):
                return as_list(inner) if _is_index_keyed(inner) else [inner]
    return [value]


def _is_index_keyed(value: dict[str, Any]) -> bool:
    return all(str(k).isdigit() for k in value)
