"""Console entry point `source-fastbill`, as the Airbyte image runs it."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Generator
from typing import Any

from airbyte_cdk.entrypoint import PRINT_BUFFER, AirbyteEntrypoint
from airbyte_cdk.models import ConnectorSpecification
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill import interrupt, masking
from source_fastbill.config import FastbillConfig, unknown_keys
from source_fastbill.interrupt import Interrupted
from source_fastbill.source import SourceFastbill

logger = logging.getLogger("airbyte")


class FastbillEntrypoint(AirbyteEntrypoint):
    """The CDK entry point, checking the config with the connector's own rules first.

    The spec check alone says "0 is less than the minimum of 1" without naming the setting;
    FastbillConfig says "requests_per_minute must be a whole number from 1 to 6000, not 0."
    """

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Any) -> None:
        FastbillConfig.from_mapping(config)
        AirbyteEntrypoint.validate_connection(source_spec, config)
        known = source_spec.connectionSpecification.get("properties", {})
        for warning in unknown_keys(config, known):  # a typo must not go unnoticed
            logger.warning(warning)


def run(args: list[str] | None = None) -> None:
    entrypoint = FastbillEntrypoint(SourceFastbill())
    parsed = entrypoint.parse_args(sys.argv[1:] if args is None else args)
    interrupt.install()
    printer = Printer()
    try:
        with PRINT_BUFFER:  # as airbyte_cdk.entrypoint.launch does
            printer.print_all(entrypoint.run(parsed))
    except Interrupted as stop:
        _stopped(stop)
    except AirbyteTracedException:
        if not printer.said_error:
            raise
        # The failed streams' error traces said it all; the CDK's closing error would say it
        # once more. The exit code tells the platform the sync failed.
        sys.exit(1)


class Printer:
    """Prints every message; a signal is handed to the read so that it says what it finished."""

    def __init__(self) -> None:
        self.said_error = False

    def print_all(self, messages: Generator[str, None, None]) -> None:
        pending: Interrupted | None = None
        while True:
            try:
                message = next(messages) if pending is None else messages.throw(pending)
                pending = None
            except StopIteration:
                return
            except Interrupted as stop:
                if messages.gi_frame is None:
                    raise  # raised inside the read, which has ended and said what it had
                pending = stop
                continue
            try:
                self.said_error = self.said_error or _is_error_trace(message)
                # The one place every output line passes: records, traces, connection status
                # and the --debug request/response logs the CDK routes through the entry point.
                print(f"{masking.mask(message)}\n", end="")
            except Interrupted as stop:
                pending = stop  # raised while printing: the read has not seen it yet


def _stopped(stop: Interrupted) -> None:
    """One line, then the end: workers asleep in a quota wait must not hold the exit."""
    logger.warning(
        f"Stopped by {stop.name}: no further FastBill calls were made. The summary above says "
        "which streams were done, interrupted or not started; the next sync resumes from the "
        "last state emitted for each stream."
    )
    sys.stdout.flush()
    os._exit(stop.exit_code)


def _is_error_trace(message: str) -> bool:
    # Only TRACE lines are parsed (the serialiser writes the type first); records pass by.
    if not message.startswith('{"type":"TRACE"'):
        return False
    trace = json.loads(message).get("trace") or {}
    return trace.get("type") == "ERROR"
