"""Small helpers every connector uses: saved cursors, chunking, the unknown-outcome and unreachable errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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


# ------------------------------------------------------------------------- where a stamp-cursor pull starts
MAX_WINDOWS = 4


@dataclass(frozen=True)
class PullWindow:
    """A timestamp cursor with a bounded look-back (issue 14).

    `newest` is the newest modified stamp a pull has seen. The look-back exists for writes that were in flight
    while a read ran (stamped before it, visible after): those are stamped at most `lookback` before the read, and
    are visible by `lookback` after it. So a read does not re-read `lookback` behind the cursor every time, which
    right after an export would be the whole export again; it leaves a window `(from, due)`: the stamps from
    `from` are read once more by the first read that starts at or after `due` (client clock, which only has to
    agree with itself), and that read settles it. In between, a read starts at `newest`. Whatever comes back
    again is skipped by the engine when it is the same record at the same version as the link holds (our own
    writes, what was already applied), so a window costs its pages once, not its records' processing.

    Saved as JSON `{"newest": iso, "windows": [[from, due], ...]}`; a bare ISO stamp (the cursor before this
    change) loads as that stamp with its look-back due at once, which is what the old cursor read."""

    newest: dt.datetime | None
    windows: tuple[tuple[dt.datetime, dt.datetime], ...] = ()

    @classmethod
    def load(cls, cursor: str | None, lookback: dt.timedelta) -> PullWindow:
        if cursor is None:
            return cls(None)
        if not cursor.startswith("{"):
            stamp = parse_cursor(cursor)
            return cls(stamp, ((stamp - lookback, _EPOCH),) if lookback else ())
        try:
            data = json.loads(cursor)
            newest = parse_cursor(data["newest"]) if data.get("newest") else None
            windows = tuple((parse_cursor(a), parse_cursor(b)) for a, b in data.get("windows") or ())
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(
                SyncError(
                    code=ErrorCode.VALIDATION,
                    message=f"The saved sync position {cursor!r} is not one this connector wrote.",
                    hint="Reset the sync position for this record type to re-read everything deliberately.",
                )
            ) from exc
        return cls(newest, windows)

    def dump(self) -> str:
        return json.dumps(
            {
                "newest": self.newest.isoformat() if self.newest else None,
                "windows": [[a.isoformat(), b.isoformat()] for a, b in self.windows],
            }
        )

    def since(self, now: dt.datetime, slack: dt.timedelta = dt.timedelta(0)) -> dt.datetime | None:
        """The lower bound of the next read: the newest stamp (`slack` behind it), or a due window's start. None
        means read everything (nothing seen yet). The providers compare inclusively at the platform's precision
        (Xero's If-Modified-Since is the stamp cut to the second, QuickBooks' query is `>=`), so the newest
        second is read again; a platform that compared otherwise would still be covered by the window."""
        if self.newest is None:
            return None
        lower = self.newest - slack
        for start, due in self.windows:
            if due <= now:
                lower = min(lower, start)
        return lower

    def seen(self, newest: dt.datetime | None) -> PullWindow:
        """The same windows with a newer stamp seen (the cursor saved with a page before the read's last)."""
        if newest is None or (self.newest is not None and newest <= self.newest):
            return self
        return PullWindow(newest, self.windows)

    def after_read(
        self,
        newest: dt.datetime | None,
        since: dt.datetime | None,
        started: dt.datetime,
        now: dt.datetime,
        lookback: dt.timedelta,
    ) -> PullWindow:
        """The position once a read from `since`, begun at `started`, has reached its end at `now`: the windows
        it settled (due when it began, and inside what it read) are gone, and its own window is added."""
        top = self.seen(newest).newest
        kept = [w for w in self.windows if not (w[1] <= started and (since is None or since <= w[0]))]
        if lookback and top is not None:
            # Anything stamped up to `lookback` before the read began may have been invisible to it; `newest`
            # stands for the platform's clock at the start, less how long the read took (a write made meanwhile
            # may have moved `newest` on).
            kept.append((top - lookback - (now - started), now + lookback))
        kept.sort()
        while len(kept) > MAX_WINDOWS:
            # Merge the two newest: the older windows keep their due times, so cycles that follow each other
            # closely never push the oldest window's re-read further away.
            (a1, d1), (a2, d2) = kept[-2], kept[-1]
            kept[-2:] = [(min(a1, a2), max(d1, d2))]
        return PullWindow(top, tuple(kept))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
