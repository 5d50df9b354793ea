"""Intuit OAuth 2.0 emulation: discovery document, consent page, token endpoint, revocation, userinfo."""

from __future__ import annotations

import html
import json
import secrets
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ..common.oauth import (
    authenticated_client,
    check_client,
    client_credentials,
    count_grant,
    error_page,
    redeem_code,
    redirect_with,
)

if TYPE_CHECKING:
    from . import Runtime

AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/v2/oauth2/tokens/revoke"
USERINFO_PATH = "/v1/openid_connect/userinfo"
JWKS_PATH = "/op/v1/jwks"
SCOPE_ACCOUNTING = "com.intuit.quickbooks.accounting"


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def discovery(request: Request) -> Response:
    base = _base(request)
    return JSONResponse(
        {
            "issuer": f"{base}/op/v1",
            "authorization_endpoint": f"{base}{AUTHORIZE_PATH}",
            "token_endpoint": f"{base}{TOKEN_PATH}",
            "userinfo_endpoint": f"{base}{USERINFO_PATH}",
            "revocation_endpoint": f"{base}{REVOKE_PATH}",
            "jwks_uri": f"{base}{JWKS_PATH}",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
        }
    )


async def jwks(request: Request) -> Response:
    return JSONResponse({"keys": []})


def _check_client(rt: Runtime, client_id: str, redirect_uri: str) -> str | None:
    return check_client(
        rt.sb.apps,
        client_id,
        redirect_uri,
        unknown_client="invalid_client: unknown client_id",
        bad_redirect="invalid_request: The redirect_uri is not registered for this app",
    )


async def authorize_get(request: Request) -> Response:
    rt = _rt(request)
    q = request.query_params
    client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
    err = _check_client(rt, client_id, redirect_uri)
    if err:
        return error_page(err)
    state = q.get("state", "")
    if q.get("response_type") != "code":
        return redirect_with(redirect_uri, {"error": "unsupported_response_type", "state": state})
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""))}">'
        for k in ("client_id", "redirect_uri", "scope", "state", "response_type")
    )
    companies = (
        "".join(
            f'<li><label><input type="radio" name="realmId" value="{c.id}"{" checked" if i == 0 else ""}> '
            f"{html.escape(c.name)}</label></li>"
            for i, c in enumerate(rt.sb.tenants.values())
        )
        or "<li>No companies yet (create one with POST /_sandbox/tenants)</li>"
    )
    app = rt.sb.apps[client_id]
    page = f"""<!doctype html><html><head><title>QuickBooks sandbox - connect {html.escape(app.name)}</title></head>
<body><h1>{html.escape(app.name)} wants to connect to your QuickBooks company</h1>
<p>Scopes: {html.escape(q.get("scope", ""))}</p>
<form method="post" action="{AUTHORIZE_PATH}">{hidden}
<ul>{companies}</ul>
<button type="submit" name="action" value="allow">Connect</button>
<button type="submit" name="action" value="deny">Cancel</button>
</form></body></html>"""
    return HTMLResponse(page)


async def authorize_post(request: Request) -> Response:
    rt = _rt(request)
    form = await request.form()
    client_id, redirect_uri = str(form.get("client_id", "")), str(form.get("redirect_uri", ""))
    err = _check_client(rt, client_id, redirect_uri)
    if err:
        return error_page(err)
    state = str(form.get("state", ""))
    if form.get("action") != "allow":
        return redirect_with(redirect_uri, {"error": "access_denied", "state": state})
    realm = str(form.get("realmId", ""))
    if realm not in rt.sb.tenants:
        return error_page("Select a company")
    now = rt.sb.now()
    code = "AB" + secrets.token_urlsafe(30)
    rt.sb.codes[code] = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": str(form.get("scope", "")),
        "realm": realm,
        "exp": now + float(rt.sb.config["code_ttl"]),
        "used": False,
    }
    rt.sb.connections[f"{client_id}|{realm}"] = {"client_id": client_id, "realmId": realm, "created": now}
    rt.sb.dirty = True
    return redirect_with(redirect_uri, {"code": code, "state": state, "realmId": realm})


def _grant_error(error: str = "invalid_grant", description: str | None = None, status: int = 400) -> JSONResponse:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return JSONResponse(body, status_code=status)


def _new_refresh(rt: Runtime, client_id: str, realm: str, scope: str, grant: str, hard_exp: float) -> str:
    sb = rt.sb
    now = sb.now()
    token = "AB11" + secrets.token_urlsafe(36)
    sb.refresh_tokens[token] = {
        "client_id": client_id,
        "realm": realm,
        "scope": scope,
        "grant": grant,
        "issued": now,
        "exp": min(now + float(sb.config["refresh_token_ttl"]), hard_exp),
        "hard_exp": hard_exp,
        "superseded_at": None,
        "revoked": False,
    }
    return token


def _issue(rt: Runtime, client_id: str, realm: str, scope: str, grant: str, refresh: str) -> dict[str, Any]:
    sb = rt.sb
    now = sb.now()
    ttl = int(sb.config["access_token_ttl"])
    access = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.." + secrets.token_urlsafe(48)
    sb.access_tokens[access] = {
        "client_id": client_id,
        "realm": realm,
        "scope": scope,
        "grant": grant,
        "exp": now + ttl,
        "revoked": False,
    }
    rtok = sb.refresh_tokens[refresh]
    sb.dirty = True
    return {
        "token_type": "bearer",
        "access_token": access,
        "expires_in": ttl,
        "refresh_token": refresh,
        "x_refresh_token_expires_in": max(0, round(rtok["exp"] - now)),
    }


