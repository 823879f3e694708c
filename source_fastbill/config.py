"""The connector's configuration: parsed and checked once, so streams never see raw input."""

from __future__ import annotations

import calendar
import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill.clock import FASTBILL_TIMEZONE, fastbill_today

API_URLS = {
    "pro": "https://my.fastbill.com/api/1.0/api.php",
    # FastBill Automatic was renamed Monsum; automatic.fastbill.com is the older host.
    "automatic": "https://app.monsum.com/api/1.0/api.php",
}
EDITIONS = tuple(API_URLS)
# FastBill went live in 2010: nothing older exists, so this default reads the whole history.
DEFAULT_START_DATE = date(2010, 1, 1)
DEFAULT_LOOKBACK_DAYS = 30
DEFAULT_REQUESTS_PER_MINUTE = 500  # FastBill's documented per-user limit
# A page of 100 invoices with their items is well under a megabyte: minutes mean a stuck server.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 120
MAX_REQUEST_TIMEOUT_SECONDS = 300  # metadata.yaml's maxSecondsBetweenMessages allows for this
# Three calls in flight keep a 250 ms round trip at FastBill's 500 calls a minute; more would only
# wait in the shared budget.
DEFAULT_NUM_WORKERS = 3
MAX_NUM_WORKERS = 10
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Dates from config or state outside these bounds are typos or broken states: arithmetic on them
# overflows, and a position in the future hides every later change.
EARLIEST_DATE = date(2000, 1, 1)
END_DATE_YEARS_AHEAD = 5  # future-dated invoices exist; decades ahead is a typo
__all__ = ["FASTBILL_TIMEZONE", "fastbill_today"]


