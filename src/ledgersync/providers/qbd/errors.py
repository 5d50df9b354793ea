"""QuickBooks Desktop's qbXML status codes read as the engine's canonical errors and the retry loop's actions.

The codes and their captured statusMessage texts are in api-facts-wave2.md A.7. Each *Rs carries its own
statusCode inside a successful SOAP exchange, so a response is read per request, never as a whole."""

from __future__ import annotations

import re

from ledgersync.model import ErrorCode, SyncError
from ledgersync.providers.qbd.qbxml import Response
from ledgersync.providers.retry import Action, Resolution

PLATFORM = "QuickBooks Desktop"
# "This list has been modified by another user" / "internals could not be locked" / "failed to acquire the
# lock" / "list element is in use": another QuickBooks user holds the record; resending succeeds later.
LOCK_CODES = frozenset({3170, 3175, 3176, 3180})
STALE_EDIT_SEQUENCE = 3200
NAME_IN_USE = 3100
CANNOT_PAY_MORE = 3210
ITERATOR_INVALID = 3391
NO_MATCH = 1
INVALID_REFERENCE = 3140
NOT_FOUND_CODES = frozenset({500, 3120, INVALID_REFERENCE})
# 3140's words name the list and the value (api-facts-wave2.md A.7, flowlink's capture): 'There is an invalid
# reference to QuickBooks Customer "Joe Smith" in the SalesOrder.  QuickBooks error message: ...'.
_INVALID_REFERENCE = re.compile(r'invalid reference to QuickBooks (?P<kind>[A-Za-z ]+?) "(?P<value>[^"]*)"')


def _err(code: ErrorCode, message: str, hint: str, rs: Response) -> SyncError:
    return SyncError(
        code=code, message=message, hint=hint, platform_code=str(rs.code), platform_message=rs.message or None
    )


def sync_error(rs: Response) -> SyncError:
    """The canonical error for one failed *Rs."""
    c = rs.code
    if c == NAME_IN_USE:
        return _err(
            ErrorCode.DUPLICATE_NAME,
            "Another customer, vendor, employee or other name already uses this name in QuickBooks Desktop "
            "(names are unique across those lists, inactive ones included).",
            "Rename the record here, or merge it into / link it to the existing QuickBooks record.",
            rs,
        )
    if c == STALE_EDIT_SEQUENCE:
        return _err(
            ErrorCode.CONFLICT,
            "Someone changed this record in QuickBooks Desktop while we were saving it, so QuickBooks kept "
            "their version.",
            "It is read again and the conflict policy applied; nothing needs doing.",
            rs,
        )
    if c == CANNOT_PAY_MORE:
        return _err(
            ErrorCode.OVERPAYMENT,
            "The amount applied is more than what is still owing on the invoice in QuickBooks Desktop.",
            "Record the excess as customer credit (leave it unapplied), correct the amount, or skip.",
            rs,
        )
    if c in LOCK_CODES:
        # Transient: nothing was saved, and the record goes again on the next run once the person is done.
        return _err(
            ErrorCode.UNAVAILABLE,
            "Someone is editing this record in QuickBooks Desktop, so it could not be saved.",
            "It is retried on the next Web Connector run, once they have finished.",
            rs,
        )
    if c == INVALID_REFERENCE and (match := _INVALID_REFERENCE.search(rs.message or "")):
        kind, value = match.group("kind"), match.group("value")
        if kind == "Account":
            return _err(
                ErrorCode.UNKNOWN_CODE,
                f"{PLATFORM} has no account {value}; map it in the connection's account codes.",
                f"Map the app's account to one of this company file's accounts (Lists > Chart of Accounts; the "
                f"name, with 'Parent:Child' for a subaccount), or add {value} there, then retry.",
                rs,
            )
        if kind == "Sales Tax Code":
            return _err(
                ErrorCode.UNKNOWN_CODE,
                f"{PLATFORM} has no tax code {value}; map it in the connection's tax codes.",
                f"Map the app's tax type to one of this company file's sales tax codes (Lists > Sales Tax Code "
                f"List), or add {value} there, then retry.",
                rs,
            )
    if c in NOT_FOUND_CODES:
        return _err(
            ErrorCode.NOT_FOUND,
            f"QuickBooks Desktop could not find something this record refers to: {rs.message}",
            "Sync what it refers to first, link it, or skip.",
            rs,
        )
    if c in (3260, 3261):
        return _err(
            ErrorCode.AUTH_REVOKED,
            "QuickBooks Desktop refused ledgersync: the application's permission is not sufficient.",
            "In QuickBooks: Edit > Preferences > Integrated Applications, allow ledgersync, then run the Web "
            "Connector again.",
            rs,
        )
    if c == 3250:
        return _err(
            ErrorCode.VALIDATION,
            "This feature is not enabled in this QuickBooks Desktop company file.",
            "Turn it on in QuickBooks' preferences, or skip.",
            rs,
        )
    if c == ITERATOR_INVALID:
        return _err(
            ErrorCode.UNAVAILABLE,
            "QuickBooks Desktop forgot where the read had got to (the session ended).",
            "The read starts again on the next Web Connector run.",
            rs,
        )
    return _err(
        ErrorCode.VALIDATION,
        f"QuickBooks Desktop refused this record: {rs.message or f'status {c}'}",
        "Correct the record and retry, or skip.",
        rs,
    )


class QbdErrors:
    """The ErrorInterpreter pattern for qbXML: a response's status -> the retry loop's action. A lock is
    resent; everything else is a definitive answer (QuickBooks applied nothing for a failed Rq)."""

    platform = PLATFORM

    def interpret(self, rs: Response) -> Resolution:
        if rs.ok:
            return Resolution(Action.SUCCESS, data=rs)
        error = sync_error(rs)
        if rs.code in LOCK_CODES:
            return Resolution(Action.RETRY, error)
        return Resolution(Action.FAIL, error)


def unknown_outcome(message: str) -> SyncError:
    return SyncError(
        code=ErrorCode.UNKNOWN_OUTCOME,
        message=f"{PLATFORM} did not confirm the change ({message}), so we don't know whether it was saved.",
        hint=f"It is looked up in {PLATFORM} before being sent again; nothing needs doing.",
    )


def unavailable(message: str) -> SyncError:
    return SyncError(
        code=ErrorCode.UNAVAILABLE,
        message=message,
        hint="The work waits for the next Web Connector run.",
    )


__all__ = [
    "CANNOT_PAY_MORE",
    "ITERATOR_INVALID",
    "LOCK_CODES",
    "NAME_IN_USE",
    "PLATFORM",
    "STALE_EDIT_SEQUENCE",
    "QbdErrors",
    "sync_error",
    "unavailable",
    "unknown_outcome",
]
