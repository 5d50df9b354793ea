"""A local emulator of the QuickBooks Online Accounting API v3, Intuit OAuth 2.0 and QBO webhooks (ASGI app)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from ..common.app import build_app, fault_rng
from . import api, attachables, control, oauth
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
        # Where the sandbox is reached (the last API request's base URL), for Attachables' download URLs.
        self.base_url = "http://127.0.0.1/"

    def reseed(self) -> None:
        self.rng = fault_rng(self.sb.faults)


async def _file(request: Request) -> Response:
    """An Attachable's TempDownloadUri: the bytes, no token needed (as Intuit's pre-signed URLs)."""
    rt: Runtime = request.app.state.rt
    for company in rt.sb.tenants.values():
        found = attachables.file_by_token(company, request.path_params["token"])
        if found is not None:
            return Response(found[0], media_type=found[1])
    return Response(b"Not Found", status_code=404, media_type="text/plain")


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
        Route("/_files/{token}", _file, methods=["GET"]),
        *control.ROUTES,
    ]
    return build_app(rt, routes)
