"""Wire-format helpers both sandboxes use: exact-decimal JSON, 2-dp money, ms clocks, public records."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

_DEC_MARK_RE = re.compile(r'"\\u0000D(-?[0-9.E+-]+)\\u0000"')


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_now() -> str:
    """The current UTC time with milliseconds, e.g. 2024-01-02T03:04:05.678Z (webhook stamps)."""
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
