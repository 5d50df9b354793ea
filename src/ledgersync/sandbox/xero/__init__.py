"""A local emulator of the Xero Accounting API, identity/OAuth2 and webhooks, built as an ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

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
        self.rng = random.Random()
        self.reseed()

    def reseed(self) -> None:
        seed = self.sb.faults.get("seed")
        self.rng = random.Random(seed) if seed is not None else random.Random()


async def _persist_loop(rt: Runtime) -> None:
    # Debounced: a large state file is rewritten at most once per interval, never per request.
    while True:
        await asyncio.sleep(float(rt.sb.config.get("persist_interval", 2.0)))
        if rt.sb.dirty and rt.sb.data_path is not None:
            payload = rt.sb.snapshot()
            await asyncio.to_thread(XeroSandbox.write_file, rt.sb.data_path, payload)


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

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        tasks = [asyncio.create_task(_startup_webhooks(rt))]
        if sb.data_path is not None:
            tasks.append(asyncio.create_task(_persist_loop(rt)))
        try:
            yield {}
        finally:
            for t in tasks:
                t.cancel()
            await rt.webhooks.close()
            if sb.data_path is not None:
                sb.save()

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
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.rt = rt
    app.state.sandbox = sb
    return app
