"""How FastBill answers: one JSON envelope `{"REQUEST": ..., "RESPONSE": {...}}` for every service.

The error handler, the paginator and the record parser all read the same body; it is parsed once
per response and kept on the response object. A body that is not such an envelope is never read
as an empty page: the error handler retries it and then fails (README, "Reliability").
"""

from __future__ import annotations

import codecs
import json
import math
from dataclasses import dataclass
from typing import Any

import requests

_PARSED = "_fastbill_body"
EXCERPT_CHARS = 300  # what an error message or a log line may quote of a body


@dataclass
class Parsed:
    """A response body as the connector understood it."""

    data: dict[str, Any] | None  # None: not a JSON object (an HTML page, a truncated body ...)
    charset: str = "utf-8"
    non_finite: int = 0  # NaN/Infinity literals or overflowing numbers, emitted as null
    problem: str | None = None  # why data is None


def parse(response: requests.Response) -> Parsed:
    cached = response.__dict__.get(_PARSED)
    if cached is None:
        cached = response.__dict__[_PARSED] = _parse(response)
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
        data = json.loads(text, parse_constant=non_finite, parse_float=finite_float)
    except ValueError:
        return Parsed(None, charset, problem="a body that is not JSON")
    if not isinstance(data, dict):
        return Parsed(None, charset, problem=f"a JSON {type(data).__name__}, not an object")
    return Parsed(data, charset, non_finite=counter[0])


def decode(response: requests.Response) -> tuple[str | None, str]:
    """The body as text, by the charset the server declared (FastBill's PHP may say ISO-8859-1).

    Without a declaration JSON is UTF-8; a body that is not valid UTF-8 then is read as
    Windows-1252, the usual meaning of "Latin-1" on a German PHP server.
    """
    declared = _declared_charset(response.headers.get("Content-Type", ""))
    raw = response.content or b""
    if declared:
        try:
            return raw.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass  # a wrong declaration: try what JSON allows
    for charset in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(charset), charset.replace("-sig", "")
        except UnicodeDecodeError:
            continue
    return None, declared or "utf-8"


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


def has_list(response: requests.Response, key: str) -> bool:
    """Whether RESPONSE carries the service's list, or is empty altogether.

    An empty RESPONSE (`[]` or `{}`) is an empty list; a RESPONSE with other keys and not this
    one (`{"STATUS": "ok"}`) is not an answer to a list request.
    """
    part = response_part(response)
    return key in part or not part


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


def entries(response: requests.Response, key: str) -> list[Any]:
    """Everything the server sent under `RESPONSE.<key>`, junk included: paging counts these."""
    return as_list(response_part(response).get(key))


def rows(response: requests.Response, key: str) -> list[dict[str, Any]]:
    """The records under `RESPONSE.<key>`; an absent key is an empty page."""
    return [r for r in entries(response, key) if isinstance(r, dict)]


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A bounded, one-line piece of a text for messages: a body can be megabytes of addresses."""
    flat = " ".join(text.split())
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
