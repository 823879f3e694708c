"""Streams read side by side (num_workers): the same records, states and failures as one by one."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import requests
from airbyte_cdk.models import SyncMode, Type

from fastbill_sandbox.faults import Call, Reply, by_service, ok, paged
from integration_tests.test_faults import cfg, sync
from source_fastbill.config import FastbillConfig
from source_fastbill.sync import build_budget

pytestmark = pytest.mark.usefixtures("fake_clock")

SERVICES = {
    "customer.get": ("CUSTOMERS", "CUSTOMER_ID", 250),
    "template.get": ("TEMPLATES", "TEMPLATE_ID", 3),
    "article.get": ("ARTICLES", "ARTICLE_ID", 120),
    "project.get": ("PROJECTS", "PROJECT_ID", 30),
}
STREAMS = ["customers", "templates", "products", "projects"]


class InFlight:
    """Answers every service like FastBill and counts calls in flight.

    Instead of a delay that makes calls overlap on most runs, calls are held at a rendezvous
    until `overlap` of them are in flight at once; after that nobody is held. The sync's first
    call is never held: the connector makes it alone, and starts its other lanes once it has
    succeeded (source_fastbill/concurrency.py). A
    connector that cannot have `overlap` calls in flight leaves them held until SAFETY_SECONDS
    (a bound, so a broken connector fails the assertion on `most` instead of hanging the test).
    """

    SAFETY_SECONDS = 10.0

    def __init__(self, overlap: int = 1) -> None:
        self.overlap, self.now, self.most = overlap, 0, 0
        self.lock = threading.Lock()
        self.met = threading.Event()
        self.pages = {
            service: paged(key, [{pk: str(i), "NAME": f"{service} {i}"} for i in range(n)])
            for service, (key, pk, n) in SERVICES.items()
        }

    def __call__(self, call: Call) -> Reply:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            if self.now >= self.overlap:
                self.met.set()
        try:
            held = call.index > 0 and not self.met.is_set()
            if held and not self.met.wait(self.SAFETY_SECONDS):
                self.met.set()  # give up holding: the count in `most` tells the test
            return self.pages[call.service](call)
        finally:
            with self.lock:
                self.now -= 1


def per_stream(output: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for message in output.records:
        found.setdefault(message.record.stream, []).append(message.record.data)
    return found


@pytest.mark.parametrize("workers", [1, 3])
def test_streams_are_read_side_by_side_with_the_same_records(serve: Any, workers: int) -> None:
    server_side = InFlight(overlap=workers)
    server = serve(server_side)

    output = sync(cfg(server, num_workers=workers), *STREAMS)

    assert {s: len(rows) for s, rows in per_stream(output).items()} == {
        "customers": 250, "templates": 3, "products": 120, "projects": 30
    }  # fmt: skip
    # The minimum calls, whatever the workers: no speculative page.
    assert Counter(server.services()) == {
        "customer.get": 3, "template.get": 1, "article.get": 2, "project.get": 1
    }  # fmt: skip
    assert server_side.most == (1 if workers == 1 else 3)


def test_each_stream_keeps_its_messages_in_order(serve: Any) -> None:
    server = serve(InFlight(overlap=3))

    output = sync(cfg(server, num_workers=3), *STREAMS)

    for stream in STREAMS:
        kinds = []
        for message in output.get_message_iterator():
            if message.type == Type.RECORD and message.record.stream == stream:
                kinds.append("RECORD")
            elif message.type == Type.TRACE and message.trace.stream_status:
                status = message.trace.stream_status
                if status.stream_descriptor.name == stream:
                    kinds.append(status.status.value)
            elif message.type == Type.STATE and message.state.stream:
                kinds += ["STATE"] if message.state.stream.stream_descriptor.name == stream else []
        assert kinds[0] == "STARTED" and kinds[-1] == "COMPLETE", stream
        assert kinds.index("STATE") > max(i for i, k in enumerate(kinds) if k == "RECORD")


def test_incremental_states_after_a_concurrent_sync_equal_those_of_a_sequential_one(
    serve: Any,
) -> None:
    rows = [
        {"INVOICE_ID": str(i), "INVOICE_DATE": "2026-01-15",
         "LASTUPDATE": f"2026-01-{i % 28 + 1:02d} 10:00:00"}
        for i in range(150)
    ]  # fmt: skip
    server = serve(
        by_service(
            {
                "invoice.get": paged("INVOICES", rows),
                "revenue.get": paged("REVENUES", rows[:40]),
                "expense.get": paged("EXPENSES", rows[:130]),
            }
        )
    )
    streams = ("invoices", "revenues", "expenses")
    runs = {
        workers: sync(
            cfg(server, num_workers=workers, start_date="2026-01-01"), *streams,
            mode=SyncMode.incremental,
        )
        for workers in (1, 3)
    }  # fmt: skip

    def states(output: Any) -> dict[str, Any]:
        last = {}
        for message in output.state_messages:
            last[message.state.stream.stream_descriptor.name] = dict(
                message.state.stream.stream_state.__dict__
            )
        return last

    assert states(runs[3]) == states(runs[1])
    assert {s: len(r) for s, r in per_stream(runs[3]).items()} == {
        "invoices": 150, "revenues": 40, "expenses": 130
    }  # fmt: skip


def test_a_failing_stream_keeps_the_others_records_and_states(serve: Any) -> None:
    pages = InFlight()

    def handler(call: Call) -> Reply:
        if call.service == "article.get" and call.offset == 100:
            return Reply(body={"REQUEST": {}, "RESPONSE": {"ERRORS": ["Article Error: kaputt"]}})
        return pages(call)

    server = serve(handler)

    output = sync(cfg(server, num_workers=3), *STREAMS, fails=True)

    got = {s: len(r) for s, r in per_stream(output).items()}
    assert got == {"customers": 250, "templates": 3, "products": 100, "projects": 30}
    finished = {m.state.stream.stream_descriptor.name for m in output.state_messages}
    assert {"customers", "templates", "projects"} <= finished
    final = output.errors[-1].trace.error
    assert "products" in final.message and "customers" not in final.message
    assert final.failure_type.value == "system_error"


def test_an_interrupted_incremental_stream_saves_its_resume_point_next_to_finished_ones(
    serve: Any,
) -> None:
    row = {"INVOICE_DATE": "2025-06-01", "LASTUPDATE": "2025-06-01 10:00:00"}
    rows = [{"INVOICE_ID": str(i), **row} for i in range(5)]

    def invoices(call: Call) -> Reply:
        if call.filter.get("START_DATE", "").startswith("2026"):
            return Reply(
                status=400, body={"REQUEST": {}, "RESPONSE": {"ERRORS": ["Invoice Error"]}}
            )
        return ok("INVOICES", rows if call.filter.get("START_DATE", "").startswith("2025") else [])

    server = serve(
        by_service({"invoice.get": invoices, "customer.get": InFlight().pages["customer.get"]})
    )

    output = sync(
        cfg(server, num_workers=3, start_date="2025-01-01"),
        "invoices", "customers", mode=SyncMode.incremental, fails=True,
    )  # fmt: skip

    states = {}
    for message in output.state_messages:
        states[message.state.stream.stream_descriptor.name] = (
            message.state.stream.stream_state.__dict__
        )
    from source_fastbill.clock import fastbill_today

    end = fastbill_today().isoformat()
    assert states["invoices"] == {
        "resume": {
            "v": 2,
            "pass": "created",
            "from": "2026-01-01",
            "start": "2025-01-01",
            "end": end,
        }
    }
    assert len(per_stream(output)["customers"]) == 250


def test_the_shared_budget_never_lets_the_workers_exceed_the_limit_together() -> None:
    budget = build_budget(
        FastbillConfig.from_mapping(
            {"username": "a@b.de", "api_key": "k" * 20, "requests_per_minute": 40}
        )
    )
    request = requests.Request("POST", "https://my.fastbill.com/api/1.0/api.php", json={}).prepare()
    granted = Counter[str]()
    lock = threading.Lock()

    def worker(name: str) -> None:
        for _ in range(30):  # 90 tries for 40 calls: the budget must refuse 50
            try:
                budget.acquire_call(request, block=False)
            except Exception:
                continue
            with lock:
                granted[name] += 1

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timedelta(seconds=30).total_seconds())

    assert sum(granted.values()) == 40
