"""How FastBill answers: one JSON envelope `{"REQUEST": ..., "RESPONSE": {...}}` for every service.

The error handler, the paginator and the record parser all read the same body; it is parsed once
per response and kept on the response object.
"""

from __future__ import annotations

import json
from typing import Any

import requests

_PARSED = "_fastbill_body"
_NOT_JSON = object()


def body(response: requests.Response) -> dict[str, Any] | None:
    """The parsed JSON object, or None when the body is not a JSON object (e.g. an HTML page)."""
    cached = response.__dict__.get(_PARSED)
    if cached is None:
        try:
            cached = json.loads(response.content)
        except ValueError:
            cached = _NOT_JSON
        if not isinstance(cached, dict):
            cached = _NOT_JSON
        response.__dict__[_PARSED] = cached
    return None if cached is _NOT_JSON else cached


def response_part(response: requests.Response) -> dict[str, Any]:
    # An empty RESPONSE comes as `[]` from FastBill's PHP encoder.
    part = (body(response) or {}).get("RESPONSE")
    return part if isinstance(part, dict) else {}


def errors(response: requests.Response) -> list[str]:
    """FastBill's `RESPONSE.ERRORS` (a list, a `{"0": ...}` object or a bare string) as texts."""
    found = response_part(response).get("ERRORS")
    if not found:
        return []
    return [str(e) for e in as_list(found) if str(e).strip()] or [json.dumps(found)]


def rows(response: requests.Response, key: str) -> list[dict[str, Any]]:
    """The records under `RESPONSE.<key>`; an absent key is an empty page."""
    return [r for r in as_list(response_part(response).get(key)) if isinstance(r, dict)]


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
