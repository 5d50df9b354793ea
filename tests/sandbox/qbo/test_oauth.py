"""Intuit OAuth: discovery, code flow, rotation with grace, expiry, revocation and the 401/403 bodies."""

from __future__ import annotations

from .conftest import REDIRECT, Sandbox


def _refresh(s: Sandbox, token: str) -> tuple[int, dict[str, object]]:
    r = s.http.post(
        f"{s.url}/oauth2/v1/tokens/bearer",
        auth=(s.client_id, s.client_secret),
        data={"grant_type": "refresh_token", "refresh_token": token},
    )
    return r.status_code, r.json()


def test_discovery_document(qs: Sandbox) -> None:
    d = qs.http.get(f"{qs.url}/.well-known/openid_configuration").json()
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "issuer",
        "jwks_uri",
        "userinfo_endpoint",
    ):
        assert d[key].startswith(qs.url)
    assert d["token_endpoint"].endswith("/oauth2/v1/tokens/bearer")


def test_code_flow_response_and_single_use_code(qs: Sandbox) -> None:
    qs.realm = qs.add_tenant()
    second = qs.add_tenant("Second Co")
    qs.add_app()
    tok = qs.tokens = qs.authorize(realm=second)
    assert tok["realmId"] == second and tok["token_type"] == "bearer" and tok["expires_in"] == 3600
    assert 8_726_390 < tok["x_refresh_token_expires_in"] <= 8_726_400
    # the token is bound to the company chosen on the consent page
    r = qs.api("GET", "item/1", headers={"Authorization": f"Bearer {tok['access_token']}"})
    assert r.status_code == 403 and r.json()["fault"]["error"][0]["code"] == "3100"
    r = qs.api("GET", "item/1", headers={"Authorization": f"Bearer {tok['access_token']}"}, realm=second)
    assert r.status_code == 200


def test_refresh_rotation_grace_and_rolling_expiry(ready: Sandbox) -> None:
    first = ready.tokens["refresh_token"]
    status, body = _refresh(ready, first)
    assert status == 200 and body["refresh_token"] == first  # value only changes after ~24 h
    ready.control("PUT", "/config", {"refresh_rotate_after": 0, "refresh_grace": 3600})
    status, body = _refresh(ready, first)
    second = str(body["refresh_token"])
    assert status == 200 and second != first
    status, body = _refresh(ready, first)  # superseded but inside the grace period
    assert status == 200 and body["refresh_token"] != first
    ready.control("POST", "/clock", {"advance_seconds": 3601})
    status, body = _refresh(ready, first)
    assert status == 400 and body["error"] == "invalid_grant"
    latest = ready.sb.refresh_tokens
    current = next(k for k, v in latest.items() if v["superseded_at"] is None and not v["revoked"])
    assert _refresh(ready, current)[0] == 200
    assert ready.control("GET", "/counters").json()["token_grants"] == {"authorization_code": 1, "refresh_token": 5}


def test_refresh_token_expires_after_100_days_unused(ready: Sandbox) -> None:
    ready.control("POST", "/clock", {"advance_seconds": 8_726_401})
    status, body = _refresh(ready, ready.tokens["refresh_token"])
    assert status == 400 and body["error"] == "invalid_grant"


def test_expired_access_token_401_body(ready: Sandbox) -> None:
    assert ready.api("GET", "item/1").status_code == 200
    assert ready.control("POST", "/tokens/expire").json() == {"expired": 1}
    r = ready.api("GET", "item/1")
    assert r.status_code == 401
    err = r.json()["fault"]["error"][0]
    assert err["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert err["code"] == "3200" and err["detail"].startswith("Token expired: ")
    assert r.json()["fault"]["type"] == "AUTHENTICATION"
    status, body = _refresh(ready, ready.tokens["refresh_token"])
    assert status == 200
    assert ready.api("GET", "item/1", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200


def test_access_token_lifetime_is_configurable(ready: Sandbox) -> None:
    ready.control("PUT", "/config", {"access_token_ttl": 5})
    _, body = _refresh(ready, ready.tokens["refresh_token"])
    assert body["expires_in"] == 5
    ready.control("POST", "/clock", {"advance_seconds": 6})
    assert ready.api("GET", "item/1", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 401


def test_revocation_endpoint_and_control_revoke(ready: Sandbox) -> None:
    r = ready.http.post(
        f"{ready.url}/v2/oauth2/tokens/revoke",
        auth=(ready.client_id, ready.client_secret),
        json={"token": ready.tokens["refresh_token"]},
    )
    assert r.status_code == 200
    assert ready.api("GET", "item/1").status_code == 401
    assert _refresh(ready, ready.tokens["refresh_token"])[1] == {
        "error": "invalid_grant",
        "error_description": "Incorrect or invalid refresh token",
    }
    ready.tokens = ready.authorize()
    assert ready.api("GET", "item/1").status_code == 200
    assert ready.control("POST", "/tokens/revoke", {"tenantId": ready.realm}).json()["revoked"] == 2
    assert ready.api("GET", "item/1").status_code == 401


def test_bad_client_and_redirect(qs: Sandbox) -> None:
    qs.add_app()
    r = qs.http.post(
        f"{qs.url}/oauth2/v1/tokens/bearer", auth=("test-client", "nope"), data={"grant_type": "refresh_token"}
    )
    assert r.status_code == 401 and r.json() == {"error": "invalid_client"}
    r = qs.http.get(
        f"{qs.url}/connect/oauth2",
        params={"client_id": "test-client", "redirect_uri": "http://evil", "response_type": "code"},
    )
    assert r.status_code == 400
    r = qs.http.get(
        f"{qs.url}/connect/oauth2",
        params={"client_id": "test-client", "redirect_uri": REDIRECT, "response_type": "code"},
    )
    assert r.status_code == 200 and 'name="realmId"' not in r.text  # no companies yet
