"""Wire-format helpers for the QBO sandbox: ISO times with an offset, 2-dp decimals, JSON, numeric ids."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

_DEC_MARK_RE = re.compile(r'"\\u0000D(-?[0-9.E+-]+)\\u0000"')
_OFFSET_RE = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def now_ms() -> int:
    return int(time.time() * 1000)


def money(value: Any) -> Decimal:
    return to_dec(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_dec(value: Any, default: Decimal | None = None) -> Decimal:
    if value is None or value == "":
        if default is None:
            raise ValueError("missing number")
        return default
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


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


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return "\x00D" + format(o, "f") + "\x00"
    if isinstance(o, date):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any) -> bytes:
    """JSON with Decimals emitted as exact numbers (never via float)."""
    text = json.dumps(obj, default=_default, ensure_ascii=False, separators=(",", ":"))
    return _DEC_MARK_RE.sub(r"\1", text).encode("utf-8")


def loads(data: bytes | str) -> Any:
    return json.loads(data, parse_float=Decimal)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """Strip the sandbox's private bookkeeping keys (leading underscore) from a stored record."""
    return {k: v for k, v in record.items() if not k.startswith("_")}
