"""Issue 15 §5: api_url is read the same by every parser or refused; no redirect is followed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill.config import ConfigError, FastbillConfig
from unit_tests.conftest import (
    PRO_URL,
    FakeFastbill,
    body,
    check_status,
    config,
    run_check,
    run_read,
)

CRAFTED = [
    "https://a:b@evil.example\\@my.fastbill.com/api/1.0/api.php",
    "http://evil.example\\@localhost/api/1.0/api.php",
    "https://user@my.fastbill.com/api/1.0/api.php",
    "https://my.fastbill.com /api/1.0/api.php",
]


@pytest.mark.parametrize("url", CRAFTED)
def test_a_url_the_parsers_could_read_differently_is_refused_before_any_call(
    api: FakeFastbill, tmp_path: Path, url: str
) -> None:
    status, message = check_status(run_check(config(api_url=url), tmp_path))

    assert status == "FAILED" and message is not None and "api_url" in message
    assert not api.mock.calls


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_names_the_target_host(
    api: FakeFastbill, status: int
) -> None:
    api.expect(
        body("customer.get"),
        "<html>moved</html>",
        status,
        {"Location": "https://elsewhere.example/api.php"},
    )

    output = run_read(config(), "customers", expect_error=True)

    assert len(api.mock.calls) == 1  # never asked again, never sent to the other host
    assert all(call.request.url == PRO_URL for call in api.mock.calls)
    error = output.errors[0].trace.error
    assert error.failure_type.value == "config_error"
    assert "elsewhere.example" in error.message and "api_url" in error.message


schemes = st.sampled_from(["https", "http", "HTTPS", "ftp", ""])
hosts = st.sampled_from(
    ["my.fastbill.com", "localhost", "127.0.0.1", "[::1]", "evil.example", "xn--mller-kva.de",
     "my.fastbill.com.", "müller.de", "", "a b", "evil.example\\@my.fastbill.com"]
)  # fmt: skip
userinfo = st.sampled_from(["", "user@", "user:pw@", "@", "a\\@"])
ports = st.sampled_from(["", ":443", ":8080", ":99999", ":x", ":"])
paths = st.sampled_from(["/api/1.0/api.php", "", "/%2e%2e/", "\\api", "?x=1#f", "/ a"])


@given(schemes, userinfo, hosts, ports, paths)
def test_every_accepted_url_is_read_alike_by_every_parser_and_safe(
    scheme: str, user: str, host: str, port: str, path: str
) -> None:
    url = f"{scheme}://{user}{host}{port}{path}"
    try:
        accepted = FastbillConfig.from_mapping(config(api_url=url)).api_url
    except ConfigError as error:
        assert "api_url" in (error.message or "")
        return
    split = urlsplit(accepted)
    sent = urllib3.util.parse_url(requests.Request("POST", accepted).prepare().url)
    parsed = urllib3.util.parse_url(accepted)
    readings = {
        (split.scheme.lower(), (split.hostname or "").lower(), split.port),
        ((parsed.scheme or "").lower(), (parsed.host or "").lower().strip("[]"), parsed.port),
        ((sent.scheme or "").lower(), (sent.host or "").lower().strip("[]"), sent.port),
    }
    assert len(readings) == 1
    assert not (split.username or split.password or parsed.auth)
    scheme_read, host_read, _ = readings.pop()
    assert scheme_read == "https" or host_read in ("localhost", "127.0.0.1", "::1")
