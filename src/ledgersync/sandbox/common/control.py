"""The /_sandbox control-API pieces the sandboxes share: JSON bodies, deep merge and the platform-neutral routes
(health, reset, config, faults, counters, token expiry, clock; tenants where a platform keeps them alike)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .codec import dumps, loads


class _ControlState(Protocol):
    config: dict[str, Any]
    counters: dict[str, Any]
    access_tokens: dict[str, dict[str, Any]]
    clock_offset: float
    dirty: bool

    def now(self) -> float: ...

    def reset_counters(self) -> None: ...


class _Tenant(Protocol):
    id: str
    name: str


class _RuntimeState(_ControlState, Protocol):
    faults: dict[str, Any]

    @property
    def tenants(self) -> Mapping[str, _Tenant]: ...

    def reset(self) -> None: ...

    def add_tenant(self, name: str, tenant_id: str | None = None, demo: bool = False) -> _Tenant: ...


class _Resettable(Protocol):
    def reset(self) -> None: ...


class _Runtime(Protocol):
    @property
    def sb(self) -> _RuntimeState: ...

    @property
    def limiter(self) -> _Resettable: ...

    def reseed(self) -> None: ...


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


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
    """Control-API handlers that behave alike on every platform; responses use the platform's JSON media type.

    `default_faults` is what DELETE /_sandbox/faults restores. Faults reseed the fault RNG when they are set;
    with `reseed_on_every_faults_call` (DEAR, QuickBooks Online) any call to /_sandbox/faults does, a GET too,
    and with `reseed_on_reset` (QuickBooks Online) so does a reset."""

    def __init__(
        self,
        media_type: str,
        default_faults: dict[str, Any] | None = None,
        *,
        reseed_on_every_faults_call: bool = False,
        reseed_on_reset: bool = False,
    ) -> None:
        self.media_type = media_type
        self.default_faults = default_faults if default_faults is not None else {}
        self.reseed_on_every_faults_call = reseed_on_every_faults_call
        self.reseed_on_reset = reseed_on_reset

    def respond(self, obj: Any, status: int = 200) -> Response:
        return Response(dumps(obj), status_code=status, media_type=self.media_type)

    @staticmethod
    def _sb(request: Request) -> _ControlState:
        sb: _ControlState = request.app.state.rt.sb
        return sb

    @staticmethod
    def _rt(request: Request) -> _Runtime:
        rt: _Runtime = request.app.state.rt
        return rt

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

    async def reset(self, request: Request) -> Response:
        rt = self._rt(request)
        rt.sb.reset()
        rt.limiter.reset()
        if self.reseed_on_reset:
            rt.reseed()
        return self.respond({"ok": True})

    async def faults(self, request: Request) -> Response:
        rt = self._rt(request)
        if request.method == "DELETE":
            rt.sb.faults = copy.deepcopy(self.default_faults)
        elif request.method == "PUT":
            deep_merge(rt.sb.faults, await read_json_object(request))
        if request.method == "PUT" or self.reseed_on_every_faults_call:
            rt.reseed()
        return self.respond(rt.sb.faults)

    async def tenants(self, request: Request) -> Response:
        """GET: the tenants; POST {name, tenantId?, demo?}: a new one (Xero organisation, MYOB company file)."""
        rt = self._rt(request)
        if request.method == "GET":
            return self.respond([{"tenantId": t.id, "name": t.name} for t in rt.sb.tenants.values()])
        body = await read_json_object(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return self.respond({"error": "name is required"}, 400)
        t = rt.sb.add_tenant(name, body.get("tenantId"), demo=bool(body.get("demo")))
        return self.respond({"tenantId": t.id, "name": t.name}, 201)

    def routes(self, *, clock: Handler | None = None, tokens: bool = True) -> list[Route]:
        """The shared routes; `clock` replaces the clock handler, `tokens=False` leaves out token expiry."""
        return [
            Route("/_sandbox/health", self.health, methods=["GET"]),
            Route("/_sandbox/reset", self.reset, methods=["POST"]),
            Route("/_sandbox/config", self.config, methods=["GET", "PUT"]),
            Route("/_sandbox/faults", self.faults, methods=["GET", "PUT", "DELETE"]),
            Route("/_sandbox/counters", self.counters, methods=["GET"]),
            Route("/_sandbox/counters/reset", self.counters_reset, methods=["POST"]),
            *([Route("/_sandbox/tokens/expire", self.tokens_expire, methods=["POST"])] if tokens else []),
            Route("/_sandbox/clock", clock or self.clock, methods=["GET", "POST"]),
        ]
