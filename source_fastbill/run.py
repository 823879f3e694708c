"""Console entry point `source-fastbill`, as the Airbyte image runs it."""

from __future__ import annotations

import logging
import sys
from typing import Any

from airbyte_cdk.entrypoint import PRINT_BUFFER, AirbyteEntrypoint
from airbyte_cdk.models import ConnectorSpecification
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill import masking
from source_fastbill.config import FastbillConfig, unknown_keys
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
    said = False
    with PRINT_BUFFER:  # as airbyte_cdk.entrypoint.launch does
        try:
            for message in entrypoint.run(parsed):
                said = said or _is_error_trace(message)
                # The one place every output line passes: records, traces, connection status and
                # the --debug request/response logs the CDK routes through the entry point.
                print(f"{masking.mask(message)}\n", end="")
        except AirbyteTracedException:
            if not said:
                raise
            # The failed streams' error traces said it all; the CDK's closing error would say it
            # once more. The exit code tells the platform the sync failed.
            sys.exit(1)


def _is_error_trace(message: str) -> bool:
    return message.startswith('{"type":"TRACE"') and '"trace":{"type":"ERROR"' in message
