"""Answers shared within one sync: a parent stream and its child streams pay for each page once.

invoices, invoice_items, invoice_payments and invoice_vat_items all read invoice.get with the
same requests. When two or more selected streams of a sync read one service, every answer that
passed the error handler is kept on disk (a temporary folder, deleted when the sync ends) and
served again to the next stream that sends the very same request, without an API call and
without a place in the budget. The CDK's own request cache cannot do this: it caches GET only,
per stream (cdk-notes §10).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests
from airbyte_cdk.sources.streams.call_rate import LimiterSession
from requests.structures import CaseInsensitiveDict

SHARED = "_fastbill_shared"  # set on an answer served from the folder


class SharedPages:
    """The answers of the services that more than one selected stream reads."""

    def __init__(self) -> None:
        self.services: frozenset[str] = frozenset()
        self._folder: Path | None = None
        self._lock = threading.Lock()
        self.served = 0

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
            self.served += 1
        stored = json.loads(meta)
        response = requests.Response()
        response.status_code = stored["status"]
        response.headers = CaseInsensitiveDict(stored["headers"])
        response._content = content
        response.url = request.url or ""
        response.request = request
        response.__dict__[SHARED] = True
        return response

    def put(self, response: requests.Response) -> None:
        if response.__dict__.get(SHARED) or response.request is None:
            return
        key = self._key(response.request)
        if key is None:
            return
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="source-fastbill-pages-"))
            meta = json.dumps({"status": response.status_code, "headers": dict(response.headers)})
            (self._folder / key).write_bytes(meta.encode() + b"\n" + response.content)

    def close(self) -> None:
        with self._lock:
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


def is_shared(response: requests.Response) -> bool:
    return bool(response.__dict__.get(SHARED))


class SharingSession(LimiterSession):
    """The CDK's rate-limited session, answering from the shared pages before the budget."""

    def __init__(self, pages: SharedPages, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pages = pages

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        shared = self.pages.get(request)
        return shared if shared is not None else super().send(request, **kwargs)
