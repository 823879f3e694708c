"""The configured catalog, checked against the edition before any call: every stream known, once.

The CDK skips a stream it does not know with an INCOMPLETE status and ends the sync green; a
typo (`invoice`) or the other edition's catalog would then sync nothing for that stream,
silently. A stream listed twice would be read, and emitted, twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from airbyte_cdk.models import ConfiguredAirbyteCatalog, ConfiguredAirbyteStream

from source_fastbill.config import ConfigError


def checked(
    catalog: ConfiguredAirbyteCatalog, edition: str, known: Iterable[str], logger: logging.Logger
) -> ConfiguredAirbyteCatalog:
    """The catalog with each stream once; a config error naming any stream the edition lacks."""
    known = list(known)
    unknown = [s.stream.name for s in catalog.streams if s.stream.name not in known]
    if unknown:
        raise ConfigError(
            f"The catalog selects {_names(unknown)}, which the '{edition}' edition does not "
            f"have. Its streams are: {', '.join(known)}. Run discover again (or refresh the "
            "source schema in Airbyte) and select streams from its list; if the account is of "
            "the other edition, set edition accordingly."
        )
    first: dict[str, ConfiguredAirbyteStream] = {}
    for configured in catalog.streams:
        name = configured.stream.name
        if name in first:
            kept = first[name]
            logger.warning(
                f"The catalog selects the stream '{name}' more than once: it is read once, "
                f"as first listed ({kept.sync_mode.value}, "
                f"{kept.destination_sync_mode.value})."
            )
            continue
        first[name] = configured
    if len(first) == len(catalog.streams):
        return catalog
    return ConfiguredAirbyteCatalog(streams=list(first.values()))


def _names(names: list[str]) -> str:
    quoted = [f"'{name}'" for name in dict.fromkeys(names)]
    return ("the stream " if len(quoted) == 1 else "the streams ") + ", ".join(quoted)
