"""Xero errors -> canonical SyncErrors with plain-language messages and hints, keeping Xero's own words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from ledgersync.model import ErrorCode, SyncError
from ledgersync.providers.budget import Call, daily_limit_error
from ledgersync.providers.retry import Action, Attempt, Resolution, answered, transport_resolution
from ledgersync.providers.session import parse_body, parse_body_quietly
from ledgersync.providers.util import unknown_outcome_error

RECONNECT_HINT = "Reconnect Xero from the integration page (Refresh link) and sign in again."

_DUPLICATE_NAME = re.compile(r"The contact name (?P<name>.+?) is already assigned to another contact", re.S)
_ITEM_EXISTS = re.compile(r"Item with Code (?P<code>.+?) already exists", re.I)
_ACCOUNT_CODE = re.compile(r"Account code '(?P<code>[^']*)' is not a valid code", re.I)


def classify_message(message: str, platform_code: str | None = None) -> SyncError:
    """One Xero validation message as a canonical error."""
    text = message.strip()
    lower = text.lower()

    def err(code: ErrorCode, plain: str, hint: str) -> SyncError:
        return SyncError(code=code, message=plain, hint=hint, platform_code=platform_code, platform_message=text)

    if match := _DUPLICATE_NAME.search(text):
        name = match.group("name")
        return err(
            ErrorCode.DUPLICATE_NAME,
            f"Xero already has an active contact called {name}.",
            "Choose another name, or merge this contact into / link it to the existing Xero contact.",
        )
    if "not of valid status for modification" in lower or "reconciled payment" in lower:
        return err(
            ErrorCode.DOCUMENT_LOCKED,
            "This invoice is paid in Xero, so it can't be updated.",
            "Remove the payment in Xero and retry, or skip.",
        )
    if "exceeds the amount outstanding" in lower or "less than or equal to the outstanding amount" in lower:
        return err(
            ErrorCode.OVERPAYMENT,
            "The payment is more than the amount still owing on the invoice in Xero.",
            "Record the excess as customer credit, correct the amount, or skip.",
        )
    if "has been archived" in lower and "contact" in lower:
        return err(
            ErrorCode.ARCHIVED_CONTACT,
            "The contact on this document is archived in Xero.",
            "Restore the contact in Xero and retry, or link the record to another contact.",
        )
    if ("must be unique" in lower and ("invoice #" in lower or "number" in lower)) or (
        "credit note number" in lower and "unique" in lower
    ):
        return err(
            ErrorCode.DUPLICATE_NUMBER,
            "Xero already has a document with this number.",
            "Change the number, link to the existing Xero document, or skip.",
        )
    if _ITEM_EXISTS.search(text) or ("item" in lower and "already exists" in lower):
        return err(
            ErrorCode.DUPLICATE_NUMBER,
            "Xero already has an item with this code.",
            "Change the code, link to the existing Xero item, or skip.",
        )
    if match := _ACCOUNT_CODE.search(text):
        code = match.group("code")
        return err(
            ErrorCode.UNKNOWN_CODE,
            f"Xero has no account {code}; map it in the connection's account codes.",
            f"Map the app's account to one this Xero organisation has (its chart of accounts), or add {code} there.",
        )
    if lower.startswith("account must be valid"):
        return err(
            ErrorCode.UNKNOWN_CODE,
            "Xero has no bank account (or account that takes payments) with the code this record names.",
            "Map the app's account to one of this Xero organisation's bank accounts in the connection's account "
            "codes, or turn on payments for that account in Xero.",
        )
    if "could not be found" in lower or "was not found" in lower:
        return err(
            ErrorCode.NOT_FOUND,
            "A record this one refers to no longer exists in Xero.",
            "Check it wasn't deleted in Xero; relink it or skip.",
        )
    return err(
        ErrorCode.VALIDATION,
        f"Xero refused the record: {text}",
        "Correct the record and retry, or skip.",
    )


def element_error(element: Mapping[str, Any]) -> SyncError | None:
    """The error of one element of a batch response (summarizeErrors=false), or None if it succeeded."""
    errors = element.get("ValidationErrors") or []
    failed = bool(errors) or element.get("HasErrors") is True or element.get("StatusAttributeString") == "ERROR"
    if not failed:
        return None
    messages = [str(e.get("Message", "")).strip() for e in errors if e.get("Message")]
    if not messages:
        return classify_message("The record was rejected without a reason.")
    # The most specific message decides the code; every message is kept for the person reading it.
    classified = [classify_message(m) for m in messages]
    # An unknown code is specific, but less than a refusal of the document itself (a duplicate number).
    rank = {ErrorCode.VALIDATION: 2, ErrorCode.UNKNOWN_CODE: 1}
    chosen = min(classified, key=lambda c: rank.get(c.code, 0))
    return chosen.model_copy(update={"platform_message": " ".join(messages)})


def retry_after_seconds(headers: Mapping[str, str], default: float = 60.0) -> float:
    value = headers.get("retry-after")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def response_error(response: httpx.Response, body: Any = None, *, is_write: bool = False) -> SyncError:
    """A whole call's failure as a canonical error."""
    status = response.status_code
    platform_message = _message(body) or response.reason_phrase or None
    platform_code = str(status)
    if status == 401:
        return SyncError(
            code=ErrorCode.AUTH_EXPIRED,
            message="Xero no longer accepts this connection's sign-in.",
            hint=RECONNECT_HINT,
            platform_code=platform_code,
            platform_message=platform_message,
        )
    if status == 403:
        return SyncError(
            code=ErrorCode.AUTH_REVOKED,
            message="This Xero organisation is no longer connected to the app, or the user lacks permission.",
            hint=RECONNECT_HINT,
            platform_code=platform_code,
            platform_message=platform_message,
        )
    if status == 404:
        return SyncError(
            code=ErrorCode.NOT_FOUND,
            message="The record was not found in Xero.",
            hint="It may have been deleted in Xero; relink it or skip.",
            platform_code=platform_code,
            platform_message=platform_message,
        )
    if status == 429:
        retry_after = retry_after_seconds(response.headers)
        problem = response.headers.get("x-rate-limit-problem", "")
        if problem.lower().startswith("day"):
            return SyncError(
                code=ErrorCode.DAILY_LIMIT,
                message="This organisation has used its daily allowance of Xero API calls.",
                hint="Syncing resumes by itself when Xero's daily limit resets.",
                platform_code=f"429 {problem}",
                platform_message=platform_message,
                retry_after=retry_after,
            )
        return SyncError(
            code=ErrorCode.RATE_LIMITED,
            message="Xero asked us to slow down.",
            hint="This retries by itself shortly.",
            platform_code=f"429 {problem}".strip(),
            platform_message=platform_message,
            retry_after=retry_after,
        )
    if status >= 500:
        if is_write and status != 503:
            return unknown_outcome(platform_message, platform_code)
        return SyncError(
            code=ErrorCode.UNAVAILABLE,
            message="Xero is unavailable at the moment.",
            hint="This retries by itself; nothing needs doing.",
            platform_code=platform_code,
            platform_message=platform_message,
        )
    if status == 400 and isinstance(body, Mapping):
        for element in body.get("Elements") or []:
            if isinstance(element, Mapping) and (found := element_error(element)):
                return found.model_copy(update={"platform_code": str(body.get("ErrorNumber", platform_code))})
    return classify_message(platform_message or f"HTTP {status}", platform_code)


