"""Xero's OAuth2 connect flow."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ledgersync.model import ErrorCode, ProviderError
from ledgersync.providers.xero.oauth import XeroEndpoints, XeroOAuth, new_state, parse_callback

from ..fakes import CONFIG, Script, json_response, token


def test_the_authorization_url_asks_for_a_code_offline_access_and_carries_state() -> None:
    url = XeroOAuth(CONFIG).authorization_url("st-1")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://xero.test/identity/connect/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == "app-1"
    assert query["redirect_uri"] == CONFIG["redirect_uri"]
    assert query["state"] == "st-1"
    assert "offline_access" in query["scope"].split()
    assert "accounting.contacts" in query["scope"].split()


def test_without_a_base_url_the_real_xero_hosts_are_used() -> None:
    endpoints = XeroEndpoints.from_config({})
    assert endpoints.authorize == "https://login.xero.com/identity/connect/authorize"
    assert endpoints.token == "https://identity.xero.com/connect/token"
    assert endpoints.connections == "https://api.xero.com/connections"
    assert endpoints.api == "https://api.xero.com/api.xro/2.0"


def test_the_code_is_exchanged_with_basic_client_auth() -> None:
    script = Script([json_response(200, {"access_token": "a", "refresh_token": "r", "expires_in": 1800})])
    oauth = XeroOAuth(CONFIG, transport=script.transport())
    tok = oauth.exchange("code-1")
    assert (tok.access_token, tok.refresh_token) == ("a", "r")
    assert not tok.expires_within(1700)
    request = script.requests[0]
    assert request.headers["authorization"].startswith("Basic ")
    form = parse_qs(request.content.decode())
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["code-1"]


def test_a_used_code_is_refused_with_a_provider_error() -> None:
    script = Script([json_response(400, {"error": "invalid_grant"})])
    with pytest.raises(ProviderError):
        XeroOAuth(CONFIG, transport=script.transport()).exchange("used")


def test_tenants_come_from_connections() -> None:
    body = [
        {"tenantId": "t-1", "tenantName": "Demo Co", "tenantType": "ORGANISATION"},
        {"tenantId": "p-1", "tenantName": "Practice", "tenantType": "PRACTICE"},
    ]
    script = Script([json_response(200, body)])
    tenants = XeroOAuth(CONFIG, transport=script.transport()).tenants(token())
    assert [(t.id, t.name) for t in tenants] == [("t-1", "Demo Co")]
    assert script.requests[0].headers["authorization"] == "Bearer at-1"


def test_a_refused_refresh_is_auth_revoked_with_a_reconnect_hint() -> None:
    script = Script([json_response(400, {"error": "invalid_grant"})])
    with pytest.raises(ProviderError) as caught:
        XeroOAuth(CONFIG, transport=script.transport()).refresh(token())
    assert caught.value.error.code is ErrorCode.AUTH_REVOKED
    assert "Reconnect" in caught.value.error.hint and "Refresh link" in caught.value.error.hint


def test_an_unreachable_token_endpoint_is_transient_not_revoked() -> None:
    script = Script([httpx.ConnectError("down")])
    with pytest.raises(ProviderError) as caught:
        XeroOAuth(CONFIG, transport=script.transport()).refresh(token())
    assert caught.value.error.code is ErrorCode.UNAVAILABLE


def test_revoke_posts_the_refresh_token_to_the_revocation_endpoint() -> None:
    script = Script([httpx.Response(200)])
    XeroOAuth(CONFIG, transport=script.transport()).revoke(token())
    request = script.requests[0]
    assert request.url.path == "/connect/revocation"
    assert parse_qs(request.content.decode())["token"] == ["rt-1"]


def test_the_callback_yields_code_and_state_or_a_clear_refusal() -> None:
    state = new_state()
    assert parse_callback(f"http://app/cb?code=c1&state={state}") == ("c1", state)
    with pytest.raises(ProviderError):
        parse_callback("http://app/cb?error=access_denied&state=x")
