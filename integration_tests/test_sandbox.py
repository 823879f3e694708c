"""Tests of the local FastBill sandbox itself (protocol, data, limits, faults, CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from fastbill_sandbox import (
    DEFAULT_API_KEY,
    DEFAULT_USERNAME,
    FastbillSandbox,
    SandboxConfig,
)
from fastbill_sandbox.data import DOCUMENT_FOLDERS, STREAM_SERVICES, TIMEZONE
from fastbill_sandbox.server import AUTOMATIC_RULES, PRO_RULES
from unit_tests.fake_time import FakeClock

AUTH = (DEFAULT_USERNAME, DEFAULT_API_KEY)
REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "source_fastbill" / "schemas"


@pytest.fixture(scope="module")
def pro() -> Iterator[FastbillSandbox]:
    """A shared read-only Pro sandbox (tests must not change its knobs or data)."""
    with FastbillSandbox(edition="pro", rate_limit=None) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def automatic() -> Iterator[FastbillSandbox]:
    with FastbillSandbox(edition="automatic", rate_limit=None) as sandbox:
        yield sandbox


@pytest.fixture
def clock() -> FakeClock:
    """The fresh sandbox's time: its windows and its latency move only when a test says so."""
    return FakeClock()


@pytest.fixture
def fresh(clock: FakeClock) -> Iterator[FastbillSandbox]:
    """A private Pro sandbox for tests that change knobs or data."""
    with FastbillSandbox(edition="pro", clock=clock, sleep=clock.sleep) as sandbox:
        yield sandbox


def post(sb: FastbillSandbox, body: Any, auth: Any = AUTH) -> requests.Response:
    return requests.post(sb.url, json=body, auth=auth, timeout=10)


def rows(sb: FastbillSandbox, service: str, **body: Any) -> list[dict[str, Any]]:
    reply = post(sb, {"SERVICE": service, **body})
    assert reply.status_code == 200, reply.text
    response = reply.json()["RESPONSE"]
    assert "ERRORS" not in response, response
    return response[sb.rules[service].wrapper]


def read_all(sb: FastbillSandbox, service: str, **filters: Any) -> list[dict[str, Any]]:
    """Page with LIMIT 100 until a short page, as a well-behaved client does."""
    found: list[dict[str, Any]] = []
    while True:
        page = rows(sb, service, LIMIT=100, OFFSET=len(found), FILTER=filters)
        found += page
        if len(page) < 100:
            return found


def ids(records: list[dict[str, Any]], pk: str) -> list[str]:
    return [str(record[pk]) for record in records]


WIDE = {"START_DATE": "2000-01-01", "END_DATE": "2100-12-31"}


# ---------------------------------------------------------------------------------------------
# Paging and envelope


def test_given_no_limit_then_10_rows_and_limit_is_capped_at_100(pro: FastbillSandbox) -> None:
    assert len(rows(pro, "customer.get")) == 10
    assert len(rows(pro, "customer.get", LIMIT=500)) == 100
    assert len(rows(pro, "customer.get", LIMIT=100, OFFSET=100)) == 20  # 120 customers
    assert rows(pro, "customer.get", LIMIT=100, OFFSET=1000) == []


def test_pages_are_ascending_by_numeric_id_without_gaps_or_overlaps(pro: FastbillSandbox) -> None:
    for service, rules in PRO_RULES.items():
        filters = WIDE if service == "time.get" else {}
        records = read_all(pro, service, **filters)
        keys = [int(key) for key in ids(records, pro.dataset.table(service).pk)]
        assert keys == sorted(keys) and len(set(keys)) == len(keys), service
        assert len(records) == pro.counts()[service], service
        assert rules.wrapper


def test_automatic_articles_sort_numbers_as_numbers_then_codes(automatic: FastbillSandbox) -> None:
    numbers = ids(read_all(automatic, "article.get"), "ARTICLE_NUMBER")
    assert numbers[:10] == [str(n) for n in range(1, 11)]
    assert numbers[10:] == ["code-3", "video"]


