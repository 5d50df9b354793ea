"""QuickBooks Online's OAuth2 connect flow, and the company (realmId) that only the redirect names."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ledgersync.model import ErrorCode, ProviderError
from ledgersync.providers.qbo.oauth import ACCOUNTING_SCOPE, QboEndpoints, QboOAuth, QboToken, parse_callback

from ..fakes import Script, json_response, token

CONFIG = {
    "client_id": "app-1",
    "client_secret": "secret-1",
    "redirect_uri": "http://127.0.0.1:9/callback",
    "base_url": "http://qbo.test",
}
TOKENS = {"access_token": "a", "refresh_token": "r", "expires_in": 3600, "x_refresh_token_expires_in": 8726400}


def test_the_authorization_url_asks_for_the_accounting_scope_and_carries_state() -> None:
    url = QboOAuth(CONFIG).authorization_url("st-1")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://qbo.test/connect/oauth2"
    assert query["response_type"] == "code"
    assert query["client_id"] == "app-1"
    assert query["redirect_uri"] == CONFIG["redirect_uri"]
    assert query["state"] == "st-1"
    assert query["scope"] == ACCOUNTING_SCOPE


def test_a_sandbox_base_url_puts_every_endpoint_on_one_host() -> None:
    endpoints = QboEndpoints.from_config(CONFIG)
    assert endpoints.discovery == "http://qbo.test/.well-known/openid_configuration"
    assert endpoints.token == "http://qbo.test/oauth2/v1/tokens/bearer"
    assert endpoints.revocation == "http://qbo.test/v2/oauth2/tokens/revoke"
    assert endpoints.api == "http://qbo.test/v3"


def test_without_a_base_url_intuits_hosts_are_used_and_development_keys_reach_the_sandbox_api() -> None:
    production = QboEndpoints.from_config({})
    assert production.authorize == "https://appcenter.intuit.com/connect/oauth2"
    assert production.token == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    assert production.api == "https://quickbooks.api.intuit.com/v3"
    assert QboEndpoints.from_config({"environment": "sandbox"}).api == "https://sandbox-quickbooks.api.intuit.com/v3"


def test_the_code_is_exchanged_with_basic_client_auth_and_the_realm_kept_from_the_callback() -> None:
    script = Script([json_response(200, TOKENS)])
    tok = QboOAuth(CONFIG, transport=script.transport()).exchange("code=c-1&state=s&realmId=9130")
    assert isinstance(tok, QboToken)
    assert (tok.access_token, tok.refresh_token, tok.realm_id) == ("a", "r", "9130")
    assert not tok.expires_within(3500)
    request = script.requests[0]
    assert request.url.path == "/oauth2/v1/tokens/bearer"
    assert request.headers["authorization"].startswith("Basic ")
    form = parse_qs(request.content.decode())
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["c-1"]


def test_tenants_name_the_realm_from_its_company_info() -> None:
    info = {"CompanyInfo": {"CompanyName": "Craig's Design", "Id": "1"}, "time": "x"}
    script = Script([json_response(200, TOKENS), json_response(200, info)])
    flow = QboOAuth(CONFIG, transport=script.transport())
    tenants = flow.tenants(flow.exchange("http://app/cb?code=c-1&state=s&realmId=9130"))
    assert [(t.id, t.name) for t in tenants] == [("9130", "Craig's Design")]
    request = script.requests[1]
    assert request.url.path == "/v3/company/9130/companyinfo/9130"
    assert request.url.params["minorversion"] == "75"
    assert request.headers["authorization"] == "Bearer a"


def test_a_bare_code_gets_tokens_but_tenants_then_explain_the_missing_realm() -> None:
    script = Script([json_response(200, TOKENS)])
    flow = QboOAuth(CONFIG, transport=script.transport())
    tok = flow.exchange("c-1")
    with pytest.raises(ProviderError) as caught:
        flow.tenants(tok)
    assert "realmId" in caught.value.error.message


def test_a_used_code_is_refused_with_a_provider_error() -> None:
    script = Script([json_response(400, {"error": "invalid_grant"})])
    with pytest.raises(ProviderError):
        QboOAuth(CONFIG, transport=script.transport()).exchange("used")


def test_a_refused_refresh_is_auth_revoked_with_a_plain_reconnect_hint() -> None:
    script = Script([json_response(400, {"error": "invalid_grant"})])
    with pytest.raises(ProviderError) as caught:
        QboOAuth(CONFIG, transport=script.transport()).refresh(token())
    assert caught.value.error.code is ErrorCode.AUTH_REVOKED
    assert "Reconnect QuickBooks" in caught.value.error.hint


def test_a_refresh_returns_the_rotated_refresh_token() -> None:
    script = Script([json_response(200, {**TOKENS, "refresh_token": "r-2"})])
    fresh = QboOAuth(CONFIG, transport=script.transport()).refresh(token())
    assert fresh.refresh_token == "r-2"
    assert parse_qs(script.requests[0].content.decode())["refresh_token"] == ["rt-1"]


def test_an_unreachable_token_endpoint_is_transient_not_revoked() -> None:
    script = Script([httpx.ConnectError("down")])
    with pytest.raises(ProviderError) as caught:
        QboOAuth(CONFIG, transport=script.transport()).refresh(token())
    assert caught.value.error.code is ErrorCode.UNAVAILABLE


def test_revoke_posts_the_refresh_token_as_json_with_basic_auth() -> None:
    script = Script([httpx.Response(200)])
    QboOAuth(CONFIG, transport=script.transport()).revoke(token())
    request = script.requests[0]
    assert request.url.path == "/v2/oauth2/tokens/revoke"
    assert json.loads(request.content) == {"token": "rt-1"}
    assert request.headers["authorization"].startswith("Basic ")


def test_the_callback_yields_code_state_and_realm_or_a_clear_refusal() -> None:
    assert parse_callback("http://app/cb?code=c1&state=s1&realmId=42") == ("c1", "s1", "42")
    with pytest.raises(ProviderError):
        parse_callback("http://app/cb?error=access_denied&state=x")
