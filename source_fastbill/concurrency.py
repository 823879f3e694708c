"""Streams read side by side: one lane per API service, each lane read exactly as the CDK reads it.

At 250 ms per call one call in flight reaches 240 calls a minute, half of FastBill's 500: a sync
is bound by round trips, not by the limit it paces itself under. So `num_workers` lanes run at
once, all under the one shared budget (which is thread-safe, so the sum stays under the limits).

Why lanes over the CDK's own `AbstractSource.read` and not the CDK's StreamFacade: the facade
hands every partition the state the sync started with, reads the windows of one stream in
parallel on one shared stream object, and emits state only when a partition closes. This
connector's incremental streams checkpoint after every window and keep their read's plan on the
stream (incremental.py), so the facade would change their state and their resumption. A lane
instead is a catalog of the streams that read one service (a parent and its children, which
share their pages: sharing.py), handed to the CDK's sequential read in a worker thread: each
stream keeps its statuses, records, checkpoints and errors in their order, and the lanes only
interleave. `num_workers: 1` is the CDK's plain sequential read.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airbyte_cdk.models import AirbyteMessage, ConfiguredAirbyteCatalog, FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill.interrupt import Interrupted

QUEUE_SIZE = 1_000  # messages in flight between the lanes and stdout: memory stays flat
POLL_SECONDS = 0.1
ReadLane = Callable[[ConfiguredAirbyteCatalog], Iterator[AirbyteMessage]]


def lanes(
    catalog: ConfiguredAirbyteCatalog, service_of: Callable[[str], str]
) -> list[ConfiguredAirbyteCatalog]:
    """The catalog's streams grouped by the service they read, in the catalog's order."""
    grouped: dict[str, list[Any]] = {}
    for configured in catalog.streams:
        grouped.setdefault(service_of(configured.stream.name), []).append(configured)
    return [ConfiguredAirbyteCatalog(streams=streams) for streams in grouped.values()]


def _delivered(inbox: queue.Queue[tuple[str, Any]]) -> Iterator[AirbyteMessage]:
    while True:
        try:
            kind, item = inbox.get_nowait()
        except queue.Empty:
            return
        if kind == "message":
            yield item


def read_lanes(
    read_lane: ReadLane,
    catalogs: list[ConfiguredAirbyteCatalog],
    workers: int,
    proven: threading.Event,
) -> Iterator[AirbyteMessage]:
    """Every message of every lane, each lane's in its own order; failures raised at the end.

    The first lane starts alone: wrong credentials or an unreachable host cost its calls only,
    and stop the sync as in a sequential read. The others start once a call of the sync has
    succeeded (`proven`), or once the first lane is over.
    """
    inbox: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=QUEUE_SIZE)
    stop = threading.Event()
    first_over = threading.Event()
    failures: list[AirbyteTracedException] = []

    def wait_for_the_first() -> None:
        while not (proven.wait(POLL_SECONDS) or first_over.is_set() or stop.is_set()):
            continue

    def deliver(kind: str, item: Any) -> bool:
        while not stop.is_set():
            try:
                inbox.put((kind, item), timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work(catalog: ConfiguredAirbyteCatalog, first: bool) -> None:
        try:
            if not first:
                wait_for_the_first()
            if stop.is_set():
                return
            messages = read_lane(catalog)
            for message in messages:
                if not deliver("message", message):
                    messages.close()  # type: ignore[attr-defined]
                    return
        except Interrupted:
            return  # the process stops: the main thread says so, once
        except Exception as error:  # a bug (each stream's own failure is a message): say it
            traced = error if isinstance(error, AirbyteTracedException) else None
            deliver("failed", traced or AirbyteTracedException.from_exception(error))
        finally:
            if first:
                first_over.set()
            deliver("done", None)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lane")
    try:
        for index, catalog in enumerate(catalogs):
            pool.submit(work, catalog, index == 0)
        done = 0
        while done < len(catalogs):
            kind, item = inbox.get()
            if kind == "message":
                yield item
            elif kind == "failed":
                failures.append(item)
            else:
                done += 1
    except Interrupted:
        stop.set()
        yield from _delivered(inbox)  # what the lanes read before the signal, states included
        raise
    finally:
        stop.set()  # a sync stopped early: the lanes end at their next message
        pool.shutdown(wait=False, cancel_futures=True)
    if failures:
        raise AirbyteTracedException(
            message=" ".join(f.message or str(f) for f in failures),
            failure_type=FailureType.config_error,  # as the CDK's own; the source corrects it
        )