@pytest.mark.parametrize(
    ("edition", "service", "wrapper"),
    [("pro", s, r.wrapper) for s, r in PRO_RULES.items()]
    + [("automatic", s, r.wrapper) for s, r in AUTOMATIC_RULES.items()],
)
def test_each_service_answers_under_its_wrapper(
    request: pytest.FixtureRequest, edition: str, service: str, wrapper: str
) -> None:
    sb: FastbillSandbox = request.getfixturevalue(edition)
    body = post(sb, {"SERVICE": service, "LIMIT": 3, "FILTER": WIDE}).json()
    beside = ["FOLDERS"] if service == "document.get" else []  # document.get lists both
    assert list(body["RESPONSE"]) == [*beside, wrapper]
    records = body["RESPONSE"][wrapper]
    assert records and all(sb.dataset.table(service).pk in record for record in records)


def test_key_case_does_not_matter_and_extra_keys_are_ignored(pro: FastbillSandbox) -> None:
    body = {"service": "customer.get", "limit": 2, "filter": {}, "Content-Type": "json"}
    reply = post(pro, body).json()
    assert reply["REQUEST"] == {"SERVICE": "customer.get", "LIMIT": 2, "FILTER": []}
    assert len(reply["RESPONSE"]["CUSTOMERS"]) == 2
    for empty in ([], {}, None):
        assert len(rows(pro, "customer.get", LIMIT=3, FILTER=empty)) == 3


def test_reply_is_text_plain_with_escaped_umlauts(pro: FastbillSandbox) -> None:
    reply = post(pro, {"SERVICE": "customer.get", "LIMIT": 100})
    assert reply.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert reply.content.isascii()
    assert "\\u00" in reply.text  # Müller, Köln, Straße ... travel as \u00fc etc.
    text = json.dumps(reply.json(), ensure_ascii=False)
    assert any(word in text for word in ("Müller", "Köln", "straße", "Österreich", "Wien"))


# ---------------------------------------------------------------------------------------------
# Auth and errors


def test_given_wrong_key_then_errors_in_200_or_401(fresh: FastbillSandbox) -> None:
    body = {"SERVICE": "customer.get"}
    for auth in ((DEFAULT_USERNAME, "wrong"), ("someone@example.com", DEFAULT_API_KEY), None):
        reply = post(fresh, body, auth=auth)
        assert reply.status_code == 200
        assert reply.json()["RESPONSE"]["ERRORS"] == [
            "Unauthorized: Wrong API key or user credentials."
        ]
    fresh.configure(auth_failure="http401")
    reply = post(fresh, body, auth=(DEFAULT_USERNAME, "wrong"))
    assert reply.status_code == 401
    assert reply.json()["REQUEST"]["SERVICE"] == "customer.get"
    assert "ERRORS" in reply.json()["RESPONSE"]
    assert fresh.stats()["auth_failures"] == 4


def test_given_other_accounts_then_only_those_authenticate(fresh: FastbillSandbox) -> None:
    fresh.configure(accounts={"a@example.com": "key-a-0123456789"})
    assert "ERRORS" in post(fresh, {"SERVICE": "customer.get"}).json()["RESPONSE"]
    assert rows_for(fresh, ("a@example.com", "key-a-0123456789"))


def rows_for(sb: FastbillSandbox, auth: tuple[str, str]) -> list[Any]:
    return post(sb, {"SERVICE": "customer.get"}, auth=auth).json()["RESPONSE"]["CUSTOMERS"]


def test_unknown_service_gives_errors_in_200_or_400(
    fresh: FastbillSandbox, automatic: FastbillSandbox
) -> None:
    reply = post(fresh, {"SERVICE": "product.get"})
    assert reply.status_code == 200
    assert reply.json()["RESPONSE"] == {"ERRORS": ["unknown SERVICE: product.get"]}
    fresh.configure(unknown_service_status=400)
    assert post(fresh, {"SERVICE": "product.get"}).status_code == 400
    # Automatic has no contacts; Pro has no subscriptions.
    assert post(automatic, {"SERVICE": "contact.get"}).json()["RESPONSE"]["ERRORS"]
    assert post(fresh, {"SERVICE": "subscription.get"}).json()["RESPONSE"]["ERRORS"]
    assert fresh.stats()["errors"] == 3


def test_invalid_json_body_is_an_error_answer(pro: FastbillSandbox) -> None:
    reply = requests.post(pro.url, data=b"<FBAPI/>", auth=AUTH, timeout=10)
    assert reply.status_code == 200 and "ERRORS" in reply.json()["RESPONSE"]


# ---------------------------------------------------------------------------------------------
# Filters


