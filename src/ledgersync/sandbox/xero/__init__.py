"""A local emulator of the Xero Accounting API, identity/OAuth2 and webhooks, built as an ASGI app."""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from ..common.app import build_app, fault_rng
from . import api, control, oauth
from .ratelimit import RateLimiter
from .state import XeroSandbox
from .webhooks import WebhookDispatcher

__all__ = ["Runtime", "XeroSandbox", "create_app"]


class Runtime:
    """Per-app live objects that are not persisted: limiter windows, webhook worker, fault RNG."""

    def __init__(self, sb: XeroSandbox) -> None:
        self.sb = sb
        self.limiter = RateLimiter()
        self.webhooks = WebhookDispatcher(sb)
        self.rng = fault_rng(sb.faults)

    def reseed(self) -> None:
        self.rng = fault_rng(self.sb.faults)


async def _startup_webhooks(rt: Runtime) -> None:
    for app in list(rt.sb.apps.values()):
        if app.webhook_url and app.webhook_key and app.intent_to_receive is None:
            with contextlib.suppress(Exception):
                await rt.webhooks.intent_to_receive(app)


async def _root(request: Request) -> JSONResponse:
    return JSONResponse({"name": "ledgersync Xero sandbox", "api": "/api.xro/2.0", "control": "/_sandbox"})


def create_app(sandbox: XeroSandbox | None = None) -> ASGIApp:
    sb = sandbox if sandbox is not None else XeroSandbox()
    rt = Runtime(sb)
    routes = [
        Route("/", _root, methods=["GET"]),
        Route("/identity/connect/authorize", oauth.authorize_get, methods=["GET"]),
        Route("/identity/connect/authorize", oauth.authorize_post, methods=["POST"]),
        Route("/connect/token", oauth.token, methods=["POST"]),
        Route("/connect/revocation", oauth.revocation, methods=["POST"]),
        Route("/connections", oauth.connections, methods=["GET"]),
        Route("/Connections", oauth.connections, methods=["GET"]),
        Route("/connections/{id}", oauth.delete_connection, methods=["DELETE"]),
        Route("/Connections/{id}", oauth.delete_connection, methods=["DELETE"]),
        Route("/api.xro/2.0/{path:path}", api.endpoint, methods=["GET", "PUT", "POST", "DELETE"]),
        *control.ROUTES,
    ]
    return build_app(rt, routes, on_startup=lambda: _startup_webhooks(rt))
