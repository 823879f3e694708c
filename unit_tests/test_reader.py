"""Issue 16 §6: one owner of the read; one start and one finish per sync and per stream."""

from __future__ import annotations

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.state_builder import StateBuilder

from unit_tests.conftest import FakeFastbill, body, config, page, run_read


def log_lines(output) -> list[str]:  # type: ignore[no-untyped-def]
    return [message.log.message for message in output.logs]


def test_streams_read_side_by_side_say_one_start_and_one_finish(api: FakeFastbill) -> None:
    api.expect(body("customer.get"), page("CUSTOMERS", [{"CUSTOMER_ID": "1"}]))
    api.expect(body("template.get"), page("TEMPLATES", [{"TEMPLATE_ID": "2"}]))
    api.expect(body("project.get"), page("PROJECTS", [{"PROJECT_ID": "3"}]))

    output = run_read(config(num_workers=3), "customers", "templates", "projects")

    lines = log_lines(output)
    assert lines.count("Starting syncing SourceFastbill") == 1
    assert lines.count("Finished syncing SourceFastbill") == 1
    finished = lines.index("Finished syncing SourceFastbill")
    assert finished > max(i for i, line in enumerate(lines) if line.startswith("Read "))
    for stream in ("customers", "templates", "projects"):
        assert lines.count(f"Marking stream {stream} as STARTED") == 1
        assert lines.count(f"Finished syncing {stream}") == 1
        assert output.get_stream_statuses(stream)[0].value == "STARTED"
        assert output.get_stream_statuses(stream)[-1].value == "COMPLETE"
    assert not [line for line in lines if "SourceFastbill stream" in line]


def test_each_state_line_names_its_stream(api: FakeFastbill) -> None:
    api.expect(body("time.get", START_DATE="2024-01-31", END_DATE="2024-01-31"), page("TIMES", []))
    state = StateBuilder().with_stream_state("time_entries", {"synced_until": "2024-01-31"})
    cfg = config(start_date="2024-01-01", end_date="2024-01-31", lookback_days=0)

    output = run_read(cfg, "time_entries", mode=SyncMode.incremental, state=state.build())

    (line,) = [line for line in log_lines(output) if line.startswith("Setting state of")]
    assert line == "Setting state of stream time_entries to {'synced_until': '2024-01-31'}"
