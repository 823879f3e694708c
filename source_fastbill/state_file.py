"""The `--state` file: read what Airbyte, PyAirbyte or a person wrote, or say what is wrong.

The CDK reads only a list of per-stream states and answers anything else with "Something went
wrong in the connector". One rule here: whatever the file holds is unwrapped into per-stream
states, and a later state of a stream replaces an earlier one. Read are

- what the connector printed: one STATE message, a JSON list of them, or JSON Lines (the whole
  stdout of a run: RECORD, LOG and TRACE lines are skipped);
- what Airbyte saves: a JSON list of STREAM (or GLOBAL, LEGACY) states, or one of them;
- the legacy dict (`{"invoices": {...}}`).

An empty file is no state; anything else is a config error that says what to do.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airbyte_cdk.models import AirbyteStateMessage, AirbyteStateMessageSerializer

from source_fastbill.config import ConfigError

logger = logging.getLogger("airbyte")
FIX = (
    "Pass what the connector printed: its STATE lines (one, a JSON list of them, or the whole "
    "output of a run, of which the last state of each stream is read), or the JSON list of "
    "STREAM states Airbyte saves, or [] for no state; or leave --state out to start from "
    "start_date."
)
# Airbyte messages that are not states: skipped when a whole output is passed.
OTHER_MESSAGES = frozenset(
    {"RECORD", "LOG", "TRACE", "SPEC", "CATALOG", "CONNECTION_STATUS", "CONTROL"}
)


def read(path: str | None) -> list[AirbyteStateMessage]:
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"The state file {path} cannot be read ({error}). {FIX}") from None
    if not text.strip():
        logger.warning(f"The state file {path} is empty: reading as if there were no state.")
        return []
    return [
        _message(entry, path)
        for entry in _last_per_stream(_stream_entries(_load(text, path), path))
    ]


def _load(text: str, path: str) -> Any:
    """One JSON document, or JSON Lines (a run's output) read as the list of its lines."""
    try:
        return json.loads(text)
    except ValueError as error:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise ConfigError(f"The state file {path} is not JSON ({error}). {FIX}") from None
    parsed = []
    for number, line in enumerate(lines, start=1):
        try:
            parsed.append(json.loads(line))
        except ValueError as error:
            raise ConfigError(
                f"The state file {path} is neither JSON nor JSON Lines: line {number} is not "
                f"JSON ({error}). {FIX}"
            ) from None
    states = [entry for entry in parsed if not _other_message(entry)]
    if not states:
        raise ConfigError(f"The state file {path} holds no STATE line. {FIX}")
    return states


def _other_message(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("type") in OTHER_MESSAGES


def _last_per_stream(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A run prints a stream's state at each checkpoint: the last one is where it stopped.
    latest = {entry["stream"]["stream_descriptor"]["name"]: entry for entry in entries}
    return list(latest.values())


def _stream_entries(raw: Any, path: str) -> list[dict[str, Any]]:
    if isinstance(raw, dict) and raw.get("type") in ("STATE", "STREAM", "GLOBAL", "LEGACY"):
        raw = [raw]
    if isinstance(raw, dict):  # the legacy format: {"stream name": {...state...}}
        if not all(isinstance(value, dict) for value in raw.values()):
            raise ConfigError(f"The state file {path} is a JSON object, not a state. {FIX}")
        logger.warning(
            f"The state file {path} is in the legacy format (one object keyed by stream); "
            "reading it as per-stream states."
        )
        return [_stream(name, value) for name, value in raw.items()]
    if not isinstance(raw, list):
        raise ConfigError(
            f"The state file {path} holds a JSON {type(raw).__name__}, not a list of states. {FIX}"
        )
    entries: list[dict[str, Any]] = []
    for entry in raw:
        if not _other_message(entry):
            entries.extend(_entries_of(entry, path))
    return entries


def _entries_of(entry: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(entry, dict):
        raise ConfigError(f"The state file {path} lists {entry!r}, which is not a state. {FIX}")
    if entry.get("type") == "STATE" and isinstance(entry.get("state"), dict):
        entry = entry["state"]  # a message as the connector printed it
    kind = entry.get("type", "STREAM")
    if kind == "GLOBAL":
        shared = entry.get("global") or {}
        streams = shared.get("stream_states") or []
        logger.warning(
            f"The state file {path} holds a GLOBAL state; this connector keeps one state per "
            "stream, so its stream states are read one by one."
        )
        return [
            _stream(s["stream_descriptor"]["name"], s.get("stream_state") or {})
            for s in streams
            if isinstance(s, dict) and isinstance(s.get("stream_descriptor"), dict)
        ]
    if kind == "STREAM" and isinstance(entry.get("stream"), dict):
        stream = entry["stream"]
        descriptor = stream.get("stream_descriptor")
        if isinstance(descriptor, dict) and descriptor.get("name"):
            return [_stream(descriptor["name"], stream.get("stream_state") or {})]
    if kind == "LEGACY" and isinstance(entry.get("data"), dict):
        return [_stream(name, value) for name, value in entry["data"].items()]
    raise ConfigError(
        f"The state file {path} holds an entry of type {kind!r} that is not a state of a "
        f"stream. {FIX}"
    )


def _stream(name: str, state: Any) -> dict[str, Any]:
    return {
        "type": "STREAM",
        "stream": {
            "stream_descriptor": {"name": name},
            "stream_state": state if isinstance(state, dict) else {},
        },
    }


def _message(entry: dict[str, Any], path: str) -> AirbyteStateMessage:
    try:
        return AirbyteStateMessageSerializer.load(entry)
    except Exception as error:  # the serializer raises a variety of types
        raise ConfigError(
            f"The state file {path} holds an unreadable state ({error}). {FIX}"
        ) from None
