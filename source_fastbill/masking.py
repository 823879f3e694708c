"""Secrets out of every output: the API key in each form a log line or a trace could carry it.

The CDK masks the values it registers (`add_to_secrets`) in logs and traces; it registers the
raw `airbyte_secret` fields only. FastBill's answers (an error text, a header, a redirect page)
may echo the key or `user:key` in any common encoding, so one table of encodings registers every
spelling at start-up, and run.py filters every output line with it.

Only spellings of at least MIN_LENGTH characters are registered: a shorter one (a short key's
hex byte, a base64 fragment) would mask common words and numbers all over the output.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import json
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets, filter_secrets

MIN_LENGTH = 6
# The inner part of a base64 text that embeds the secret at any byte offset must be long enough
# to stay specific.
MIN_INNER_LENGTH = 4
CHARSETS = ("utf-8", "latin-1")
PERCENT_SAFE_SETS = ("", "/", "/:@")

Encoder = Callable[[bytes], Iterable[str]]
TextEncoder = Callable[[str], Iterable[str]]


def _cases(text: str) -> set[str]:
    return {text, text.upper(), text.lower()}


def _percent(text: str) -> set[str]:
    forms = {quote(text), quote_plus(text)} | {quote(text, safe=safe) for safe in PERCENT_SAFE_SETS}
    # Every byte escaped, letters and digits too, as some servers echo it.
    forms.add("".join(f"%{byte:02X}" for byte in text.encode()))
    return {case for form in forms for case in _percent_cases(form)}


def _percent_cases(form: str) -> set[str]:
    # Only the %xx escapes change case; the rest of the text is the secret's own.
    parts = form.split("%")
    return {form, "%".join([parts[0], *(part[:2].lower() + part[2:] for part in parts[1:])])}


def _html(text: str) -> set[str]:
    numeric = "".join(f"&#{ord(ch)};" for ch in text)
    hexadecimal = "".join(f"&#x{ord(ch):x};" for ch in text)
    escaped = {html.escape(text, quote=True), html.escape(text, quote=False)}
    partial = {
        "".join(f"&#{ord(ch)};" if ch in "&<>\"'" else ch for ch in text),
        "".join(f"&#x{ord(ch):x};" if ch in "&<>\"'" else ch for ch in text),
    }
    return escaped | partial | {numeric, hexadecimal}


def _escapes(text: str) -> set[str]:
    return {repr(text)[1:-1], json.dumps(text)[1:-1], repr(repr(text))[1:-1]}


def _base64(data: bytes) -> set[str]:
    forms = set()
    for encoded in (base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()):
        forms |= {encoded, encoded.rstrip("=")}
    return forms | _embedded_base64(data)


def _embedded_base64(data: bytes) -> set[str]:
    """The stable middle of base64(prefix + data + suffix), for each of the 3 byte alignments."""
    forms = set()
    for offset in range(3):
        padded = b"\0" * offset + data
        whole = len(padded) // 3 * 3
        # Characters that depend on the secret's bytes only: skip the group the prefix shares,
        # stop before the group the suffix would share.
        start = 4 if offset else 0
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            inner = encode(padded[:whole]).decode()[start:]
            if len(inner) >= MIN_INNER_LENGTH:
                forms.add(inner)
    return forms


def _hex(data: bytes) -> set[str]:
    return _cases(binascii.hexlify(data).decode())


TEXT_ENCODERS: tuple[TextEncoder, ...] = (lambda t: {t}, _escapes, _percent, _html)
BYTE_ENCODERS: tuple[Encoder, ...] = (_base64, _hex)


def forms(username: str, api_key: str) -> set[str]:
    """Every spelling of the secret that could reach an output (the table above, applied)."""
    spellings: set[str] = set()
    for secret in (api_key, f"{username}:{api_key}"):  # the username alone is not secret
        for encode_text in TEXT_ENCODERS:
            spellings |= set(encode_text(secret))
        for charset in CHARSETS:
            try:
                data = secret.encode(charset)
            except UnicodeEncodeError:
                continue
            for encode_bytes in BYTE_ENCODERS:
                spellings |= set(encode_bytes(data))
    return {spelling for spelling in spellings if len(spelling) >= MIN_LENGTH}


# Every spelling registered in this process, longest first. Kept beside the CDK's list because
# the CDK's entry point replaces that list (update_secrets) at each run: masking more is fine.
_table: list[str] = []


def register(username: str, api_key: str) -> None:
    """Registers every spelling with the CDK (its log formatter and traces) and with this table.

    Longest first: a shorter form inside a longer one must not leave the rest of it readable.
    """
    spellings = _spellings(username, api_key)
    if filter_secrets(spellings[0]) == spellings[0]:  # not (or no longer) in the CDK's list
        for spelling in spellings:
            add_to_secrets(spelling)
    known = set(_table)
    if not known.issuperset(spellings):
        _table[:] = sorted(known.union(spellings), key=len, reverse=True)


@functools.lru_cache(maxsize=16)
def _spellings(username: str, api_key: str) -> tuple[str, ...]:
    return tuple(sorted(forms(username, api_key), key=len, reverse=True))


def mask(text: str) -> str:
    """The one filter every output line passes (run.py): the CDK's secrets, then this table."""
    text = filter_secrets(text)
    for spelling in _table:
        if spelling in text:
            text = text.replace(spelling, "****")
    return text
