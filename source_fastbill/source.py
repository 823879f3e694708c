"""The FastBill source: the streams of the configured edition around one shared API budget."""

from __future__ import annotations

import logging
from collections import Counter
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
    HttpAPIBudget,
    MovingWindowCallRatePolicy,
    Rate,
)
from airbyte_cdk.sources.streams.http.requests_native_auth import BasicHttpAuthenticator
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill import masking, state_file
from source_fastbill.catalog import checked as checked_catalog
from source_fastbill.children import ALL_STREAMS, by_name
from source_fastbill.concurrency import lanes, read_lanes
from source_fastbill.config import FastbillConfig
from source_fastbill.errors import Credentials, SyncContext
from source_fastbill.failures import Failure
from source_fastbill.progress import Ledger, Progress, summary_lines
from source_fastbill.quota import Quota, QuotaPolicy
from source_fastbill.sharing import remove_abandoned
from source_fastbill.streams import Customers, EditionProbe, FastbillStream
from source_fastbill.transport import quiet_cdk_retry_logs

logger = logging.getLogger("airbyte")
# A call reaches FastBill a little after the connector counted it; without a margin the server's
# window can see one call too many.
WINDOW_MARGIN = timedelta(seconds=1)
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


def build_budget(config: FastbillConfig, ledger: Ledger | None = None) -> APIBudget:
    """One moving window per limit, shared by every stream of the sync, so the sum stays under it.

    The quota policy around it holds calls while FastBill's quota is spent (quota.py). 429
    answers are not fed into the CDK's budget: it would block a full window, up to an hour.
    """
    return _budget_and_quota(config, ledger or Ledger())[0]


def _budget_and_quota(config: FastbillConfig, ledger: Ledger) -> tuple[APIBudget, Quota]:
    rates = [Rate(limit=config.requests_per_minute, interval=MINUTE + WINDOW_MARGIN)]
    if config.requests_per_hour:
        hourly = Rate(limit=config.requests_per_hour, interval=HOUR + WINDOW_MARGIN)
        # pyrate-limiter wants ascending limits; an hourly quota below the per-minute one is the
        # only limit that matters.
        rates = (
            [*rates, hourly] if config.requests_per_hour > config.requests_per_minute else [hourly]
        )
    policy = QuotaPolicy(MovingWindowCallRatePolicy(rates=rates, matchers=[]), ledger)
    budget = HttpAPIBudget(policies=[policy], status_codes_for_ratelimit_hit=[])
    quota = Quota(ledger, policy, config.requests_per_minute, config.requests_per_hour)
    return budget, quota


