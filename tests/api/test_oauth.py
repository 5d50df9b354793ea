"""Connecting through the API: the consent URL, the callback (state checked), refresh link, disconnect."""

from __future__ import annotations

from ledgersync.demo import XeroSandboxHandle, consent
from ledgersync.engine.actions import Role

from ..engine.conftest import FAST_CLIENT
from .conftest import Api


def test_connect_through_the_oauth_redirect_then_sync(api: Api, sandbox: XeroSandboxHandle) -> None:
    conn = api.connect(sandbox)
    got = api.client.get(f"/v1/connections/{conn}", headers=api.a.h(Role.MEMBER)).json()
    assert got["status"] == "connected" and got["tenant_id"] == sandbox.tenant_id
    assert "client_secret" in got["config_keys"] and sandbox.client_secret not in str(got)
    assert got["webhook_path"] == f"/v1/webhooks/xero/{conn}"
    assert api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).json()["status"] == "ok"


def test_a_bad_or_reused_state_is_refused_with_400(api: Api, sandbox: XeroSandboxHandle) -> None:
    r = api.client.post(
        "/v1/connections", headers=api.a.h(), json={"provider": "xero", "config": {**sandbox.config, **FAST_CLIENT}}
    )
    code, state = consent(r.json()["authorization_url"], choose={"tenantId": sandbox.tenant_id})
    bad = api.client.get("/v1/oauth/callback", params={"code": code, "state": "forged"}, follow_redirects=False)
    assert bad.status_code == 400 and "state" in bad.json()["detail"]
    ok = api.client.get("/v1/oauth/callback", params={"code": code, "state": state}, follow_redirects=False)
    assert ok.status_code == 303
    again = api.client.get("/v1/oauth/callback", params={"code": code, "state": state}, follow_redirects=False)
    assert again.status_code == 400
    conn = r.json()["connection_id"]
    assert api.client.get(f"/v1/connections/{conn}", headers=api.a.h()).json()["status"] == "connected"


def test_a_refused_consent_goes_back_to_the_dashboard_with_the_reason(api: Api, sandbox: XeroSandboxHandle) -> None:
    r = api.client.post("/v1/connections", headers=api.a.h(), json={"provider": "xero", "config": sandbox.config})
    state = r.json()["authorization_url"].split("state=")[1].split("&")[0]
    cb = api.client.get("/v1/oauth/callback", params={"error": "access_denied", "state": state}, follow_redirects=False)
    assert cb.status_code == 303 and "error=access_denied" in cb.headers["location"]


def test_members_cannot_connect_and_unknown_providers_are_422(api: Api, sandbox: XeroSandboxHandle) -> None:
    body = {"provider": "xero", "config": sandbox.config}
    assert api.client.post("/v1/connections", headers=api.a.h(Role.MEMBER), json=body).status_code == 403
    r = api.client.post("/v1/connections", headers=api.a.h(), json={"provider": "sage", "config": {}})
    assert r.status_code == 422 and "unknown provider" in r.json()["detail"]


def test_refresh_link_keeps_the_connection_and_disconnect_stops_sync(api: Api, sandbox: XeroSandboxHandle) -> None:
    conn = api.connect(sandbox)
    r = api.client.post(f"/v1/connections/{conn}/refresh-link", headers=api.a.h())
    assert r.status_code == 200 and r.json()["connection_id"] == conn
    code, state = consent(r.json()["authorization_url"], choose={"tenantId": sandbox.tenant_id})
    cb = api.client.get("/v1/oauth/callback", params={"code": code, "state": state}, follow_redirects=False)
    assert cb.status_code == 303 and cb.headers["location"].endswith(f"connected={conn}")
    assert api.client.post(f"/v1/connections/{conn}/disconnect", headers=api.a.h(Role.MEMBER)).status_code == 403
    out = api.client.post(f"/v1/connections/{conn}/disconnect", headers=api.a.h())
    assert out.status_code == 200 and out.json()["status"] == "disconnected"
    r = api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h())
    assert r.status_code == 409 and "disconnected" in r.json()["detail"]
