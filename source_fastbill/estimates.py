"""How far a sync is: each stream's record count of its last complete sync, kept in its state.

FastBill returns no totals, so the Airbyte UI could show no progress for a long first sync. The
final state of a stream that completed carries its record count under `KEY`; when the next sync
of the stream starts, the count comes back as the protocol's stream ESTIMATE (`row_estimate`),
and the log's progress lines say "of about N". The count is the reader's: the stream's own
state (its cursor) never sees the key.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from airbyte_cdk.models import (
    AirbyteEstimateTraceMessage,
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    AirbyteTraceMessage,
    EstimateType,
    StreamDescriptor,
    TraceType,
    Type,
)

KEY = "records_last_sync"


def split(state: Mapping[str, Any] | None) -> tuple[dict[str, Any], int | None]:
    """The stream's own state, and the count its last complete sync left in it (if any)."""
    own = dict(state or {})
    count = own.pop(KEY, None)
    valid = isinstance(count, int) and not isinstance(count, bool) and count >= 0
    return own, count if valid else None


def counted(message: AirbyteMessage, count: int) -> AirbyteMessage:
    """The stream's final state message, with the sync's record count beside its cursor."""
    assert message.state is not None and message.state.stream is not None
    stream = message.state.stream
    blob = stream.stream_state.__dict__ if stream.stream_state is not None else {}
    state = AirbyteStateMessage(
        type=AirbyteStateType.STREAM,
        stream=AirbyteStreamState(
            stream_descriptor=stream.stream_descriptor,
            stream_state=AirbyteStateBlob(**{**blob, KEY: count}),
        ),
        sourceStats=message.state.sourceStats,
    )
    return AirbyteMessage(type=Type.STATE, state=state)


def estimate(stream: str, count: int) -> AirbyteMessage:
    """The protocol's stream ESTIMATE: about `count` records to come."""
    trace = AirbyteTraceMessage(
        type=TraceType.ESTIMATE,
        emitted_at=time.time() * 1000,
        estimate=AirbyteEstimateTraceMessage(
            name=stream, type=EstimateType.STREAM, row_estimate=count
        ),
    )
    return AirbyteMessage(type=Type.TRACE, trace=trace)


__all__ = ["KEY", "StreamDescriptor", "counted", "estimate", "split"]
