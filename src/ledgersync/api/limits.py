"""Bounded requests: a body size cap (413), and the sizes and characters a record may have (422, with the rule).

The lengths are the platforms' own field limits (Xero's and QuickBooks Online's, the stricter where they
differ), so what the API accepts is what can sync; a record beyond them would only fail later, on the
platform. Names and codes are single-line text; descriptions may hold tabs and line breaks. No text may hold
other control characters (NUL among them) or lone surrogates, which no platform stores."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Far above any real document, far below what ties up a worker: a 150,000-line invoice is refused.
MAX_LINES = 1000
MAX_LIST = 1000
# Xero allows two tracking categories per line and QuickBooks two (class and location).
MAX_TRACKING = 4
DEFAULT_TEXT = 255
ID_LENGTH = 128
FIELD_LENGTHS = {
    "description": 4000,
    "line1": 500,
    "line2": 500,
    "phone": 50,
    "tax_number": 50,
    "account_number": 50,
    "postal_code": 50,
    "country": 50,
    "code": 30,
    "item_code": 30,
    "account_code": 50,
    "tax_type": 50,
    "currency": 3,
    "category": 100,
    "option": 100,
}
LIST_LIMITS = {"lines": MAX_LINES, "allocations": MAX_LIST, "tracking": MAX_TRACKING}
MULTILINE = frozenset({"description"})
LINE_BREAKS = frozenset("\t\n\r")


def bad_character(text: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """(position, character) of the first character text may not hold, or None."""
    for i, ch in enumerate(text):
        if multiline and ch in LINE_BREAKS:
            continue
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return i, ch
    return None


def single_line(value: str) -> str:
    """A pydantic AfterValidator for names: no control characters at all."""
    found = bad_character(value)
    if found:
        raise ValueError(f"control characters are not allowed in names (U+{ord(found[1]):04X} at character {found[0]})")
    return value


def text_value(value: str) -> str:
    """A pydantic AfterValidator for free text: tabs and line breaks allowed, other control characters not."""
    found = bad_character(value, multiline=True)
    if found:
        raise ValueError(f"control characters are not allowed (U+{ord(found[1]):04X} at character {found[0]})")
    return value


def _problems(value: Any, loc: tuple[str | int, ...]) -> Iterator[dict[str, Any]]:
    field = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if isinstance(value, str):
        limit = ID_LENGTH if field == "id" or field.endswith("_id") else FIELD_LENGTHS.get(field, DEFAULT_TEXT)
        if len(value) > limit:
            yield {
                "loc": ("body", *loc),
                "msg": f"at most {limit} characters (the platforms' limit for {field or 'this text'}); "
                f"got {len(value)}",
                "type": "string_too_long",
            }
        found = bad_character(value, multiline=field in MULTILINE)
        if found:
            what = "text" if field in MULTILINE else "names, numbers and codes"
            yield {
                "loc": ("body", *loc),
                "msg": f"control characters are not allowed in {what} (U+{ord(found[1]):04X} at character {found[0]})",
                "type": "control_character",
            }
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _problems(v, (*loc, str(k)))
    elif isinstance(value, list):
        limit = LIST_LIMITS.get(field, MAX_LIST)
        if len(value) > limit:
            noun = "lines per document" if field == "lines" else f"{field or 'items'} entries"
            yield {
                "loc": ("body", *loc),
                "msg": f"at most {limit} {noun}; got {len(value)}",
                "type": "too_long",
            }
            return
        for i, v in enumerate(value):
            yield from _problems(v, (*loc, i))


def check_record(data: dict[str, Any]) -> None:
    """Raise a 422 (RequestValidationError, every problem listed with its place) for a record the platforms
    could not hold: too many lines, a text too long, a control character in it."""
    errors = list(_problems(data, ()))
    if errors:
        raise RequestValidationError(errors[:20])


class BodyLimit:
    """ASGI middleware: bodies above `max_bytes` answer 413, whether or not they declare Content-Length.

    A declared length is refused before anything is read; an undeclared (chunked) body is counted as it
    arrives and refused once it passes the cap, so the server never buffers more than the cap."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Sequence[tuple[str, int]] = ()) -> None:
        """`larger`: (path pattern, cap) for the routes that take files (an attachment's bytes), each with its
        own cap; every other path has `max_bytes`."""
        self.app = app
        self.max_bytes = max_bytes
        self.larger = [(re.compile(pattern), cap) for pattern, cap in larger]

    def cap(self, path: str) -> int:
        return next((cap for pattern, cap in self.larger if pattern.fullmatch(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.cap(scope.get("path", ""))
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(send, limit)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, self.detail(limit))
            return message

        await self.app(scope, counted, send)

    def detail(self, limit: int | None = None) -> str:
        return f"the request body is larger than {limit or self.max_bytes} bytes"

    async def _refuse(self, send: Send, limit: int) -> None:
        import json

        body = json.dumps({"detail": self.detail(limit)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


__all__ = ["MAX_LINES", "BodyLimit", "bad_character", "check_record", "single_line", "text_value"]
