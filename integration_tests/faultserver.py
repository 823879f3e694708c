"""A tiny fault-injection FastBill server for tests: one POST endpoint, scripted replies.

Why: the connector's retry, timeout, paging and decoding paths need answers that a real FastBill
gives rarely and never on demand: a hang, a dropped connection, a body that trickles in, an odd
charset, a missing `Date` header, a 5xx in the middle of a paging run. A test scripts the answers
with a `Handler` and reads back what the connector sent from `FaultServer.calls`.

Standard library only. It binds 127.0.0.1 on an OS-chosen port (so parallel runs never collide),
every wait is bounded and every thread is a daemon, so a failing test cannot hang the run, and
`stop()` ends hanging and trickling connections within about a second.

    with FaultServer(sequence(Reply(status=503), then=paged("INVOICES", invoices(250)))) as fs:
        run_the_connector(url=fs.url)
    assert fs.services() == ["invoice.get"] * 4
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PATH = "/api/1.0/api.php"
MAX_SECONDS = 120.0  # upper bound of any hang or trickle, whatever a Reply asks for
MAX_BODY = 10 * 1024 * 1024  # a request body larger than this is read only this far
TICK = 0.05  # how often hangs and trickles look at the stop flag and the client
STOP_GRACE = 1.0  # how long stop() waits for handler threads to let go of their sockets
SOCKET_TIMEOUT = 30.0  # a client that connects and stays silent cannot hold a thread forever


@dataclass
class Reply:
    """One scripted answer: a normal HTTP reply, or a fault (drop, hang, trickle) instead."""

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""  # dict/list -> JSON; str -> `charset`
    headers: dict[str, str] = field(default_factory=dict)  # override defaults; "" removes one
    content_type: str = "text/plain; charset=UTF-8"  # what FastBill really sends for JSON
    charset: str = "utf-8"  # encodes a str body (and the JSON text of a dict/list body)
    trickle_seconds: float = 0.0  # >0: the body one byte every this many seconds
    hang_seconds: float = 0.0  # >0: read the request, answer nothing, close after this long
    drop: bool = False  # close the connection without any answer

    def encoded(self) -> bytes:
        """The body as sent on the wire, so Content-Length always matches what is written."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode(self.charset)
        return json.dumps(self.body, ensure_ascii=False).encode(self.charset)


Handler = Callable[["Call"], Reply]


@dataclass(frozen=True)
class Call:
    """One API call as the server received it, so tests can assert on what the connector sent."""

    index: int  # 0-based count of API calls received so far by this server
    service: str  # body["SERVICE"] ("" if missing or unparsable)
    limit: int | None
    offset: int
    filter: dict[str, Any]
    body: dict[str, Any]  # the whole parsed JSON body ({} if unparsable)
    headers: dict[str, str]
    received_at: float  # time.time()


# ---------------------------------------------------------------------------------------------
# Replies and records


def envelope(key: str, rows: list[Any], request: dict[str, Any] | None = None) -> dict[str, Any]:
    """FastBill's answer shape: the request echoed, the rows under one RESPONSE key."""
    return {"REQUEST": request or {}, "RESPONSE": {key: rows}}


def errors(*texts: str) -> dict[str, Any]:
    """FastBill's error shape, which it sends with HTTP 200."""
    return {"REQUEST": {}, "RESPONSE": {"ERRORS": list(texts)}}


def ok(key: str, rows: list[Any], **kw: Any) -> Reply:
    """A normal answer carrying `rows`; `kw` sets any other Reply field (status, headers, ...)."""
    return Reply(body=envelope(key, rows), **kw)


def paged(key: str, rows: list[Any], page: int = 100) -> Handler:
    """Serve `rows` honouring LIMIT/OFFSET as FastBill does (10 rows when LIMIT is missing)."""

    def handle(call: Call) -> Reply:
        size = min(call.limit or 10, page)
        start = max(call.offset, 0)
        return Reply(body=envelope(key, rows[start : start + size], call.body))

    return handle


def by_service(handlers: dict[str, Handler], default: Handler | None = None) -> Handler:
    """Dispatch on SERVICE; an unknown one gets FastBill-style ERRORS unless `default` is set."""

    def handle(call: Call) -> Reply:
        chosen = handlers.get(call.service, default)
        if chosen is None:
            return Reply(body=errors(f"unknown SERVICE: {call.service}"))
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


# ---------------------------------------------------------------------------------------------
# Parsing a request


def _json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or {}: a broken request must still be recorded, not crash."""
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _as_int(value: Any) -> int | None:
    """LIMIT/OFFSET as an int, tolerating strings ("100") and garbage (None)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_call(index: int, raw: bytes, headers: dict[str, str]) -> Call:
    """Turn a request body into a Call, whatever the body looks like."""
    body = _json_object(raw)
    found_filter = body.get("FILTER")
    return Call(
        index=index,
        service=str(body.get("SERVICE") or ""),
        limit=_as_int(body.get("LIMIT")),
        offset=_as_int(body.get("OFFSET")) or 0,
        filter=found_filter if isinstance(found_filter, dict) else {},
        body=body,
        headers=headers,
        received_at=time.time(),
    )


def _response_headers(reply: Reply, length: int) -> dict[str, str]:
    """Defaults, then the reply's own headers (case-insensitively), then the two the server owns.

    Content-Length and Connection are not overridable: a wrong length or a keep-alive promise
    would make the client's behaviour depend on timing. An empty value drops a header, which is
    how a test sends no Date at all.
    """
    merged = {
        "content-type": ("Content-Type", reply.content_type),
        "date": ("Date", formatdate(usegmt=True)),
    }
    for name, value in reply.headers.items():
        merged[name.lower()] = (name, value)
    merged["content-length"] = ("Content-Length", str(length))
    merged["connection"] = ("Connection", "close")
    return {name: value for name, value in merged.values() if value != ""}


