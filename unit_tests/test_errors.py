"""Every error path: FastBill's in-body ERRORS, HTTP statuses, network faults, and the waits."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest
import requests
from airbyte_cdk.models import AirbyteMessageSerializer, FailureType

from unit_tests.conftest import (
    API_KEY,
    USERNAME,
    FakeFastbill,
    body,
    check_status,
    config,
    failure,
    page,
    records,
    run_check,
    run_read,
)

CUSTOMERS = page("CUSTOMERS", [{"CUSTOMER_ID": "1"}])
CHECK = body("revenue.get", limit=1)
CREDENTIALS_HINT = "Check the e-mail address (username) and the API key"


def last_error(output) -> tuple[FailureType, str]:  # type: ignore[no-untyped-def]
    error = output.errors[-1].trace.error
    return error.failure_type, error.message


@pytest.mark.parametrize(
    "errors",
    [
        ["LoginError: WrongAPIKEYorusercredentials."],
        {"0": "Unauthorized: invalid login or API key"},
        "Authentication failed",
    ],
    ids=["list", "index-keyed object", "bare string"],
)
def test_check_fails_in_one_call_when_fastbill_rejects_credentials_with_http_200(
    api: FakeFastbill, tmp_path: Path, errors: object
) -> None:
    api.expect(CHECK, {"REQUEST": {}, "RESPONSE": {"ERRORS": errors}})

    status, message = check_status(run_check(config(), tmp_path))

    assert status == "FAILED" and message is not None
    assert message.startswith("FastBill rejected the credentials (") and CREDENTIALS_HINT in message
    assert not message.startswith("'")  # no repr() quotes
    assert len(api.mock.calls) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_check_fails_on_http_401_and_403_naming_the_credentials(
    api: FakeFastbill, tmp_path: Path, status: int
) -> None:
    api.expect(CHECK, "Unauthorized", status=status)

    assert check_status(run_check(config(), tmp_path)) == (
        "FAILED",
        f"FastBill rejected the credentials (HTTP {status}). {CREDENTIALS_HINT} "
        "(FastBill: Settings > Account > API key). If the account is a FastBill Automatic / "
        "Monsum account, set edition to 'automatic': the 'pro' host does not know it.",
    )
    assert len(api.mock.calls) == 1


def test_read_with_rejected_credentials_fails_as_config_error_with_no_records(
    api: FakeFastbill,
) -> None:
    api.expect(body("customer.get"), failure("Unauthorized: wrong API key"))

    output = run_read(config(), "customers", expect_error=True)

    assert records(output) == []
    stream_error = output.errors[0].trace.error
    assert stream_error.failure_type == FailureType.config_error
    assert CREDENTIALS_HINT in stream_error.message
    assert last_error(output)[0] == FailureType.config_error
    assert len(api.mock.calls) == 1


@pytest.mark.parametrize("status", [200, 400])
def test_a_service_the_edition_lacks_is_a_config_error_naming_the_edition(
    api: FakeFastbill, status: int
) -> None:
    api.expect(body("expense.get"), failure("unknown SERVICE: expense.get"), status=status)

    output = run_read(config(), "expenses", expect_error=True)

    failure_type, message = (
        output.errors[0].trace.error.failure_type,
        output.errors[0].trace.error.message,
    )
    assert failure_type == FailureType.config_error
    assert "does not offer expense.get" in message and "'pro' edition" in message
    assert len(api.mock.calls) == 1


def test_any_other_fastbill_error_fails_with_fastbills_own_text_without_retrying(
    api: FakeFastbill,
) -> None:
    api.expect(body("invoice.get"), failure("Invoice Error: internal problem"))

    output = run_read(config(), "invoices", expect_error=True)

    assert output.errors[0].trace.error.failure_type == FailureType.system_error
    assert output.errors[0].trace.error.message == (
        "FastBill rejected invoice.get: Invoice Error: internal problem"
    )
    assert len(api.mock.calls) == 1


@pytest.mark.parametrize(
    "bad_answer",
    [
        {"status": 500, "answer": "Internal Server Error"},
        {"status": 502, "answer": "Bad Gateway"},
        {"status": 503, "answer": failure("maintenance")},
        {"status": 504, "answer": "Gateway Timeout"},
        {"status": 408, "answer": "Request Timeout"},
        {"status": 404, "answer": "api not found. Probably a deploy."},
        {"status": 200, "answer": "<html><body><h1>Wartungsarbeiten</h1></body></html>"},
        {"status": 200, "answer": ""},
    ],
    ids=["500", "502", "503+ERRORS", "504", "408", "404 deploy", "html page", "empty 200"],
)
def test_transient_answers_are_retried_once_then_records_arrive(
    api: FakeFastbill, slept: list[float], bad_answer: dict[str, object]
) -> None:
    api.expect(body("customer.get"), bad_answer["answer"], status=bad_answer["status"])  # type: ignore[arg-type]
    api.expect(body("customer.get"), CUSTOMERS)

    output = run_read(config(), "customers")

    assert records(output) == [{"CUSTOMER_ID": "1"}]
    assert len(api.mock.calls) == 2 and slept == [2]


def test_a_dropped_connection_is_retried(api: FakeFastbill, slept: list[float]) -> None:
    api.fail_with(body("customer.get"), requests.ConnectionError("Connection reset by peer"))
    api.expect(body("customer.get"), CUSTOMERS)

    assert records(run_read(config(), "customers")) == [{"CUSTOMER_ID": "1"}]
    assert slept == [2]


def test_retries_are_bounded_and_the_sync_fails_as_transient(
    api: FakeFastbill, slept: list[float]
) -> None:
    for _ in range(6):
        api.expect(body("customer.get"), "Service Unavailable", status=503)

    output = run_read(config(), "customers", expect_error=True)

    assert len(api.mock.calls) == 6 and slept == [2, 3, 5, 9, 17]
    assert output.errors[0].trace.error.failure_type == FailureType.transient_error
    # The CDK would close the sync with a config_error; the source keeps the real type.
    assert last_error(output)[0] == FailureType.transient_error


def test_http_429_waits_as_long_as_retry_after_says(api: FakeFastbill, slept: list[float]) -> None:
    api.expect(body("customer.get"), failure("Too many requests"), 429, {"Retry-After": "7"})
    api.expect(body("customer.get"), CUSTOMERS)

    assert records(run_read(config(), "customers")) == [{"CUSTOMER_ID": "1"}]
    assert sum(slept) == pytest.approx(7, abs=0.01)  # the budget holds the call, not longer


def test_http_429_with_a_retry_after_date(api: FakeFastbill, slept: list[float]) -> None:
    moment = pendulum.now("UTC").add(seconds=30).to_rfc1123_string()
    api.expect(body("customer.get"), "slow down", 429, {"Retry-After": moment})
    api.expect(body("customer.get"), CUSTOMERS)

    run_read(config(), "customers")

    assert 28 <= sum(slept) <= 32


def test_http_429_without_a_hint_far_from_the_limits_is_retried_within_seconds(
    api: FakeFastbill, slept: list[float]
) -> None:
    api.expect(body("customer.get"), "", 429)
    api.expect(body("customer.get"), CUSTOMERS)

    run_read(config(), "customers")

    assert slept == [2]  # a transient 429 costs seconds, not a minute


def test_a_quota_message_in_an_http_200_waits_until_the_time_it_names(
    api: FakeFastbill, slept: list[float]
) -> None:
    accepted = pendulum.now("Europe/Berlin").add(minutes=10).format("YYYY-MM-DD HH:mm:ss")
    api.expect(
        body("customer.get"),
        failure(f"API call limit exceeded. New calls are accepted from {accepted}"),
    )
    api.expect(body("customer.get"), CUSTOMERS)

    assert records(run_read(config(), "customers")) == [{"CUSTOMER_ID": "1"}]
    assert 598 <= sum(slept) <= 602
    assert max(slept) <= 300  # said again at least every five minutes


def test_a_quota_wait_is_capped_at_one_hour(api: FakeFastbill, slept: list[float]) -> None:
    api.expect(
        body("customer.get"), "", 429, {"Retry-After": str(int(timedelta(days=1).total_seconds()))}
    )
    api.expect(body("customer.get"), CUSTOMERS)

    run_read(config(), "customers")

    assert sum(slept) == pytest.approx(3600, abs=0.01)


def test_a_field_named_limit_in_an_error_is_not_mistaken_for_a_rate_limit(
    api: FakeFastbill,
) -> None:
    api.expect(body("customer.get"), failure("missing / invalid field: LIMIT"))

    output = run_read(config(), "customers", expect_error=True)

    assert output.errors[0].trace.error.failure_type == FailureType.system_error
    assert len(api.mock.calls) == 1


def test_check_on_an_unreachable_host_fails_cleanly_after_one_quick_retry(
    api: FakeFastbill, tmp_path: Path, slept: list[float]
) -> None:
    for _ in range(2):
        api.fail_with(CHECK, requests.ConnectionError("Failed to establish a new connection"))

    status, message = check_status(run_check(config(), tmp_path))

    assert status == "FAILED"
    assert message == (
        "Could not reach FastBill at https://my.fastbill.com/api/1.0/api.php (ConnectionError: "
        "Failed to establish a new connection). Check api_url and the network, then retry. "
        "(gave up after repeated attempts)"
    )
    assert len(api.mock.calls) == 2 and slept == [2]


def test_the_api_key_and_the_basic_auth_token_never_reach_the_logs(api: FakeFastbill) -> None:
    api.expect(body("customer.get"), failure(f"Unauthorized for {USERNAME} / {API_KEY}"))

    output = run_read(config(), "customers", expect_error=True)

    token = base64.b64encode(f"{USERNAME}:{API_KEY}".encode()).decode()
    everything = "\n".join(  # every message on stdout, traces and logs included
        json.dumps(AirbyteMessageSerializer.dump(message))
        for message in output.get_message_iterator()
    )
    assert API_KEY not in everything and token not in everything
    assert "****" in everything


def test_rejected_credentials_stop_the_sync_before_the_next_stream_spends_a_call(
    api: FakeFastbill,
) -> None:
    api.expect(body("customer.get"), failure("LoginError: wrong API key"))

    output = run_read(config(), "customers", "templates", expect_error=True)

    assert len(api.mock.calls) == 1  # templates never asked
    failure_type, message = last_error(output)
    assert failure_type == FailureType.config_error
    assert message.startswith("Sync stopped: FastBill rejected the credentials")


def test_an_unreachable_host_stops_the_sync_instead_of_retrying_every_stream(
    api: FakeFastbill, slept: list[float]
) -> None:
    for _ in range(6):
        api.fail_with(body("customer.get"), requests.ConnectionError("Name or service not known"))
    # The proof of reachability (another service, one retry) fails too: FastBill is unreachable.
    for _ in range(2):
        api.fail_with(body("revenue.get", limit=1), requests.ConnectionError("Name not known"))

    output = run_read(config(), "customers", "templates", expect_error=True)

    assert len(api.mock.calls) == 8 and slept == [2, 3, 5, 9, 17, 2]
    assert [sent["SERVICE"] for sent in api.sent] == ["customer.get"] * 6 + ["revenue.get"] * 2
    assert last_error(output)[0] == FailureType.transient_error
    assert "Could not reach FastBill" in last_error(output)[1]
    assert output.is_in_logs(r"Sync summary, templates \(not started\)")


def test_one_unreachable_service_fails_only_its_stream(
    api: FakeFastbill, slept: list[float]
) -> None:
    """Issue 15 §7: the connection drops for invoice.get only; the other streams complete."""
    for _ in range(6):
        api.fail_with(body("invoice.get"), requests.ConnectionError("Connection reset by peer"))
    api.expect(body("customer.get", limit=1), page("CUSTOMERS", [{"CUSTOMER_ID": "1"}]))
    api.expect(body("customer.get"), page("CUSTOMERS", [{"CUSTOMER_ID": "1"}]))
    api.expect(body("template.get"), page("TEMPLATES", [{"TEMPLATE_ID": "7"}]))

    output = run_read(
        config(num_workers=1), "invoices", "customers", "templates", expect_error=True
    )

    assert records(output) == [{"CUSTOMER_ID": "1"}, {"TEMPLATE_ID": "7"}]
    named = [e.trace.error for e in output.errors if e.trace.error.stream_descriptor]
    assert [error.stream_descriptor.name for error in named] == ["invoices"]
    assert not any("Sync stopped" in (e.trace.error.message or "") for e in output.errors)
    assert output.is_in_logs(r"Sync summary, invoices \(failed\)")
    assert output.is_in_logs(r"Sync summary, customers \(done\)")


def test_a_stream_specific_error_lets_the_other_streams_sync(api: FakeFastbill) -> None:
    api.expect(body("customer.get"), failure("Customer Error: something odd"))
    api.expect(body("template.get"), page("TEMPLATES", [{"TEMPLATE_ID": "1"}]))

    output = run_read(config(), "customers", "templates", expect_error=True)

    assert records(output) == [{"TEMPLATE_ID": "1"}]
    assert last_error(output)[0] == FailureType.system_error


def test_a_failure_is_said_once_in_the_connectors_words_without_the_cdks_dumps(
    api: FakeFastbill,
) -> None:
    api.expect(body("customer.get"), failure("LoginError: wrong API key"))

    output = run_read(config(), "customers", expect_error=True)

    assert not output.is_in_logs("error message: 'None'")  # the CDK's request/response dump
    assert not output.is_in_logs("Request \\(body\\)")
    assert not output.is_in_logs("runtimes:")
    assert not output.is_in_logs("Traceback")
    (stream_error, *_) = output.errors
    assert stream_error.trace.error.message.startswith("FastBill rejected the credentials")


def test_a_second_read_in_the_same_process_proves_its_own_credentials(api: FakeFastbill) -> None:
    """Issue 16 §4: nothing of one sync (proven credentials, call counts) carries over."""
    from airbyte_cdk.test.entrypoint_wrapper import read
    from airbyte_cdk.test.models.scenario import ExpectedOutcome

    from source_fastbill import SourceFastbill
    from unit_tests.conftest import catalog

    source = SourceFastbill()
    api.expect(body("customer.get"), page("CUSTOMERS", [{"CUSTOMER_ID": "1"}]))
    first = read(source, config(), catalog("customers"))
    assert records(first) == [{"CUSTOMER_ID": "1"}]

    api.expect(body("template.get"), failure("Unauthorized: invalid login or API key"))
    api.expect(body("customer.get", limit=1), failure("Unauthorized: invalid login or API key"))
    other = config(api_key="another-unit-test-key-0123456789")
    second = read(
        source, other, catalog("templates"), expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION
    )

    assert "rejected the credentials" in second.errors[-1].trace.error.message
    assert second.is_in_logs(r"Sync summary, all 1 streams: 0 records, 2 API calls")


def test_a_503_with_retry_after_waits_as_long_as_it_says(
    api: FakeFastbill, slept: list[float]
) -> None:
    api.expect(body("customer.get"), "Service Unavailable", 503, {"Retry-After": "120"})
    api.expect(body("customer.get"), CUSTOMERS)

    assert records(run_read(config(), "customers")) == [{"CUSTOMER_ID": "1"}]
    assert sum(slept) == pytest.approx(120, abs=0.01)


@pytest.mark.parametrize(
    "answer",
    [
        {"RESPONSE": {"ERRORS": ["Service temporarily restricted"], "RETRY_AFTER": 45}},
        {"RESPONSE": {"ERRORS": [{"MESSAGE": "Service temporarily restricted", "WAIT": 45}]}},
        {"retry_after": "45", "RESPONSE": {"ERRORS": ["Service temporarily restricted"]}},
    ],
    ids=["RESPONSE.RETRY_AFTER", "an ERRORS entry's WAIT", "top-level retry_after"],
)
def test_a_json_field_naming_the_wait_is_honoured(
    api: FakeFastbill, slept: list[float], answer: dict[str, object]
) -> None:
    api.expect(body("customer.get"), answer)
    api.expect(body("customer.get"), CUSTOMERS)

    assert records(run_read(config(), "customers")) == [{"CUSTOMER_ID": "1"}]
    assert sum(slept) == pytest.approx(45, abs=0.01)
