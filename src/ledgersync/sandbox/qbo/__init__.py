"""A local emulator of the QuickBooks Online Accounting API v3, Intuit OAuth 2.0 and QBO webhooks (ASGI app)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from ..common.app import build_app, fault_rng
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
        self.rng = fault_rng(sb.faults)

    def reseed(self) -> None:
        self.rng = fault_rng(self.sb.faults)


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
    return build_app(rt, routes)
