"""The /_sandbox control-API pieces both sandboxes share: JSON bodies, deep merge and the platform-neutral routes."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .codec import dumps, loads


class _ControlState(Protocol):
    config: dict[str, Any]
    counters: dict[str, Any]
    access_tokens: dict[str, dict[str, Any]]
    clock_offset: float
    dirty: bool

    def now(self) -> float: ...

    def reset_counters(self) -> None: ...


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body; an empty body reads as {}."""
    raw = await request.body()
    if not raw.strip():
        return {}
    obj = loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return obj


def deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    """Merge `src` into `dst` in place, recursing where both sides hold a dict."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = v


class ControlHandlers:
    """Control-API handlers that behave alike on every platform; responses use the platform's JSON media type."""

    def __init__(self, media_type: str) -> None:
        self.media_type = media_type

    def respond(self, obj: Any, status: int = 200) -> Response:
        return Response(dumps(obj), status_code=status, media_type=self.media_type)

    @staticmethod
    def _sb(request: Request) -> _ControlState:
        sb: _ControlState = request.app.state.rt.sb
        return sb

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def config(self, request: Request) -> Response:
        sb = self._sb(request)
        if request.method == "PUT":
            deep_merge(sb.config, await read_json_object(request))
            sb.dirty = True
        return self.respond(sb.config)

    async def counters(self, request: Request) -> Response:
        return self.respond(self._sb(request).counters)

    async def counters_reset(self, request: Request) -> Response:
        self._sb(request).reset_counters()
        return self.respond({"ok": True})

    async def tokens_expire(self, request: Request) -> Response:
        """Make every live access token expire now (refresh tokens stay valid)."""
        sb = self._sb(request)
        now = sb.now()
        n = 0
        for tok in sb.access_tokens.values():
            if tok["exp"] > now:
                tok["exp"] = now
                n += 1
        return self.respond({"expired": n})

    async def clock(self, request: Request) -> Response:
        sb = self._sb(request)
        if request.method == "POST":
            body = await read_json_object(request)
            sb.clock_offset += float(body.get("advance_seconds", 0))
        return self.respond({"offset_seconds": sb.clock_offset, "now": sb.now()})
