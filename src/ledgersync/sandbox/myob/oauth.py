"""MYOB's OAuth 2.0 as secure.myob.com runs it: the consent page at /oauth2/account/authorize (the person picks
one company file, whose id comes back on the redirect as `businessId`), and the token endpoint at
/oauth2/v1/authorize taking a form body for both the code exchange and the refresh (.NET SDK
OAuthRequestHandler.cs; pymyob credentials.py). Scopes: the granular `sme-*` ones and the legacy `CompanyFile`."""

from __future__ import annotations

import html
import secrets
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

# developer.myob.com "Granular Data Scopes" (pymyob constants.AuthScope); CompanyFile is the legacy scope.
GRANULAR = frozenset(
    {
        "sme-general-ledger",
        "sme-sales",
        "sme-timebilling",
        "sme-inventory",
        "sme-contacts-customer",
        "sme-contacts-supplier",
        "sme-contacts-personal",
        "sme-contacts-employee",
        "sme-banking",
        "sme-purchases",
        "sme-payroll",
        "sme-company-settings",
        "sme-company-file",
    }
)
LEGACY = "CompanyFile"
# Which scope a resource needs (the scope names say which family of endpoints each covers).
RESOURCE_SCOPE = {
    "Contact/Customer": "sme-contacts-customer",
    "Contact/Supplier": "sme-contacts-supplier",
    "Contact": "sme-contacts-customer",
    "Sale": "sme-sales",
    "Inventory": "sme-inventory",
    "Purchase": "sme-purchases",
    "GeneralLedger": "sme-general-ledger",
    "": "sme-company-file",
}


def scopes_of(text: str) -> list[str]:
    return [s for s in text.replace(",", " ").split() if s]


def scope_needed(resource: str) -> str:
    if resource in RESOURCE_SCOPE:
        return RESOURCE_SCOPE[resource]
    return RESOURCE_SCOPE.get(resource.split("/")[0], "sme-company-file")


def allows(granted: list[str], resource: str) -> bool:
    return LEGACY in granted or scope_needed(resource) in granted


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _check(rt: Runtime, client_id: str, redirect_uri: str) -> str | None:
    # MYOB's consent page texts for a bad client or redirect URI are not published (GUESS).
    return check_client(
        rt.sb.apps,
        client_id,
        redirect_uri,
        unknown_client="invalid_client: the client_id is not a registered API key",
        bad_redirect="invalid_request: the redirect_uri does not match the one registered for this key",
    )


async def authorize_get(request: Request) -> Response:
    rt = _rt(request)
    q = request.query_params
    client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
    err = _check(rt, client_id, redirect_uri)
    if err:
        return error_page(err)
    state = q.get("state", "")
    if q.get("response_type") != "code":
        return redirect_with(redirect_uri, {"error": "unsupported_response_type", "state": state})
    wanted = scopes_of(q.get("scope", ""))
    unknown = [s for s in wanted if s not in GRANULAR and s != LEGACY]
    if not wanted or unknown:
        return redirect_with(redirect_uri, {"error": "invalid_scope", "state": state})
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
        for k, v in (
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", " ".join(wanted)),
            ("state", state),
        )
    )
    files = (
        "".join(
            f'<li><label><input type="radio" name="businessId" value="{cf.id}"{" checked" if i == 0 else ""}> '
            f"{html.escape(cf.name)}</label></li>"
            for i, cf in enumerate(rt.sb.tenants.values())
        )
        or "<li>No businesses yet (create one with POST /_sandbox/tenants)</li>"
    )
    app = rt.sb.apps[client_id]
    page = f"""<!doctype html><html><head><title>MYOB sandbox - {html.escape(app.name)}</title></head>
<body><h1>{html.escape(app.name)} would like to access one of your businesses</h1>
<p>Scopes: {html.escape(" ".join(wanted))}</p>
<form method="post" action="/oauth2/account/authorize">{hidden}
<ul>{files}</ul>
<button type="submit" name="action" value="allow">Allow access</button>
<button type="submit" name="action" value="deny">Cancel</button>
</form></body></html>"""
    return HTMLResponse(page)