class ConfigError(AirbyteTracedException):
    """A setting the user has to change; shown as it is in the Airbyte UI."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message=message, internal_message=message, failure_type=FailureType.config_error
        )


@dataclass(frozen=True)
class FastbillConfig:
    username: str
    api_key: str
    edition: str = "pro"
    api_url: str = API_URLS["pro"]
    start_date: date = DEFAULT_START_DATE
    end_date: date | None = None
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    requests_per_hour: int | None = None
    request_timeout_seconds: int = DEFAULT_REQUEST_TIMEOUT_SECONDS
    num_workers: int = DEFAULT_NUM_WORKERS

    def __repr__(self) -> str:  # the API key must not reach a log line or a trace
        return f"FastbillConfig(username={self.username!r}, api_url={self.api_url!r}, ...)"

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> FastbillConfig:
        edition = config.get("edition") or "pro"
        if edition not in EDITIONS:
            raise ConfigError(f"edition must be one of {', '.join(EDITIONS)}, not {edition!r}.")
        today = fastbill_today()
        start_date = _date(config, "start_date", latest_end_date(today)) or DEFAULT_START_DATE
        end_date = _date(config, "end_date", latest_end_date(today))
        if end_date and end_date < start_date:
            raise ConfigError(f"end_date {end_date} lies before start_date {start_date}.")
        return cls(
            username=_required_text(
                config, "username", "the e-mail address you log in to FastBill with"
            ),
            api_key=_required_text(
                config, "api_key", "your API key (FastBill: Settings > Account > API key)"
            ),
            edition=edition,
            api_url=_api_url(config.get("api_url") or API_URLS[edition]),
            start_date=start_date,
            end_date=end_date,
            lookback_days=_whole_number(
                config, "lookback_days", DEFAULT_LOOKBACK_DAYS, minimum=0, maximum=3650
            ),
            requests_per_minute=_whole_number(
                config, "requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE, minimum=1, maximum=6000
            ),
            requests_per_hour=_whole_number(config, "requests_per_hour", None, minimum=1),
            request_timeout_seconds=_whole_number(
                config,
                "request_timeout_seconds",
                DEFAULT_REQUEST_TIMEOUT_SECONDS,
                minimum=1,
                maximum=MAX_REQUEST_TIMEOUT_SECONDS,
            ),
            num_workers=_whole_number(
                config, "num_workers", DEFAULT_NUM_WORKERS, minimum=1, maximum=MAX_NUM_WORKERS
            ),
        )


def _required_text(config: Mapping[str, Any], key: str, hint: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} is missing: enter {hint}.")
    return value.strip()


def latest_end_date(today: date) -> date:
    return date(today.year + END_DATE_YEARS_AHEAD, 12, 31)


def _date(config: Mapping[str, Any], key: str, latest: date) -> date | None:
    """A YYYY-MM-DD setting from EARLIEST_DATE to `latest`."""
    value = config.get(key)
    if value in (None, ""):
        return None
    if not ISO_DATE.fullmatch(str(value)):  # fromisoformat also takes 20240101 from 3.11 on
        raise ConfigError(f"{key} must be a date written YYYY-MM-DD, not {value!r}.")
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(
            f"{key} {value} is not a day of the calendar: {_no_such_day(str(value))}."
        ) from None
    if not EARLIEST_DATE <= day <= latest:
        raise ConfigError(
            f"{key} {value} lies outside the dates this connector reads ({EARLIEST_DATE} to "
            f"{latest}): enter a date in that range, or leave {key} empty."
        )
    return day


def _no_such_day(text: str) -> str:
    year, month, day = (int(part) for part in text.split("-"))
    if not 1 <= month <= 12:
        return f"there is no month {month:02d}"
    days = calendar.monthrange(year, month)[1]
    name = calendar.month_name[month]
    return f"{name} {year} has {days} days" if day > days else f"there is no day {day:02d}"


def unknown_keys(config: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """One warning text per key the connector does not know, naming the closest known key."""
    known = list(known)
    found = []
    for key in sorted(set(config) - set(known)):
        if key.startswith("__"):  # the platform's and the CDK's own internal keys
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        found.append(f"The setting {key!r} is not one this connector knows: it is ignored.{hint}")
    return found


def _whole_number(
    config: Mapping[str, Any],
    key: str,
    default: int | None,
    minimum: int,
    maximum: int | None = None,
) -> Any:
    value = config.get(key)
    if value is None:
        return default
    too_big = maximum is not None and isinstance(value, int) and value > maximum
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or too_big:
        limits = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise ConfigError(f"{key} must be a whole number {limits}, not {value!r}.")
    return value


def _api_url(url: str) -> str:
    """One URL, read the same way by every parser on the way to the socket, or refused.

    urlsplit and urllib3 (which sends the request) disagree on inputs such as userinfo plus a
    backslash; a URL they read differently could pass the https rule here and send the Basic
    credentials over plain http to another host. So: no userinfo, no backslash, no whitespace or
    control character, and scheme, host and port equal under urlsplit, urllib3 and requests.
    """
    how = f"Enter the full https:// URL of the API, such as {API_URLS['pro']}"
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ConfigError(
            f"api_url must be a full https:// URL such as {API_URLS['pro']}, not {url!r}."
        )
    unsafe = "\\" in url or any(ch.isspace() or not ch.isprintable() for ch in url)
    read = None if unsafe else _read_three_ways(url)
    if read is None:
        raise ConfigError(
            f"api_url {url!r} is not a plain URL (backslash, space, control character, or a "
            f"form the HTTP parsers read differently). {how}."
        )
    scheme, host, has_userinfo = read
    if has_userinfo:
        raise ConfigError(
            "api_url must not hold a user name or password (user@host): the connector sends "
            f"username and api_key itself. {how}."
        )
    if scheme not in ("http", "https") or not host:
        raise ConfigError(f"api_url must be a full https:// URL, not {url!r}. {how}.")
    if scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            f"api_url {url!r} uses plain http, which would send your API key unencrypted. "
            "Use https:// (plain http is accepted only for a local sandbox on localhost/127.0.0.1)."
        )
    return url


def _read_three_ways(url: str) -> tuple[str, str, bool] | None:
    """(scheme, host, userinfo present) if urlsplit, urllib3 and requests agree, else None."""
    try:
        split = urlsplit(url)
        split_port = split.port
        parsed = urllib3.util.parse_url(url)
        prepared = urllib3.util.parse_url(requests.Request("POST", url).prepare().url or "")
    except (ValueError, requests.RequestException, urllib3.exceptions.HTTPError):
        return None
    readings = {
        ((split.scheme or "").lower(), (split.hostname or "").lower(), split_port),
        ((parsed.scheme or "").lower(), (parsed.host or "").lower().strip("[]"), parsed.port),
        ((prepared.scheme or "").lower(), (prepared.host or "").lower().strip("[]"), prepared.port),
    }
    if len(readings) != 1:
        return None
    scheme, host, _ = readings.pop()
    userinfo = bool(split.username or split.password or parsed.auth or "@" in split.netloc)
    return scheme, host, userinfo


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