def test_invoice_date_window_is_inclusive_on_both_ends(pro: FastbillSandbox) -> None:
    everything = read_all(pro, "invoice.get")
    first, last = everything[40]["INVOICE_DATE"], everything[80]["INVOICE_DATE"]
    window = read_all(pro, "invoice.get", START_DATE=first, END_DATE=last)
    expected = [r for r in everything if first <= r["INVOICE_DATE"] <= last]
    assert ids(window, "INVOICE_ID") == ids(expected, "INVOICE_ID")
    assert {r["INVOICE_DATE"] for r in window} >= {first, last}
    one_day = read_all(pro, "invoice.get", START_DATE=first, END_DATE=first)
    assert one_day and all(r["INVOICE_DATE"] == first for r in one_day)


def test_paid_date_window_never_matches_unpaid(pro: FastbillSandbox) -> None:
    everything = read_all(pro, "invoice.get")
    paid = read_all(pro, "invoice.get", START_PAID_DATE="2023-01-01", END_PAID_DATE="2026-12-31")
    unpaid = [r for r in everything if str(r["PAID_DATE"]).startswith("0000")]
    assert paid and unpaid
    assert len(paid) + len(unpaid) == len(everything)
    only_end = read_all(pro, "invoice.get", END_PAID_DATE="2024-06-30")
    assert only_end and all("2023-01-01" <= r["PAID_DATE"][:10] <= "2024-06-30" for r in only_end)


def test_due_date_type_and_id_filters(pro: FastbillSandbox) -> None:
    due = read_all(pro, "invoice.get", START_DUE_DATE="2024-01-01", END_DUE_DATE="2024-01-31")
    assert due and all(r["DUE_DATE"].startswith("2024-01") for r in due)
    drafts = read_all(pro, "invoice.get", TYPE="draft")
    assert drafts and all(r["TYPE"] == "draft" and r["INVOICE_NUMBER"] == "" for r in drafts)
    one = rows(pro, "invoice.get", FILTER={"INVOICE_ID": drafts[0]["INVOICE_ID"]})
    assert ids(one, "INVOICE_ID") == [str(drafts[0]["INVOICE_ID"])]
    customer = rows(pro, "customer.get", LIMIT=1)[0]["CUSTOMER_ID"]
    theirs = read_all(pro, "invoice.get", CUSTOMER_ID=int(customer))  # ints work as well
    assert all(r["CUSTOMER_ID"] == str(customer) for r in theirs)
    assert read_all(pro, "invoice.get", NO_SUCH_FILTER="x") == read_all(pro, "invoice.get")


def test_estimates_accept_both_date_filter_spellings(pro: FastbillSandbox) -> None:
    docs = read_all(pro, "estimate.get", START_DATE="2024-01-01", END_DATE="2024-12-31")
    sdk_names = {"START_ESTIMATE_DATE": "2024-01-01", "END_ESTIMATE_DATE": "2024-12-31"}
    sdk = read_all(pro, "estimate.get", **sdk_names)
    assert docs == sdk
    assert docs and all(r["ESTIMATE_DATE"].startswith("2024") for r in docs)
    assert len(docs) < pro.counts()["estimate.get"]


def test_invalid_date_value_is_refused(pro: FastbillSandbox) -> None:
    reply = post(pro, {"SERVICE": "invoice.get", "FILTER": {"START_DATE": "01.02.2024"}})
    assert reply.json()["RESPONSE"]["ERRORS"] == ["missing / invalid field: START_DATE"]


def test_time_without_date_filter_gives_last_10_of_current_month(pro: FastbillSandbox) -> None:
    month = datetime.now(TIMEZONE).date().isoformat()[:7]
    trap = rows(pro, "time.get", LIMIT=100)
    assert len(trap) == 10
    assert all(r["DATE"].startswith(month) for r in trap)
    this_month = read_all(pro, "time.get", START_DATE=f"{month}-01", END_DATE=f"{month}-31")
    assert len(this_month) == 12  # so the trap hides two of them
    assert ids(trap, "TIME_ID") == ids(this_month, "TIME_ID")[2:]
    history = read_all(pro, "time.get", **WIDE)
    assert len(history) == pro.counts()["time.get"] == 300
    assert len(read_all(pro, "time.get", DATE=history[0]["DATE"][:10])) >= 1
    assert all("LASTUPDATE" not in r for r in history)


