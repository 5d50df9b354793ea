"""QuickBooks Online faults -> canonical SyncErrors with plain-language messages and hints, keeping Intuit's words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ledgersync.model import ErrorCode, SyncError
from ledgersync.providers.budget import Call
from ledgersync.providers.retry import Action, Attempt, Resolution, answered, transport_resolution
from ledgersync.providers.session import parse_body, parse_body_quietly
from ledgersync.providers.util import unknown_outcome_error

RECONNECT_HINT = "Reconnect QuickBooks from the integration page (Refresh link) and sign in again."
# DisplayName is the name QuickBooks shows everywhere; ':' builds "Parent:Child" names for sub-customers, and
# tabs and line breaks are refused too (Intuit Customer business rules; error 2040 "Invalid String").
FORBIDDEN_NAME_CHARS = (":", "\t", "\n", "\r")
MAX_DISPLAY_NAME = 100

_RETRY_HINT = "This retries by itself; nothing needs doing."


def fault_items(fault: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The `Error` entries of a Fault (QBO spells the list `Error`; some gateways send `error`)."""
    items = fault.get("Error") or fault.get("error") or []
    if isinstance(items, Mapping):
        items = [items]
    return [i for i in items if isinstance(i, Mapping)]


def _code(item: Mapping[str, Any]) -> str:
    return str(item.get("code") or item.get("Code") or "").strip()


def _text(item: Mapping[str, Any]) -> str:
    message = str(item.get("Message") or item.get("message") or "").strip()
    detail = str(item.get("Detail") or item.get("detail") or "").strip()
    return " : ".join(p for p in (message, detail) if p)


def classify_error(
    code: str, message: str, fault_type: str = "", element: str = "", http_status: int | None = None
) -> SyncError:
    """One QBO error (code, Message : Detail) as a canonical error."""
    lower = message.lower()
    number = int(code) if code.isdigit() else None

    def err(kind: ErrorCode, plain: str, hint: str, **extra: Any) -> SyncError:
        return SyncError(
            code=kind, message=plain, hint=hint, platform_code=code or None, platform_message=message or None, **extra
        )

    kind = fault_type.lower()
    if kind == "authenticationfault" or http_status == 401 or number == 3200:
        return err(ErrorCode.AUTH_EXPIRED, "QuickBooks no longer accepts this connection's sign-in.", RECONNECT_HINT)
    if number == 6190 or "invalid company status" in lower or ("subscription" in lower and "expired" in lower):
        return err(
            ErrorCode.AUTH_REVOKED,
            "The QuickBooks subscription of this company has ended or is suspended, so QuickBooks refuses changes.",
            "Ask the company's QuickBooks admin to reactivate the subscription (or pick another company), "
            "then use Refresh link.",
        )
    if kind == "authorizationfault" or http_status == 403 or number in (100, 120):
        return err(
            ErrorCode.AUTH_REVOKED,
            "This QuickBooks company no longer lets the app in, or the user who connected it lost access.",
            "Reconnect with a QuickBooks user who is an admin of the company.",
        )
    if http_status == 429 or number == 3001 or "throttle" in lower:
        return err(
            ErrorCode.RATE_LIMITED,
            "QuickBooks asked us to slow down.",
            "This retries by itself in about a minute.",
            retry_after=60.0,
        )
    if number == 6240 or "duplicate name" in lower:
        return err(
            ErrorCode.DUPLICATE_NAME,
            "Another customer, vendor or employee is already using this name in QuickBooks "
            "(names are unique across all three, including inactive ones).",
            "Rename the customer here, or merge it into / link it to the existing QuickBooks record "
            "(make that one active first if it is inactive).",
        )
    if number == 5010 or "stale object" in lower:
        return err(
            ErrorCode.CONFLICT,
            "Someone changed this record in QuickBooks while we were saving it, so QuickBooks kept their version.",
            "It is re-read and retried on the next sync; retry now if you like.",
        )
    if number in (6140, 6210) or "duplicate document number" in lower:
        return err(
            ErrorCode.DUPLICATE_NUMBER,
            "QuickBooks already has a transaction with this number.",
            "Change the number, link to the existing QuickBooks transaction, or skip.",
        )
    if number == 2040 or "invalid string" in lower or "invalid character" in lower:
        return err(
            ErrorCode.INVALID_CHARACTERS,
            "QuickBooks refuses a character in this record (names can't contain ':', tabs or line breaks).",
            "Remove the character and retry, or skip.",
        )
    if number in (610, 2500) and "accountref" in element.lower():
        # QuickBooks' text ("Something you're trying to use has been made inactive") fits an account it does not
        # have as well as one made inactive; the element names the field. The engine adds the code it sent.
        return err(
            ErrorCode.UNKNOWN_CODE,
            f"QuickBooks has no active account for this record's {element}.",
            "Map the app's account to one QuickBooks has in the connection's account codes, or make the account "
            "active in QuickBooks.",
        )
    if number == 610 or "object not found" in lower:
        if "inactive" in lower and ("customer" in element.lower() or "customerref" in lower):
            return archived_contact(code, message)
        return err(
            ErrorCode.NOT_FOUND,
            "Something this record uses (a customer, product, account or class) is missing or inactive in QuickBooks.",
            "Check it wasn't deleted or made inactive in QuickBooks; make it active, relink it, or skip.",
        )
    if "exceed" in lower and ("balance" in lower or "amount due" in lower or "open balance" in lower):
        return err(
            ErrorCode.OVERPAYMENT,
            "The amount applied is more than what is still owing on the invoice in QuickBooks.",
            "Record the excess as customer credit (leave it unapplied), correct the amount, or skip.",
        )
    if (http_status is not None and http_status >= 500) or kind == "systemfault" or (number or 0) >= 10000:
        return err(ErrorCode.UNAVAILABLE, "QuickBooks is unavailable at the moment.", _RETRY_HINT)
    if number is not None and 500 <= number < 600:
        return err(
            ErrorCode.VALIDATION,
            f"QuickBooks can't do this: {message}",
            "Correct the record and retry, or skip.",
        )
    return err(
        ErrorCode.VALIDATION,
        f"QuickBooks refused the record: {message or 'no reason given'}",
        "Correct the record and retry, or skip.",
    )