def unknown_outcome(platform_message: str | None = None, platform_code: str | None = None) -> SyncError:
    return unknown_outcome_error("Xero", platform_message, platform_code)



def auth_revoked(platform_message: str | None = None) -> SyncError:
    return SyncError(
        code=ErrorCode.AUTH_REVOKED,
        message="Xero refused to renew this connection's sign-in (it was disconnected or has expired).",
        hint=RECONNECT_HINT,
        platform_code="invalid_grant",
        platform_message=platform_message,
    )




class XeroErrors:
    """Xero's error interpreter: what each answer of the Accounting API means for the retry loop."""

    platform = "Xero"

    def interpret(self, call: Call, outcome: httpx.Response | httpx.TransportError, attempt: Attempt) -> Resolution:
        if isinstance(outcome, httpx.TransportError):
            return transport_resolution("Xero", call, outcome, attempt)
        response = outcome
        status = response.status_code
        if status < 400:
            return Resolution(Action.SUCCESS, data=parse_body(response))
        if status == 404 and call.allow_not_found:
            return Resolution(Action.SUCCESS)
        body = parse_body_quietly(response)
        if status == 401:
            return Resolution(
                Action.REFRESH_TOKEN_THEN_RETRY,
                SyncError(
                    code=ErrorCode.AUTH_EXPIRED,
                    message="Xero refused this connection's sign-in even after renewing it.",
                    hint=RECONNECT_HINT,
                    platform_code="401",
                    platform_message=_first_text(body),
                ),
            )
        if status == 429:
            retry_after = retry_after_seconds(response.headers)
            problem = response.headers.get("x-rate-limit-problem")
            if (problem or "").lower().startswith("day"):
                return Resolution(Action.DAILY_LIMIT, daily_limit_error(retry_after).error, retry_after, problem)
            error = response_error(response, body, is_write=call.is_write)
            return Resolution(Action.RATE_LIMITED, error, retry_after, problem)
        return answered(call, status, response_error(response, body, is_write=call.is_write))



def _first_text(body: Any) -> str | None:
    if isinstance(body, Mapping):
        for key in ("Detail", "Message", "Title"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return body if isinstance(body, str) else None


def _message(body: Any) -> str | None:
    if isinstance(body, Mapping):
        for key in ("Message", "Detail", "detail", "error_description", "Title", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return None
