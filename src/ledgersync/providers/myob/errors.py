"""MYOB's answers -> what the retry loop does, and MYOB's refusals as canonical SyncErrors (MYOB's own words kept).

MYOB's error body is `{"Errors": [{"Name", "Message", "AdditionalDetails", "ErrorCode", "Severity"}]}` (.NET SDK
Error.cs). Its rate limits are answered 403 with Name RateLimitError (developer.myob.com error-messages; pymyob
raises MyobRateLimitExceeded for it). MYOB honours no idempotency key, so a write whose answer was lost is never
sent again blind: it fails as an unknown outcome and the engine looks it up (find) before planning it again."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import httpx

from ledgersync.model import ErrorCode, SyncError
from ledgersync.providers.budget import Call
from ledgersync.providers.retry import Action, Attempt, Resolution, transport_resolution
from ledgersync.providers.session import parse_body, parse_body_quietly
from ledgersync.providers.util import unknown_outcome_error

PLATFORM = "MYOB"
RECONNECT_HINT = "Reconnect MYOB from the integration page and sign in again as an administrator of the business."


def first_error(body: Any) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        errors = body.get("Errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            return errors[0]
    return {}


def _words(body: Any) -> tuple[str, str]:
    err = first_error(body)
    name = str(err.get("Name") or "")
    message = " ".join(str(x) for x in (err.get("Message"), err.get("AdditionalDetails")) if x)
    if not message and isinstance(body, str):
        message = body.strip()[:500]
    return name, message


# NotFound (150) names the field and the UID it was sent: "The Account specified could not be found" with
# AdditionalDetails "Account.UID = <uid>" (3rd-party error table; the sandbox's wording is a guess).
_REFERENCE = re.compile(r"(?P<field>[A-Za-z]*(?:Account|TaxCode))\.UID = (?P<uid>[0-9A-Fa-f-]{36})")


def unknown_reference(message: str) -> tuple[str, str] | None:
    """(field, UID) of an account or tax code MYOB did not find, from its refusal's words; None otherwise."""
    match = _REFERENCE.search(message or "")
    return (match.group("field"), match.group("uid").lower()) if match else None


def classify(name: str, message: str) -> SyncError:
    """One MYOB refusal (400) as a canonical error. MYOB's names for these rules are not published (the
    sandbox's are guesses), so the message's words decide as well."""
    lower = f"{name} {message}".lower()

    def err(code: ErrorCode, plain: str, hint: str) -> SyncError:
        return SyncError(code=code, message=plain, hint=hint, platform_code=name or "400", platform_message=message)

    if "card id" in lower or "cardid" in lower or ("displayid" in lower and "in use" in lower):
        return err(
            ErrorCode.DUPLICATE_NUMBER,
            "MYOB already has a card with this card ID.",
            "Change the card ID, link this record to the existing MYOB card, or skip.",
        )
    if (
        "amountapplied" in lower.replace(" ", "") and ("greater" in lower or "exceed" in lower)
    ) or "balance due" in lower:
        return err(
            ErrorCode.OVERPAYMENT,
            "The payment is more than the balance due on the invoice in MYOB.",
            "Record the excess as customer credit, correct the amount, or skip.",
        )
    if "inactive" in lower:
        return err(
            ErrorCode.ARCHIVED_CONTACT,
            "The customer on this record is inactive in MYOB.",
            "Make the card active in MYOB and retry, or link the record to another customer.",
        )
    if "already in use" in lower or "duplicate" in lower:
        return err(
            ErrorCode.DUPLICATE_NUMBER,
            "MYOB already has a transaction with this number.",
            "Change the number, link to the existing MYOB transaction, or skip.",
        )
    if "payments or credits applied" in lower or "cannot be deleted" in lower:
        return err(
            ErrorCode.DOCUMENT_LOCKED,
            "MYOB will not remove this: payments or credits are applied to it.",
            "Delete the payments in MYOB (or here) first and retry, or skip.",
        )
    if (ref := unknown_reference(message)) is not None and (name == "NotFound" or "could not be found" in lower):
        field = ref[0]
        what = "tax code" if field.endswith("TaxCode") else "account"
        return err(
            ErrorCode.UNKNOWN_CODE,
            f"MYOB has no {what} with the UID this record's {field} was sent with (it was deleted or changed in "
            "MYOB since the company file's lists were read).",
            f"Check the {what} still exists in MYOB; map the app's code to one it has in the connection's "
            f"{'tax' if what == 'tax code' else 'account'} codes, then retry.",
        )
    if name == "NotFound" or "could not be found" in lower:
        return err(
            ErrorCode.NOT_FOUND,
            "A record this one refers to does not exist in MYOB.",
            "Check it wasn't deleted in MYOB; relink it or skip.",
        )
    return err(
        ErrorCode.VALIDATION, f"MYOB refused the record: {message or name}", "Correct the record and retry, or skip."
    )


