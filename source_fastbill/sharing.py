"""Answers shared within one sync: a parent stream and its child streams pay for each page once.

invoices, invoice_items, invoice_payments and invoice_vat_items all read invoice.get with the
same requests. When two or more selected streams of a sync read one service, every answer that
passed the error handler is kept on disk (a temporary folder, deleted when the sync ends) and
served again to the next stream that sends the very same request, without an API call and
without a place in the budget. The CDK's own request cache cannot do this: it caches GET only,
per stream (airbyte_cdk HttpClient: requests-cache's default allowable methods).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests
from airbyte_cdk.sources.streams.call_rate import LimiterSession
from requests.structures import CaseInsensitiveDict

from source_fastbill import interrupt
from source_fastbill.read_ahead import ReadAhead

# The folder's name carries the process id, so that a later run can tell a folder left behind
# by a killed process (SIGKILL runs no cleanup) from one a running sync still uses.
PREFIX = "source-fastbill-pages-"
_OWNER = re.compile(re.escape(PREFIX) + r"(\d+)-")


class SharedPages:
    """The answers of the services that more than one selected stream reads."""

    def __init__(self) -> None:
        self.services: frozenset[str] = frozenset()
        self._folder: Path | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.served_count = 0
        self._served: weakref.WeakSet[requests.Response] = weakref.WeakSet()

    def share(self, services: Iterable[str]) -> None:
        self.services = frozenset(services)

    def get(self, request: requests.PreparedRequest) -> requests.Response | None:
        key = self._key(request)
        if key is None or self._folder is None:
            return None
        path = self._folder / key
        if not path.exists():
            return None
        with self._lock:
            meta, content = path.read_bytes().split(b"\n", 1)
            self.served_count += 1
        stored = json.loads(meta)
        response = requests.Response()
        response.status_code = stored["status"]
        response.headers = CaseInsensitiveDict(stored["headers"])
        response.raw = io.BytesIO(content)
        response.url = request.url or ""
        response.request = request
        with self._lock:
            self._served.add(response)
        return response

    def served(self, response: requests.Response) -> bool:
        """Whether this answer came from the folder (another stream of the sync paid for it)."""
        with self._lock:
            return response in self._served

    def put(self, response: requests.Response) -> None:
        if self.served(response) or response.request is None:
            return
        key = self._key(response.request)
        if key is None:
            return
        with self._lock:
            if self._closed:
                return  # the sync is over (or interrupted): nothing may outlive it on disk
            if self._folder is None:
                # mkdtemp makes the folder readable by its owner only; the files inherit that.
                self._folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
            meta = json.dumps({"status": response.status_code, "headers": dict(response.headers)})
            path = self._folder / key
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(meta.encode() + b"\n" + response.content)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None

    def _key(self, request: requests.PreparedRequest) -> str | None:
        if not self.services:
            return None
        raw = request.body or b""
        raw = raw.encode() if isinstance(raw, str) else raw
        try:
            service = json.loads(raw).get("SERVICE")
        except (ValueError, AttributeError):
            return None
        if service not in self.services:
            return None
        return hashlib.sha256(f"{request.url}\n".encode() + raw).hexdigest()


def remove_abandoned(folder: Path | None = None) -> list[Path]:
    """Removes the page folders of connector processes that no longer run (killed ones)."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        owner = _OWNER.match(path.name)
        if owner and path.is_dir() and not _running(int(owner[1])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a folder with our own id is from an earlier process that had it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: not ours to judge
    return True


class SharingSession(LimiterSession):
    """The CDK's rate-limited session, answering from the shared pages before the budget."""

    def __init__(self, pages: SharedPages, ahead: ReadAhead | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pages, self.ahead = pages, ahead

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        interrupt.check()  # a stopping process makes no further call, from any thread
        shared = self.pages.get(request)
        if shared is not None:
            return shared
        if self.ahead is not None:  # the answer asked ahead, if any (read_ahead.py)
            return self.ahead.send(super().send, request, **kwargs)
        return super().send(request, **kwargs)
