"""Self-tests of the sandbox's fault hook (scripted answers, fastbill_sandbox/faults.py), so a
connector test that fails blames the connector.

Each test starts its own server on a free port; none sleeps, and the only waits are the short
client timeouts that the hang and trickle faults exist to provoke.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from fastbill_sandbox import FastbillSandbox
from fastbill_sandbox.faults import (
    Call,
    Handler,
    Reply,
    by_service,
    customers,
    envelope,
    errors,
    invoices,
    ok,
    paged,
    scripted,
    sequence,
)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A session that ignores proxy settings from the environment: the server is on loopback."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


def post(http: requests.Session, server: FastbillSandbox, **body: Any) -> requests.Response:
    return http.post(server.url, json=body, timeout=5)


def ids(response: requests.Response, key: str = "INVOICES") -> list[str]:
    return [row["INVOICE_ID"] for row in response.json()["RESPONSE"][key]]


def test_paged_honours_limit_offset_and_the_default_of_ten(http: requests.Session) -> None:
    with scripted(paged("INVOICES", invoices(25))) as server:
        first = post(http, server, SERVICE="invoice.get", LIMIT=10, OFFSET=0)
        last = post(http, server, SERVICE="invoice.get", LIMIT=100, OFFSET=20)
        default = post(http, server, SERVICE="invoice.get")
        beyond = post(http, server, SERVICE="invoice.get", LIMIT=100, OFFSET=100)
    assert ids(first) == [str(i) for i in range(1, 11)]
    assert ids(last) == ["21", "22", "23", "24", "25"]
    assert ids(default) == [str(i) for i in range(1, 11)]
    assert ids(beyond) == []
    assert first.json()["REQUEST"] == {"SERVICE": "invoice.get", "LIMIT": 10, "OFFSET": 0}


def test_paged_pages_by_the_sandboxs_own_rule(http: requests.Session) -> None:
    # One rule for the sandbox's pages and a script's: at most 100, 10 for a missing or bad LIMIT.
    with scripted(paged("INVOICES", invoices(150), page=500)) as server:
        big = post(http, server, LIMIT=500)
        zero = post(http, server, LIMIT=0, OFFSET="140")
    assert len(ids(big)) == 100
    assert ids(zero) == [str(i) for i in range(141, 151)]


def test_paged_caps_a_page_at_page(http: requests.Session) -> None:
    with scripted(paged("INVOICES", invoices(10), page=3)) as server:
        assert ids(post(http, server, LIMIT=100)) == ["1", "2", "3"]


def test_sequence_answers_in_order_then_with_then(http: requests.Session) -> None:
    echo: Handler = lambda call: ok("INVOICES", [], status=201 + call.index)  # noqa: E731
    handler = sequence(Reply(status=503), echo, then=Reply(status=429))
    with scripted(handler) as server:
        statuses = [post(http, server).status_code for _ in range(4)]
    assert statuses == [503, 202, 429, 429]


def test_sequence_without_then_repeats_the_last_item(http: requests.Session) -> None:
    with scripted(sequence(Reply(status=500), ok("INVOICES", []))) as server:
        statuses = [post(http, server).status_code for _ in range(3)]
    assert statuses == [500, 200, 200]


def test_sequence_needs_something_to_answer_with() -> None:
    with pytest.raises(ValueError):
        sequence()


def test_by_service_dispatches_and_rejects_unknown_services(http: requests.Session) -> None:
    handler = by_service({"customer.get": paged("CUSTOMERS", customers(2))})
    with scripted(handler) as server:
        known = post(http, server, SERVICE="customer.get")
        unknown = post(http, server, SERVICE="nope.get")
    assert known.json()["RESPONSE"]["CUSTOMERS"][1]["ORGANIZATION"] == "Kunde 2 GmbH"
    assert unknown.status_code == 200
    assert unknown.json() == errors("unknown SERVICE: nope.get")


def test_a_str_body_is_sent_in_its_charset_with_the_declared_type(http: requests.Session) -> None:
    reply = Reply(body="Grüße", charset="iso-8859-1", content_type="text/plain; charset=ISO-8859-1")
    with scripted(lambda call: reply) as server:
        response = post(http, server)
    assert response.content == "Grüße".encode("iso-8859-1")
    assert response.headers["Content-Type"] == "text/plain; charset=ISO-8859-1"
    assert response.headers["Content-Length"] == "5"


def test_json_bodies_default_to_fastbills_text_plain(http: requests.Session) -> None:
    with scripted(lambda call: ok("INVOICES", invoices(1, TOTAL="1.00"))) as server:
        response = post(http, server)
    assert response.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert response.headers["Connection"] == "close"
    assert response.json() == envelope("INVOICES", invoices(1, TOTAL="1.00"))


def test_the_date_header_is_sent_overridden_or_suppressed(http: requests.Session) -> None:
    fixed = "Thu, 15 Jan 2026 10:00:00 GMT"
    replies = sequence(Reply(), Reply(headers={"Date": fixed}), Reply(headers={"date": ""}))
    with scripted(replies) as server:
        default, explicit, suppressed = [post(http, server) for _ in range(3)]
    assert parsedate_to_datetime(default.headers["Date"]).tzinfo is not None
    assert explicit.headers["Date"] == fixed
    assert "Date" not in suppressed.headers


def test_drop_closes_without_an_answer(http: requests.Session) -> None:
    server = scripted(lambda call: Reply(drop=True))
    with server, pytest.raises(requests.ConnectionError):
        post(http, server)
    assert len(server.calls) == 1


def test_hang_sends_nothing_until_the_client_times_out(http: requests.Session) -> None:
    server = scripted(lambda call: Reply(hang_seconds=30))
    with server, pytest.raises(requests.ReadTimeout):
        http.post(server.url, json={}, timeout=(2, 0.3))
    assert server.services() == [""]


def test_trickle_sends_byte_by_byte_and_stop_cuts_it_short(http: requests.Session) -> None:
    server = scripted(lambda call: Reply(body=b"x" * 500, trickle_seconds=0.01)).start()
    try:
        response = http.post(server.url, json={}, timeout=5, stream=True)
        assert response.headers["Content-Length"] == "500"
        assert response.raw.read(5) == b"xxxxx"
    finally:
        server.stop()  # returns although 495 bytes (about 5 s of trickle) are still to come
    response.close()


def test_a_hang_left_open_does_not_block_stop(http: requests.Session) -> None:
    server = scripted(lambda call: Reply(hang_seconds=30))
    with server, pytest.raises(requests.ReadTimeout):
        http.post(server.url, json={}, timeout=(2, 0.1))
    server.stop()  # idempotent


def test_calls_are_recorded_in_order_even_when_unparsable(http: requests.Session) -> None:
    with scripted(paged("CUSTOMERS", customers(1))) as server:
        post(http, server, SERVICE="customer.get", OFFSET=100, FILTER={"CUSTOMER_ID": "1"})
        http.post(server.url, data=b"not json", timeout=5)
    first, second = server.calls
    assert isinstance(first, Call)
    assert (first.index, first.service, first.offset, first.limit) == (0, "customer.get", 100, None)
    assert first.filter == {"CUSTOMER_ID": "1"}
    assert first.headers["Content-Type"] == "application/json"
    assert (second.index, second.service, second.body, second.filter) == (1, "", {}, {})
    assert server.services() == ["customer.get", ""]


def test_a_raising_handler_gives_500_and_the_server_keeps_serving(http: requests.Session) -> None:
    def boom(call: Call) -> Reply:
        raise ValueError("boom")

    with scripted(sequence(boom, then=ok("INVOICES", []))) as server:
        broken = post(http, server)
        fine = post(http, server)
    assert (broken.status_code, broken.text) == (500, "handler error: ValueError('boom')")
    assert fine.status_code == 200


def test_other_methods_get_405(http: requests.Session) -> None:
    with scripted(lambda call: ok("INVOICES", [])) as server:
        response = http.get(server.url, timeout=5)
        response_put = http.put(server.url, timeout=5)
    assert (response.status_code, response_put.status_code) == (405, 405)
    assert response.headers["Allow"] == "POST"
    assert server.calls == []


def test_two_servers_get_different_ports_and_a_stopped_one_refuses(http: requests.Session) -> None:
    one = scripted(lambda call: Reply(status=201))
    with one, scripted(lambda call: Reply(status=202)) as two:
        assert one.url != two.url
        assert one.url.startswith("http://127.0.0.1:")
        assert one.url.endswith("/api/1.0/api.php")
        assert (post(http, one).status_code, post(http, two).status_code) == (201, 202)
    with pytest.raises(requests.ConnectionError):
        post(http, one)