async def authorize_post(request: Request) -> Response:
    rt = _rt(request)
    form = await request.form()
    client_id, redirect_uri = str(form.get("client_id", "")), str(form.get("redirect_uri", ""))
    err = _check(rt, client_id, redirect_uri)
    if err:
        return error_page(err)
    state = str(form.get("state", ""))
    if form.get("action") != "allow":
        return redirect_with(redirect_uri, {"error": "access_denied", "state": state})
    business = str(form.get("businessId", "")).lower()
    if business not in rt.sb.tenants:
        return error_page("Choose a business")
    code = secrets.token_urlsafe(24)
    rt.sb.codes[code] = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "business_id": business,
        "scope": str(form.get("scope", "")),
        "exp": rt.sb.now() + 300,
        "used": False,
    }
    rt.sb.dirty = True
    return redirect_with(redirect_uri, {"code": code, "state": state, "businessId": business})


def _token_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def issue(rt: Runtime, client_id: str, business_id: str, scope: str) -> dict[str, Any]:
    sb = rt.sb
    access = secrets.token_urlsafe(32)
    refresh = secrets.token_urlsafe(32)
    lifetime = int(sb.config.get("access_token_seconds", 1200))
    sb.access_tokens[access] = {
        "client_id": client_id,
        "business_id": business_id,
        "scope": scope,
        "exp": sb.now() + lifetime,
        "refresh": refresh,
    }
    sb.refresh_tokens[refresh] = {"client_id": client_id, "business_id": business_id, "scope": scope}
    sb.dirty = True
    # Fields of the .NET SDK's OAuthTokens.cs.
    return {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": str(lifetime),
        "refresh_token": refresh,
        "scope": scope,
    }


async def token(request: Request) -> Response:
    rt = _rt(request)
    sb = rt.sb
    form = await request.form()
    grant = form.get("grant_type")
    count_grant(sb.counters, grant)
    cid, secret = client_credentials(request, form)
    app = authenticated_client(sb.apps, cid, secret)
    if app is None:
        return _token_error("invalid_client", "The client credentials are invalid", 401)
    if grant == "authorization_code":
        code = redeem_code(sb.codes, str(form.get("code", "")), cid, form.get("redirect_uri"), sb.now())
        if code is None:
            return _token_error("invalid_grant", "The authorization code is invalid or has expired")
        return JSONResponse(issue(rt, cid, code["business_id"], code["scope"]))
    if grant == "refresh_token":
        value = str(form.get("refresh_token", ""))
        entry = sb.refresh_tokens.get(value)
        if entry is None or entry["client_id"] != cid:
            return _token_error("invalid_grant", "The refresh token is invalid")
        # Each refresh returns a new refresh token (3rd-party guide; UNVERIFIED): the old one stops working.
        del sb.refresh_tokens[value]
        for tok in sb.access_tokens.values():
            if tok.get("refresh") == value:
                tok["exp"] = min(tok["exp"], sb.now())
        return JSONResponse(issue(rt, cid, entry["business_id"], entry["scope"]))
    return _token_error("unsupported_grant_type", f"grant_type {grant!r} is not supported")


def revoke_matching(rt: Runtime, client_id: str | None = None, business_id: str | None = None) -> int:
    sb = rt.sb
    n = 0
    for key, entry in list(sb.refresh_tokens.items()):
        if (client_id is None or entry["client_id"] == client_id) and (
            business_id is None or entry["business_id"] == business_id
        ):
            del sb.refresh_tokens[key]
            n += 1
    for key, tok in list(sb.access_tokens.items()):
        if (client_id is None or tok["client_id"] == client_id) and (
            business_id is None or tok["business_id"] == business_id
        ):
            del sb.access_tokens[key]
    sb.dirty = True
    return n
