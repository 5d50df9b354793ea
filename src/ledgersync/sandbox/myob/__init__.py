"""A local emulator of the MYOB Business API (AccountRight Live v2) and MYOB's OAuth 2.0, as an ASGI app.

MYOB has no webhooks (api-facts-wave2.md B.7), so neither has this sandbox: integrations poll LastModified."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from ..common.app import build_app, fault_rng
from . import api, control, oauth
from .api import RateLimiter
from .state import MyobSandbox

__all__ = ["MyobSandbox", "Runtime", "create_app"]


class _NoWebhooks:
    async def close(self) -> None:
        return None


class Runtime:
    """Per-app live objects that are not persisted: the rate-limit windows and the fault RNG."""

    def __init__(self, sb: MyobSandbox) -> None:
        self.sb = sb
        self.limiter = RateLimiter()
        self.webhooks = _NoWebhooks()
        self.rng = fault_rng(sb.faults)

    def reseed(self) -> None:
        self.rng = fault_rng(self.sb.faults)


async def _root(request: Request) -> JSONResponse:
    return JSONResponse(
        {"name": "ledgersync MYOB sandbox", "api": "/accountright/", "oauth": "/oauth2/", "control": "/_sandbox"}
    )


def create_app(sandbox: MyobSandbox | None = None) -> ASGIApp:
    sb = sandbox if sandbox is not None else MyobSandbox()
    rt = Runtime(sb)
    routes = [
        Route("/", _root, methods=["GET"]),
        # pymyob writes these paths with a trailing slash, the .NET SDK without.
        Route("/oauth2/account/authorize", oauth.authorize_get, methods=["GET"]),
        Route("/oauth2/account/authorize/", oauth.authorize_get, methods=["GET"]),
        Route("/oauth2/account/authorize", oauth.authorize_post, methods=["POST"]),
        Route("/oauth2/account/authorize/", oauth.authorize_post, methods=["POST"]),
        Route("/oauth2/v1/authorize", oauth.token, methods=["POST"]),
        Route("/oauth2/v1/authorize/", oauth.token, methods=["POST"]),
        Route("/accountright", api.root, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/accountright/{path:path}", api.endpoint, methods=["GET", "POST", "PUT", "DELETE"]),
        *control.ROUTES,
    ]
    return build_app(rt, routes)
