"""Xero identity emulation: authorize/consent page, token endpoint, revocation and /Connections."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import uuid
from datetime import UTC, datetime
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
from .util import new_id

if TYPE_CHECKING:
    from . import Runtime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def make_jwt(claims: dict[str, Any], secret: str) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def _iso(ts: float) -> str:
    # float(): a state reloaded from --data holds its timestamps as Decimals (exact JSON numbers).
    return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0")


def _check_client(rt: Runtime, client_id: str, redirect_uri: str) -> str | None:
    return check_client(
        rt.sb.apps,
        client_id,
        redirect_uri,
        unknown_client="unauthorized_client: Invalid client_id",
        bad_redirect="invalid_request: Invalid redirect_uri",
    )


def _checked(i: int) -> str:
    return " checked" if i == 0 else ""


async def authorize_get(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
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
        for k in (
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "response_type",
            "code_challenge",
            "code_challenge_method",
        )
    )
    orgs = (
        "".join(
            f'<li><label><input type="checkbox" name="tenantId" value="{t.id}"{_checked(i)}> '
            f"{html.escape(t.name)}</label></li>"
            for i, t in enumerate(rt.sb.tenants.values())
        )
        or "<li>No organisations yet (create one with POST /_sandbox/tenants)</li>"
    )
    app = rt.sb.apps[client_id]
    title = f"Xero sandbox - authorise {html.escape(app.name)}"
    page = f"""<!doctype html><html><head><title>{title}</title></head>
<body><h1>{html.escape(app.name)} wants to access your Xero organisations</h1>
<p>Scopes: {html.escape(q.get("scope", ""))}</p>
<form method="post" action="/identity/connect/authorize">{hidden}
<ul>{orgs}</ul>
<button type="submit" name="action" value="allow">Allow access</button>
<button type="submit" name="action" value="deny">Cancel</button>
</form></body></html>"""
    return HTMLResponse(page)


async def authorize_post(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    form = await request.form()
    client_id, redirect_uri = str(form.get("client_id", "")), str(form.get("redirect_uri", ""))
    err = _check_client(rt, client_id, redirect_uri)
    if err:
        return error_page(err)
    state = str(form.get("state", ""))
    if form.get("action") != "allow":
        return redirect_with(redirect_uri, {"error": "access_denied", "state": state})
    tenants = [str(t) for t in form.getlist("tenantId") if str(t) in rt.sb.tenants]
    if not tenants:
        return error_page("Select at least one organisation")
    auth_event = new_id()
    now = rt.sb.now()
    for tid in tenants:
        conn = next(
            (c for c in rt.sb.connections.values() if c["client_id"] == client_id and c["tenantId"] == tid),
            None,
        )
        if conn is None:
            cid = new_id()
            rt.sb.connections[cid] = {
                "id": cid,
                "client_id": client_id,
                "tenantId": tid,
                "authEventId": auth_event,
                "created": now,
                "updated": now,
            }
        else:
            conn.update(authEventId=auth_event, updated=now)
    code = secrets.token_urlsafe(24)
    rt.sb.codes[code] = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": str(form.get("scope", "")),
        "tenants": tenants,
        "exp": now + float(rt.sb.config["code_ttl"]),
        "used": False,
        "auth_event_id": auth_event,
        "user_id": new_id(),
    }
    rt.sb.dirty = True
    return redirect_with(redirect_uri, {"code": code, "scope": str(form.get("scope", "")), "state": state})


def _grant_error(error: str = "invalid_grant") -> JSONResponse:
    return JSONResponse({"error": error}, status_code=400)


def issue_tokens(
    rt: Runtime, client_id: str, tenants: list[str], scope: str, auth_event: str, user_id: str
) -> dict[str, Any]:
    sb = rt.sb
    now = sb.now()
    ttl = int(sb.config["access_token_ttl"])
    claims = {
        "nbf": int(now),
        "exp": int(now) + ttl,
        "iss": "https://identity.xero.com",
        "aud": "https://identity.xero.com/resources",
        "client_id": client_id,
        "sub": user_id,
        "auth_time": int(now),
        "xero_userid": user_id,
        "global_session_id": auth_event,
        "jti": uuid.uuid4().hex,
        "authentication_event_id": auth_event,
        "scope": scope.split(),
    }
    access = make_jwt(claims, sb.signing_secret)
    sb.access_tokens[access] = {
        "client_id": client_id,
        "tenants": tenants,
        "scope": scope,
        "exp": now + ttl,
        "revoked": False,
        "auth_event_id": auth_event,
        "user_id": user_id,
    }
    out: dict[str, Any] = {"access_token": access, "expires_in": ttl, "token_type": "Bearer", "scope": scope}
    if "offline_access" in scope.split():
        refresh = secrets.token_hex(32)
        sb.refresh_tokens[refresh] = {
            "client_id": client_id,
            "tenants": tenants,
            "scope": scope,
            "exp": now + float(sb.config["refresh_token_ttl"]),
            "rotated_at": None,
            "revoked": False,
            "auth_event_id": auth_event,
            "user_id": user_id,
        }
        out["refresh_token"] = refresh
    if "openid" in scope.split():
        out["id_token"] = make_jwt(
            {
                "nbf": int(now),
                "exp": int(now) + 300,
                "iss": "https://identity.xero.com",
                "aud": client_id,
                "sub": user_id,
                "xero_userid": user_id,
                "global_session_id": auth_event,
                "email": "sandbox.user@example.com",
                "given_name": "Sandbox",
                "family_name": "User",
            },
            sb.signing_secret,
        )
    sb.dirty = True
    return out


async def token(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    sb = rt.sb
    form = await request.form()
    client_id, secret = client_credentials(request, form)
    if authenticated_client(sb.apps, client_id, secret) is None:
        return _grant_error("invalid_client")
    grant = form.get("grant_type")
    now = sb.now()
    count_grant(sb.counters, grant)
    if grant == "authorization_code":
        code = redeem_code(sb.codes, str(form.get("code", "")), client_id, form.get("redirect_uri"), now)
        if code is None:
            return _grant_error()
        return JSONResponse(
            issue_tokens(
                rt, client_id, code["tenants"], code["scope"], code["auth_event_id"], code["user_id"]
            )
        )
    if grant == "refresh_token":
        rtok = sb.refresh_tokens.get(str(form.get("refresh_token", "")))
        if rtok is None or rtok["revoked"] or rtok["client_id"] != client_id or rtok["exp"] < now:
            return _grant_error()
        if rtok["rotated_at"] is not None and now > rtok["rotated_at"] + float(sb.config["refresh_grace"]):
            return _grant_error()
        if rtok["rotated_at"] is None:
            rtok["rotated_at"] = now
        return JSONResponse(
            issue_tokens(
                rt, client_id, rtok["tenants"], rtok["scope"], rtok["auth_event_id"], rtok["user_id"]
            )
        )
    return _grant_error("unsupported_grant_type")


def revoke_matching(
    rt: Runtime, client_id: str | None = None, tenant_id: str | None = None, auth_event: str | None = None
) -> int:
    n = 0
    for store in (rt.sb.access_tokens, rt.sb.refresh_tokens):
        for tok in store.values():
            if tok["revoked"]:
                continue
            if client_id and tok["client_id"] != client_id:
                continue
            if tenant_id and tenant_id not in tok["tenants"]:
                continue
            if auth_event and tok["auth_event_id"] != auth_event:
                continue
            tok["revoked"] = True
            n += 1
    rt.sb.dirty = True
    return n


async def revocation(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    form = await request.form()
    client_id, secret = client_credentials(request, form)
    if authenticated_client(rt.sb.apps, client_id, secret) is None:
        return _grant_error("invalid_client")
    rtok = rt.sb.refresh_tokens.get(str(form.get("token", "")))
    if rtok is not None and rtok["client_id"] == client_id:
        # Xero: revoking a refresh token also removes the connections made with that authorisation.
        event = rtok["auth_event_id"]
        revoke_matching(rt, client_id=client_id, auth_event=event)
        for cid in [k for k, c in rt.sb.connections.items() if c["authEventId"] == event]:
            del rt.sb.connections[cid]
    return Response(status_code=200)


def bearer(rt: Runtime, request: Request) -> tuple[dict[str, Any] | None, str | None]:
    """The live access token for a request, or the Detail text of Xero's 401."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None, "AuthenticationUnsuccessful"
    tok = rt.sb.access_tokens.get(header[7:].strip())
    if tok is None or tok["revoked"]:
        return None, "AuthenticationUnsuccessful"
    if tok["exp"] <= rt.sb.now():
        stamp = datetime.fromtimestamp(tok["exp"], tz=UTC).strftime("%m/%d/%Y %H:%M:%S")
        return None, f"TokenExpired: token expired at {stamp}"
    return tok, None


def problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {
            "Type": None,
            "Title": title,
            "Status": status,
            "Detail": detail,
            "Instance": str(uuid.uuid4()),
            "Extensions": {},
        },
        status_code=status,
    )


async def connections(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    tok, err = bearer(rt, request)
    if tok is None:
        return problem(401, "Unauthorized", err or "AuthenticationUnsuccessful")
    auth_event = request.query_params.get("authEventId")
    out = []
    for c in rt.sb.connections.values():
        if c["client_id"] != tok["client_id"] or c["tenantId"] not in rt.sb.tenants:
            continue
        if auth_event and c["authEventId"] != auth_event:
            continue
        t = rt.sb.tenants[c["tenantId"]]
        out.append(
            {
                "id": c["id"],
                "authEventId": c["authEventId"],
                "tenantId": t.id,
                "tenantType": "ORGANISATION",
                "tenantName": t.name,
                "createdDateUtc": _iso(c["created"]),
                "updatedDateUtc": _iso(c["updated"]),
            }
        )
    return JSONResponse(out)


async def delete_connection(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    tok, err = bearer(rt, request)
    if tok is None:
        return problem(401, "Unauthorized", err or "AuthenticationUnsuccessful")
    cid = request.path_params["id"]
    conn = rt.sb.connections.get(cid)
    if conn is None or conn["client_id"] != tok["client_id"]:
        return problem(404, "NotFound", "Connection not found")
    del rt.sb.connections[cid]
    rt.sb.dirty = True
    return Response(status_code=204)
