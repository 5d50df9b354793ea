"""QuickBooks Online's error interpreter: each documented answer of the Accounting API -> the loop's action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ledgersync.model import ErrorCode
from ledgersync.providers.budget import Call
from ledgersync.providers.qbo.errors import QboErrors
from ledgersync.providers.retry import Action, Attempt

from ..fakes import json_response

QUERY = Call("GET", "query")
READ_OR_NONE = Call("GET", "customer/9", allow_not_found=True)
WRITE = Call("POST", "customer", is_write=True)
BATCH = Call("POST", "batch", is_write=True)


def fault(code: str, message: str, kind: str = "ValidationFault") -> dict[str, Any]:
    return {"Fault": {"Error": [{"Message": message, "Detail": message, "code": code}], "type": kind}}


THROTTLED = {
    "Fault": {
        "Error": [
            {
                "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "Detail": "The request limit was reached.  Try again later",
                "code": "3001",
            }
        ],
        "type": "SERVICE",
    }
}


@dataclass(frozen=True)
class Case:
    name: str
    call: Call
    outcome: httpx.Response | httpx.TransportError
    action: Action
    code: ErrorCode | None = None
    retry_after: float | None = None


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers or {})
    return json_response(status, body, headers)


CASES = [
    Case("200 is the result", QUERY, answer(200, {"QueryResponse": {}}), Action.SUCCESS),
    Case("a batch's per-item faults are its result", BATCH, answer(200, {"BatchItemResponse": []}), Action.SUCCESS),
    Case(
        "a Fault inside a 200 fails",
        WRITE,
        answer(200, fault("6240", "Duplicate Name Exists Error")),
        Action.FAIL,
        ErrorCode.DUPLICATE_NAME,
    ),
    Case("404 on a read by id is 'none'", READ_OR_NONE, answer(404), Action.SUCCESS),
    Case(
        "400 validation fails",
        WRITE,
        answer(400, fault("2020", "Required param missing")),
        Action.FAIL,
        ErrorCode.VALIDATION,
    ),
    Case(
        "a stale SyncToken (5010) fails as a conflict for the provider to resolve",
        WRITE,
        answer(400, fault("5010", "Stale Object Error")),
        Action.FAIL,
        ErrorCode.CONFLICT,
    ),
    Case(
        "401 renews the token",
        QUERY,
        answer(401, fault("3200", "AuthenticationFailed", "AUTHENTICATION")),
        Action.REFRESH_TOKEN_THEN_RETRY,
        ErrorCode.AUTH_EXPIRED,
    ),
    Case(
        "403 is a lost company",
        QUERY,
        answer(403, fault("100", "General Authorization Error", "AuthorizationFault")),
        Action.FAIL,
        ErrorCode.AUTH_REVOKED,
    ),
    Case("429 waits Intuit's minute", QUERY, answer(429, THROTTLED), Action.RATE_LIMITED, ErrorCode.RATE_LIMITED, 60.0),
    Case(
        "429 honours Retry-After",
        QUERY,
        answer(429, None, {"Retry-After": "7"}),
        Action.RATE_LIMITED,
        ErrorCode.RATE_LIMITED,
        7.0,
    ),
    Case("500 on a read retries", QUERY, answer(500, {}), Action.RETRY, ErrorCode.UNAVAILABLE),
    Case(
        "500 on a write may have committed", WRITE, answer(500, {}), Action.UNKNOWN_OUTCOME, ErrorCode.UNKNOWN_OUTCOME
    ),
    Case(
        "504 on a batch may have committed", BATCH, answer(504, {}), Action.UNKNOWN_OUTCOME, ErrorCode.UNKNOWN_OUTCOME
    ),
    Case("503 on a write was not taken", WRITE, answer(503, {}), Action.RETRY, ErrorCode.UNAVAILABLE),
    Case("timeout on a query retries", QUERY, httpx.ReadTimeout("slow"), Action.RETRY, ErrorCode.UNAVAILABLE),
    Case(
        "timeout on a write is unknown",
        WRITE,
        httpx.ReadTimeout("slow"),
        Action.UNKNOWN_OUTCOME,
        ErrorCode.UNKNOWN_OUTCOME,
    ),
    Case(
        "dropped write is unknown",
        WRITE,
        httpx.RemoteProtocolError("gone"),
        Action.UNKNOWN_OUTCOME,
        ErrorCode.UNKNOWN_OUTCOME,
    ),
    Case(
        "refused connection never reached QuickBooks",
        WRITE,
        httpx.ConnectError("down"),
        Action.RETRY,
        ErrorCode.UNAVAILABLE,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_answer_maps_to_its_action(case: Case) -> None:
    resolution = QboErrors().interpret(case.call, case.outcome, Attempt(1))
    assert resolution.action is case.action
    if case.code is not None:
        assert resolution.error is not None and resolution.error.code is case.code
    if case.action is Action.FAIL:
        assert resolution.error is not None and resolution.error.hint
    if case.retry_after is not None:
        assert resolution.retry_after == case.retry_after


def test_the_configured_throttle_wait_replaces_intuits_minute() -> None:
    resolution = QboErrors(throttle_wait=1.0).interpret(QUERY, answer(429, THROTTLED), Attempt(1))
    assert resolution.retry_after == 1.0
