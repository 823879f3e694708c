"""Every stream of both editions: exact request bodies, call counts, paging and records."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import discover

from source_fastbill import SourceFastbill
from source_fastbill.config import fastbill_today
from source_fastbill.streams import STREAMS, FastbillStream
from unit_tests.conftest import (
    AUTOMATIC_URL,
    PRO_URL,
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

# stream, service, response key, primary key (FastBill's API docs, per service)
PRO = [
    ("customers", "customer.get", "CUSTOMERS", "CUSTOMER_ID"),
    ("contacts", "contact.get", "CONTACTS", "CONTACT_ID"),
    ("invoices", "invoice.get", "INVOICES", "INVOICE_ID"),
    ("recurring_invoices", "recurring.get", "INVOICES", "INVOICE_ID"),
    ("revenues", "revenue.get", "REVENUES", "INVOICE_ID"),
    ("expenses", "expense.get", "EXPENSES", "INVOICE_ID"),
    ("products", "article.get", "ARTICLES", "ARTICLE_ID"),
    ("projects", "project.get", "PROJECTS", "PROJECT_ID"),
    ("time_entries", "time.get", "TIMES", "TIME_ID"),
    ("estimates", "estimate.get", "ESTIMATES", "ESTIMATE_ID"),
    ("templates", "template.get", "TEMPLATES", "TEMPLATE_ID"),
]
AUTOMATIC = [
    ("customers", "customer.get", "CUSTOMERS", "CUSTOMER_ID"),
    ("invoices", "invoice.get", "INVOICES", "INVOICE_ID"),
    ("products", "article.get", "ARTICLES", "ARTICLE_NUMBER"),
    ("templates", "template.get", "TEMPLATES", "TEMPLATE_ID"),
    ("subscriptions", "subscription.get", "SUBSCRIPTIONS", "SUBSCRIPTION_ID"),
    ("coupons", "coupon.get", "COUPONS", "CODE"),
]
TODAY = fastbill_today().isoformat()


def rows(key: str, count: int, start: int = 0) -> list[dict[str, str]]:
    return [{key: str(start + i)} for i in range(count)]


def full_refresh_body(service: str, offset: int = 0) -> dict[str, object]:
    # time.get is the one service always read by date window (from the default start date).
    if service == "time.get":
        return body(service, offset, START_DATE="2010-01-01", END_DATE=TODAY)
    return body(service, offset)


@pytest.mark.parametrize("edition, table", [("pro", PRO), ("automatic", AUTOMATIC)])
def test_discover_lists_each_editions_streams_with_keys_and_makes_no_call(
    edition: str, table: list[tuple[str, str, str, str]]
) -> None:
    with responses.RequestsMock() as mock:  # any call would raise
        output = discover(SourceFastbill(), config(edition=edition))
        assert len(mock.calls) == 0
    streams = output.catalog.catalog.streams
    parents = {name for name, _, _, _ in table}  # the child streams: test_children.py
    assert [(s.name, s.source_defined_primary_key) for s in streams if s.name in parents] == [
        (name, [[key]]) for name, _, _, key in table
    ]


def test_every_stream_class_declares_the_fastbill_contract() -> None:
    for stream in STREAMS:
        assert issubclass(stream, FastbillStream)
        assert stream.service.endswith(".get") and stream.response_key.isupper()
        assert isinstance(stream.primary_key, str) and stream.editions


@pytest.mark.parametrize("name, service, key, pk", PRO)
def test_pro_stream_pages_full_then_short_page(
    api: FakeFastbill, name: str, service: str, key: str, pk: str
) -> None:
    api.expect(full_refresh_body(service, 0), page(key, rows(pk, 100)))
    api.expect(full_refresh_body(service, 100), page(key, rows(pk, 3, 100)))

    output = run_read(config(), name)

    assert [r[pk] for r in records(output)] == [str(i) for i in range(103)]
    assert len(api.mock.calls) == 2


@pytest.mark.parametrize("name, service, key, pk", AUTOMATIC)
def test_automatic_stream_pages_full_then_empty_page(
    automatic_api: FakeFastbill, name: str, service: str, key: str, pk: str
) -> None:
    automatic_api.expect(body(service, 0), page(key, rows(pk, 100)))
    automatic_api.expect(body(service, 100), page(key, []))

    output = run_read(config(edition="automatic"), name)

    assert len(records(output)) == 100
    assert len(automatic_api.mock.calls) == 2
    assert automatic_api.mock.calls[0].request.url == AUTOMATIC_URL


def test_full_sync_costs_floor_n_over_100_plus_one_calls(api: FakeFastbill) -> None:
    for offset in (0, 100, 200):
        api.expect(
            body("customer.get", offset), page("CUSTOMERS", rows("CUSTOMER_ID", 100, offset))
        )
    api.expect(body("customer.get", 300), page("CUSTOMERS", rows("CUSTOMER_ID", 57, 300)))

    output = run_read(config(), "customers")

    assert len(records(output)) == 357 and len(api.mock.calls) == 357 // 100 + 1


def test_requests_are_basic_auth_posts_to_the_one_endpoint(api: FakeFastbill) -> None:
    api.expect(body("template.get"), page("TEMPLATES", [{"TEMPLATE_ID": 1, "TEMPLATE_NAME": "A"}]))

    output = run_read(config(), "templates")

    request = api.mock.calls[0].request
    assert request.method == "POST" and request.url == PRO_URL
    assert request.headers["Authorization"].startswith("Basic ")
    assert records(output) == [{"TEMPLATE_ID": "1", "TEMPLATE_NAME": "A"}]


def test_a_record_served_twice_across_pages_is_emitted_once(api: FakeFastbill) -> None:
    # OFFSET paging over data that changes mid-sync can serve a record again.
    api.expect(body("article.get", 0), page("ARTICLES", rows("ARTICLE_ID", 100)))
    api.expect(body("article.get", 100), page("ARTICLES", rows("ARTICLE_ID", 2, 99)))

    output = run_read(config(), "products")

    assert [r["ARTICLE_ID"] for r in records(output)][-2:] == ["99", "100"]
    assert len(records(output)) == 101


def test_recurring_invoices_read_the_invoices_wrapper(api: FakeFastbill) -> None:
    api.expect(
        body("recurring.get"), page("INVOICES", [{"INVOICE_ID": "7", "FREQUENCY": "1 month"}])
    )

    assert records(run_read(config(), "recurring_invoices")) == [
        {"INVOICE_ID": "7", "FREQUENCY": "1 month"}
    ]


def test_time_entries_always_send_a_window_ending_today(api: FakeFastbill) -> None:
    api.expect(
        body("time.get", START_DATE="2024-02-01", END_DATE=TODAY),
        page("TIMES", [{"TIME_ID": "1", "DATE": "2024-03-04 00:00:00", "MINUTES": "90"}]),
    )

    output = run_read(config(start_date="2024-02-01"), "time_entries")

    assert records(output) == [{"TIME_ID": "1", "DATE": "2024-03-04", "MINUTES": 90}]


def test_contacts_fall_back_to_one_call_per_customer_when_fastbill_requires_it(
    api: FakeFastbill,
) -> None:
    api.expect(
        body("contact.get"), {"RESPONSE": {"ERRORS": ["missing / invalid field: CUSTOMER_ID"]}}
    )
    api.expect(body("customer.get"), page("CUSTOMERS", rows("CUSTOMER_ID", 2, 1)))
    api.expect(body("contact.get", CUSTOMER_ID="1"), page("CONTACTS", [{"CONTACT_ID": "10"}]))
    api.expect(body("contact.get", CUSTOMER_ID="2"), page("CONTACTS", [{"CONTACT_ID": "20"}]))

    output = run_read(config(), "contacts")

    assert records(output) == [
        {"CONTACT_ID": "10", "CUSTOMER_ID": "1"},
        {"CONTACT_ID": "20", "CUSTOMER_ID": "2"},
    ]
    assert len(api.mock.calls) == 4
    assert output.is_in_logs("reading contacts customer by customer")


def test_check_costs_one_call_for_one_row(api: FakeFastbill, tmp_path: Path) -> None:
    # revenue.get exists only in the Pro edition: the one call proves the edition too.
    api.expect(body("revenue.get", limit=1), page("REVENUES", rows("INVOICE_ID", 1)))

    assert check_status(run_check(config(), tmp_path)) == ("SUCCEEDED", None)
    assert len(api.mock.calls) == 1


def test_check_of_an_automatic_config_asks_a_service_only_automatic_has(
    automatic_api: FakeFastbill, tmp_path: Path
) -> None:
    automatic_api.expect(
        body("subscription.get", limit=1), page("SUBSCRIPTIONS", rows("SUBSCRIPTION_ID", 1))
    )

    assert check_status(run_check(config(edition="automatic"), tmp_path)) == ("SUCCEEDED", None)
    assert len(automatic_api.mock.calls) == 1


def test_check_of_a_pro_config_against_an_automatic_account_names_the_edition(
    api: FakeFastbill, tmp_path: Path
) -> None:
    api.expect(body("revenue.get", limit=1), failure("unknown SERVICE: revenue.get"))

    status, message = check_status(run_check(config(), tmp_path))

    assert status == "FAILED" and "'pro' edition" in (message or "")
    assert "choose the edition your account belongs to" in (message or "")
    assert "deselect the stream" not in (message or "")  # check reads no stream
    assert len(api.mock.calls) == 1


def test_check_with_rejected_credentials_on_the_default_host_suggests_the_other_edition(
    automatic_api: FakeFastbill, tmp_path: Path
) -> None:
    automatic_api.expect(body("subscription.get", limit=1), failure("LoginError: wrong key"))

    status, message = check_status(run_check(config(edition="automatic"), tmp_path))

    assert status == "FAILED" and message is not None
    assert message.startswith("FastBill rejected the credentials (LoginError: wrong key)")
    assert "set edition to 'pro'" in message
    assert len(automatic_api.mock.calls) == 1


def test_second_full_refresh_given_the_first_ones_final_state_returns_every_record(
    api: FakeFastbill,
) -> None:
    for _ in range(2):
        api.expect(body("customer.get", 0), page("CUSTOMERS", rows("CUSTOMER_ID", 100)))
        api.expect(body("customer.get", 100), page("CUSTOMERS", rows("CUSTOMER_ID", 5, 100)))

    first = run_read(config(), "customers")
    second = run_read(config(), "customers", state=[m.state for m in first.state_messages])

    assert len(records(first)) == len(records(second)) == 105
    assert len(api.mock.calls) == 4


def test_a_resumable_full_refresh_marker_from_another_connector_is_ignored(
    api: FakeFastbill,
) -> None:
    from airbyte_cdk.test.state_builder import StateBuilder

    api.expect(body("customer.get", 0), page("CUSTOMERS", rows("CUSTOMER_ID", 3)))
    state = StateBuilder().with_stream_state("customers", {"__ab_full_refresh_sync_complete": True})

    assert len(records(run_read(config(), "customers", state=state.build()))) == 3


def test_incremental_streams_declare_their_cursor() -> None:
    streams = {s.name: s for s in SourceFastbill().streams(config())}
    cursors = {name: s.cursor_field for name, s in streams.items() if s.supports_incremental}
    assert cursors == {
        "invoices": "LASTUPDATE",
        "revenues": "LASTUPDATE",
        "expenses": "LASTUPDATE",
        "time_entries": "DATE",
        "estimates": "LASTUPDATE",
        # The children of incremental parents: the parent's LASTUPDATE is on every row.
        "invoice_items": "LASTUPDATE",
        "invoice_payments": "LASTUPDATE",
        "invoice_vat_items": "LASTUPDATE",
        "revenue_items": "LASTUPDATE",
        "expense_items": "LASTUPDATE",
        "estimate_items": "LASTUPDATE",
    }
    assert streams["customers"].is_resumable is False


def test_all_streams_of_a_sync_share_one_budget() -> None:
    streams = SourceFastbill().streams(config(requests_per_hour=50))
    budgets = {id(s.api_budget) for s in streams}
    assert len(budgets) == 1


@pytest.mark.parametrize("mode", [SyncMode.full_refresh])
def test_non_ascii_text_arrives_intact(api: FakeFastbill, mode: SyncMode) -> None:
    api.expect(
        body("customer.get"),
        '{"RESPONSE": {"CUSTOMERS": [{"CUSTOMER_ID": "1", "CITY": "K\\u00f6ln", '
        '"ORGANIZATION": "M\\u00fcller & S\\u00f6hne Stra\\u00dfenbau"}]}}',
    )

    assert records(run_read(config(), "customers", mode=mode)) == [
        {"CUSTOMER_ID": "1", "CITY": "Köln", "ORGANIZATION": "Müller & Söhne Straßenbau"}
    ]


@pytest.mark.parametrize("edition", ["pro", "automatic"])
def test_every_primary_key_and_cursor_is_declared_in_the_schema(edition: str) -> None:
    for stream in SourceFastbill().streams(config(edition=edition)):
        properties = stream.get_json_schema()["properties"]
        keys = stream.primary_key if isinstance(stream.primary_key, list) else [stream.primary_key]
        for key in keys:
            assert key in properties, (stream.name, key)
            if not key.endswith("PERCENT"):  # VAT_ITEMS are keyed by their rate, a number
                assert properties[key]["type"] == ["null", "string"], (stream.name, key)
        if stream.supports_incremental:
            assert stream.cursor_field in properties, stream.name


def test_check_of_an_automatic_config_against_a_pro_account_names_the_edition(
    automatic_api: FakeFastbill, tmp_path: Path
) -> None:
    automatic_api.expect(body("subscription.get", limit=1), failure("unknown SERVICE"))

    status, message = check_status(run_check(config(edition="automatic"), tmp_path))

    assert status == "FAILED" and "'automatic' edition" in (message or "")
