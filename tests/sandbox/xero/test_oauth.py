"""OAuth2 emulation: code flow, denial, refresh rotation and grace, expiry, revocation, connections."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from .conftest import REDIRECT, Sandbox, consent_form


def _refresh(xs: Sandbox, token: str) -> tuple[int, dict[str, str]]:
    r = xs.http.post(
        f"{xs.url}/connect/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": xs.client_id,
            "client_secret": xs.client_secret,
        },
    )
    return r.status_code, r.json()


def test_code_flow_issues_tokens_and_code_is_single_use(xs: Sandbox) -> None:
    xs.tenant_id = xs.add_tenant()
    xs.add_app()
    r = xs.http.get(
        f"{xs.url}/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": xs.client_id,
            "redirect_uri": REDIRECT,
            "scope": "offline_access accounting.contacts",
            "state": "s1",
        },
    )
    assert "Demo Company (AU)" in r.text
    form = consent_form(r.text)
    form["action"] = ["allow"]
    r = xs.http.post(f"{xs.url}/identity/connect/authorize", data=form)
    assert r.status_code == 302
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    bad = xs.http.post(
        f"{xs.url}/connect/token",
        auth=(xs.client_id, xs.client_secret),
        data={**body, "redirect_uri": "http://evil/cb"},
    )
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_grant"}
    ok = xs.http.post(f"{xs.url}/connect/token", auth=(xs.client_id, xs.client_secret), data=body)
    tok = ok.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 1800 and tok["refresh_token"]
    assert "id_token" not in tok  # no openid scope requested
    again = xs.http.post(f"{xs.url}/connect/token", auth=(xs.client_id, xs.client_secret), data=body)
    assert again.status_code == 400
    conns = xs.http.get(
        f"{xs.url}/connections", headers={"Authorization": f"Bearer {tok['access_token']}"}
    ).json()
    assert conns[0]["tenantId"] == xs.tenant_id and conns[0]["tenantType"] == "ORGANISATION"


def test_deny_and_bad_client(xs: Sandbox) -> None:
    xs.add_tenant()
    xs.add_app()
    params = {
        "response_type": "code",
        "client_id": xs.client_id,
        "redirect_uri": REDIRECT,
        "scope": "x",
        "state": "s2",
    }
    form = consent_form(xs.http.get(f"{xs.url}/identity/connect/authorize", params=params).text)
    form["action"] = ["deny"]
    r = xs.http.post(f"{xs.url}/identity/connect/authorize", data=form)
    assert parse_qs(urlparse(r.headers["location"]).query) == {"error": ["access_denied"], "state": ["s2"]}
    r = xs.http.get(f"{xs.url}/identity/connect/authorize", params={**params, "client_id": "nope"})
    assert r.status_code == 400 and "location" not in r.headers
    r = xs.http.get(
        f"{xs.url}/identity/connect/authorize", params={**params, "redirect_uri": "http://other/cb"}
    )
    assert r.status_code == 400


def test_refresh_rotation_and_grace(ready: Sandbox) -> None:
    ready.control("PUT", "/config", {"refresh_grace": 60})
    first = ready.tokens["refresh_token"]
    status, second = _refresh(ready, first)
    assert status == 200 and second["refresh_token"] != first
    # Lost response: the old token still works within the grace period and yields a fresh pair.
    status, retry = _refresh(ready, first)
    assert status == 200 and retry["refresh_token"] not in (first, second["refresh_token"])
    ready.control("POST", "/clock", {"advance_seconds": 61})
    status, body = _refresh(ready, first)
    assert (status, body) == (400, {"error": "invalid_grant"})
    status, _ = _refresh(ready, retry["refresh_token"])
    assert status == 200


def test_refresh_token_expires_after_ttl_unused(ready: Sandbox) -> None:
    ready.control("POST", "/clock", {"advance_seconds": 60 * 24 * 3600 + 1})
    assert _refresh(ready, ready.tokens["refresh_token"])[0] == 400


def test_access_token_expiry_and_revocation(ready: Sandbox) -> None:
    assert ready.api("GET", "Contacts").status_code == 200
    ready.control("POST", "/tokens/expire")
    r = ready.api("GET", "Contacts")
    assert r.status_code == 401 and r.json()["Detail"].startswith("TokenExpired: token expired at ")
    _, fresh = _refresh(ready, ready.tokens["refresh_token"])
    ready.tokens = fresh
    assert ready.api("GET", "Contacts").status_code == 200
    ready.control("POST", "/tokens/revoke", {"client_id": ready.client_id})
    r = ready.api("GET", "Contacts")
    assert r.status_code == 401 and r.json()["Detail"] == "AuthenticationUnsuccessful"
    assert _refresh(ready, fresh["refresh_token"]) == (400, {"error": "invalid_grant"})


def test_revocation_endpoint_removes_connections(ready: Sandbox) -> None:
    r = ready.http.post(
        f"{ready.url}/connect/revocation",
        auth=(ready.client_id, ready.client_secret),
        data={"token": ready.tokens["refresh_token"]},
    )
    assert r.status_code == 200
    assert ready.api("GET", "Contacts").status_code == 401
    assert _refresh(ready, ready.tokens["refresh_token"])[0] == 400


def test_tenant_header_rules_and_disconnect(ready: Sandbox) -> None:
    r = ready.http.get(
        f"{ready.url}/api.xro/2.0/Contacts",
        headers={"Authorization": f"Bearer {ready.tokens['access_token']}"},
    )
    assert r.status_code == 403 and r.json()["Title"] == "Forbidden"
    other = ready.add_tenant("Not granted")
    assert ready.api("GET", "Contacts", headers={"xero-tenant-id": other}).status_code == 403
    assert ready.api("GET", "Contacts", headers={"Authorization": "Bearer nope"}).status_code == 401
    auth = {"Authorization": f"Bearer {ready.tokens['access_token']}"}
    conn = ready.http.get(f"{ready.url}/connections", headers=auth).json()[0]
    assert ready.http.delete(f"{ready.url}/connections/{conn['id']}", headers=auth).status_code == 204
    assert ready.api("GET", "Contacts").status_code == 403
