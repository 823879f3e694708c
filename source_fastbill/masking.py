"""Secrets out of every output: the API key in each form a log line or a trace could carry it.

The CDK masks the values it registers (`add_to_secrets`) in logs and traces; it registers the
raw `airbyte_secret` fields only. FastBill's own error texts may echo the key, the Basic token or
`user:key`, and Python's repr() or JSON escapes a key holding quotes or backslashes.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets


def forms(username: str, api_key: str) -> set[str]:
    """Every spelling of the secret that could reach an output."""
    pair = f"{username}:{api_key}"
    spellings = {api_key, pair}
    for text in (api_key, pair):
        escaped = {repr(text)[1:-1], json.dumps(text)[1:-1], repr(repr(text))[1:-1]}
        spellings |= escaped | {quote(text, safe=""), quote_plus(text)}
        for encoding in ("utf-8", "latin-1"):
            try:
                spellings.add(base64.b64encode(text.encode(encoding)).decode())
            except UnicodeEncodeError:
                continue
    return {spelling for spelling in spellings if len(spelling) >= 4}


_registered: set[str] = set()


def register(username: str, api_key: str) -> None:
    # Longest first: a shorter form inside a longer one must not leave the rest of it readable.
    for spelling in sorted(forms(username, api_key) - _registered, key=len, reverse=True):
        _registered.add(spelling)
        add_to_secrets(spelling)
