"""A misbehaving FastBill (scripted sandboxes, fastbill_sandbox/faults.py): every record arrives,
or a loud failure.

One test per observed case of the reliability issue, each of which failed on the connector
before it: changes landing mid-sync, junk entries, bodies that are no FastBill answer, a server
ignoring OFFSET, trickling and silent servers, secrets echoed back, a refused service, Latin-1
bodies, non-finite numbers, odd states, and keys that misbehave. Runs go in-process through the
connector's entry point over real loopback HTTP; the connector's waits are recorded, not slept.
The few that need the real stdout run `main.py` as a process.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, read
from airbyte_cdk.test.models.scenario import ExpectedOutcome
from airbyte_cdk.test.state_builder import StateBuilder

from fastbill_sandbox import FastbillSandbox
from fastbill_sandbox.faults import (
    Call,
    Reply,
    by_service,
    customers,
    envelope,
    errors,
    invoices,
    ok,
    paged,
    sequence,
)
from fastbill_sandbox.runner import run_connector
from integration_tests.conftest import FakeClock
from source_fastbill import SourceFastbill

USERNAME = "buchhaltung@example.de"
API_KEY = "fault-test-api-key-0123456789abcdef"


# ---------------------------------------------------------------------------------------------
# Harness


pytestmark = pytest.mark.usefixtures("fake_clock")


def cfg(server: FastbillSandbox, **overrides: Any) -> dict[str, Any]:
    return {"username": USERNAME, "api_key": API_KEY, "api_url": server.url, **overrides}


def sync(
    config: dict[str, Any],
    *streams: str,
    mode: SyncMode = SyncMode.full_refresh,
    state: list[Any] | None = None,
    fails: bool = False,
) -> EntrypointOutput:
    builder = CatalogBuilder()
    for stream in streams:
        builder.with_stream(stream, mode)
    outcome = ExpectedOutcome.EXPECT_EXCEPTION if fails else ExpectedOutcome.EXPECT_SUCCESS
    return read(SourceFastbill(), config, builder.build(), state=state, expected_outcome=outcome)


def check(config: dict[str, Any], tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    output = _run_command(SourceFastbill(), ["check", "--config", str(path)])
    status = output.connection_status_messages[-1].connectionStatus
    return status.status.value, status.message or ""


def data(output: EntrypointOutput, stream: str | None = None) -> list[dict[str, Any]]:
    return [m.record.data for m in output.records if stream is None or m.record.stream == stream]


def ids(output: EntrypointOutput, key: str = "INVOICE_ID") -> list[str]:
    return [row[key] for row in data(output)]


def final_state(output: EntrypointOutput) -> list[Any]:
    last = output.state_messages[-1].state.stream
    return (
        StateBuilder()
        .with_stream_state(last.stream_descriptor.name, dict(last.stream_state.__dict__))
        .build()
    )


def errors_of(output: EntrypointOutput) -> list[str]:
    return [m.trace.error.message for m in output.errors]


def berlin(moment: datetime) -> str:
    return pendulum.instance(moment).in_timezone("Europe/Berlin").format("YYYY-MM-DD HH:mm:ss")


def everything(output: EntrypointOutput) -> str:
    from airbyte_cdk.models import AirbyteMessageSerializer

    messages = output.get_message_iterator()
    return "\n".join(json.dumps(AirbyteMessageSerializer.dump(m)) for m in messages)


# ---------------------------------------------------------------------------------------------
# 1. Changes during an incremental sync


class LiveInvoices:
    """invoice.get over a list that a test edits between two pages of the same sync."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows, self.lock = rows, threading.Lock()
        self.on_call: Any = None

    def __call__(self, call: Call) -> Reply:
        with self.lock:
            if self.on_call:
                self.on_call(call)
            page = self.rows[call.offset : call.offset + (call.limit or 10)]
            return ok("INVOICES", [dict(r) for r in page])


YESTERDAY = (date.today() - timedelta(days=1)).isoformat()
SAVED = {"LASTUPDATE": "2026-01-01T00:00:00", "synced_until": YESTERDAY}