def fault_error(fault: Mapping[str, Any], http_status: int | None = None) -> SyncError:
    """A whole Fault as one canonical error: the most specific entry decides, every message is kept."""
    items = fault_items(fault)
    fault_type = str(fault.get("type") or "")
    if not items:
        return classify_error("", "The request was refused without a reason.", fault_type, http_status=http_status)
    classified = [
        classify_error(_code(i), _text(i), fault_type, str(i.get("element") or ""), http_status) for i in items
    ]
    chosen = next((c for c in classified if c.code is not ErrorCode.VALIDATION), classified[0])
    if len(items) > 1:
        chosen = chosen.model_copy(update={"platform_message": " | ".join(_text(i) for i in items)})
    return chosen


def archived_contact(code: str | None = "610", message: str | None = None) -> SyncError:
    return SyncError(
        code=ErrorCode.ARCHIVED_CONTACT,
        message="The customer on this transaction is inactive in QuickBooks.",
        hint="Make the customer active in QuickBooks and retry, or link the record to another customer.",
        platform_code=code,
        platform_message=message,
    )


def retry_after_seconds(headers: Mapping[str, str], default: float = 60.0) -> float:
    """QBO documents 'wait 60 seconds' after a 429; honour a Retry-After header when one is sent."""
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
    fault = body.get("Fault") if isinstance(body, Mapping) else None
    if status >= 500 and is_write and status != 503:
        return unknown_outcome(_message(body) or response.reason_phrase, str(status))
    if isinstance(fault, Mapping):
        error = fault_error(fault, status)
        if status == 429:
            error = error.model_copy(update={"retry_after": retry_after_seconds(response.headers)})
        return error
    if status == 404:
        return SyncError(
            code=ErrorCode.NOT_FOUND,
            message="The record was not found in QuickBooks.",
            hint="It may have been deleted in QuickBooks; relink it or skip.",
            platform_code="404",
            platform_message=_message(body) or response.reason_phrase or None,
        )
    error = classify_error(str(status), _message(body) or response.reason_phrase or f"HTTP {status}", "", "", status)
    if status == 429:
        error = error.model_copy(update={"retry_after": retry_after_seconds(response.headers)})
    return error


