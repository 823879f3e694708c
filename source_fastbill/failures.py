"""Why a stream failed, as a kind, not as words: what the sync does next depends on it.

The error handler notes the kind of each answer that went wrong, per stream; a success clears
it. When the CDK reports a stream as failed, the source looks the kind up here (never in the
message text, which may be reworded) and decides whether the whole sync must stop:
- rejected credentials: every stream would fail the same way (the handler proved it with one
  call that works for every account, context.Credentials);
- an unreachable host: only when a call that proves reachability fails too; otherwise the
  trouble is that service's, the stream fails named, and the others complete.
"""

from __future__ import annotations

import threading
from enum import Enum


class Failure(Enum):
    UNREACHABLE = "unreachable"  # no answer at all: DNS, connection, timeouts
    CREDENTIALS = "credentials"  # refused for every call (proven)
    REFUSED_BY_PLAN = "refused by plan"  # this service only: the credentials work elsewhere
    STREAM = "stream"  # anything that concerns this stream's service only


class Failures:
    """The last failure kind of each stream in one sync."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, Failure] = {}

    def noted(self, stream: str, kind: Failure) -> None:
        with self._lock:
            self._last[stream] = kind

    def cleared(self, stream: str) -> None:
        with self._lock:
            self._last.pop(stream, None)

    def of(self, stream: str) -> Failure:
        with self._lock:
            return self._last.get(stream, Failure.STREAM)