async def token(request: Request) -> Response:
    rt = _rt(request)
    sb = rt.sb
    form = await request.form()
    client_id, secret = client_credentials(request, form)
    if authenticated_client(sb.apps, client_id, secret) is None:
        return _grant_error("invalid_client", status=401)
    grant_type = str(form.get("grant_type", ""))
    now = sb.now()
    count_grant(sb.counters, grant_type)
    if grant_type == "authorization_code":
        code = redeem_code(sb.codes, str(form.get("code", "")), client_id, form.get("redirect_uri"), now)
        if code is None:
            return _grant_error()
        grant = uuid.uuid4().hex
        hard = now + float(sb.config["refresh_token_max_ttl"])
        refresh = _new_refresh(rt, client_id, code["realm"], code["scope"], grant, hard)
        return JSONResponse(_issue(rt, client_id, code["realm"], code["scope"], grant, refresh))
    if grant_type == "refresh_token":
        value = str(form.get("refresh_token", ""))
        rtok = sb.refresh_tokens.get(value)
        if rtok is None or rtok["revoked"] or rtok["client_id"] != client_id:
            return _grant_error(description="Incorrect or invalid refresh token")
        if rtok["exp"] < now or rtok["hard_exp"] < now:
            return _grant_error(description="Incorrect or invalid refresh token")
        if rtok["superseded_at"] is not None:
            if now > rtok["superseded_at"] + float(sb.config["refresh_grace"]):
                return _grant_error(description="Incorrect or invalid refresh token")
            # Still inside the grace period: answer with the grant's current refresh token.
            current = next(
                (
                    k
                    for k, v in sb.refresh_tokens.items()
                    if v["grant"] == rtok["grant"] and v["superseded_at"] is None and not v["revoked"]
                ),
                None,
            )
            if current is None:
                return _grant_error(description="Incorrect or invalid refresh token")
            value, rtok = current, sb.refresh_tokens[current]
        if now - rtok["issued"] >= float(sb.config["refresh_rotate_after"]):
            rtok["superseded_at"] = now
            value = _new_refresh(rt, client_id, rtok["realm"], rtok["scope"], rtok["grant"], rtok["hard_exp"])
        else:
            rtok["exp"] = min(now + float(sb.config["refresh_token_ttl"]), rtok["hard_exp"])  # rolling expiry
        return JSONResponse(_issue(rt, client_id, rtok["realm"], rtok["scope"], rtok["grant"], value))
    return _grant_error("unsupported_grant_type")


def revoke_grants(rt: Runtime, grants: set[str]) -> int:
    n = 0
    disconnect: set[tuple[str, str]] = set()
    for store in (rt.sb.access_tokens, rt.sb.refresh_tokens):
        for tok in store.values():
            if tok["grant"] in grants and not tok["revoked"]:
                tok["revoked"] = True
                disconnect.add((tok["client_id"], tok["realm"]))
                n += 1
    for client_id, realm in disconnect:
        rt.sb.connections.pop(f"{client_id}|{realm}", None)
    rt.sb.dirty = True
    return n


async def revocation(request: Request) -> Response:
    rt = _rt(request)
    raw = await request.body()
    token_value = ""
    try:
        body = json.loads(raw) if raw.strip() else {}
        if isinstance(body, dict):
            token_value = str(body.get("token", ""))
    except ValueError:
        from urllib.parse import parse_qs

        token_value = (parse_qs(raw.decode(errors="replace")).get("token") or [""])[0]
    client_id, secret = client_credentials(request, {})
    if authenticated_client(rt.sb.apps, client_id, secret) is None:
        return _grant_error("invalid_client", status=401)
    tok = rt.sb.refresh_tokens.get(token_value) or rt.sb.access_tokens.get(token_value)
    if tok is not None and tok["client_id"] == client_id:
        # Revoking either token disconnects the app from the company: the whole grant stops working.
        revoke_grants(rt, {tok["grant"]})
    return Response(status_code=200)


def bearer(rt: Runtime, request: Request) -> tuple[dict[str, Any] | None, str | None]:
    """The live access token, or (None, detail) for the 401 body (detail may be None)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None, None
    value = header[7:].strip()
    tok = rt.sb.access_tokens.get(value)
    if tok is None or tok["revoked"]:
        return None, None
    if tok["exp"] <= rt.sb.now():
        return None, f"Token expired: {value[:16]}..."
    return tok, None


def gateway_fault(status: int, kind: str, code: str, detail: str | None, ftype: str, ms: int) -> JSONResponse:
    """Intuit's API gateway error (what JSON clients get for 401/403), e.g. python-quickbooks issue #118."""
    return JSONResponse(
        {
            "warnings": None,
            "intuitObject": None,
            "fault": {
                "error": [
                    {
                        "message": f"message={kind}; errorCode=00{code}; statusCode={status}",
                        "detail": detail,
                        "code": code,
                        "element": None,
                    }
                ],
                "type": ftype,
            },
            "report": None,
            "queryResponse": None,
            "batchItemResponse": [],
            "attachableResponse": [],
            "syncErrorResponse": None,
            "requestId": None,
            "time": ms,
            "status": None,
            "cdcresponse": [],
        },
        status_code=status,
    )


async def userinfo(request: Request) -> Response:
    rt = _rt(request)
    tok, detail = bearer(rt, request)
    if tok is None:
        return JSONResponse({"error": "invalid_token", "error_description": detail or "Unauthorized"}, 401)
    return JSONResponse(
        {
            "sub": uuid.uuid5(uuid.NAMESPACE_URL, tok["client_id"]).hex,
            "email": "sandbox.user@example.com",
            "emailVerified": True,
            "givenName": "Sandbox",
            "familyName": "User",
        }
    )
