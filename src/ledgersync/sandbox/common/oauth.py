"""OAuth 2.0 steps both sandboxes perform alike: client checks, consent-page errors, redirects, code redemption."""

from __future__ import annotations

import base64
import hmac
import html
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse


class OAuthClient(Protocol):
    client_secret: str
    redirect_uris: list[str]


ClientT = TypeVar("ClientT", bound=OAuthClient)


def error_page(message: str) -> HTMLResponse:
    """The 400 page the consent screen shows instead of redirecting (bad client or redirect_uri)."""
    return HTMLResponse(
        f"<!doctype html><html><body><h1>Error</h1><p>{html.escape(message)}</p></body></html>",
        status_code=400,
    )


def redirect_with(uri: str, params: dict[str, str]) -> RedirectResponse:
    """302 to `uri` with `params` appended to its query string."""
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(uri + sep + urlencode(params), status_code=302)


def check_client(
    apps: Mapping[str, OAuthClient], client_id: str, redirect_uri: str, *, unknown_client: str, bad_redirect: str
) -> str | None:
    """None when the app exists and registered `redirect_uri`; otherwise the platform's error text."""
    app = apps.get(client_id)
    if app is None:
        return unknown_client
    if redirect_uri not in app.redirect_uris:
        return bad_redirect
    return None


def client_credentials(request: Request, form: Any) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic auth, else from the form (client_secret_post)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            cid, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return cid, secret
        except (ValueError, UnicodeDecodeError):
            return "", ""
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


def authenticated_client(apps: Mapping[str, ClientT], client_id: str, secret: str) -> ClientT | None:
    """The app when `secret` is its client secret (constant-time compare), else None."""
    app = apps.get(client_id)
    if app is None or not hmac.compare_digest(app.client_secret, secret):
        return None
    return app


def redeem_code(
    codes: dict[str, dict[str, Any]], value: str, client_id: str, redirect_uri: Any, now: float
) -> dict[str, Any] | None:
    """Mark an authorisation code used and return it, or None if unknown, used, expired or not this client's."""
    code = codes.get(value)
    if (
        code is None
        or code["used"]
        or code["exp"] < now
        or code["client_id"] != client_id
        or code["redirect_uri"] != redirect_uri
    ):
        return None
    code["used"] = True
    return code


def count_grant(counters: dict[str, Any], grant_type: Any) -> None:
    """Count authorization_code / refresh_token grants in the control API's counters."""
    if grant_type in ("authorization_code", "refresh_token"):
        counters["token_grants"][str(grant_type)] += 1