def unknown_outcome(platform_message: str | None = None, platform_code: str | None = None) -> SyncError:
    return unknown_outcome_error("QuickBooks", platform_message, platform_code)



def auth_revoked(platform_message: str | None = None) -> SyncError:
    return SyncError(
        code=ErrorCode.AUTH_REVOKED,
        message="QuickBooks refused to renew this connection's sign-in (it was disconnected, or unused for too long).",
        hint=RECONNECT_HINT,
        platform_code="invalid_grant",
        platform_message=platform_message,
    )


def name_problem(name: str, what: str = "name") -> SyncError | None:
    """A customer name QuickBooks would refuse, found before sending it (None when it is fine)."""
    bad = [c for c in FORBIDDEN_NAME_CHARS if c in name]
    if bad:
        shown = ", ".join({":": "':'", "\t": "a tab", "\n": "a line break", "\r": "a line break"}[c] for c in bad)
        return SyncError(
            code=ErrorCode.INVALID_CHARACTERS,
            message=f"QuickBooks doesn't allow {shown} in a {what} (':' separates a parent from its sub-customer).",
            hint=f"Remove {shown} from the {what} and retry, or skip.",
            platform_code="2040",
        )
    if len(name) > MAX_DISPLAY_NAME:
        return SyncError(
            code=ErrorCode.VALIDATION,
            message=f"QuickBooks allows at most {MAX_DISPLAY_NAME} characters in a {what}; this one has {len(name)}.",
            hint=f"Shorten the {what} and retry, or skip.",
            platform_code="2050",
        )
    return None




class QboErrors:
    """QuickBooks Online's error interpreter: what each answer of the Accounting API means for the retry loop.

    A Fault inside a 200 answer is a refusal like any other. A stale SyncToken (5010) is a plain FAIL with the
    CONFLICT code: re-reading and resending the record is the provider's job, not the loop's."""

    platform = "QuickBooks"

    def __init__(self, throttle_wait: float = 60.0) -> None:
        # How long to hold this company's calls after a 429 without Retry-After (Intuit: 60 s).
        self.throttle_wait = throttle_wait

    def interpret(self, call: Call, outcome: httpx.Response | httpx.TransportError, attempt: Attempt) -> Resolution:
        if isinstance(outcome, httpx.TransportError):
            return transport_resolution("QuickBooks", call, outcome, attempt)
        response = outcome
        status = response.status_code
        if status == 404 and call.allow_not_found:
            return Resolution(Action.SUCCESS)
        if status < 400:
            data = parse_body(response)
            fault = data.get("Fault") if isinstance(data, Mapping) else None
            if isinstance(fault, Mapping):
                return Resolution(Action.FAIL, fault_error(fault, status))
            return Resolution(Action.SUCCESS, data=data)
        body = parse_body_quietly(response)
        if status == 401:
            return Resolution(
                Action.REFRESH_TOKEN_THEN_RETRY,
                SyncError(
                    code=ErrorCode.AUTH_EXPIRED,
                    message="QuickBooks refused this connection's sign-in even after renewing it.",
                    hint=RECONNECT_HINT,
                    platform_code="401",
                    platform_message=_first_text(body),
                ),
            )
        if status == 429:
            # Intuit says to wait 60 seconds; the budget holds every call of this company that long.
            retry_after = retry_after_seconds(response.headers, self.throttle_wait)
            return Resolution(Action.RATE_LIMITED, response_error(response, body, is_write=call.is_write), retry_after)
        return answered(call, status, response_error(response, body, is_write=call.is_write))



def _first_text(body: Any) -> str | None:
    if isinstance(body, Mapping):
        fault = body.get("Fault")
        if isinstance(fault, Mapping):
            return fault_error(fault).platform_message
        for key in ("Detail", "Message", "message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return body if isinstance(body, str) else None


def _message(body: Any) -> str | None:
    if isinstance(body, Mapping):
        fault = body.get("Fault")
        if isinstance(fault, Mapping):
            texts = [_text(i) for i in fault_items(fault)]
            if texts:
                return " | ".join(t for t in texts if t) or None
        for key in ("Message", "Detail", "error_description", "error", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return None


def first_fault_code(errors: Sequence[Mapping[str, Any]]) -> str | None:
    return next((_code(e) for e in errors if _code(e)), None)