def test_contacts_with_and_without_required_customer_id(fresh: FastbillSandbox) -> None:
    everyone = read_all(fresh, "contact.get")
    assert len(everyone) == 150
    owner = everyone[0]["CUSTOMER_ID"]
    fresh.configure(contacts_require_customer_id=True)
    reply = post(fresh, {"SERVICE": "contact.get", "LIMIT": 100}).json()
    assert reply["RESPONSE"] == {"ERRORS": ["missing / invalid field: CUSTOMER_ID"]}
    theirs = read_all(fresh, "contact.get", CUSTOMER_ID=owner)
    assert theirs and {r["CUSTOMER_ID"] for r in theirs} == {owner}
    assert theirs == [r for r in everyone if r["CUSTOMER_ID"] == owner]


def test_automatic_invoice_state_and_ignored_date_window(automatic: FastbillSandbox) -> None:
    everything = read_all(automatic, "invoice.get")
    paid = read_all(automatic, "invoice.get", STATE="paid")
    unpaid = read_all(automatic, "invoice.get", STATE="unpaid")
    assert paid and unpaid and len(paid) + len(unpaid) == len(everything)
    overdue = read_all(automatic, "invoice.get", STATE="overdue")
    assert overdue and {r["INVOICE_ID"] for r in overdue} <= {r["INVOICE_ID"] for r in unpaid}
    # Automatic documents no START_DATE/END_DATE, so the sandbox ignores them silently.
    january = {"START_DATE": "2024-01-01", "END_DATE": "2024-01-31"}
    assert read_all(automatic, "invoice.get", **january) == everything
    year = read_all(automatic, "invoice.get", YEAR="2024", MONTH="3")
    assert year and all(r["INVOICE_DATE"].startswith("2024-03") for r in year)


# ---------------------------------------------------------------------------------------------
# Rate limits and quotas


def test_rate_limit_gives_429_with_retry_after_and_rejections_cost_nothing(
    fresh: FastbillSandbox, clock: FakeClock
) -> None:
    fresh.configure(rate_limit=5, rate_window_seconds=0.8)
    body = {"SERVICE": "template.get"}
    assert [post(fresh, body).status_code for _ in range(5)] == [200] * 5
    limited = post(fresh, body)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["RESPONSE"]["ERRORS"] == [
        "Too many requests: API limit reached, retry after 1 seconds"
    ]
    assert post(fresh, body).status_code == 429
    clock.sleep(0.85)
    assert post(fresh, body).status_code == 200  # the rejected calls did not extend the window
    stats = fresh.stats()
    assert (stats["served"], stats["rejected"], stats["busiest_window"]) == (6, 2, 5)