def test_an_invoice_edited_on_a_page_already_read_arrives_in_the_next_sync(serve: Any) -> None:
    rows = invoices(150, INVOICE_DATE=YESTERDAY, LASTUPDATE="2026-01-02 00:00:00")
    live = LiveInvoices(rows)
    server = serve(by_service({"invoice.get": live}))
    now = datetime.now(timezone.utc)

    def edit_mid_sync(call: Call) -> None:
        if call.offset == 100 and not call.filter.get("START_PAID_DATE"):
            rows[5]["LASTUPDATE"] = berlin(now)  # on page 1, already read
            rows[120]["LASTUPDATE"] = berlin(now + timedelta(seconds=30))  # on page 2

    live.on_call = edit_mid_sync
    config = cfg(server, lookback_days=0)
    state = StateBuilder().with_stream_state("invoices", SAVED).build()

    first = sync(config, "invoices", mode=SyncMode.incremental, state=state)
    live.on_call = None
    second = sync(config, "invoices", mode=SyncMode.incremental, state=final_state(first))

    assert "6" in ids(second)  # before the fix: the cursor took invoice 121's time, 6 was lost
    # The saved cursor is FastBill's (German) reading of the start, less the margin.
    saved = final_state(first)[0].stream.stream_state.LASTUPDATE
    assert berlin(now).replace(" ", "T")[:16] >= saved


def test_one_lastupdate_in_the_future_does_not_hide_later_edits(serve: Any) -> None:
    rows = invoices(3, INVOICE_DATE=YESTERDAY, LASTUPDATE="2026-01-02 00:00:00")
    rows[0]["LASTUPDATE"] = "2099-12-31 23:59:59"  # bad data or a skewed clock
    live = LiveInvoices(rows)
    server = serve(by_service({"invoice.get": live}))
    config = cfg(server, lookback_days=0)
    state = StateBuilder().with_stream_state("invoices", SAVED).build()

    first = sync(config, "invoices", mode=SyncMode.incremental, state=state)
    rows[1]["LASTUPDATE"] = berlin(datetime.now(timezone.utc) + timedelta(minutes=1))
    second = sync(config, "invoices", mode=SyncMode.incremental, state=final_state(first))

    assert "2" in ids(second)
    assert final_state(first)[0].stream.stream_state.LASTUPDATE < "2099"


# ---------------------------------------------------------------------------------------------
# 2. and 3. Pages with junk entries, and bodies that are no FastBill answer


@pytest.mark.parametrize("junk", [None, "", []], ids=["null", "empty string", "empty list"])
def test_a_junk_entry_in_a_full_page_does_not_end_the_stream(serve: Any, junk: Any) -> None:
    rows: list[Any] = invoices(250)
    rows.insert(50, junk)
    server = serve(paged("INVOICES", rows))

    output = sync(cfg(server), "invoices")

    assert len(data(output)) == 250  # before the fix: 99 + nothing after the "short" page
    assert [c.offset for c in server.calls] == [0, 100, 200]
    assert output.is_in_logs("entries that are not records")


@pytest.mark.parametrize(
    "not_an_answer",
    [{}, {"REQUEST": {}}, {"RESPONSE": None}, {"RESPONSE": {"STATUS": "ok"}}, [], "null"],
    ids=["{}", "no RESPONSE", "RESPONSE null", "other keys", "a JSON list", "JSON null"],
)
def test_a_body_that_is_no_fastbill_answer_fails_loudly_instead_of_ending_the_stream(
    serve: Any, not_an_answer: Any, fake_clock: FakeClock
) -> None:
    body = not_an_answer if isinstance(not_an_answer, str) else json.dumps(not_an_answer)
    server = serve(
        lambda call: ok("INVOICES", invoices(100)) if call.offset == 0 else Reply(body=body)
    )

    output = sync(cfg(server), "invoices", fails=True)

    assert len(data(output)) == 100
    assert any(
        "not with FastBill's answer" in e or "without RESPONSE" in e for e in errors_of(output)
    )
    assert len(server.calls) == 1 + 6  # retried, then failed
    assert fake_clock.waits == [2, 3, 5, 9, 17]


def test_a_passing_non_answer_is_retried_and_every_record_arrives(serve: Any) -> None:
    rows = invoices(250)
    once = {"done": False}

    def flaky(call: Call) -> Reply:
        if call.offset == 100 and not once["done"]:
            once["done"] = True
            return Reply(body="{}")
        return paged("INVOICES", rows)(call)

    output = sync(cfg(serve(flaky)), "invoices")

    assert len(data(output)) == 250


def test_check_against_an_endpoint_answering_empty_objects_fails(
    serve: Any, tmp_path: Path
) -> None:
    server = serve(lambda call: Reply(body="{}"))

    status, message = check(cfg(server), tmp_path)

    assert status == "FAILED" and "not with FastBill's answer" in message