def _peer_closed(sock: socket.socket) -> bool:
    """True once the client has hung up, so a hang or trickle stops holding a thread for nobody."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # ValueError: the socket is already closed (fd -1)
        return True


# ---------------------------------------------------------------------------------------------
# The HTTP side


class _RequestHandler(BaseHTTPRequestHandler):
    """One connection, one request, one scripted reply, then close (Connection: close)."""

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the default prints a line per request to stderr, noise in test output."""

    def __getattr__(self, name: str) -> Any:
        """Any method but POST gets 405: handle_one_request looks up `do_<METHOD>` by name."""
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def do_POST(self) -> None:
        """Record the call, ask the handler, deliver its answer (or its fault)."""
        call = self.server.fault._record(self._read_body(), dict(self.headers.items()))
        reply, payload = _resolve(self.server.fault.handler, call)
        self._deliver(reply, payload)

    def _not_allowed(self) -> None:
        """FastBill's API is POST only; a 405 makes a wrong method obvious in a test."""
        text = f"{self.command} not allowed; POST only\n"
        reply = Reply(status=405, body=text, headers={"Allow": "POST"})
        payload = reply.encoded()
        self._send_head(reply, len(payload))
        if self.command != "HEAD":
            self._send(payload)

    def _read_body(self) -> bytes:
        """The request body by Content-Length (bounded); a missing or bad length means none."""
        length = _as_int(self.headers.get("Content-Length")) or 0
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def _deliver(self, reply: Reply, payload: bytes) -> None:
        """Send `reply` the way it asks: dropped, hung, trickled or all at once."""
        self.close_connection = True
        if reply.drop:
            self._hang_up()
        elif reply.hang_seconds > 0:
            self._pause(min(reply.hang_seconds, MAX_SECONDS), time.monotonic() + MAX_SECONDS)
            self._hang_up()
        else:
            self._send_head(reply, len(payload))
            if reply.trickle_seconds > 0:
                self._trickle(payload, reply.trickle_seconds)
            else:
                self._send(payload)

    def _send_head(self, reply: Reply, length: int) -> None:
        """Status line and headers; send_response_only so the server adds no Date/Server itself."""
        self.send_response_only(reply.status)
        for name, value in _response_headers(reply, length).items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, data: bytes) -> bool:
        """Write `data`; False if the client is gone (a fault test often leaves early)."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return False
        return True

    def _trickle(self, payload: bytes, seconds: float) -> None:
        """One byte every `seconds`, until done, the client leaves, stop() or MAX_SECONDS."""
        deadline = time.monotonic() + MAX_SECONDS
        for i in range(len(payload)):
            if time.monotonic() >= deadline or not self._send(payload[i : i + 1]):
                return
            if i + 1 < len(payload) and not self._pause(seconds, deadline):
                return

    def _pause(self, seconds: float, deadline: float) -> bool:
        """Wait in short slices; False as soon as the server stops or the client hangs up."""
        stopping = self.server.stopping
        until = min(time.monotonic() + seconds, deadline)
        while (remaining := until - time.monotonic()) > 0:
            if stopping.wait(min(TICK, remaining)) or _peer_closed(self.connection):
                return False
        return not stopping.is_set()

    def _hang_up(self) -> None:
        """Close at once, answer or not, so the client sees the end of the connection now."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _resolve(handler: Handler, call: Call) -> tuple[Reply, bytes]:
    """The handler's reply and its bytes; a broken handler is a 500, not a dead server."""
    try:
        reply = handler(call)
        return reply, reply.encoded()
    except Exception as exc:
        reply = Reply(status=500, body=f"handler error: {exc!r}")
        return reply, reply.encoded()


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections, so stop() can cut them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fault: FaultServer) -> None:
        self.fault = fault
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup (socket.getfqdn), which can stall."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept, and remember the connection until its handler is done with it."""
        conn, address = super().get_request()
        with self.connections_lock:
            self.connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection, then close it as usual."""
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are the point of a fault server; only real bugs get a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def cut_connections(self) -> None:
        """Shut every open connection down, which unblocks any thread reading or writing it."""
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def wait_idle(self, seconds: float) -> None:
        """Wait (bounded) until the handler threads have closed their connections."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.connections_lock:
                if not self.connections:
                    return
            time.sleep(0.01)


class FaultServer:
    """A local FastBill stand-in: every POST is recorded and answered by `handler`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def start(self) -> FaultServer:
        """Bind a free port and serve in a daemon thread; a server starts only once."""
        with self._lock:
            if self._port is not None:
                raise RuntimeError("a FaultServer can be started only once")
            self._httpd = _HTTPServer(self)
            self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": TICK},
            name=f"faultserver-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and end open connections promptly; safe to call twice or before start."""
        with self._lock:
            httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.cut_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_GRACE)
        httpd.wait_idle(STOP_GRACE)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API URL; it stays valid after stop(), to test a refused connection."""
        if self._port is None:
            raise RuntimeError("start the FaultServer first")
        return f"http://127.0.0.1:{self._port}{API_PATH}"

    def services(self) -> list[str]:
        """The SERVICE of every call so far, in order: the usual thing a test asserts on."""
        with self._lock:
            return [call.service for call in self.calls]

    def _record(self, raw: bytes, headers: dict[str, str]) -> Call:
        """Parse and append under the lock, so `index` matches the position in `calls`."""
        with self._lock:
            call = _parse_call(len(self.calls), raw, headers)
            self.calls.append(call)
        return call
