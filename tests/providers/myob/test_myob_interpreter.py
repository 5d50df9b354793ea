"""MYOB's error interpreter: each answer of the Business API -> the retry loop's action."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ledgersync.model import ErrorCode
from ledgersync.providers.budget import Call
from ledgersync.providers.myob.errors import MyobErrors, classify
from ledgersync.providers.retry import Action, Attempt

READ = Call("GET", "Contact/Customer")
CREATE = Call("POST", "Sale/CustomerPayment", is_write=True)
UPDATE = Call("PUT", "Contact/Customer", is_write=True)
REQUEST = httpx.Request("GET", "http://myob.test/accountright/x/Contact/Customer")


def answer(status: int, name: str = "", message: str = "", details: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "Errors": [
            {"Name": name, "Message": message, "AdditionalDetails": details, "ErrorCode": None, "Severity": "Error"}
        ]
    }
    return httpx.Response(status, json=body, request=REQUEST)


def read(outcome: httpx.Response | httpx.TransportError, call: Call = READ) -> Any:
    return MyobErrors().interpret(call, outcome, Attempt(1))


def test_success_and_an_allowed_404() -> None:
    ok = read(httpx.Response(200, json={"Items": [], "NextPageLink": None, "Count": 0}, request=REQUEST))
    assert ok.action is Action.SUCCESS and ok.data["Count"] == 0
    gone = MyobErrors().interpret(
        Call("DELETE", "Sale/CustomerPayment", is_write=True, allow_not_found=True),
        answer(404, "NotFound", "The requested resource could not be found"),
        Attempt(1),
    )
    assert gone.action is Action.SUCCESS


def test_rate_limits_are_403_ratelimiterror() -> None:
    second = read(
        answer(403, "RateLimitError", "API key has exceeded the per-second rate limit", "Header: x-myobapi-key")
    )
    assert second.action is Action.RATE_LIMITED and second.retry_after == 1.0 and second.problem == "second"
    day = read(answer(403, "RateLimitError", "API key has exceeded the daily rate limit", "Header: x-myobapi-key"))
    assert day.action is Action.DAILY_LIMIT and day.error.code is ErrorCode.DAILY_LIMIT and day.retry_after >= 60
    # The same error read from a 429, which one third party says the per-second limit uses.
    assert read(answer(429, "RateLimitError", "API key has exceeded the per-second rate limit")).action is (
        Action.RATE_LIMITED
    )
    other = read(answer(403, "AccessDenied", "Access denied"))
    assert other.action is Action.FAIL and other.error.code is ErrorCode.AUTH_REVOKED


def test_401_renews_the_token_and_409_is_a_conflict() -> None:
    assert read(answer(401, "OAuthTokenIsInvalid", "The supplied OAuth token (Bearer) is not valid")).action is (
        Action.REFRESH_TOKEN_THEN_RETRY
    )
    stale = read(
        answer(409, "IncorrectRowVersionSupplied", "An Update operation requires the latest RowVersion"), UPDATE
    )
    assert stale.action is Action.FAIL and stale.error.code is ErrorCode.CONFLICT


def test_a_create_whose_answer_was_lost_is_not_sent_again() -> None:
    # MYOB honours no idempotency key: the engine finds the record before planning the write again.
    lost = read(httpx.ReadTimeout("timed out"), CREATE)
    assert lost.action is Action.FAIL and lost.error.code is ErrorCode.UNKNOWN_OUTCOME
    ambiguous = read(answer(500, "InternalServerError", "An unexpected error occurred"), CREATE)
    assert ambiguous.action is Action.FAIL and ambiguous.error.code is ErrorCode.UNKNOWN_OUTCOME
    # An update carries its RowVersion, so sending it again cannot apply it twice.
    assert read(httpx.ReadTimeout("timed out"), UPDATE).action is Action.UNKNOWN_OUTCOME
    assert read(httpx.ReadTimeout("timed out")).action is Action.RETRY
    assert read(httpx.ConnectError("refused"), CREATE).action is Action.RETRY
    assert read(answer(503, "ServiceUnavailable", "down"), CREATE).action is Action.RETRY
    assert read(answer(504, "GatewayTimeout", "Connection to the API has timed out")).action is Action.RETRY


@pytest.mark.parametrize(
    ("name", "message", "code"),
    [
        ("CardIdInUse", "The Card ID is already in use by another card", ErrorCode.DUPLICATE_NUMBER),
        ("DuplicateNumber", "The number 00000001 is already in use", ErrorCode.DUPLICATE_NUMBER),
        (
            "AmountAppliedExceedsBalanceDue",
            "The amount applied (200.00) is greater than the balance due on invoice 00000001 (110.00)",
            ErrorCode.OVERPAYMENT,
        ),
        ("InactiveCard", "The customer card is inactive", ErrorCode.ARCHIVED_CONTACT),
        ("NotFound", "The Account specified could not be found", ErrorCode.NOT_FOUND),
        (
            "ValidationError",
            "This transaction has payments or credits applied to it; delete those first",
            ErrorCode.DOCUMENT_LOCKED,
        ),
        ("Required", "CompanyName is required", ErrorCode.VALIDATION),
    ],
)
def test_refusals_are_classified_keeping_myobs_words(name: str, message: str, code: ErrorCode) -> None:
    error = classify(name, message)
    assert error.code is code and error.platform_code == name and error.platform_message == message and error.hint