def test_rate_limit_holds_exactly_under_concurrent_calls(fresh: FastbillSandbox) -> None:
    fresh.configure(rate_limit=10, rate_window_seconds=30)

    def burst(_: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.post(fresh.url, json={"SERVICE": "template.get"}, auth=AUTH).status_code
                for _ in range(4)
            ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [code for codes in pool.map(burst, range(8)) for code in codes]
    assert statuses.count(200) == 10 and statuses.count(429) == 22
    assert fresh.stats()["busiest_window"] == 10


def test_rate_limit_as_errors_in_200(fresh: FastbillSandbox) -> None:
    fresh.configure(rate_limit=2, rate_window_seconds=30, limit_response="errors200")
    body = {"SERVICE": "template.get"}
    post(fresh, body), post(fresh, body)
    reply = post(fresh, body)
    assert reply.status_code == 200 and "Retry-After" not in reply.headers
    (message,) = reply.json()["RESPONSE"]["ERRORS"]
    prefix = "API call limit exceeded. New calls are accepted from "
    assert message.startswith(prefix)
    accepted_from = datetime.strptime(message[len(prefix) :], "%Y-%m-%d %H:%M:%S")
    now = datetime.now(TIMEZONE).replace(tzinfo=None)
    assert 25 <= (accepted_from - now).total_seconds() <= 32


def test_hourly_quota_uses_its_own_window(fresh: FastbillSandbox, clock: FakeClock) -> None:
    fresh.configure(rate_limit=None, hourly_quota=3, quota_window_seconds=0.6)
    body = {"SERVICE": "template.get"}
    assert [post(fresh, body).status_code for _ in range(4)] == [200, 200, 200, 429]
    clock.sleep(0.65)
    assert post(fresh, body).status_code == 200
    fresh.configure(hourly_quota=1, quota_window_seconds=3600)
    fresh.reset_limits()
    assert [post(fresh, body).status_code for _ in range(2)] == [200, 429]
    assert int(post(fresh, body).headers["Retry-After"]) > 3500


# ---------------------------------------------------------------------------------------------
# Faults


def test_fault_kinds_round_robin(fresh: FastbillSandbox) -> None:
    fresh.configure(fault_rate=1.0)
    replies: list[Any] = []
    for offset in range(4):  # different requests, so the 3-in-a-row cap does not kick in
        try:
            replies.append(post(fresh, {"SERVICE": "customer.get", "OFFSET": offset}))
        except requests.ConnectionError as exc:
            replies.append(exc)
    five_xx, too_many, dropped, html = replies
    assert five_xx.status_code == 503
    assert too_many.status_code == 429 and too_many.headers["Retry-After"] == "1"
    assert isinstance(dropped, requests.ConnectionError)
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assert "<h1>Wartungsarbeiten</h1>" in html.text
    stats = fresh.stats()
    assert stats["faults"] == {"5xx": 1, "429": 1, "drop": 1, "html": 1}
    assert stats["served"] == 0 and stats["calls"] == 4


def test_same_request_is_faulted_at_most_three_times_in_a_row(fresh: FastbillSandbox) -> None:
    fresh.configure(fault_rate=1.0, fault_kinds=("5xx",))
    body = {"SERVICE": "customer.get"}
    statuses = [post(fresh, body).status_code for _ in range(4)]
    assert statuses == [503, 500, 502, 200]


def test_retrying_client_always_gets_through_at_15_percent(fresh: FastbillSandbox) -> None:
    fresh.configure(rate_limit=None, fault_rate=0.15, fault_kinds=("5xx", "429", "html"))
    session = requests.Session()
    for offset in range(0, 120, 2):
        body = {"SERVICE": "time.get", "LIMIT": 2, "OFFSET": offset, "FILTER": WIDE}
        for _attempt in range(5):
            reply = session.post(fresh.url, json=body, auth=AUTH, timeout=10)
            if reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/plain"):
                break
        else:
            pytest.fail(f"OFFSET {offset} failed 5 times")
    faults = sum(fresh.stats()["faults"].values())
    assert 2 <= faults <= 25  # about 15 % of ~70 calls


def test_fault_sequence_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[int]:
        with FastbillSandbox(fault_rate=0.5, fault_kinds=("5xx",), fault_seed=seed) as sb:
            return [
                post(sb, {"SERVICE": "template.get", "OFFSET": n}).status_code for n in range(30)
            ]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_latency_is_added_per_call(fresh: FastbillSandbox, clock: FakeClock) -> None:
    fresh.configure(latency_ms=60)
    post(fresh, {"SERVICE": "template.get"})
    post(fresh, {"SERVICE": "customer.get"})
    assert clock.waits == [0.06, 0.06]  # waited by the sandbox before each answer


# ---------------------------------------------------------------------------------------------
# Mutations, stats, admin endpoints


def test_add_and_pay_invoices(fresh: FastbillSandbox) -> None:
    today = datetime.now(TIMEZONE).date().isoformat()
    before = fresh.counts()["invoice.get"]
    new_ids = fresh.add_invoices(2)
    assert fresh.counts()["invoice.get"] == before + 2
    added = read_all(fresh, "invoice.get", START_DATE=today, END_DATE=today)
    assert ids(added, "INVOICE_ID") == new_ids
    for invoice in added:
        assert invoice["TYPE"] == "outgoing" and invoice["INVOICE_NUMBER"]
        assert invoice["PAID_DATE"].startswith("0000") and invoice["LASTUPDATE"].startswith(today)
    oldest_open = [
        r
        for r in read_all(fresh, "invoice.get", STATE="unpaid", TYPE="outgoing")
        if r["IS_CANCELED"] == "0"
    ]
    oldest_open.sort(key=lambda r: r["INVOICE_DATE"])
    paid_ids = fresh.pay_invoices(3)
    assert paid_ids == ids(oldest_open[:3], "INVOICE_ID")
    paid_today = read_all(fresh, "invoice.get", START_PAID_DATE=today, END_PAID_DATE=today)
    assert ids(paid_today, "INVOICE_ID") == sorted(paid_ids, key=int)
    assert all(r["LASTUPDATE"].startswith(today) and r["PAYMENTS"] for r in paid_today)


def test_update_and_add_records(fresh: FastbillSandbox) -> None:
    today = datetime.now(TIMEZONE).date().isoformat()
    first = rows(fresh, "customer.get", LIMIT=1)[0]
    fresh.update_records("customer.get", [first["CUSTOMER_ID"]], CITY="Wien", COUNTRY_CODE="AT")
    changed = rows(
        fresh, "customer.get", FILTER={"CITY": "Wien", "CUSTOMER_ID": first["CUSTOMER_ID"]}
    )
    assert changed[0]["COUNTRY_CODE"] == "AT" and changed[0]["LASTUPDATE"].startswith(today)
    new = fresh.add_records("expense.get", 3)
    assert len(new) == 3 and fresh.counts()["expense.get"] == 163
    assert ids(read_all(fresh, "expense.get"), "INVOICE_ID")[-3:] == new
    new_time = fresh.add_records("time.get", 1)
    assert new_time[0] in ids(rows(fresh, "time.get", LIMIT=100), "TIME_ID")  # dated today
    with pytest.raises(ValueError):
        fresh.add_records("coupon.get", 1)  # an Automatic service


def test_stats_count_everything(fresh: FastbillSandbox) -> None:
    post(fresh, {"SERVICE": "customer.get"})
    post(fresh, {"SERVICE": "invoice.get"})
    post(fresh, {"SERVICE": "invoice.get"})
    post(fresh, {"SERVICE": "nope.get"})
    post(fresh, {"SERVICE": "customer.get"}, auth=("x", "y"))
    stats = fresh.stats()
    assert stats["calls"] == 5 and stats["served"] == 3
    assert stats["by_service"] == {"customer.get": 1, "invoice.get": 2}
    assert (stats["errors"], stats["auth_failures"], stats["rejected"]) == (1, 1, 0)
    assert stats["busiest_window"] == 3
    assert stats["first_call_ts"] <= stats["last_call_ts"] <= time.time()
    fresh.reset_stats()
    assert fresh.stats()["calls"] == 0 and fresh.stats()["first_call_ts"] is None


def test_admin_endpoints(fresh: FastbillSandbox) -> None:
    admin = fresh.base_url + "/_sandbox/"
    post(fresh, {"SERVICE": "customer.get"})
    assert requests.get(admin + "stats", timeout=5).json()["served"] == 1
    config = requests.post(admin + "config", json={"latency_ms": 1}, timeout=5).json()
    assert config["latency_ms"] == 1 and fresh.config.latency_ms == 1
    bad = requests.post(admin + "config", json={"no_such_knob": 1}, timeout=5)
    assert bad.status_code == 400
    mutate = admin + "mutate"
    added = requests.post(mutate, json={"action": "add_invoices", "n": 2}, timeout=5).json()["ids"]
    assert len(added) == 2
    paid = requests.post(mutate, json={"action": "pay_invoices", "n": 1}, timeout=5).json()["ids"]
    assert len(paid) == 1
    update = {"action": "update_records", "service": "invoice.get", "ids": added[:1],
              "fields": {"NOTE": "geändert"}}  # fmt: skip
    assert requests.post(mutate, json=update, timeout=5).json()["ids"] == added[:1]
    note = rows(fresh, "invoice.get", FILTER={"INVOICE_ID": added[0]})[0]["NOTE"]
    assert note == "geändert"
    more = {"action": "add_records", "service": "customer.get", "n": 1}
    assert len(requests.post(mutate, json=more, timeout=5).json()["ids"]) == 1
    assert requests.get(admin + "counts", timeout=5).json()["customer.get"] == 121
    assert requests.post(admin + "reset_stats", timeout=5).json() == {"ok": True}
    assert requests.get(admin + "stats", timeout=5).json()["calls"] == 0


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SandboxConfig().replace(auth_failure="http403")
    with pytest.raises(ValueError):
        SandboxConfig().replace(fault_kinds=("timeout",))
    with pytest.raises(ValueError):
        FastbillSandbox(host="0.0.0.0")


# ---------------------------------------------------------------------------------------------
# Data


def test_same_seed_gives_identical_bytes_and_other_seed_differs() -> None:
    def pages(seed: int, edition: str, warm: bool = False) -> list[bytes]:
        with FastbillSandbox(edition=edition, seed=seed) as sb:
            if warm:
                sb.warm()
            return [
                post(sb, {"SERVICE": service, "LIMIT": 100, "OFFSET": 50, "FILTER": WIDE}).content
                for service in sb.rules
            ]

    assert pages(42, "pro") == pages(42, "pro", warm=True)
    assert pages(42, "automatic") == pages(42, "automatic")
    assert pages(42, "pro") != pages(43, "pro")


def test_counts_scale_with_size() -> None:
    assert FastbillSandbox(size=2).counts()["invoice.get"] == 500
    small = FastbillSandbox(size=0.01).counts()
    assert small["template.get"] == 1 and small["customer.get"] == 1
    assert small["time.get"] == 13  # the 12 entries of the current month stay


def test_invoices_carry_the_documented_quirks(pro: FastbillSandbox) -> None:
    invoices = read_all(pro, "invoice.get")
    assert {type(r["INVOICE_ID"]) for r in invoices} == {str, int}
    assert {r["TYPE"] for r in invoices} == {"outgoing", "draft", "credit"}
    assert {r["IS_CANCELED"] for r in invoices} == {"0", "1"}
    assert {r["PAID_DATE"] for r in invoices} >= {"0000-00-00 00:00:00", "0000-00-00"}
    lists = [r["ITEMS"] for r in invoices] + [r["PAYMENTS"] for r in invoices]
    assert any(value == "" for value in lists) and any(value == {} for value in lists)
    assert any(isinstance(value, dict) and "0" in value for value in lists)
    assert any(isinstance(r["UNIT_PRICE"], str) for r in _items(invoices))
    assert any(isinstance(r["UNIT_PRICE"], (int, float)) for r in _items(invoices))
    assert all(isinstance(r["TOTAL"], (int, float)) for r in invoices)
    for r in invoices:
        date.fromisoformat(r["INVOICE_DATE"])
        datetime.strptime(r["DUE_DATE"], "%Y-%m-%d %H:%M:%S")
        assert r["LASTUPDATE"][:10] >= r["INVOICE_DATE"]
        assert r["INVOICE_DATE"] <= "2026-10-31"
        if not str(r["PAID_DATE"]).startswith("0000") and r["PAYMENTS"] not in ("", {}, []):
            assert r["TYPE"] != "draft"
    deliveries = {r["DELIVERY_DATE"] for r in invoices}
    assert any(" - " in text for text in deliveries) and any("März" in t for t in deliveries)
    customers = read_all(pro, "customer.get")
    assert {bool(c["ORGANIZATION"]) for c in customers} == {True, False}
    assert any(c["COUNTRY_CODE"] == "AT" and c["CITY"] == "Wien" for c in customers)


@pytest.mark.parametrize("edition", ["pro", "automatic"])
def test_lastupdate_follows_the_records_own_dates_and_stays_in_the_fixed_range(
    request: pytest.FixtureRequest, edition: str
) -> None:
    sb: FastbillSandbox = request.getfixturevalue(edition)
    own_dates = ("CREATED", "INVOICE_DATE", "ESTIMATE_DATE", "PAID_DATE", "START", "START_DATE")
    for service in sb.rules:
        for record in read_all(sb, service, **WIDE):
            stamp = record.get("LASTUPDATE")
            if not stamp:
                continue
            assert stamp <= "2026-10-31 23:59:59", (service, record)
            for name in own_dates:
                value = str(record.get(name) or "")
                if value and not value.startswith("0000"):
                    assert stamp >= value, (service, name, record)


def _items(invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for invoice in invoices:
        value = invoice["ITEMS"]
        items += list(value.values()) if isinstance(value, dict) else list(value or [])
    return items


def test_automatic_records_have_their_shapes(automatic: FastbillSandbox) -> None:
    subscription = rows(automatic, "subscription.get", LIMIT=1)[0]
    assert {"START", "NEXT_EVENT", "STATUS", "PLAN", "ADDONS", "X_ATTRIBUTES"} <= set(subscription)
    coupons = read_all(automatic, "coupon.get")
    assert len(coupons) == 5 and all("," in c["DISCOUNT"] for c in coupons)
    articles = read_all(automatic, "article.get")
    assert all("ARTICLE_ID" not in a for a in articles)


@pytest.mark.skipif(not SCHEMAS.is_dir(), reason="connector schemas not written yet")
def test_records_carry_every_field_the_schemas_declare(
    pro: FastbillSandbox, automatic: FastbillSandbox
) -> None:
    missing: dict[str, list[str]] = {}
    for schema_file in sorted(SCHEMAS.glob("*.json")):
        service = STREAM_SERVICES.get(schema_file.stem)
        if service is None or schema_file.stem == "document_folders":  # tested on its own
            continue
        declared = set(json.loads(schema_file.read_text()).get("properties", {}))
        declared = {name for name in declared if not name.startswith("_ab_")}  # the connector's
        sandboxes = [sb for sb in (pro, automatic) if service in sb.rules]
        seen: set[str] = set()
        for sb in sandboxes:
            for record in read_all(sb, service, **WIDE):
                seen |= set(record)
        if declared - seen:
            missing[schema_file.stem] = sorted(declared - seen)
    assert not missing, f"fields the schemas declare but the sandbox never sends: {missing}"


def _documents_answer(sb: FastbillSandbox, **body: Any) -> dict[str, Any]:
    reply = post(sb, {"SERVICE": "document.get", **body})
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["RESPONSE"])


def test_document_get_answers_in_the_docs_shape_and_in_the_go_sdks(fresh: FastbillSandbox) -> None:
    flat = _documents_answer(fresh, LIMIT=100)
    assert list(flat) == ["FOLDERS", "DOCUMENTS"]
    assert [f["FOLDER_ID"] for f in flat["FOLDERS"]] == [f[0] for f in DOCUMENT_FOLDERS]
    assert len(flat["DOCUMENTS"]) == fresh.counts()["document.get"] == 40
    filed = [d["FOLDER_ID"] for d in flat["DOCUMENTS"]]
    assert [int(f["CONTENT_COUNT"]) for f in flat["FOLDERS"]] == [
        filed.count(f["FOLDER_ID"]) for f in flat["FOLDERS"]
    ]
    assert "0" in filed  # documents at the top level, in no folder
    declared = json.loads((SCHEMAS / "document_folders.json").read_text())["properties"]
    assert all(set(folder) == set(declared) for folder in flat["FOLDERS"])

    fresh.configure(document_shape="go-sdk")
    nested = _documents_answer(fresh, LIMIT=100)
    assert list(nested) == ["ITEMS"]
    assert nested["ITEMS"]["DOCUMENTS"] == flat["DOCUMENTS"]
    assert nested["ITEMS"]["FOLDERS"] == {f["FOLDER_ID"]: f for f in flat["FOLDERS"]}


def test_document_get_pages_both_lists_and_filters_by_folder(pro: FastbillSandbox) -> None:
    second = _documents_answer(pro, LIMIT=3, OFFSET=3)
    assert [f["FOLDER_ID"] for f in second["FOLDERS"]] == ["15", "16"]
    assert len(second["DOCUMENTS"]) == 3
    inside = _documents_answer(pro, LIMIT=100, FILTER={"FOLDER_ID": "12"})
    assert [f["FOLDER_ID"] for f in inside["FOLDERS"]] == ["14"]
    assert {d["FOLDER_ID"] for d in inside["DOCUMENTS"]} == {"12"}


def test_webhooks_and_documents_are_pro_only(
    pro: FastbillSandbox, automatic: FastbillSandbox
) -> None:
    hooks = rows(pro, "webhook.get", LIMIT=100)
    assert [h["WEBHOOK_ID"] for h in hooks] == ["15", "16", "17"]
    assert all(h["ENDPOINT"].startswith("https://") and h["EVENTS"] for h in hooks)
    for service in ("webhook.get", "document.get"):
        errors = post(automatic, {"SERVICE": service}).json()["RESPONSE"]["ERRORS"]
        assert service in errors[0]


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_prints_the_connection_line_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "fastbill_sandbox", "--port", "0", "--size", "0.1"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
        assert line["username"] == DEFAULT_USERNAME and line["api_key"] == DEFAULT_API_KEY
        assert line["edition"] == "pro" and line["url"].endswith("/api/1.0/api.php")
        reply = requests.post(line["url"], json={"SERVICE": "customer.get"}, auth=AUTH, timeout=5)
        assert len(reply.json()["RESPONSE"]["CUSTOMERS"]) == 10
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
