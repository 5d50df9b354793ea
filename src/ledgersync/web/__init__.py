"""The dashboard: server-rendered pages (Jinja2 + htmx) over a LedgerSync, mounted on a FastAPI app."""

from __future__ import annotations

import inspect
import logging
import os
import secrets
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgersync import LedgerSync
from ledgersync.web.auth import WebSettings, create_user, set_role, unlock_sign_in
from ledgersync.web.views import CsrfFailed, Forbidden, LoginRequired, build_router, forbidden_page, problem_page

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "ledgersync_session"
SESSION_SECRET_ENV = "LEDGERSYNC_SESSION_SECRET"
SESSION_HOURS = 12


class SecureCookies:
    """ASGI middleware: the session cookie gets the Secure flag whenever the request came over HTTPS.

    Behind a proxy, the scheme is the one its X-Forwarded-Proto gave, when the operator trusts that proxy
    (LEDGERSYNC_TRUSTED_PROXIES; `create_app` installs the proxy-header middleware outside this one)."""

    def __init__(self, app: ASGIApp, cookie: str) -> None:
        self.app = app
        self.prefix = f"{cookie}=".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers", []):
                    if name == b"set-cookie" and value.startswith(self.prefix) and b"secure" not in value.lower():
                        value = value + b"; secure"
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)


def mount(app: FastAPI, ls: LedgerSync, *, session_secret: str | None = None) -> None:
    """Add the dashboard to `app` at `/`: signed-cookie sessions, its static files under `/assets`, its routes.

    The session secret comes from the argument, else `app.state.settings.session_secret` (set by
    `ledgersync.api.create_app`), else LEDGERSYNC_SESSION_SECRET, else a random one (sign-ins then end when the
    process restarts). Call once, before the app starts serving; a second call does nothing."""
    if getattr(app.state, "ledgersync_web", False):
        return
    settings = getattr(app.state, "settings", None)
    ws = WebSettings.of(settings)
    secret = session_secret or getattr(settings, "session_secret", None) or os.environ.get(SESSION_SECRET_ENV)
    if not secret:
        log.warning("no session secret configured (%s); sign-ins end when this process restarts", SESSION_SECRET_ENV)
        secret = secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        # The cookie's own lifetime is the absolute one; the server ends the session sooner when idle.
        max_age=int(ws.session_max_seconds),
        same_site="lax",
        https_only=os.environ.get("LEDGERSYNC_HTTPS_ONLY", "") == "1",
    )
    app.add_middleware(SecureCookies, cookie=SESSION_COOKIE)
    app.mount("/assets", StaticFiles(directory=STATIC), name="ledgersync-web-assets")
    app.include_router(build_router(ls, ws))

    async def login_required(request: Request, exc: Exception) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)

    async def csrf_failed(request: Request, exc: Exception) -> Response:
        return forbidden_page(
            request,
            "This form had no valid security token (it may have expired, or come from another site). "
            "Nothing was changed. Reload the page and try again.",
        )

    async def forbidden(request: Request, exc: Exception) -> Response:
        return forbidden_page(request, exc.message if isinstance(exc, Forbidden) else "Not allowed.")

    api_invalid = app.exception_handlers.get(RequestValidationError)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        # The REST API answers its callers in JSON; a person using the dashboard gets a page.
        if _is_api(request) and api_invalid is not None:
            answer = api_invalid(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        fields = []
        if isinstance(exc, RequestValidationError):
            fields = sorted({str(e.get("loc", ["?"])[-1]) for e in exc.errors()})
        named = f" ({', '.join(fields)})" if fields else ""
        return problem_page(
            request,
            400,
            "Incomplete request",
            f"The page sent this with a field missing or not readable{named}, so nothing was changed. Go back, "
            "reload the page and try again.",
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Starlette logs the traceback for the server's log; the person gets a plain page, never the traceback.
        if _is_api(request):
            return JSONResponse({"detail": "internal error: the server log has the details"}, status_code=500)
        return problem_page(
            request,
            500,
            "Something went wrong",
            "ledgersync hit an unexpected error and could not finish this. Try again; if it keeps happening, "
            "tell your administrator (the server log has the details).",
        )

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfFailed, csrf_failed)
    app.add_exception_handler(Forbidden, forbidden)
    app.state.ledgersync_web = True


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/v1/", "/v1", "/qbwc"))


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


__all__ = ["SecureCookies", "create_user", "mount", "set_role", "unlock_sign_in"]
