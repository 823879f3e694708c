"""Console entry point `source-fastbill`, as the Airbyte image runs it."""

from __future__ import annotations

import sys
from typing import Any

from airbyte_cdk.entrypoint import PRINT_BUFFER, AirbyteEntrypoint
from airbyte_cdk.models import ConnectorSpecification

from source_fastbill.config import FastbillConfig
from source_fastbill.source import SourceFastbill


class FastbillEntrypoint(AirbyteEntrypoint):
    """The CDK entry point, checking the config with the connector's own rules first.

    The spec check alone says "0 is less than the minimum of 1" without naming the setting;
    FastbillConfig says "requests_per_minute must be a whole number from 1 to 6000, not 0."
    """

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Any) -> None:
        FastbillConfig.from_mapping(config)
        AirbyteEntrypoint.validate_connection(source_spec, config)


def run(args: list[str] | None = None) -> None:
    entrypoint = FastbillEntrypoint(SourceFastbill())
    parsed = entrypoint.parse_args(sys.argv[1:] if args is None else args)
    with PRINT_BUFFER:  # as airbyte_cdk.entrypoint.launch does
        for message in entrypoint.run(parsed):
            print(f"{message}\n", end="")
