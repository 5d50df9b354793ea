"""DEAR's answers -> canonical SyncErrors and the retry loop's actions, keeping DEAR's own words.

Status codes (openapi.yaml info.description): 400 validation, 403 "Method authentication failed", 404 no such
endpoint, 405 not allowed, 500 unexpected error, 503 "You reached 60 calls per minute API limit". DEAR answers
its rate limit with 503, never 429. There are no idempotency keys, so a write whose outcome is unknown is never
sent again by the loop: it fails as UNKNOWN_OUTCOME and the engine looks it up (find) before any retry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from ledgersync.model import ErrorCode, SyncError
from ledgersync.providers.budget import Call
from ledgersync.providers.retry import Action, Attempt, Resolution, transport_resolution
from ledgersync.providers.session import parse_body, parse_body_quietly
from ledgersync.providers.util import unknown_outcome_error

RECONNECT_HINT = "Check the Account ID and Application Key on DEAR's API page and enter them again (Refresh link)."


def message_of(body: Any) -> str | None:
    """DEAR's error text: Error{ErrorCode, Exception}, alone or in a list (the wrapping is UNVERIFIED)."""
    if isinstance(body, list):
        texts = [m for item in body if (m := message_of(item))]
        return " ".join(texts) or None
    if isinstance(body, Mapping):
        for key in ("Exception", "Message", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return None


NAME = "DEAR / Cin7 Core"
# DEAR's words for a code its chart of accounts or tax rules lacks are not published (the sandbox's are a guess):
# "Account '8989' not found", "Tax rule 'GST' not found", "Account '200' is not enabled for payments".
_ACCOUNT = re.compile(r"\baccount '(?P<code>[^']+)' (?:was )?not found", re.I)
_NOT_FOR_PAYMENTS = re.compile(r"\baccount '(?P<code>[^']+)' is not enabled for payments", re.I)
_TAX_RULE = re.compile(r"\btax rule '(?P<code>[^']+)' (?:was )?not found", re.I)


def classify(message: str, status: int = 400) -> SyncError:
    text = message.strip()
    lower = text.lower()

    def err(code: ErrorCode, plain: str, hint: str) -> SyncError:
        return SyncError(code=code, message=plain, hint=hint, platform_code=str(status), platform_message=text)

    if "already exists" in lower and ("customer" in lower or "supplier" in lower) and "name" in lower:
        return err(
            ErrorCode.DUPLICATE_NAME,
            "DEAR already has an active record with this name.",
            "Choose another name, or merge this record into / link it to the existing one in DEAR.",
        )
    if "already exists" in lower and "sku" in lower:
        return err(
            ErrorCode.DUPLICATE_NUMBER,
            "DEAR already has a product with this SKU.",
            "Change the code, link to the existing DEAR product, or skip.",
        )
    if "exceeds the amount outstanding" in lower:
        return err(
            ErrorCode.OVERPAYMENT,
            "The payment is more than the amount still owing on the invoice in DEAR.",
            "Record the excess as customer credit, correct the amount, or skip.",
        )
    if "has payments" in lower or "has been paid" in lower:
        return err(
            ErrorCode.DOCUMENT_LOCKED,
            "This invoice has payments in DEAR, so it can't be changed or voided.",
            "Remove the payment in DEAR and retry, or skip.",
        )
    if "deprecated" in lower:
        return err(
            ErrorCode.ARCHIVED_CONTACT,
            "The customer on this document is deprecated (inactive) in DEAR.",
            "Make the customer active in DEAR and retry, or link the record to another customer.",
        )
    if match := _ACCOUNT.search(text):
        code = match.group("code")
        return err(
            ErrorCode.UNKNOWN_CODE,
            f"{NAME} has no account {code}; map it in the connection's account codes.",
            f"Map the app's account to one of this DEAR company's chart of accounts (Settings > Chart of Accounts), "
            f"or add {code} there, then retry.",
        )
    if match := _NOT_FOR_PAYMENTS.search(text):
        code = match.group("code")
        return err(
            ErrorCode.UNKNOWN_CODE,
            f"{NAME} has no account {code} that takes payments; map it in the connection's account codes.",
            f"Map the app's bank account to one of DEAR's bank accounts, or allow payments to {code} in DEAR's chart "
            "of accounts, then retry.",
        )
    if match := _TAX_RULE.search(text):
        code = match.group("code")
        return err(
            ErrorCode.UNKNOWN_CODE,
            f"{NAME} has no tax rule {code}; map it in the connection's tax codes.",
            f"Map the app's tax type to one of DEAR's tax rules (Settings > Taxation Rules), or add {code} there, "
            "then retry.",
        )
    if "not found" in lower:
        return err(
            ErrorCode.NOT_FOUND,
            "A record this one refers to no longer exists in DEAR.",
            "Check it wasn't deleted in DEAR; relink it or skip.",
        )
    if "symbol" in lower:
        return err(
            ErrorCode.VALIDATION,
            f"DEAR refused a name: {text}",
            "Remove the symbols from the name and retry, or skip.",
        )
    return err(ErrorCode.VALIDATION, f"DEAR refused the record: {text}", "Correct the record and retry, or skip.")


def auth_failed(message: str | None) -> SyncError:
    return SyncError(
        code=ErrorCode.AUTH_REVOKED,
        message="DEAR did not accept this connection's Account ID and Application Key.",
        hint=RECONNECT_HINT,
        platform_code="403",
        platform_message=message,
    )


def rate_limited(message: str | None, wait: float) -> SyncError:
    return SyncError(
        code=ErrorCode.RATE_LIMITED,
        message="DEAR's limit of 60 calls a minute was reached.",
        hint="This retries by itself shortly.",
        platform_code="503",
        platform_message=message,
        retry_after=wait,
    )


class DearErrors:
    """DEAR's error interpreter: what each answer of the Cin7 Core API v2 means for the retry loop."""

    platform = "DEAR"

    def __init__(self, rate_limit_wait: float = 60.0) -> None:
        self.rate_limit_wait = rate_limit_wait

    def interpret(self, call: Call, outcome: httpx.Response | httpx.TransportError, attempt: Attempt) -> Resolution:
        if isinstance(outcome, httpx.TransportError):
            resolution = transport_resolution("DEAR", call, outcome, attempt)
            if resolution.action is Action.UNKNOWN_OUTCOME:
                # No idempotency key to send it again safely: the engine reconciles it by natural key first.
                return Resolution(Action.FAIL, unknown_outcome_error("DEAR", type(outcome).__name__, None))
            return resolution
        status = outcome.status_code
        if status < 400:
            return Resolution(Action.SUCCESS, data=parse_body(outcome))
        body = parse_body_quietly(outcome)
        text = message_of(body) or outcome.reason_phrase or f"HTTP {status}"
        if status == 404 and call.allow_not_found:
            return Resolution(Action.SUCCESS)
        if status == 403:
            return Resolution(Action.FAIL, auth_failed(text))
        if status == 503:
            # Every 503 is the minute limit (DEAR documents no other meaning): nothing was taken.
            return Resolution(
                Action.RATE_LIMITED, rate_limited(text, self.rate_limit_wait), self.rate_limit_wait, "minute"
            )
        if status >= 500:
            if call.is_write:
                return Resolution(Action.FAIL, unknown_outcome_error("DEAR", text, str(status)))
            return Resolution(
                Action.RETRY,
                SyncError(
                    code=ErrorCode.UNAVAILABLE,
                    message="DEAR is unavailable at the moment.",
                    hint="This retries by itself; nothing needs doing.",
                    platform_code=str(status),
                    platform_message=text,
                ),
            )
        if status == 404:
            return Resolution(
                Action.FAIL,
                SyncError(
                    code=ErrorCode.NOT_FOUND,
                    message="DEAR has no such endpoint or record.",
                    hint="Check the connection's address; relink the record or skip.",
                    platform_code="404",
                    platform_message=text,
                ),
            )
        return Resolution(Action.FAIL, classify(text, status))


__all__ = ["DearErrors", "auth_failed", "classify", "message_of", "rate_limited"]