class SourceFastbill(AbstractSource):
    def __init__(self) -> None:
        super().__init__()
        self._shared: dict[tuple[int, int | None], tuple[APIBudget, SyncContext]] = {}

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        settings = FastbillConfig.from_mapping(config)
        return [
            stream(settings, **self._http(settings))
            for stream in ALL_STREAMS
            if settings.edition in stream.editions
        ]

    def check_connection(
        self, logger: logging.Logger, config: Mapping[str, Any]
    ) -> tuple[bool, Any]:
        """One call for one record of a service only the configured edition has.

        It proves the URL, the credentials and the edition: an Automatic account set to "pro"
        (or the reverse) answers "unknown SERVICE", and the message names the edition setting.
        """
        settings = FastbillConfig.from_mapping(config)
        probe = EditionProbe.for_edition(settings.edition)(
            settings, **self._http(settings), check_call=True
        )
        try:
            next(iter(probe.read_records(SyncMode.full_refresh)), None)
        except AirbyteTracedException as error:
            if not (error.message or "").startswith(f"FastBill refused {probe.service}"):
                raise
            # The credentials work (the proof call succeeded); only this service is refused.
            logger.warning(error.message)
        return True, None

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        # The CDK would show the message through repr(), in quotes, and unfiltered: FastBill's
        # error text may quote the API key. It also lets network errors escape as a crash.
        try:
            self.check_connection(logger, config)
        except AirbyteTracedException as error:
            message = filter_secrets(error.message or str(error))
            return AirbyteConnectionStatus(status=Status.FAILED, message=message)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    @classmethod
    def read_state(cls, state_path: str) -> list[AirbyteStateMessage]:
        return state_file.read(state_path)

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        settings = FastbillConfig.from_mapping(config)
        quiet_cdk_retry_logs(logger)
        catalog = checked_catalog(catalog, settings.edition, by_name(settings.edition), logger)
        remove_abandoned()  # what a killed earlier run left in the temp folder
        context = self._http(settings)["context"]
        progress = Progress(context.ledger)
        names = [configured.stream.name for configured in catalog.streams]
        context.pages.share(shared_services(settings.edition, names))
        failed: dict[str, FailureType] = {}
        try:
            for message in self._read_streams(logger, config, catalog, state, settings):
                yield message
                self._observe(message, progress, failed, context, settings)
        except AirbyteTracedException as error:
            # The CDK ends a sync with failed streams as a config_error whatever went wrong; an
            # unreachable host would then look like a settings problem and not be retried.
            if error.failure_type == FailureType.config_error and failed:
                error.failure_type = _combined(list(failed.values()))
            raise
        finally:
            context.pages.close()
            outcomes = progress.outcomes(names, failed)
            for line in summary_lines(context.ledger, names, outcomes):
                logger.info(line)

    def _read_streams(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None,
        settings: FastbillConfig,
    ) -> Iterator[AirbyteMessage]:
        """The CDK's sequential read, or that read per lane, lanes side by side (concurrency.py)."""
        declared = by_name(settings.edition)
        catalogs = lanes(catalog, lambda name: declared[name].service if name in declared else name)
        if settings.num_workers == 1 or len(catalogs) == 1:
            yield from super().read(logger, config, catalog, state)
            return
        catalogs.sort(key=lambda lane: -max(_lane_weight(declared, s) for s in lane.streams))
        workers = min(settings.num_workers, len(catalogs))
        logger.info(f"Reading {len(catalogs)} services on {workers} workers at once.")

        def read_lane(lane: ConfiguredAirbyteCatalog) -> Iterator[AirbyteMessage]:
            return AbstractSource.read(self, logger, config, lane, state)

        context = self._http(settings)["context"]
        yield from read_lanes(read_lane, catalogs, workers, context.credentials.event)

    def _observe(
        self,
        message: AirbyteMessage,
        progress: Progress,
        failed: dict[str, FailureType],
        context: SyncContext,
        settings: FastbillConfig,
    ) -> None:
        progress.observe(message)
        error = message.trace.error if message.type == Type.TRACE and message.trace else None
        if not error:
            return
        stream = error.stream_descriptor.name if error.stream_descriptor else "?"
        failed[stream] = error.failure_type or FailureType.system_error
        kind = context.failures.of(stream)
        # Rejected credentials (proven by the handler) or an unreachable host would fail every
        # remaining stream the same way, after the same retries; anything else is this
        # stream's, and the others may still sync.
        if kind is Failure.CREDENTIALS or (
            kind is Failure.UNREACHABLE and not self._reachable(settings, stream)
        ):
            raise AirbyteTracedException(
                message=f"Sync stopped: {error.message}", failure_type=error.failure_type
            )

    def _http(self, settings: FastbillConfig) -> dict[str, Any]:
        masking.register(settings.username, settings.api_key)
        limits = (settings.requests_per_minute, settings.requests_per_hour)
        if limits not in self._shared:
            ledger = Ledger()
            budget, quota = _budget_and_quota(settings, ledger)
            credentials = Credentials()
            self._shared[limits] = (budget, SyncContext(ledger, quota, credentials))
            credentials.prove = lambda: self._prove(settings)
        budget, context = self._shared[limits]
        return {
            "authenticator": BasicHttpAuthenticator(settings.username, settings.api_key),
            "api_budget": budget,
            "context": context,
        }

    def _prove(self, settings: FastbillConfig) -> bool:
        """One customer.get for one row: do the credentials work? (errors.Credentials)"""
        customers = Customers(settings, **self._http(settings), check_call=True)
        try:
            next(iter(customers.read_records(SyncMode.full_refresh)), None)
        except AirbyteTracedException as error:
            if error.failure_type == FailureType.config_error:
                return False
            raise
        return True

    def _reachable(self, settings: FastbillConfig, failed_stream: str) -> bool:
        """One call of another service than the failed stream's: does FastBill answer at all?

        Any answer proves it, a refusal included; only no answer at all (after the check
        call's one retry) means that FastBill is unreachable for every stream.
        """
        failed = by_name(settings.edition).get(failed_stream)
        proof: type[FastbillStream] = Customers
        if failed is not None and failed.service == Customers.service:
            proof = EditionProbe.for_edition(settings.edition)
        stream = proof(settings, **self._http(settings), check_call=True)
        try:
            next(iter(stream.read_records(SyncMode.full_refresh)), None)
        except AirbyteTracedException:
            return stream.context.failures.of(stream.name) is not Failure.UNREACHABLE
        return True


def shared_services(edition: str, selected: list[str]) -> set[str]:
    """The services that more than one selected stream reads: their pages are paid for once."""
    declared = by_name(edition)
    readers = Counter(declared[name].service for name in selected if name in declared)
    return {service for service, count in readers.items() if count > 1}


def _lane_weight(declared: Mapping[str, type[FastbillStream]], configured: Any) -> int:
    stream = declared.get(configured.stream.name)
    return stream.lane_weight if stream else 1


def _combined(failures: list[FailureType]) -> FailureType:
    if all(f == FailureType.config_error for f in failures):
        return FailureType.config_error
    if FailureType.transient_error in failures:
        return FailureType.transient_error
    return FailureType.system_error


__all__ = ["FastbillStream", "SourceFastbill", "build_budget"]
