"""Wire-format helpers for the QBO sandbox: ISO times with an offset, 2-dp decimals, JSON, numeric ids."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta, timezone

from ..common.codec import CENT, ZERO, dumps, loads, money, now_ms, public, to_dec

__all__ = [
    "CENT",
    "ZERO",
    "dumps",
    "iso",
    "loads",
    "money",
    "now_ms",
    "parse_iso_ms",
    "parse_offset",
    "public",
    "to_dec",
    "today",
    "utc_iso",
]

_OFFSET_RE = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def parse_offset(offset: str) -> timezone:
    m = _OFFSET_RE.match(offset)
    if not m:
        return timezone(timedelta(hours=-7))
    sign = -1 if m.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))


def iso(ms: int, tz: timezone, millis: bool = False) -> str:
    """QBO's timestamp form: local company time with its UTC offset (e.g. 2015-07-24T10:33:39-07:00)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=tz)
    return dt.isoformat(timespec="milliseconds" if millis else "seconds")


def utc_iso(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso_ms(value: str, tz: timezone) -> int:
    """Parse a QBO datetime literal (date, or datetime with/without offset; no offset = company time)."""
    v = value.strip()
    if len(v) == 10:
        d = date.fromisoformat(v)
        return int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() * 1000)
    dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return int(dt.timestamp() * 1000)


def today(tz: timezone, now: float | None = None) -> str:
    return datetime.fromtimestamp(now if now is not None else time.time(), tz=tz).date().isoformat()