# ---------------------------------------------------------------------------------------------
# 5. and 6. A server that ignores OFFSET, and servers that never finish


@pytest.mark.parametrize("workers", [1, 3])
def test_a_server_that_ignores_offset_stops_the_stream_after_a_bounded_number_of_calls(
    serve: Any, workers: int
) -> None:
    same = invoices(100)
    server = serve(lambda call: ok("INVOICES", same))

    output = sync(cfg(server, num_workers=workers), "invoices", fails=True)

    # The first page and two repeats, then a clear error; with more workers, at most
    # num_workers pages asked ahead of the read are answered too (read_ahead.py).
    assert 3 <= len(server.calls) <= 3 + (workers if workers > 1 else 0)
    assert len(data(output)) == 100
    assert any("seems to ignore OFFSET" in e for e in errors_of(output))


def test_an_answer_that_trickles_is_given_up_at_the_deadline_and_asked_again(
    serve: Any,
) -> None:
    rows = customers(3)
    server = serve(
        sequence(
            Reply(body=envelope("CUSTOMERS", rows), trickle_seconds=0.2),
            then=ok("CUSTOMERS", rows),
        )
    )

    output = sync(cfg(server, request_timeout_seconds=1), "customers")

    assert len(data(output)) == 3 and len(server.calls) == 2
    assert output.is_in_logs("did not complete its answer within 1 s")


def test_check_against_a_silent_server_fails_with_a_message(serve: Any, tmp_path: Path) -> None:
    server = serve(lambda call: Reply(hang_seconds=30))

    status, message = check(cfg(server, request_timeout_seconds=1), tmp_path)

    assert status == "FAILED" and "Could not reach FastBill" in message
    assert len(server.calls) == 2


def test_read_against_an_unreachable_host_is_a_transient_error_after_retries(
    fake_clock: FakeClock,
) -> None:
    from integration_tests.conftest import closed_port_url

    url = closed_port_url()
    config = {"username": USERNAME, "api_key": API_KEY, "api_url": url}

    output = sync(config, "templates", fails=True)

    assert not output.records
    assert [e.trace.error.failure_type.value for e in output.errors][-1] == "transient_error"
    assert f"Could not reach FastBill at {url}" in output.errors[0].trace.error.message
    # Five retries of the stream, then the proof of reachability (another service) and its retry.
    assert fake_clock.waits == [2, 3, 5, 9, 17, 2]


def test_check_gives_up_on_a_silent_server_within_30_seconds_by_its_settings() -> None:
    from source_fastbill import streams

    # Two tries of at most the check deadline each, the retry wait between them, the connect.
    worst = 2 * streams.CHECK_DEADLINE_SECONDS + 2 + 2 * streams.CONNECT_TIMEOUT_SECONDS * 0
    assert streams.CHECK_RETRIES == 1 and worst < 30


# ---------------------------------------------------------------------------------------------
# 7. Secrets


ODD_KEY = "k3y'with\\back\"slash-0123456789"


def _secret_forms(key: str) -> list[str]:
    pair = f"{USERNAME}:{key}"
    return [key, repr(key)[1:-1], json.dumps(key)[1:-1], pair,
            base64.b64encode(pair.encode()).decode()]  # fmt: skip


@pytest.mark.parametrize("key", [API_KEY, ODD_KEY], ids=["plain key", "quote and backslash"])
def test_check_never_prints_the_api_key_fastbill_echoes_back(
    serve: Any, tmp_path: Path, key: str
) -> None:
    token = base64.b64encode(f"{USERNAME}:{key}".encode()).decode()
    echo = f"LoginError: {key} / {USERNAME}:{key} / Basic {token} / {key!r}"
    server = serve(lambda call: Reply(body=errors(echo)))

    run = run_connector("check", tmp_path, config={**cfg(server), "api_key": key})

    assert run.connection_status()["status"] == "FAILED"
    printed = run.stdout_text() + run.stderr
    for form in _secret_forms(key):
        assert form not in printed, form
    assert "****" in run.connection_status()["message"]


def test_a_not_json_body_quoting_an_odd_key_is_masked_in_every_form(
    serve: Any, tmp_path: Path
) -> None:
    server = serve(lambda call: Reply(body=f"<html>Fehler für {ODD_KEY}</html>"))

    run = run_connector("check", tmp_path, config={**cfg(server), "api_key": ODD_KEY})

    printed = run.stdout_text() + run.stderr
    for form in _secret_forms(ODD_KEY):
        assert form not in printed, form


