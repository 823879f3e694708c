"""The FastBill source: the streams of the configured edition around one shared API budget."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Status,
    Type,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill import state_file
from source_fastbill.catalog import checked as checked_catalog
from source_fastbill.children import by_name
from source_fastbill.concurrency import lanes
from source_fastbill.config import FastbillConfig
from source_fastbill.failures import Failure
from source_fastbill.progress import Progress, summary_lines
from source_fastbill.reader import Reader
from source_fastbill.sharing import remove_abandoned
from source_fastbill.streams import EditionProbe, FastbillStream
from source_fastbill.sync import Sync, read_one_row
from source_fastbill.transport import quiet_cdk_retry_logs

logger = logging.getLogger("airbyte")


class SourceFastbill(AbstractSource):
    def __init__(self) -> None:
        super().__init__()
        self._sync: Sync | None = None  # set for the length of one read: sync.py

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        # The CDK asks for the streams inside read; discover and tests ask outside any sync.
        current = self._sync or Sync(FastbillConfig.from_mapping(config))
        return list(current.streams())

    def check_connection(
        self, logger: logging.Logger, config: Mapping[str, Any]
    ) -> tuple[bool, Any]:
        """One call for one record of a service only the configured edition has.

        It proves the URL, the credentials and the edition: an Automatic account set to "pro"
        (or the reverse) answers "unknown SERVICE", and the message names the edition setting.
        """
        settings = FastbillConfig.from_mapping(config)
        current = Sync(settings)
        probe = current.probe(EditionProbe.for_edition(settings.edition))
        try:
            read_one_row(probe)
        except AirbyteTracedException as error:
            if current.context.failures.of(probe.name) is not Failure.REFUSED_BY_PLAN:
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
        self._sync = current = Sync(settings)
        context = current.context
        progress = Progress(context.ledger)
        names = [configured.stream.name for configured in catalog.streams]
        context.pages.share(shared_services(settings.edition, names))
        failed: dict[str, FailureType] = {}
        try:
            for message in self._read_streams(logger, config, catalog, state, settings):
                yield message
                self._observe(message, progress, failed, current)
        except AirbyteTracedException as error:
            # The CDK ends a sync with failed streams as a config_error whatever went wrong; an
            # unreachable host would then look like a settings problem and not be retried.
            if error.failure_type == FailureType.config_error and failed:
                error.failure_type = _combined(list(failed.values()))
            raise
        finally:
            self._sync = None
            context.close()
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
        """Each service's streams as a lane; `num_workers` lanes at once (reader.py)."""
        assert self._sync is not None
        declared = by_name(settings.edition)
        catalogs = lanes(catalog, lambda name: declared[name].service)
        catalogs.sort(
            key=lambda lane: -max(declared[s.stream.name].lane_weight for s in lane.streams)
        )
        _, internal_config = split_config(config)
        streams = {stream.name: stream for stream in self._sync.streams()}
        reader = Reader(logger, streams, state, internal_config)
        workers = min(settings.num_workers, len(catalogs))
        yield from reader.read(catalogs, workers, self._sync.context.credentials.event)

    def _observe(
        self,
        message: AirbyteMessage,
        progress: Progress,
        failed: dict[str, FailureType],
        current: Sync,
    ) -> None:
        progress.observe(message)
        error = message.trace.error if message.type == Type.TRACE and message.trace else None
        if not error:
            return
        stream = error.stream_descriptor.name if error.stream_descriptor else "?"
        failed[stream] = error.failure_type or FailureType.system_error
        kind = current.context.failures.of(stream)
        # Rejected credentials (proven by the handler) or an unreachable host would fail every
        # remaining stream the same way, after the same retries; anything else is this
        # stream's, and the others may still sync.
        if kind is Failure.CREDENTIALS or (
            kind is Failure.UNREACHABLE and not current.reachable(stream)
        ):
            raise AirbyteTracedException(
                message=f"Sync stopped: {error.message}", failure_type=error.failure_type
            )


def shared_services(edition: str, selected: list[str]) -> set[str]:
    """The services that more than one selected stream reads: their pages are paid for once."""
    declared = by_name(edition)
    readers = Counter(declared[name].service for name in selected if name in declared)
    return {service for service, count in readers.items() if count > 1}


def _combined(failures: list[FailureType]) -> FailureType:
    if all(f == FailureType.config_error for f in failures):
        return FailureType.config_error
    if FailureType.transient_error in failures:
        return FailureType.transient_error
    return FailureType.system_error


__all__ = ["FastbillStream", "SourceFastbill"]
