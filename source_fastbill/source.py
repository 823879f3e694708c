"""The FastBill source: the streams of the configured edition around one shared API budget."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Status,
    SyncMode,
    Type,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.streams.call_rate import (
    APIBudget,
    CallRateLimitHit,
    HttpAPIBudget,
    MovingWindowCallRatePolicy,
    Rate,
)
from airbyte_cdk.sources.streams.http.exceptions import BaseBackoffException
from airbyte_cdk.sources.streams.http.requests_native_auth import BasicHttpAuthenticator
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill.config import FastbillConfig
from source_fastbill.errors import UNREACHABLE
from source_fastbill.streams import STREAMS, Customers, FastbillStream

logger = logging.getLogger("airbyte")
NOTEWORTHY_WAIT = timedelta(seconds=5)
# A call reaches FastBill a little after the connector counted it; without a margin the server's
# window can see one call too many.
WINDOW_MARGIN = timedelta(seconds=1)
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


class PacedBudget(HttpAPIBudget):
    """The CDK's budget, saying so in the log when pacing makes the sync wait."""

    def acquire_call(self, request: Any, block: bool = True, timeout: float | None = None) -> None:
        try:
            super().acquire_call(request, block=False)
        except CallRateLimitHit as hit:
            if hit.time_to_wait >= NOTEWORTHY_WAIT:
                logger.info(
                    f"Pacing under the configured API limit ({hit.rate}): the next FastBill call "
                    f"waits {hit.time_to_wait.total_seconds():.0f} s."
                )
            super().acquire_call(request, block=block, timeout=timeout)


def build_budget(config: FastbillConfig) -> APIBudget:
    """One moving window per limit, shared by every stream of the sync, so the sum stays under it.

    429 answers are not fed into the budget: the CDK would then block a full window, up to an
    hour with an hourly quota. The error handler waits as long as FastBill asks instead.
    """
    rates = [Rate(limit=config.requests_per_minute, interval=MINUTE + WINDOW_MARGIN)]
    if config.requests_per_hour:
        hourly = Rate(limit=config.requests_per_hour, interval=HOUR + WINDOW_MARGIN)
        # pyrate-limiter wants ascending limits; an hourly quota below the per-minute one is the
        # only limit that matters.
        rates = (
            [*rates, hourly] if config.requests_per_hour > config.requests_per_minute else [hourly]
        )
    return PacedBudget(
        policies=[MovingWindowCallRatePolicy(rates=rates, matchers=[])],
        status_codes_for_ratelimit_hit=[],
    )


class SourceFastbill(AbstractSource):
    def __init__(self) -> None:
        super().__init__()
        self._budgets: dict[tuple[int, int | None], APIBudget] = {}

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        settings = FastbillConfig.from_mapping(config)
        return [
            stream(settings, **self._http(settings))
            for stream in STREAMS
            if settings.edition in stream.editions
        ]

    def check_connection(
        self, logger: logging.Logger, config: Mapping[str, Any]
    ) -> tuple[bool, Any]:
        """One call for one customer: proves the URL and the credentials.

        customer.get exists in both editions; a wrong edition fails the first stream it lacks,
        with a config error that names the edition.
        """
        settings = FastbillConfig.from_mapping(config)
        customers = Customers(settings, **self._http(settings), check_call=True)
        next(iter(customers.read_records(SyncMode.full_refresh)), None)
        return True, None

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        # The CDK would show the message through repr(), in quotes; it also lets network errors
        # escape as a crash instead of a FAILED status.
        try:
            self.check_connection(logger, config)
        except AirbyteTracedException as error:
            return AirbyteConnectionStatus(status=Status.FAILED, message=_user_message(error))
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        failures: list[FailureType] = []
        try:
            for message in super().read(logger, config, catalog, state):
                yield message
                error = (
                    message.trace.error if message.type == Type.TRACE and message.trace else None
                )
                if error:
                    failures.append(error.failure_type)
                    if _fails_every_stream(error.failure_type, error.message or ""):
                        raise AirbyteTracedException(
                            message=f"Sync stopped: {error.message}",
                            failure_type=error.failure_type,
                        )
        except AirbyteTracedException as error:
            # The CDK ends a sync with failed streams as a config_error whatever went wrong; an
            # unreachable host would then look like a settings problem and not be retried.
            if error.failure_type == FailureType.config_error and failures:
                error.failure_type = _combined(failures)
            raise

    def _http(self, settings: FastbillConfig) -> dict[str, Any]:
        token = f"{settings.username}:{settings.api_key}".encode()
        add_to_secrets(base64.b64encode(token).decode())  # the Basic header must not reach logs
        add_to_secrets(settings.api_key)
        limits = (settings.requests_per_minute, settings.requests_per_hour)
        if limits not in self._budgets:
            self._budgets[limits] = build_budget(settings)
        return {
            "authenticator": BasicHttpAuthenticator(settings.username, settings.api_key),
            "api_budget": self._budgets[limits],
        }


def _fails_every_stream(failure: FailureType, message: str) -> bool:
    # Rejected credentials or an unreachable host would fail each remaining stream the same way,
    # after the same retries; the other errors belong to one stream and the rest may still sync.
    return failure == FailureType.config_error or UNREACHABLE in message


def _combined(failures: list[FailureType]) -> FailureType:
    if all(f == FailureType.config_error for f in failures):
        return FailureType.config_error
    if FailureType.transient_error in failures:
        return FailureType.transient_error
    return FailureType.system_error


def _user_message(error: AirbyteTracedException) -> str:
    cause = error.__context__
    if isinstance(cause, BaseBackoffException) and str(cause):
        return f"{cause} (gave up after repeated attempts)"
    return error.message or str(error)


__all__ = ["FastbillStream", "SourceFastbill", "build_budget"]