# ---------------------------------------------------------------------------------------------
# 8. A service the plan does not include


@pytest.mark.parametrize(
    "refusal",
    [
        Reply(status=403, body="Forbidden"),
        Reply(body=errors("You are not authorized to use time.get in your plan")),
    ],
    ids=["HTTP 403", "ERRORS not authorized in your plan"],
)
def test_a_service_refused_by_the_plan_fails_that_stream_only(serve: Any, refusal: Reply) -> None:
    server = serve(
        by_service(
            {
                "time.get": lambda call: refusal,
                "customer.get": paged("CUSTOMERS", customers(3)),
                "template.get": lambda call: ok("TEMPLATES", [{"TEMPLATE_ID": "1"}]),
            }
        )
    )

    output = sync(cfg(server), "time_entries", "customers", "templates", fails=True)

    assert len(data(output, "customers")) == 3 and len(data(output, "templates")) == 1
    (stream_error, *_, final) = output.errors
    assert stream_error.trace.error.stream_descriptor.name == "time_entries"
    assert "FastBill refused time.get" in stream_error.trace.error.message
    assert "rejected the credentials" not in everything(output)
    assert "time_entries" in final.trace.error.message
    # The refusal came first: one customer.get for one row proved the credentials.
    assert server.services()[:2] == ["time.get", "customer.get"]
    assert sorted(server.services()[2:]) == ["customer.get", "template.get"]  # side by side


def test_wrong_credentials_still_stop_the_sync_at_the_first_stream(serve: Any) -> None:
    server = serve(lambda call: Reply(status=401, body="Unauthorized"))

    output = sync(cfg(server), "time_entries", "customers", fails=True)

    assert errors_of(output)[-1].startswith("Sync stopped: FastBill rejected the credentials")
    assert server.services() == ["time.get", "customer.get"]


# ---------------------------------------------------------------------------------------------
# 9. Latin-1 bodies, and big bodies in messages


def test_an_iso_8859_1_body_is_decoded_by_its_declared_charset(serve: Any) -> None:
    row = {"CUSTOMER_ID": "1", "ORGANIZATION": "Müller & Söhne GmbH", "CITY": "Saarbrücken"}
    server = serve(
        lambda call: Reply(
            body=envelope("CUSTOMERS", [row]),
            charset="iso-8859-1",
            content_type="text/plain; charset=ISO-8859-1",
        )
    )

    output = sync(cfg(server), "customers")

    assert data(output)[0]["ORGANIZATION"] == "Müller & Söhne GmbH"


def test_a_huge_maintenance_page_is_quoted_in_excerpts_only(serve: Any) -> None:
    page = "<html>" + "Musterstraße 1, 12345 Musterstadt; " * 10_000 + "</html>"
    server = serve(
        lambda call: Reply(
            body=page, charset="iso-8859-1", content_type="text/html; charset=ISO-8859-1"
        )
    )

    output = sync(cfg(server), "customers", fails=True)

    # The page is 350,000 characters; six tries quote a bounded excerpt of it.
    assert everything(output).count("Musterstraße") < 150
    assert max(len(e) for e in errors_of(output)) < 1_000
    assert all(len(m.trace.error.internal_message or "") < 2_000 for m in output.errors)


# ---------------------------------------------------------------------------------------------
# 10. Non-finite numbers and huge integers


