"""Small helpers every connector uses: saved cursors, chunking, the unknown-outcome and unreachable errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import TypeVar

from ledgersync.model import Contact, ErrorCode, ProviderError, Supplier, SyncError

T = TypeVar("T")


def parse_cursor(cursor: str) -> dt.datetime:
    """A saved cursor as an aware datetime; a malformed one raises rather than turning into a full sync."""
    try:
        parsed = dt.datetime.fromisoformat(cursor)
    except (TypeError, ValueError) as exc:
        raise ProviderError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message=f"The saved sync position {cursor!r} is not a timestamp.",
                hint="Reset the sync position for this record type to re-read everything deliberately.",
            )
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unknown_outcome_error(
    platform: str, platform_message: str | None = None, platform_code: str | None = None
) -> SyncError:
    """A write the platform did not confirm: the engine looks it up before any retry."""
    return SyncError(
        code=ErrorCode.UNKNOWN_OUTCOME,
        message=f"{platform} did not answer, so we don't know whether the change was saved.",
        hint=f"It is checked in {platform} before being retried; nothing needs doing.",
        platform_code=platform_code,
        platform_message=platform_message,
    )


def unreachable_error(platform: str, exc: Exception, *, outcome_unknown: bool) -> ProviderError:
    """A call that failed in transport: unknown outcome for a write that may have landed, else unavailable."""
    name = type(exc).__name__
    if outcome_unknown:
        return ProviderError(unknown_outcome_error(platform, str(exc) or name, name))
    return ProviderError(
        SyncError(
            code=ErrorCode.UNAVAILABLE,
            message=f"{platform} could not be reached.",
            hint="This retries by itself; check the network if it persists.",
            platform_code=name,
            platform_message=str(exc) or None,
        )
    )


def supplier_as_contact(supplier: Supplier) -> Contact:
    """A supplier as the contact it is on platforms that keep both as one kind of card (Xero contacts, MYOB
    cards): the same fields, a supplier and not a customer, so it goes through the contact's mapping."""
    return Contact(
        id=supplier.id,
        name=supplier.name,
        email=supplier.email,
        first_name=supplier.first_name,
        last_name=supplier.last_name,
        phone=supplier.phone,
        tax_number=supplier.tax_number,
        account_number=supplier.account_number,
        address=supplier.address,
        currency=supplier.currency,
        is_customer=False,
        is_supplier=True,
        status=supplier.status,
    )
