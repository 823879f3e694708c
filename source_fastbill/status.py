"""Stream statuses the Airbyte UI shows while a stream waits on FastBill's hourly quota.

A stream waiting on the quota is RUNNING with the reason RATE_LIMITED and `quota_reset` (when
the wait ends); when its calls resume it is RUNNING again without a reason. The waiting thread
is asleep and yields nothing, so the status is printed at once, as the CDK prints its own
RATE_LIMITED status (HttpClient), and not queued behind records.
"""

from __future__ import annotations

import threading

import orjson
from airbyte_cdk.models import (
    AirbyteMessageSerializer,
    AirbyteStreamStatus,
    StreamDescriptor,
)
from airbyte_cdk.models.airbyte_protocol import (
    AirbyteStreamStatusRateLimitedReason,
    AirbyteStreamStatusReason,
    AirbyteStreamStatusReasonType,
)
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message


class RateLimitedStatus:
    """Which streams the UI currently shows as rate limited, for one sync."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limited: set[str] = set()

    def waiting(self, stream: str, until_epoch: float) -> None:
        with self._lock:
            if stream in self._limited:
                return
            self._limited.add(stream)
        limited = AirbyteStreamStatusRateLimitedReason(quota_reset=int(until_epoch * 1000))
        reason = AirbyteStreamStatusReason(
            type=AirbyteStreamStatusReasonType.RATE_LIMITED, rate_limited=limited
        )
        _print(stream, [reason])

    def resumed(self, stream: str) -> None:
        with self._lock:
            if stream not in self._limited:
                return
            self._limited.discard(stream)
        _print(stream, None)


def _print(stream: str, reasons: list[AirbyteStreamStatusReason] | None) -> None:
    message = as_airbyte_message(
        StreamDescriptor(name=stream), AirbyteStreamStatus.RUNNING, reasons
    )
    print(orjson.dumps(AirbyteMessageSerializer.dump(message)).decode() + "\n", end="", flush=True)