def seconds_to_midnight(now: dt.datetime | None = None) -> float:
    # When MYOB's daily window resets is not published (UNVERIFIED): assumed to be midnight UTC.
    now = now or dt.datetime.now(dt.UTC)
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(60.0, (tomorrow - now).total_seconds())


def response_error(response: httpx.Response, body: Any, call: Call) -> SyncError:
    status = response.status_code
    name, message = _words(body)
    if status == 401:
        return SyncError(
            code=ErrorCode.AUTH_EXPIRED,
            message="MYOB refused this connection's sign-in even after renewing it.",
            hint=RECONNECT_HINT,
            platform_code=name or "401",
            platform_message=message or None,
        )
    if status == 403:
        return SyncError(
            code=ErrorCode.AUTH_REVOKED,
            message="MYOB refused access to this business (the consent does not cover it, or the API key is inactive).",
            hint=RECONNECT_HINT,
            platform_code=name or "403",
            platform_message=message or None,
        )
    if status == 404:
        return SyncError(
            code=ErrorCode.NOT_FOUND,
            message="The record was not found in MYOB.",
            hint="It may have been deleted in MYOB; relink it or skip.",
            platform_code=name or "404",
            platform_message=message or None,
        )
    if status == 409:
        return SyncError(
            code=ErrorCode.CONFLICT,
            message="The record was changed in MYOB since it was last read, so MYOB refused the update.",
            hint="It is read again on the next sync; retry then, or skip.",
            platform_code=name or "409",
            platform_message=message or None,
        )
    if status >= 500:
        if call.is_write and status != 503:
            return unknown_outcome_error(PLATFORM, message or None, name or str(status))
        return SyncError(
            code=ErrorCode.UNAVAILABLE,
            message="MYOB is unavailable at the moment.",
            hint="This retries by itself; nothing needs doing.",
            platform_code=name or str(status),
            platform_message=message or None,
        )
    return classify(name, message)


class MyobErrors:
    """MYOB's error interpreter for the shared retry loop."""

    platform = PLATFORM

    def interpret(self, call: Call, outcome: httpx.Response | httpx.TransportError, attempt: Attempt) -> Resolution:
        if isinstance(outcome, httpx.TransportError):
            resolution = transport_resolution(PLATFORM, call, outcome, attempt)
            if call.is_write and call.method == "POST" and resolution.action is Action.UNKNOWN_OUTCOME:
                # No idempotency key to resend under: the engine finds the record (card ID, number, receipt
                # number) before it plans the write again.
                return Resolution(Action.FAIL, resolution.error)
            return resolution
        response = outcome
        status = response.status_code
        if status < 400:
            return Resolution(Action.SUCCESS, data=parse_body(response))
        if status == 404 and call.allow_not_found:
            return Resolution(Action.SUCCESS)
        body = parse_body_quietly(response)
        name, message = _words(body)
        if name == "RateLimitError":
            # 403 as MYOB documents it (also read from a 429, which one third party says the per-second limit uses).
            if "daily" in message.lower():
                wait = seconds_to_midnight()
                error = SyncError(
                    code=ErrorCode.DAILY_LIMIT,
                    message="This MYOB API key has used its daily allowance of 1,000,000 calls.",
                    hint="Syncing resumes by itself when MYOB's daily limit resets.",
                    platform_code=name,
                    platform_message=message,
                    retry_after=wait,
                )
                return Resolution(Action.DAILY_LIMIT, error, wait, "day")
            error = SyncError(
                code=ErrorCode.RATE_LIMITED,
                message="MYOB asked us to slow down (8 calls a second per API key).",
                hint="This retries by itself shortly.",
                platform_code=name,
                platform_message=message,
                retry_after=1.0,
            )
            return Resolution(Action.RATE_LIMITED, error, 1.0, "second")
        if status == 401:
            return Resolution(Action.REFRESH_TOKEN_THEN_RETRY, response_error(response, body, call))
        error = response_error(response, body, call)
        if status in (500, 502, 504):
            if call.is_write and call.method == "POST":
                return Resolution(Action.FAIL, error)
            return Resolution(Action.UNKNOWN_OUTCOME if call.is_write else Action.RETRY, error)
        if status == 503:
            return Resolution(Action.RETRY, error)
        return Resolution(Action.FAIL, error)


__all__ = ["MyobErrors", "classify", "first_error", "response_error", "unknown_reference"]
