"""Where FastBill's answers arrive: what each one does to the sync.

The CDK hands every answer (or the exception instead of one) to the stream's error handler and
then, for a retry, asks the backoff strategy how long to wait: those two hooks are where answers
arrive. `AnswerDesk` is the error handler the CDK gets: errors.classify says what the answer is,
and the desk applies it, all in one place:
- every answer FastBill gave counts as a call (progress.Ledger), a page another stream of this
  sync already paid for does not (sharing.py), a refusal counts as refused (quota.py);
- a page with the list proves the credentials and is kept for the other streams of its service;
- a refusal of access is told apart by one proof call: this service for this plan, or the
  credentials for every call (context.Credentials);
- failure kinds are noted per stream (failures.py): what the sync does next depends on them;
- the wait before the next try is decided here and taken by the backoff strategy or the budget.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import (
    BackoffStrategy,
    ErrorHandler,
    ErrorResolution,
    ResponseAction,
)

from source_fastbill.cdk_seams import CDK_EXTRA_BACKOFF_SECONDS
from source_fastbill.errors import (
    Endpoint,
    Kind,
    Verdict,
    classify,
    credentials_message,
    refused_by_plan,
    retry_wait,
)
from source_fastbill.failures import Failure
from source_fastbill.progress import wall_clock
from source_fastbill.quota import NOTEWORTHY_SECONDS, Decision, until_text

if TYPE_CHECKING:
    from source_fastbill.context import SyncContext

Answer = requests.Response | Exception | None


def _resolution(action: ResponseAction, failure: FailureType, message: str) -> ErrorResolution:
    return ErrorResolution(response_action=action, failure_type=failure, error_message=message)


class Decisions:
    """The waits decided for answers (or exceptions), kept beside them until the CDK asks.

    The CDK asks the BackoffStrategy right after the error handler, about the same object; the
    decision is kept weakly (it goes with the answer), not pinned on it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decided: weakref.WeakKeyDictionary[object, tuple[float, str, bool]] = (
            weakref.WeakKeyDictionary()
        )

    def decide(self, carrier: object, seconds: float, why: str, hold: bool = False) -> None:
        with self._lock:
            self._decided[carrier] = (seconds, why, hold)

    def of(self, carrier: object) -> tuple[float, str, bool] | None:
        if carrier is None:
            return None
        with self._lock:
            return self._decided.get(carrier)


