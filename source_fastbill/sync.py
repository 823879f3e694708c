"""One sync's shared parts, created by `read` or `check` and dropped at their end.

A second read in the same process (PyAirbyte, tests) starts with new call counts, a new budget
and unproven credentials: nothing of one sync is cached on the source or kept in a module.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.streams.call_rate import (
    APIBudget,
    HttpAPIBudget,
    MovingWindowCallRatePolicy,
    Rate,
)
from airbyte_cdk.sources.streams.http.requests_native_auth import BasicHttpAuthenticator
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_fastbill import masking
from source_fastbill.children import by_name
from source_fastbill.config import FastbillConfig
from source_fastbill.context import Credentials, SyncContext
from source_fastbill.failures import Failure
from source_fastbill.progress import Ledger
from source_fastbill.quota import Quota, QuotaPolicy
from source_fastbill.read_ahead import InFlight
from source_fastbill.streams import Customers, EditionProbe, FastbillStream
from source_fastbill.transport import quiet_cdk_retry_logs

# A call reaches FastBill a little after the connector counted it; without a margin the server's
# window can see one call too many.
WINDOW_MARGIN = timedelta(seconds=1)
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


def build_budget(config: FastbillConfig, ledger: Ledger | None = None) -> APIBudget:
    """One moving window per limit, shared by every stream of the sync, so the sum stays under it.

    The quota policy around it holds calls while FastBill's quota is spent (quota.py). 429
    answers are not fed into the CDK's budget: it would block a full window, up to an hour.
    """
    return _budget_and_quota(config, ledger or Ledger())[0]


def pacing_rates(config: FastbillConfig) -> list[Rate]:
    """The moving windows the budget paces under, a margin longer than FastBill's own."""
    rates = [Rate(limit=config.requests_per_minute, interval=MINUTE + WINDOW_MARGIN)]
    if config.requests_per_hour:
        hourly = Rate(limit=config.requests_per_hour, interval=HOUR + WINDOW_MARGIN)
        # pyrate-limiter wants ascending limits; an hourly quota below the per-minute one is the
        # only limit that matters.
        rates = (
            [*rates, hourly] if config.requests_per_hour > config.requests_per_minute else [hourly]
        )
    return rates


def describe_limits(config: FastbillConfig) -> str:
    """The configured limits in words, for the log: "500 calls per minute"."""
    said = f"{config.requests_per_minute:,} calls per minute"
    if config.requests_per_hour:
        said += f" and {config.requests_per_hour:,} per hour"
    return said


def _budget_and_quota(config: FastbillConfig, ledger: Ledger) -> tuple[APIBudget, Quota]:
    rates = pacing_rates(config)
    policy = QuotaPolicy(
        MovingWindowCallRatePolicy(rates=rates, matchers=[]), ledger, describe_limits(config)
    )
    budget = HttpAPIBudget(policies=[policy], status_codes_for_ratelimit_hit=[])
    quota = Quota(ledger, policy, config.requests_per_minute, config.requests_per_hour)
    return budget, quota


class Sync:
    """The settings, budget, ledger, quota, credentials, shared pages and failures of one sync."""

    def __init__(self, settings: FastbillConfig) -> None:
        masking.register(settings.username, settings.api_key)
        quiet_cdk_retry_logs(logging.getLogger("airbyte"))  # where the CDK's backoff logs
        self.settings = settings
        ledger = Ledger()
        self.budget, quota = _budget_and_quota(settings, ledger)
        self.context = SyncContext(
            ledger,
            quota,
            Credentials(prove=self.credentials_work),
            in_flight=InFlight(settings.num_workers),
            speculate=lambda: not settings.requests_per_hour and not ledger.any_refused(),
        )

    def stream_kwargs(self) -> dict[str, Any]:
        """What every stream of this sync is built with."""
        settings = self.settings
        return {
            "authenticator": BasicHttpAuthenticator(settings.username, settings.api_key),
            "api_budget": self.budget,
            "context": self.context,
        }

    def streams(self) -> list[FastbillStream]:
        return [stream(self.settings, **self.stream_kwargs()) for stream in self._declared()]

    def _declared(self) -> list[type[FastbillStream]]:
        return list(by_name(self.settings.edition).values())

    def probe(self, stream: type[FastbillStream]) -> FastbillStream:
        """A stream built for one call of one row (check, and the proofs below)."""
        return stream(self.settings, **self.stream_kwargs(), check_call=True)

    def credentials_work(self) -> bool:
        """One customer.get for one row: do the credentials work? (context.Credentials)"""
        try:
            read_one_row(self.probe(Customers))
        except AirbyteTracedException as error:
            if error.failure_type == FailureType.config_error:
                return False
            raise
        return True

    def reachable(self, failed_stream: str) -> bool:
        """One call of another service than the failed stream's: does FastBill answer at all?

        Any answer proves it, a refusal included; only no answer at all (after the check
        call's one retry) means that FastBill is unreachable for every stream.
        """
        failed = by_name(self.settings.edition).get(failed_stream)
        proof: type[FastbillStream] = Customers
        if failed is not None and failed.service == Customers.service:
            proof = EditionProbe.for_edition(self.settings.edition)
        stream = self.probe(proof)
        try:
            read_one_row(stream)
        except AirbyteTracedException:
            return self.context.failures.of(stream.name) is not Failure.UNREACHABLE
        return True


def read_one_row(stream: FastbillStream) -> None:
    """One call for at most one row: what check and the proofs ask of FastBill."""
    next(iter(stream.read_records(SyncMode.full_refresh)), None)
