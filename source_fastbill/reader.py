"""The read of a sync: one owner of its streams and of the threads that read them side by side.

Each stream is read as the CDK's AbstractSource reads one (statuses STARTED, RUNNING, COMPLETE or
INCOMPLETE with an error trace; state and records from the stream's own `read`, checkpointed by
the CDK's state manager), with these differences:
- the sync says "Starting syncing" and "Finished syncing" once, each stream its start and end
  once, and every state line names its stream (the CDK names the source);
- streams that read one service form a lane (concurrency.py); `num_workers` lanes run at once,
  each in its own thread, all under the one shared budget; a failed stream is that stream's,
  and the others go on; the failures are raised together at the end, as the CDK does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStreamStatus,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    FailureType,
    StreamDescriptor,
    Type,
)
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.utils.record_helper import stream_data_to_airbyte_message
from airbyte_cdk.sources.utils.schema_helpers import InternalConfig
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger
from airbyte_cdk.utils.stream_status_utils import (
    as_airbyte_message as stream_status_as_airbyte_message,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill import estimates
from source_fastbill.concurrency import read_lanes
from source_fastbill.interrupt import Interrupted
from source_fastbill.normalize import Record
from source_fastbill.streams import FastbillStream

# A stream's terminal state from a full refresh, which must not be set back as its state.
NO_CURSOR = {"__ab_no_cursor_state_message": True}


class Reader:
    """Reads the configured streams of one sync and yields every message of it."""

    def __init__(
        self,
        logger: logging.Logger,
        streams: Mapping[str, Stream],
        state: list[AirbyteStateMessage] | None,
        internal_config: InternalConfig,
    ) -> None:
        self.logger, self.streams, self.internal_config = logger, streams, internal_config
        self.state_manager = ConnectorStateManager(state=state)
        self.slice_logger = DebugSliceLogger()
        self.failures: dict[str, AirbyteTracedException] = {}
        self._lock = threading.Lock()

    def read(
        self,
        lanes: list[ConfiguredAirbyteCatalog],
        workers: int,
        proven: threading.Event,
    ) -> Iterator[AirbyteMessage]:
        self.logger.info("Starting syncing SourceFastbill")
        if workers == 1 or len(lanes) == 1:
            for lane in lanes:
                yield from self.read_lane(lane)
        else:
            self.logger.info(f"Reading {len(lanes)} services on {workers} workers at once.")
            yield from read_lanes(self.read_lane, lanes, workers, proven)
        if self.failures:
            names = ", ".join(self.failures)
            raise AirbyteTracedException(
                message=f"These streams did not sync successfully: {names}.",
                failure_type=FailureType.config_error,  # as the CDK's own; the source corrects it
            )
        self.logger.info("Finished syncing SourceFastbill")

    def read_lane(self, lane: ConfiguredAirbyteCatalog) -> Iterator[AirbyteMessage]:
        for configured in lane.streams:
            yield from self.read_stream(configured)

    def read_stream(self, configured: ConfiguredAirbyteStream) -> Iterator[AirbyteMessage]:
        name = configured.stream.name
        stream = self.streams[name]
        self.logger.info(f"Marking stream {name} as STARTED")
        yield stream_status_as_airbyte_message(configured.stream, AirbyteStreamStatus.STARTED)
        try:
            yield from self._records_and_states(stream, configured)
        except Exception as error:  # one stream's failure; an interruption is not one
            yield from self._failed(configured, error)
            return
        self.logger.info(f"Finished syncing {name}")
        yield stream_status_as_airbyte_message(configured.stream, AirbyteStreamStatus.COMPLETE)

    def _records_and_states(
        self, stream: Stream, configured: ConfiguredAirbyteStream
    ) -> Iterator[AirbyteMessage]:
        name = configured.stream.name
        saved = self.state_manager.get_stream_state(name, stream.namespace)
        state, last_count = estimates.split(saved)
        if state == NO_CURSOR:
            state = {}
        if last_count is not None:
            yield estimates.estimate(name, last_count)
        if "state" in dir(stream):
            stream.state = state  # type: ignore[attr-defined]
            self.logger.info(f"Setting state of stream {name} to {state}")
        items = stream.read(
            configured,
            self.logger,
            self.slice_logger,
            state,
            self.state_manager,
            self.internal_config,
        )
        count = 0
        # A state message waits for the stream's next message: the last one, after the stream
        # completed, carries the record count (estimates.py). Nothing is reordered.
        held: AirbyteMessage | None = None
        try:
            for item in items:
                message = _message(stream, item)
                if held is not None:
                    yield held
                    held = None
                if message.type == Type.STATE:
                    held = message
                    continue
                if message.type == Type.RECORD:
                    count += 1
                    if count == 1:
                        yield stream_status_as_airbyte_message(
                            configured.stream, AirbyteStreamStatus.RUNNING
                        )
                yield message
        except (Exception, Interrupted):  # the stream failed or the sync stops: states as read
            if held is not None:
                yield held
            raise
        if held is not None:
            yield estimates.counted(held, count)
        self.logger.info(f"Read {count} records from {name} stream")

    def _failed(
        self, configured: ConfiguredAirbyteStream, error: Exception
    ) -> Iterator[AirbyteMessage]:
        name = configured.stream.name
        descriptor = StreamDescriptor(name=name)
        traced = (
            error
            if isinstance(error, AirbyteTracedException)
            else AirbyteTracedException.from_exception(error, stream_descriptor=descriptor)
        )
        with self._lock:
            self.failures[name] = traced
        self.logger.info(f"Marking stream {name} as INCOMPLETE")
        yield stream_status_as_airbyte_message(configured.stream, AirbyteStreamStatus.INCOMPLETE)
        yield traced.as_sanitized_airbyte_message(stream_descriptor=descriptor)


def _message(stream: Stream, item: Any) -> AirbyteMessage:
    """The one place a record becomes a message; one with nulled values carries them in meta."""
    if isinstance(item, AirbyteMessage):
        return item
    if isinstance(item, Record) and item.nulled and isinstance(stream, FastbillStream):
        return stream.nulled_values.message(stream.name, stream.primary_key, item)
    return stream_data_to_airbyte_message(
        stream.name, item, stream.transformer, stream.get_json_schema()
    )
