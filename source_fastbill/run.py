"""Console entry point `source-fastbill`, as the Airbyte image runs it."""

import sys

from airbyte_cdk.entrypoint import launch

from source_fastbill.source import SourceFastbill


def run() -> None:
    launch(SourceFastbill(), sys.argv[1:])