class AnswerDesk(ErrorHandler):
    """The stream's error handler: classify the answer, then apply what it means."""

    def __init__(
        self,
        endpoint: Endpoint,
        context: SyncContext,
        max_retries: int = 5,
        max_time: timedelta = timedelta(hours=2),
        on_missing_field: Callable[[str], bool] = lambda field: False,
    ) -> None:
        self.endpoint, self.context = endpoint, context
        self._max_retries, self._max_time = max_retries, max_time
        # A stream can read another way when FastBill insists on a field (contacts per
        # customer): True ignores the answer instead of failing.
        self.on_missing_field = on_missing_field
        self.attempts: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()

    @property
    def max_retries(self) -> int:
        return self._max_retries

    @property
    def max_time(self) -> int:
        return int(self._max_time.total_seconds())

    def interpret_response(self, response_or_exception: Answer = None) -> ErrorResolution:
        verdict = classify(response_or_exception, self.endpoint)
        self._count(verdict, response_or_exception)
        return self._apply(verdict, response_or_exception)

    def _count(self, verdict: Verdict, answer: Answer) -> None:
        stream, context = self.endpoint.stream, self.context
        if isinstance(answer, requests.Response):
            context.failures.cleared(stream)  # any answer: FastBill is reachable
            shared = verdict.kind is Kind.PAGE and context.pages.served(answer)
            if verdict.counted and not shared:  # a page another stream paid for costs nothing
                context.ledger.answered(stream)
        elif verdict.kind is Kind.NO_ANSWER:
            context.failures.noted(stream, Failure.UNREACHABLE)

    def _apply(self, verdict: Verdict, answer: Answer) -> ErrorResolution:
        kind = verdict.kind
        if kind is Kind.PAGE:
            assert isinstance(answer, requests.Response)
            self.context.pages.put(answer)
            self.context.credentials.confirmed()
            return ErrorResolution(ResponseAction.SUCCESS)
        if kind in (Kind.RETRY, Kind.NO_ANSWER):
            assert answer is not None
            self.context.decisions.decide(
                answer, retry_wait(self._attempt(answer)), verdict.message
            )
            return _resolution(ResponseAction.RETRY, FailureType.transient_error, verdict.message)
        if kind is Kind.QUOTA:
            assert isinstance(answer, requests.Response)
            refused = self.context.quota.refused
            return self._hold(
                answer, refused(self.endpoint.stream, answer, verdict.text, self._attempt(answer))
            )
        if kind is Kind.UNKNOWN_ERROR:
            return self._unknown(verdict, answer)
        if kind is Kind.ACCESS_REFUSED:
            return self._refused_access(verdict.text)
        if kind is Kind.MISSING_FIELD and self.on_missing_field(verdict.field):
            return _resolution(ResponseAction.IGNORE, FailureType.config_error, verdict.text)
        if kind is Kind.CDK:
            assert verdict.resolution is not None
            return verdict.resolution
        return _resolution(ResponseAction.FAIL, verdict.failure_type, verdict.message)

    def _unknown(self, verdict: Verdict, answer: Answer) -> ErrorResolution:
        """ERRORS in unknown words: the quota decides whether they are its refusal."""
        quota, stream = self.context.quota, self.endpoint.stream
        decision = None if self.endpoint.check_call else quota.unrecognised(stream, verdict.text)
        if decision is None:
            self.context.ledger.answered(stream)  # an answer, not the quota's refusal
            message = verdict.message + quota.tried(verdict.text)
            return _resolution(ResponseAction.FAIL, verdict.failure_type, message)
        assert isinstance(answer, requests.Response)
        # Counted as refused by the quota, not as an accepted call.
        return self._hold(answer, decision)

    def _hold(self, answer: requests.Response, decision: Decision) -> ErrorResolution:
        assert decision.wait is not None
        self.context.decisions.decide(answer, decision.wait, decision.message, decision.hold)
        return _resolution(
            ResponseAction.RATE_LIMITED, FailureType.transient_error, decision.message
        )

    def _attempt(self, carrier: object) -> int:
        """How often this request was answered so far (the CDK retries the same object)."""
        request = getattr(carrier, "request", None) or self
        self.attempts[request] = self.attempts.get(request, 0) + 1
        return self.attempts[request]

    def _refused_access(self, detail: str) -> ErrorResolution:
        """Wrong credentials, or a service this account may not use: one proof tells them apart."""
        endpoint, context = self.endpoint, self.context
        proves_itself = endpoint.check_call or endpoint.service == "customer.get"
        if not proves_itself and context.credentials.work():
            context.failures.noted(endpoint.stream, Failure.REFUSED_BY_PLAN)
            message = refused_by_plan(endpoint, detail)
        else:
            context.failures.noted(endpoint.stream, Failure.CREDENTIALS)
            message = credentials_message(detail, endpoint)
        return _resolution(ResponseAction.FAIL, FailureType.config_error, message)


class FastbillBackoffStrategy(BackoffStrategy):
    """Waits as the desk decided, and says so in the connector's own words.

    The CDK sleeps what this returns plus one second, and logs it in its own generic words,
    which the source filters out. Waits for the quota are taken by the budget (QuotaPolicy),
    which announces them: this returns a token wait for them.
    """

    def __init__(
        self, stream: str, logger: logging.Logger, context: SyncContext, max_retries: int
    ) -> None:
        self.stream, self.logger, self.max_retries = stream, logger, max_retries
        self.ledger, self.decisions = context.ledger, context.decisions

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float | None:
        decided = self.decisions.of(response_or_exception)
        if decided is None:
            return None
        seconds, why, hold = decided
        if hold:
            return 0.001  # the budget holds the next call until the quota frees, and says so
        if attempt_count <= self.max_retries:  # the CDK asks about the last failure too
            self._announce(seconds, why, attempt_count)
            self.ledger.waited(self.stream, "retries", seconds)
        return max(seconds - CDK_EXTRA_BACKOFF_SECONDS, 0.001)

    def _announce(self, seconds: float, why: str, attempt: int) -> None:
        until = f" ({until_text(wall_clock() + seconds)})" if seconds >= NOTEWORTHY_SECONDS else ""
        self.logger.warning(
            f"{self.stream}: {why.rstrip('.')}. Retrying in {seconds:.0f} s{until}, "
            f"attempt {attempt + 1}."
        )
