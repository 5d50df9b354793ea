"""Wire-format helpers for the Xero sandbox: MS JSON dates, 2-dp decimals, ids and JSON encoding."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from ..common.codec import CENT, ZERO, dumps, loads, money, now_ms, public, to_dec

__all__ = [
    "CENT",
    "ZERO",
    "date_to_ms",
    "dumps",
    "loads",
    "money",
    "ms_date",
    "ms_to_iso",
    "new_id",
    "now_ms",
    "parse_date",
    "parse_http_datetime_ms",
    "public",
    "to_dec",
]

_MS_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def new_id() -> str:
    return str(uuid.uuid4())


def ms_date(ms: int) -> str:
    return f"/Date({ms}+0000)/"


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def date_to_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def parse_date(value: Any) -> date:
    """Accept the forms Xero accepts on input: ISO date, ISO datetime or an MS JSON date."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError(f"invalid date {value!r}")
    m = _MS_DATE_RE.match(value)
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC).date()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return date.fromisoformat(value[:10])


def parse_http_datetime_ms(value: str) -> int | None:
    """If-Modified-Since: Xero takes an ISO timestamp (UTC), second precision; RFC 1123 also tolerated."""
    value = value.strip()
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            dt = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # Xero ignores sub-second parts of the header (it documents second precision).
    return int(dt.timestamp()) * 1000
