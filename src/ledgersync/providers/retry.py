"""What a platform's answer means for the one retry loop: an action, chosen by the platform's error interpreter."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ledgersync.model import ErrorCode, SyncError
from ledgersync.providers.budget import Call
from ledgersync.providers.util import unreachable_error


class Action(enum.Enum):
    """What the retry loop does next (after Airbyte's ResponseAction, with what a ledger needs besides)."""

    # The answer is the result: return its data.
    SUCCESS = "success"
    # Nothing was committed (5xx before any commit, never reached the platform): back off, send again.
    RETRY = "retry"
    # The access token was refused: renew it once, then send again.
    REFRESH_TOKEN_THEN_RETRY = "refresh_token_then_retry"
    # 429: the budget holds every call of the connection for `retry_after`, then this one is sent again.
    RATE_LIMITED = "rate_limited"
    # A write may have been saved (timeout or dropped connection after sending, or an ambiguous 5xx): send it
    # again with the same idempotency key; if no answer comes, the engine looks it up before any retry.
    UNKNOWN_OUTCOME = "unknown_outcome"
    # A definitive answer that is an error (validation, not found, refused access): raise its SyncError.
    FAIL = "fail"
    # The organisation has spent its daily allowance: park the connection until `retry_after` has passed.
    DAILY_LIMIT = "daily_limit"


@dataclass(frozen=True)
class Resolution:
    """An interpreter's reading of one attempt's outcome."""

    action: Action
    # The canonical error to raise: for FAIL and DAILY_LIMIT, and for the others when retries run out
    # (REFRESH_TOKEN_THEN_RETRY: the error if the token is refused again after renewing it).
    error: SyncError | None = None
    # Seconds to wait, when the platform says (Retry-After); RETRY without it backs off with jitter.
    retry_after: float | None = None
    # The platform's name for the limit it says was hit (Xero's X-Rate-Limit-Problem).
    problem: str | None = None
    # SUCCESS: the parsed answer (None for an empty body or an allowed 404).
    data: Any = None


@dataclass(frozen=True)
class Attempt:
    """Where the loop is when it asks: which attempt this was, and whether an earlier one may have committed."""

    number: int
    outcome_unknown: bool = False


class ErrorInterpreter(Protocol):
    """A platform's reading of HTTP outcomes: the response (or the transport exception) of one attempt at
    `call` -> the action to take. Pure: it never sleeps, refreshes or sends."""

    # The platform's name as people know it ("Xero", "QuickBooks"), for the loop's own messages.
    platform: str

    def interpret(self, call: Call, outcome: httpx.Response | httpx.TransportError, attempt: Attempt) -> Resolution: ...


def unconfirmed(platform: str, error: SyncError) -> SyncError:
    """The last error of a write whose earlier attempt may have committed: its outcome is unknown."""
    return error.model_copy(
        update={
            "code": ErrorCode.UNKNOWN_OUTCOME,
            "message": f"{platform} did not confirm the change, so we don't know whether it was saved.",
            "hint": f"It is checked in {platform} before being retried; nothing needs doing.",
        }
    )


__all__ = ["Action", "Attempt", "Call", "ErrorInterpreter", "Resolution", "unconfirmed"]


# A 500/502/504 answer to a write may come after the platform saved it; a 503 (not available, offline for
# maintenance) means the platform did not take the request, so even a write is simply sent again.
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})
NOT_TAKEN_STATUSES = frozenset({503})


def answered(call: Call, status: int, error: SyncError) -> Resolution:
    """What a platform's error status means once its own special answers (401, 429 ...) are ruled out."""
    if status in AMBIGUOUS_STATUSES:
        return Resolution(Action.UNKNOWN_OUTCOME if call.is_write else Action.RETRY, error)
    if status in NOT_TAKEN_STATUSES:
        return Resolution(Action.RETRY, error)
    return Resolution(Action.FAIL, error)  # 400 and friends: the platform answered definitively


def transport_resolution(platform: str, call: Call, exc: httpx.TransportError, attempt: Attempt) -> Resolution:
    """A call that got no answer: never connected (retry, nothing to reconcile), or timed out or dropped after
    sending, where a write may have been saved and is sent again under the same idempotency key."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return Resolution(Action.RETRY, unreachable_error(platform, exc, outcome_unknown=attempt.outcome_unknown).error)
    unknown = attempt.outcome_unknown or call.is_write
    action = Action.UNKNOWN_OUTCOME if call.is_write else Action.RETRY
    return Resolution(action, unreachable_error(platform, exc, outcome_unknown=unknown).error)