def test_every_stdout_line_is_json_whatever_the_numbers(serve: Any, tmp_path: Path) -> None:
    body = (
        '{"REQUEST": {}, "RESPONSE": {"INVOICES": ['
        '{"INVOICE_ID": "1", "TOTAL": "NAN", "SUB_TOTAL": "INF", "VAT_TOTAL": NaN,'
        ' "X_UNDECLARED": 123456789012345678901234567890, "Y": Infinity, "Z": 1e999}]}}'
    )
    server = serve(lambda call: Reply(body=body))
    catalog = {
        "streams": [
            {
                "stream": {
                    "name": "invoices",
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
        ]
    }

    run = run_connector("read", tmp_path, config=cfg(server), catalog=catalog)

    assert run.exit_code == 0 and not run.noise
    strict = [json.loads(line, parse_constant=_reject) for line in run.stdout_text().splitlines()]
    (record,) = [m["record"]["data"] for m in strict if m["type"] == "RECORD"]
    for name in ("TOTAL", "SUB_TOTAL", "VAT_TOTAL", "Y", "Z"):  # null (the CDK drops null keys)
        assert record.get(name) is None, name
    assert record["X_UNDECLARED"] == 123456789012345678901234567890
    warnings = " ".join(run.logs("WARN"))
    assert "'NAN'" in warnings and "'INF'" in warnings and "not finite" in warnings


def _reject(constant: str) -> None:
    raise ValueError(f"not JSON: {constant}")


# ---------------------------------------------------------------------------------------------
# 11. States that lead nowhere, and state files that are not states


def test_a_resume_marker_after_today_is_a_config_error_naming_the_stream(serve: Any) -> None:
    server = serve(paged("INVOICES", invoices(3)))
    saved = {"resume": {"pass": "created", "from": "2999-01-01"}}
    state = StateBuilder().with_stream_state("invoices", saved).build()

    output = sync(cfg(server), "invoices", mode=SyncMode.incremental, state=state, fails=True)

    assert not data(output) and not server.calls  # never silent: before, 0 records, exit 0
    error = output.errors[0].trace.error
    assert error.failure_type.value == "config_error" and "invoices" in error.message


@pytest.mark.parametrize("saved", [{"resume": {"pass": "paid"}}], ids=["paid marker alone"])
def test_a_resume_marker_that_leads_nowhere_starts_afresh_with_a_warning(
    serve: Any, saved: dict[str, Any]
) -> None:
    server = serve(paged("INVOICES", invoices(3)))
    state = StateBuilder().with_stream_state("invoices", saved).build()

    output = sync(cfg(server), "invoices", mode=SyncMode.incremental, state=state)

    assert len(data(output)) == 3  # before the fix: 0 records, in this sync and every later one
    assert output.is_in_logs("Ignoring the saved state's resume marker")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("", None),
        ('{"invoices": {"synced_until": "2026-01-01"}}', "legacy format"),
        ('"yesterday"', "not a list of states"),
        (
            '[{"type": "GLOBAL", "global": {"shared_state": {}, "stream_states": [{'
            '"stream_descriptor": {"name": "customers"}, "stream_state": {}}]}}]',
            "GLOBAL state",
        ),
    ],
    ids=["empty file", "legacy dict", "a string", "GLOBAL"],
)
def test_state_files_of_other_shapes_are_read_or_explained(
    serve: Any, tmp_path: Path, content: str, said: str | None
) -> None:
    server = serve(paged("CUSTOMERS", customers(2)))
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(
        json.dumps(
            {
                "streams": [
                    {
                        "stream": {
                            "name": "customers",
                            "json_schema": {},
                            "supported_sync_modes": ["full_refresh"],
                        },
                        "sync_mode": "full_refresh",
                        "destination_sync_mode": "overwrite",
                    }
                ]
            }
        )
    )
    (tmp_path / "config.json").write_text(json.dumps(cfg(server)))
    (tmp_path / "state.json").write_text(content)
    args = ["read", "--config", str(tmp_path / "config.json"), "--catalog", str(catalog_file)]

    output = _run_command(SourceFastbill(), [*args, "--state", str(tmp_path / "state.json")])

    text = everything(output)
    assert "Something went wrong in the connector" not in text
    if said == "not a list of states":
        assert (
            said in errors_of(output)[-1]
            and "Pass what the connector printed" in errors_of(output)[-1]
        )
    else:
        assert len(data(output)) == 2
        if said:
            assert said in text


# ---------------------------------------------------------------------------------------------
# 12. Keys that misbehave


def test_records_without_a_key_or_with_a_conflicting_key_are_counted_in_the_log(
    serve: Any,
) -> None:
    rows = [
        {"INVOICE_ID": "1", "TOTAL": "10.00"},
        {"INVOICE_ID": "1", "TOTAL": "99.00"},  # the same key, other content
        {"TOTAL": "5.00"},  # no key
        {"INVOICE_ID": None, "TOTAL": "6.00"},
    ]
    server = serve(paged("INVOICES", rows))

    output = sync(cfg(server), "invoices")

    assert [row.get("INVOICE_ID") for row in data(output)] == ["1", None, None]
    assert output.is_in_logs("2 records without INVOICE_ID were emitted as they are")
    assert output.is_in_logs("1 records repeated a INVOICE_ID already delivered")
