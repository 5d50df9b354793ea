"""Xero's error interpreter: each documented answer of the Accounting API -> the retry loop's action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ledgersync.model import ErrorCode
from ledgersync.providers.budget import Call
from ledgersync.providers.retry import Action, Attempt
from ledgersync.providers.xero.errors import XeroErrors

from ..fakes import json_response

READ = Call("GET", "Contacts")
READ_OR_NONE = Call("GET", "Contacts/abc", allow_not_found=True)
WRITE = Call("PUT", "Invoices", is_write=True)
DUPLICATE = {
    "ErrorNumber": 10,
    "Type": "ValidationException",
    "Message": "A validation exception occurred",
    "Elements": [
        {
            "ValidationErrors": [
                {
                    "Message": "The contact name Ann is already assigned to another contact. The contact name must be "
                    "unique across all active contacts."
                }
            ]
        }
    ],
}
MINUTE_429 = {"Retry-After": "3", "X-Rate-Limit-Problem": "minute"}
DAY_429 = {"Retry-After": "50000", "X-Rate-Limit-Problem": "day"}
OFFLINE = {"Title": "Service Unavailable", "Status": 503, "Detail": "The Xero API is currently offline for maintenance"}


@dataclass(frozen=True)
class Case:
    name: str
    call: Call
    outcome: httpx.Response | httpx.TransportError
    action: Action
    code: ErrorCode | None = None
    retry_after: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers or {})
    return json_response(status, body, headers)


CASES = [
    Case("200 is the result", READ, answer(200, {"Contacts": []}), Action.SUCCESS),
    Case("404 on a look-up is 'none'", READ_OR_NONE, answer(404), Action.SUCCESS),
    Case("404 otherwise fails", READ, answer(404), Action.FAIL, ErrorCode.NOT_FOUND),
    Case("400 names the element's error", WRITE, answer(400, DUPLICATE), Action.FAIL, ErrorCode.DUPLICATE_NAME),
    Case(
        "401 renews the token",
        READ,
        answer(401, {"Detail": "TokenExpired"}),
        Action.REFRESH_TOKEN_THEN_RETRY,
        ErrorCode.AUTH_EXPIRED,
    ),
    Case(
        "403 is a lost connection",
        READ,
        answer(403, {"Detail": "AuthenticationUnsuccessful"}),
        Action.FAIL,
        ErrorCode.AUTH_REVOKED,
    ),
    Case(
        "429 minute waits Retry-After",
        READ,
        answer(429, None, MINUTE_429),
        Action.RATE_LIMITED,
        ErrorCode.RATE_LIMITED,
        3.0,
        {"problem": "minute"},
    ),
    Case("429 day parks", READ, answer(429, None, DAY_429), Action.DAILY_LIMIT, ErrorCode.DAILY_LIMIT, 50000.0),
    Case("429 alone waits a minute", READ, answer(429), Action.RATE_LIMITED, ErrorCode.RATE_LIMITED, 60.0),
    Case("500 on a read retries", READ, answer(500, {}), Action.RETRY, ErrorCode.UNAVAILABLE),
    Case(
        "500 on a write may have committed", WRITE, answer(500, {}), Action.UNKNOWN_OUTCOME, ErrorCode.UNKNOWN_OUTCOME
    ),
    Case(
        "502 on a write may have committed", WRITE, answer(502, {}), Action.UNKNOWN_OUTCOME, ErrorCode.UNKNOWN_OUTCOME
    ),
    Case(
        "504 on a write may have committed", WRITE, answer(504, {}), Action.UNKNOWN_OUTCOME, ErrorCode.UNKNOWN_OUTCOME
    ),
    Case("503 offline: a write was not taken", WRITE, answer(503, OFFLINE), Action.RETRY, ErrorCode.UNAVAILABLE),
    Case("501 is definitive", READ, answer(501, {}), Action.FAIL),
    Case("timeout on a read retries", READ, httpx.ReadTimeout("slow"), Action.RETRY, ErrorCode.UNAVAILABLE),
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
        "refused connection never reached Xero",
        WRITE,
        httpx.ConnectError("refused"),
        Action.RETRY,
        ErrorCode.UNAVAILABLE,
    ),
    Case(
        "connect timeout never reached Xero", WRITE, httpx.ConnectTimeout("slow"), Action.RETRY, ErrorCode.UNAVAILABLE
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_answer_maps_to_its_action(case: Case) -> None:
    resolution = XeroErrors().interpret(case.call, case.outcome, Attempt(1))
    assert resolution.action is case.action
    if case.code is not None:
        assert resolution.error is not None and resolution.error.code is case.code
    if case.action is Action.FAIL:
        assert resolution.error is not None and resolution.error.hint
    if case.retry_after is not None:
        assert resolution.retry_after == case.retry_after
    for key, value in case.extra.items():
        assert getattr(resolution, key) == value


def test_a_success_carries_its_parsed_answer_with_exact_money() -> None:
    resolution = XeroErrors().interpret(READ, httpx.Response(200, content=b'{"Total": 0.30}'), Attempt(1))
    assert str(resolution.data["Total"]) == "0.30"


def test_a_refused_connection_after_a_possible_commit_keeps_the_outcome_unknown() -> None:
    resolution = XeroErrors().interpret(WRITE, httpx.ConnectError("refused"), Attempt(2, outcome_unknown=True))
    assert resolution.action is Action.RETRY
    assert resolution.error is not None and resolution.error.code is ErrorCode.UNKNOWN_OUTCOME
