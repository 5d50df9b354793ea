"""Wire-format helpers for the Xero sandbox: MS JSON dates, 2-dp decimals, ids and JSON encoding."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

_MS_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_DEC_MARK_RE = re.compile(r'"\\u0000D(-?[0-9.E+-]+)\\u0000"')


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return str(uuid.uuid4())


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
        # str() first so a float from a careless client still becomes its shortest decimal form
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


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
