"""Fixtures for the Xero sandbox tests: one live server per session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi

from ledgersync.sandbox.server import RunningServer, serve_in_thread
from ledgersync.sandbox.xero import XeroSandbox, create_app

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO.parent / "shared" / "contracts" / "xero"
REDIRECT = "http://localhost:9999/callback"
SCOPE = "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings"


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.fields.setdefault(str(a["name"]), []).append(a.get("value") or "")


def consent_form(html: str) -> dict[str, list[str]]:
    p = _FormParser()
    p.feed(html)
    return p.fields


@dataclass
class Sandbox:
    """A test's view of the running sandbox: control calls plus an authorised API client."""

    server: RunningServer
    sb: XeroSandbox
    http: httpx.Client
    tenant_id: str = ""
    client_id: str = "test-client"
    client_secret: str = "test-secret"
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def control(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return self.http.request(method, f"{self.url}/_sandbox{path}", json=json)

    def add_tenant(self, name: str = "Demo Company (AU)") -> str:
        r = self.control("POST", "/tenants", {"name": name})
        assert r.status_code == 201, r.text
        return str(r.json()["tenantId"])

    def add_app(
        self, client_id: str = "test-client", secret: str = "test-secret", **extra: Any
    ) -> httpx.Response:
        r = self.control(
            "POST",
            "/apps",
            {"client_id": client_id, "client_secret": secret, "redirect_uris": [REDIRECT], **extra},
        )
        assert r.status_code == 201, r.text
        return r

    def authorize(
        self,
        client_id: str | None = None,
        secret: str | None = None,
        tenants: list[str] | None = None,
        scope: str = SCOPE,
    ) -> dict[str, Any]:
        client_id = client_id or self.client_id
        secret = secret or self.client_secret
        r = self.http.get(
            f"{self.url}/identity/connect/authorize",
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "scope": scope,
                "state": "xyz",
            },
        )
        assert r.status_code == 200, r.text
        form = consent_form(r.text)
        if tenants is not None:
            form["tenantId"] = tenants
        form["action"] = ["allow"]
        r = self.http.post(f"{self.url}/identity/connect/authorize", data=form, follow_redirects=False)
        assert r.status_code == 302, r.text
        q = parse_qs(urlparse(r.headers["location"]).query)
        assert q["state"] == ["xyz"]
        r = self.http.post(
            f"{self.url}/connect/token",
            auth=(client_id, secret),
            data={"grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": REDIRECT},
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def setup(self) -> Sandbox:
        self.tenant_id = self.add_tenant()
        self.add_app(self.client_id, self.client_secret)
        self.tokens = self.authorize()
        return self

    def headers(self, token: str | None = None, tenant: str | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token or self.tokens['access_token']}",
            "xero-tenant-id": tenant or self.tenant_id,
            "Accept": "application/json",
        }

    def api(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        h = self.headers()
        h.update(headers or {})
        return self.http.request(
            method, f"{self.url}/api.xro/2.0/{path}", json=json, params=params, headers=h, **kw
        )

    def as_user(self, method: str, path: str, json: Any) -> httpx.Response:
        return self.control(method, f"/tenants/{self.tenant_id}/as-user/{path}", json)

    def dump(self) -> dict[str, Any]:
        return dict(self.control("GET", f"/tenants/{self.tenant_id}/dump").json())


@pytest.fixture(scope="session")
def _server() -> Iterator[tuple[RunningServer, XeroSandbox]]:
    sb = XeroSandbox()
    with serve_in_thread(create_app(sb)) as server:
        yield server, sb


@pytest.fixture
def xs(_server: tuple[RunningServer, XeroSandbox]) -> Iterator[Sandbox]:
    server, sb = _server
    with httpx.Client(timeout=10) as http:
        s = Sandbox(server, sb, http)
        assert s.control("POST", "/reset").status_code == 200
        s.control("PUT", "/config", {"webhook_retry_delays": [0.05, 0.1], "webhook_batch_window": 0.02})
        yield s


@pytest.fixture
def ready(xs: Sandbox) -> Sandbox:
    """A sandbox with one tenant, one app and a live token for it."""
    return xs.setup()


def contracts_dir() -> Path:
    if not (CONTRACTS / "xero_accounting.yaml").exists():
        pytest.skip(
            f"Xero contracts not found at {CONTRACTS} (expected ../shared/contracts/xero/ next to the repo)"
        )
    return CONTRACTS


def sdk_client(s: Sandbox, monkeypatch: pytest.MonkeyPatch) -> tuple[AccountingApi, ApiClient, dict[str, Any]]:
    """xero-python's AccountingApi pointed at the sandbox, holding `s`'s tokens (and saving refreshed ones)."""
    # api-facts §5.2: the token endpoints are class attributes of TokenApi.
    monkeypatch.setattr(TokenApi, "refresh_token_url", f"{s.url}/connect/token")
    monkeypatch.setattr(TokenApi, "revoke_token_url", f"{s.url}/connect/revocation")
    store: dict[str, Any] = {"token": dict(s.tokens)}
    client = ApiClient(
        Configuration(oauth2_token=OAuth2Token(client_id=s.client_id, client_secret=s.client_secret)),
        pool_threads=1,
    )

    @client.oauth2_token_getter
    def _get() -> dict[str, Any]:
        return dict(store["token"])

    @client.oauth2_token_saver
    def _save(token: dict[str, Any]) -> None:
        store["token"] = dict(token)

    client.set_oauth2_token(dict(s.tokens))
    return AccountingApi(client, base_url=f"{s.url}/api.xro/2.0"), client, store
