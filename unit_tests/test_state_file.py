"""--state accepts what the connector printed: one STATE line, a list of them, a whole output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import AirbyteStateMessageSerializer
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill import state_file
from source_fastbill.config import ConfigError

NAMES = st.sampled_from(["invoices", "revenues", "expenses", "time_entries", "customers"])
STATES = st.dictionaries(
    st.sampled_from(["synced_until", "checked_at"]), st.dates().map(str), max_size=2
)


def printed(name: str, state: dict[str, Any]) -> dict[str, Any]:
    """A STATE message exactly as the connector prints it on stdout."""
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": name}, "stream_state": state},
            "sourceStats": {"recordCount": 3.0},
        },
    }


def record(name: str) -> dict[str, Any]:
    return {"type": "RECORD", "record": {"stream": name, "data": {}, "emitted_at": 0}}


def read(tmp_path: Path, text: str) -> dict[str, dict[str, Any]]:
    path = tmp_path / "state.json"
    path.write_text(text)
    messages = [AirbyteStateMessageSerializer.dump(m) for m in state_file.read(str(path))]
    return {m["stream"]["stream_descriptor"]["name"]: m["stream"]["stream_state"] for m in messages}


def test_one_printed_state_line_is_read(tmp_path: Path) -> None:
    line = json.dumps(printed("invoices", {"synced_until": "2026-03-01"}))

    assert read(tmp_path, line) == {"invoices": {"synced_until": "2026-03-01"}}


def test_a_list_of_printed_state_messages_is_read(tmp_path: Path) -> None:
    text = json.dumps([printed("invoices", {"a": "1"}), printed("revenues", {"b": "2"})])

    assert read(tmp_path, text) == {"invoices": {"a": "1"}, "revenues": {"b": "2"}}


def test_a_whole_previous_output_gives_the_last_state_of_each_stream(tmp_path: Path) -> None:
    lines = [
        {"type": "LOG", "log": {"level": "INFO", "message": "Starting syncing"}},
        record("invoices"),
        printed("invoices", {"synced_until": "2026-01-01"}),
        record("revenues"),
        printed("revenues", {"synced_until": "2026-02-01"}),
        printed("invoices", {"synced_until": "2026-03-01"}),
        {"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 0}},
    ]

    assert read(tmp_path, "\n".join(json.dumps(line) for line in lines) + "\n") == {
        "invoices": {"synced_until": "2026-03-01"},
        "revenues": {"synced_until": "2026-02-01"},
    }


def test_an_output_without_state_lines_says_what_to_pass(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(record("invoices")) for _ in range(2))

    with pytest.raises(ConfigError) as raised:
        read(tmp_path, text)

    assert "holds no STATE line" in str(raised.value)
    assert "Pass what the connector printed: its STATE lines" in str(raised.value)


def test_a_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    text = json.dumps(printed("invoices", {})) + "\nStarting the sync\n"

    with pytest.raises(ConfigError, match="line 2 is not JSON"):
        read(tmp_path, text)


def test_the_fix_describes_what_is_accepted_not_what_was_passed() -> None:
    assert "printed last" not in state_file.FIX
    for accepted in ("STATE lines", "JSON list", "whole output of a run", "[] for no state"):
        assert accepted in state_file.FIX


@given(st.lists(st.tuples(NAMES, STATES), min_size=1, max_size=8), st.booleans())
def test_every_shape_of_printed_states_reads_as_the_last_state_per_stream(
    tmp_path_factory: pytest.TempPathFactory,
    states: list[tuple[str, dict[str, Any]]],
    with_records: bool,
) -> None:
    tmp_path = tmp_path_factory.mktemp("state")
    expected = dict(states)  # the last state of each stream wins
    messages = [printed(name, state) for name, state in states]
    saved = [m["state"] for m in messages]  # the list Airbyte saves
    lines = [json.dumps(m) for m in messages]
    if with_records:
        lines = [
            json.dumps(record(name)) + "\n" + line
            for (name, _), line in zip(states, lines, strict=True)
        ]
    shapes = [json.dumps(messages), json.dumps(saved), "\n".join(lines)]
    if len(messages) == 1:
        shapes.append(json.dumps(messages[0]))
    for text in shapes:
        assert read(tmp_path, text) == expected, text
