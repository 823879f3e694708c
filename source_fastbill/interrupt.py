"""SIGINT and SIGTERM: stop every call and every wait at once, and leave nothing behind.

A signal is for the whole process, so this is the one process-wide flag of the connector. The
handler raises `Interrupted` in the main thread, which ends whatever it waits in (a socket read,
a pacing or quota sleep, the lanes' queue); worker threads check the flag before every call
(sharing.SharingSession) and end there. `Interrupted` is a BaseException, like
KeyboardInterrupt: the CDK's per-stream `except Exception` must not take it for one stream's
failure and go on with the next stream. The entry point (run.py) then prints what was read,
one line saying what happened, and ends the process without waiting for sleeping workers.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested = threading.Event()


class Interrupted(BaseException):
    """The process was told to stop (SIGINT or SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process ended by the signal


def install() -> None:
    """From the main thread, before the first call."""
    for signum in SIGNALS:
        signal.signal(signum, _handler)


def _handler(signum: int, _: FrameType | None) -> None:
    if _requested.is_set():
        return  # a second Ctrl-C while stopping: the first one is being carried out
    _requested.set()
    _signal[0] = signum
    raise Interrupted(signum)


_signal = [int(signal.SIGINT)]


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Before a call: a worker thread learns here that the process is stopping."""
    if _requested.is_set():
        raise Interrupted(_signal[0])


def reset() -> None:
    """For tests that interrupt in-process."""
    _requested.clear()
