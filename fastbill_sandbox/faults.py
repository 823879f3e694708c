"""Scripted answers for the sandbox: how a test makes the local FastBill misbehave on demand.

Why: the connector's retry, timeout, paging and decoding paths need answers that a real FastBill
gives rarely and never on demand: a hang, a dropped connection, a body that trickles in, an odd
charset, a missing `Date` header, a 5xx in the middle of a paging run. A test scripts the answers
with a `Handler` and reads back what the connector sent from the sandbox's `calls`.

This is no second server: `scripted(handler)` is a FastbillSandbox whose fault hook answers every
call. The sandbox records and parses the call, the handler picks the answer, and the sandbox's one
HTTP handler delivers it (hangs and trickles bounded, stop() cuts them). `paged` pages with the
sandbox's own LIMIT/OFFSET rule and `by_service` refuses an unknown SERVICE in FastBill's shape.

    with scripted(sequence(Reply(status=503), then=paged("INVOICES", invoices(250)))) as fs:
        run_the_connector(url=fs.url)
    assert fs.services() == ["invoice.get"] * 4
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .server import Call, FastbillSandbox, Reply, error_envelope, page_of, unknown_service

Handler = Callable[[Call], Reply]
SCRIPT_SIZE = 0.01  # the dataset behind a script is never read; tables are built on first use

__all__ = ["Call", "Handler", "Reply", "by_service", "customers", "envelope", "errors",
           "invoices", "ok", "paged", "scripted", "sequence"]  # fmt: skip


def scripted(handler: Handler, **knobs: Any) -> FastbillSandbox:
    """A sandbox (not started) whose every API call `handler` answers."""
    return FastbillSandbox(size=SCRIPT_SIZE, script=handler, **{"rate_limit": None, **knobs})


# ---------------------------------------------------------------------------------------------
# Replies and records


def envelope(key: str, rows: list[Any], request: dict[str, Any] | None = None) -> dict[str, Any]:
    """FastBill's answer shape: the request echoed, the rows under one RESPONSE key."""
    return {"REQUEST": request or {}, "RESPONSE": {key: rows}}


def errors(*texts: str) -> dict[str, Any]:
    """FastBill's error shape, which it sends with HTTP 200 (the sandbox's own)."""
    return error_envelope({}, *texts)


def ok(key: str, rows: list[Any], **kw: Any) -> Reply:
    """A normal answer carrying `rows`; `kw` sets any other Reply field (status, headers, ...)."""
    return Reply(body=envelope(key, rows), **kw)


def paged(key: str, rows: list[Any], page: int = 100) -> Handler:
    """Serve `rows` honouring LIMIT/OFFSET as FastBill does (10 rows when LIMIT is missing)."""

    def handle(call: Call) -> Reply:
        return Reply(body=envelope(key, page_of(rows, call.request, page), call.body))

    return handle


def by_service(handlers: dict[str, Handler], default: Handler | None = None) -> Handler:
    """Dispatch on SERVICE; an unknown one gets FastBill-style ERRORS unless `default` is set."""

    def handle(call: Call) -> Reply:
        chosen = handlers.get(call.service, default)
        if chosen is None:
            return Reply(body=errors(unknown_service(call.service)))
        return chosen(call)

    return handle


def sequence(*replies: Reply | Handler, then: Reply | Handler | None = None) -> Handler:
    """Answer the n-th call this handler sees with the n-th item, then `then` (or the last item).

    Why a counter of its own rather than `Call.index`: a sequence nested in `by_service` counts
    only the calls of its service.
    """
    if not replies and then is None:
        raise ValueError("sequence() needs at least one reply or `then`")
    lock = threading.Lock()
    seen = [0]

    def handle(call: Call) -> Reply:
        with lock:
            n, seen[0] = seen[0], seen[0] + 1
        item = replies[n] if n < len(replies) else (then if then is not None else replies[-1])
        return item if isinstance(item, Reply) else item(call)

    return handle


def invoices(n: int, start: int = 1, **fields: Any) -> list[dict[str, Any]]:
    """`n` invoice records shaped like invoice.get's, ids start..start+n-1; `fields` override."""
    return [
        {
            "INVOICE_ID": str(i),
            "INVOICE_DATE": "2026-01-15",
            "LASTUPDATE": "2026-01-15 10:00:00",
            "PAID_DATE": "0000-00-00 00:00:00",
            "TOTAL": "119.00",
            "CUSTOMER_ID": "1",
            "TYPE": "outgoing",
            **fields,
        }
        for i in range(start, start + n)
    ]


def customers(n: int, start: int = 1) -> list[dict[str, Any]]:
    """`n` customer records shaped like customer.get's, ids start..start+n-1."""
    return [
        {
            "CUSTOMER_ID": str(i),
            "CUSTOMER_NUMBER": f"K{i}",
            "ORGANIZATION": f"Kunde {i} GmbH",
            "LASTUPDATE": "2026-01-01 00:00:00",
        }
        for i in range(start, start + n)
    ]
