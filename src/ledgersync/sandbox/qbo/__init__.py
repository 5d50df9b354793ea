"""A local emulator of the QuickBooks Online Accounting API v3, Intuit OAuth 2.0 and QBO webhooks (ASGI app)."""

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
from .state import QboSandbox
from .webhooks import WebhookDispatcher

__all__ = ["QboSandbox", "Runtime", "create_app"]


class Runtime:
    """Per-app live objects that are not persisted: limiter windows, webhook worker, fault RNG."""

    def __init__(self, sb: QboSandbox) -> None:
        self.sb = sb
        self.limiter = RateLimiter()
        self.webhooks = WebhookDispatcher(sb)
        self.rng = random.Random()
        self.reseed()

    def reseed(self) -> None:
        seed = self.sb.faults.get("seed")
        self.rng = random.Random(seed) if seed is not None else random.Random()


async def _persist_loop(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(float(rt.sb.config.get("persist_interval", 2.0)))
        if rt.sb.dirty and rt.sb.data_path is not None:
            payload = rt.sb.snapshot()
            await asyncio.to_thread(QboSandbox.write_file, rt.sb.data_path, payload)


async def _root(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "name": "ledgersync QuickBooks Online sandbox",
            "api": "/v3/company/{realmId}",
            "discovery": "/.well-known/openid_configuration",
            "control": "/_sandbox",
        }
    )


def create_app(sandbox: QboSandbox | None = None) -> ASGIApp:
    sb = sandbox if sandbox is not None else QboSandbox()
    rt = Runtime(sb)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        tasks = []
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
        Route("/.well-known/openid_configuration", oauth.discovery, methods=["GET"]),
        Route("/.well-known/openid_configuration/", oauth.discovery, methods=["GET"]),
        Route("/.well-known/openid_sandbox_configuration", oauth.discovery, methods=["GET"]),
        Route("/.well-known/openid_sandbox_configuration/", oauth.discovery, methods=["GET"]),
        Route(oauth.AUTHORIZE_PATH, oauth.authorize_get, methods=["GET"]),
        Route(oauth.AUTHORIZE_PATH, oauth.authorize_post, methods=["POST"]),
        Route(oauth.TOKEN_PATH, oauth.token, methods=["POST"]),
        Route(oauth.REVOKE_PATH, oauth.revocation, methods=["POST"]),
        Route(oauth.USERINFO_PATH, oauth.userinfo, methods=["GET"]),
        Route(oauth.JWKS_PATH, oauth.jwks, methods=["GET"]),
        Route("/v3/company/{realm}/{path:path}", api.endpoint, methods=["GET", "POST"]),
        *control.ROUTES,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.rt = rt
    app.state.sandbox = sb
    return app
