"""The one helper that runs the connector and reads its messages (fastbill_sandbox/runner.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from fastbill_sandbox.runner import (
    MAIN,
    command_line,
    parse_line,
    parse_stdout,
    read_stream,
    write_inputs,
)

RECORD = {"type": "RECORD", "record": {"stream": "customers", "data": {"ID": "1"}, "emitted_at": 1}}
LOG = {"type": "LOG", "log": {"level": "INFO", "message": "hello"}}


def test_a_line_is_a_message_only_when_it_is_an_object_with_a_type() -> None:
    assert parse_line(json.dumps(LOG)) == LOG
    for line in ("", "not json", "[1, 2]", '{"log": {}}', "42"):
        assert parse_line(line) is None, line


def test_stdout_splits_into_messages_and_noise_in_order() -> None:
    stdout = "\n".join([json.dumps(LOG), "stray print", json.dumps(RECORD)])
    messages, noise = parse_stdout(stdout)
    assert messages == [LOG, RECORD]
    assert noise == ["stray print"]


def test_a_stream_counts_records_in_either_json_style_and_yields_the_rest() -> None:
    lines = [
        json.dumps(RECORD, separators=(",", ":")).encode() + b"\n",  # the CDK's compact JSON
        json.dumps(RECORD).encode() + b"\n",  # an older connector's spaced JSON
        json.dumps(LOG).encode() + b"\n",
        b"Traceback (most recent call last):\n",
    ]
    records: Counter[str] = Counter()
    rest = list(read_stream(lines, records))
    assert records == {"customers": 2}
    assert rest == [LOG, b"Traceback (most recent call last):\n"]


def test_the_command_line_names_only_the_files_given(tmp_path: Path) -> None:
    files = write_inputs(tmp_path, config={"a": 1}, state=[])
    assert json.loads(files["config"].read_text()) == {"a": 1}
    args = command_line("read", files)
    assert args[1:] == [str(MAIN), "read", "--config", str(files["config"]),
                        "--state", str(files["state"])]  # fmt: skip
    assert command_line("spec", {}, prefix=["old-python", "old/main.py"]) == [
        "old-python", "old/main.py", "spec"
    ]  # fmt: skip
