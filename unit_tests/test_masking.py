"""Secrets never reach an output: the encodings table (masking.py) and run.py's one filter."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill import masking, run
from unit_tests.conftest import API_KEY, USERNAME, FakeFastbill, body, config, failure

CHECK = body("revenue.get", limit=1)
PAIR = f"{USERNAME}:{API_KEY}"
# A key like the ones that leaked: every character an encoder treats specially.
ODD_KEY = "k/ey+=&<\"'%\\é-0123456789"


def observed(username: str, api_key: str) -> dict[str, str]:
    """The seven encodings FastBill's answers were seen to carry (issue 15, section 4)."""
    pair = f"{username}:{api_key}".encode()
    return {
        "percent keeping /": quote(api_key, safe="/"),
        "lower-case %xx": "".join(f"%{byte:02x}" for byte in api_key.encode()),
        "base64url of user:key": base64.urlsafe_b64encode(pair).decode(),
        "unpadded base64 of user:key": base64.b64encode(pair).decode().rstrip("="),
        "base64url of key": base64.urlsafe_b64encode(api_key.encode()).decode(),
        "html-escaped": html.escape(api_key),
        "hex": api_key.encode().hex(),
    }


def printed(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, cfg: dict) -> str:
    """Everything `source-fastbill <command>` prints, as the platform reads it."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    args = [command, "--config", str(path), "--debug"]
    if command == "read":
        catalog = tmp_path / "catalog.json"
        stream = {"name": "customers", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
        catalog.write_text(
            json.dumps(
                {
                    "streams": [
                        {
                            "stream": stream,
                            "sync_mode": "full_refresh",
                            "destination_sync_mode": "overwrite",
                        }
                    ]
                }
            )
        )
        args += ["--catalog", str(catalog)]
    with pytest.raises(SystemExit) if command == "read" else _nothing():
        run.run(args)
    captured = capsys.readouterr()
    return captured.out + captured.err


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> bool:
        return False


@pytest.mark.parametrize("api_key", [API_KEY, ODD_KEY], ids=["ordinary key", "odd key"])
@pytest.mark.parametrize("command", ["check", "read"])
def test_the_seven_observed_encodings_echoed_in_errors_and_headers_are_never_printed(
    api: FakeFastbill,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    api_key: str,
    command: str,
) -> None:
    leaks = observed(USERNAME, api_key)
    echo = "; ".join(f"{name}={form}" for name, form in leaks.items())
    sent = CHECK if command == "check" else body("customer.get")
    headers = {f"X-Echo-{i}": form for i, form in enumerate(leaks.values())}
    api.expect(sent, failure(f"Unexpected input {echo}"), headers=headers)

    output = printed(capsys, tmp_path, command, config(api_key=api_key))

    assert "Unexpected input" in output  # FastBill's text did reach the output
    for name, form in leaks.items():
        assert form not in output, name


def test_a_redirect_page_echoing_the_key_is_never_printed(
    api: FakeFastbill, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    leaks = observed(USERNAME, ODD_KEY)
    page = "<html>Moved: " + " ".join(leaks.values()) + "</html>"
    api.expect(
        CHECK, page, status=302, headers={"Location": f"https://x.example/?k={leaks['hex']}"}
    )

    output = printed(capsys, tmp_path, "check", config(api_key=ODD_KEY))

    assert "x.example" in output and "api_url" in output
    for name, form in leaks.items():
        assert form not in output, name


KEYS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=8, max_size=64
)
USERS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
)
AROUND = st.text(max_size=12)


@given(username=USERS, api_key=KEYS, before=AROUND, after=AROUND, data=st.data())
def test_every_encoding_of_the_table_embedded_anywhere_is_masked(
    username: str, api_key: str, before: str, after: str, data: st.DataObject
) -> None:
    masking.register(username, api_key)
    spellings = {s for s in masking.forms(username, api_key) if len(s) >= masking.MIN_LENGTH}
    spellings |= set(observed(username, api_key).values())
    for spelling in spellings:
        assert spelling not in masking.mask(before + spelling + after)
    for secret in (api_key, f"{username}:{api_key}"):
        # base64 of the secret inside a longer text, at any byte alignment: its stable inner
        # part is masked, so no decoder gets the secret back
        prefix = data.draw(st.binary(max_size=5))
        encoded = base64.b64encode(prefix + secret.encode() + b"tail").decode()
        assert "****" in masking.mask(encoded)
