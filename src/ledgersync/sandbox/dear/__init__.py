"""A local emulator of the DEAR Inventory / Cin7 Core API v2 (/ExternalApi/v2/) and its webhooks, as an ASGI app."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from ..common.app import build_app, fault_rng
from . import api, control
from .api import RateLimiter
from .state import DearSandbox
from .webhooks import WebhookDispatcher

__all__ = ["DearSandbox", "Runtime", "create_app"]


class Runtime:
    """Per-app live objects that are not persisted: limiter windows, webhook worker, fault RNG."""

    def __init__(self, sb: DearSandbox) -> None:
        self.sb = sb
        self.limiter = RateLimiter()
        self.webhooks = WebhookDispatcher(sb)
        self.rng = fault_rng(sb.faults)

    def reseed(self) -> None:
        self.rng = fault_rng(self.sb.faults)


async def _root(request: Request) -> JSONResponse:
    return JSONResponse({"name": "ledgersync DEAR / Cin7 Core sandbox", "api": api.PREFIX, "control": "/_sandbox"})


def create_app(sandbox: DearSandbox | None = None) -> ASGIApp:
    sb = sandbox if sandbox is not None else DearSandbox()
    rt = Runtime(sb)
    routes = [
        Route("/", _root, methods=["GET"]),
        Route("/ExternalApi/v2/{path:path}", api.endpoint, methods=["GET", "PUT", "POST", "DELETE"]),
        Route("/externalapi/v2/{path:path}", api.endpoint, methods=["GET", "PUT", "POST", "DELETE"]),
        *control.ROUTES,
    ]

    async def startup() -> None:
        rt.webhooks.clock_moved()

    return build_app(rt, routes, on_startup=startup)
