"""Fixtures for the QBO sandbox tests: one live server per session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks

from ledgersync.sandbox.qbo import QboSandbox, create_app
from ledgersync.sandbox.server import RunningServer, serve_in_thread

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO.parent / "shared" / "contracts" / "qbo"
REDIRECT = "http://localhost:9999/callback"
SCOPE = "com.intuit.quickbooks.accounting"


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, list[str]] = {}
        self.options: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            if a.get("type") == "radio":
                self.options.append(a.get("value") or "")
                if "checked" not in a:
                    return
            self.fields.setdefault(str(a["name"]), []).append(a.get("value") or "")


def consent_form(html: str) -> tuple[dict[str, list[str]], list[str]]:
    p = _FormParser()
    p.feed(html)
    return p.fields, p.options


@dataclass
class Sandbox:
    """A test's view of the running sandbox: control calls plus an authorised API client."""

    server: RunningServer
    sb: QboSandbox
    http: httpx.Client
    realm: str = ""
    client_id: str = "test-client"
    client_secret: str = "test-secret"
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def control(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return self.http.request(method, f"{self.url}/_sandbox{path}", json=json)

    def add_tenant(self, name: str = "Sandbox Company US 1") -> str:
        r = self.control("POST", "/tenants", {"name": name})
        assert r.status_code == 201, r.text
        return str(r.json()["tenantId"])

    def add_app(self, client_id: str = "test-client", secret: str = "test-secret", **extra: Any) -> httpx.Response:
        r = self.control(
            "POST",
            "/apps",
            {"client_id": client_id, "client_secret": secret, "redirect_uris": [REDIRECT], **extra},
        )
        assert r.status_code == 201, r.text
        return r

    def authorize(
        self, client_id: str | None = None, secret: str | None = None, realm: str | None = None
    ) -> dict[str, Any]:
        client_id = client_id or self.client_id
        secret = secret or self.client_secret
        r = self.http.get(
            f"{self.url}/connect/oauth2",
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "scope": SCOPE,
                "state": "xyz",
            },
        )
        assert r.status_code == 200, r.text
        form, _ = consent_form(r.text)
        if realm is not None:
            form["realmId"] = [realm]
        form["action"] = ["allow"]
        r = self.http.post(f"{self.url}/connect/oauth2", data=form, follow_redirects=False)
        assert r.status_code == 302, r.text
        q = parse_qs(urlparse(r.headers["location"]).query)
        assert q["state"] == ["xyz"]
        r = self.http.post(
            f"{self.url}/oauth2/v1/tokens/bearer",
            auth=(client_id, secret),
            data={"grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": REDIRECT},
        )
        assert r.status_code == 200, r.text
        return {**r.json(), "realmId": q["realmId"][0]}

    def setup(self) -> Sandbox:
        self.realm = self.add_tenant()
        self.add_app(self.client_id, self.client_secret)
        self.tokens = self.authorize()
        return self

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.tokens['access_token']}", "Accept": "application/json"}

    def api(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        realm: str | None = None,
        **kw: Any,
    ) -> httpx.Response:
        h = self.headers()
        h.update(headers or {})
        p = {"minorversion": "75", **(params or {})}
        return self.http.request(
            method, f"{self.url}/v3/company/{realm or self.realm}/{path}", json=json, params=p, headers=h, **kw
        )

    def ok(self, method: str, path: str, json: Any = None, params: Any = None) -> dict[str, Any]:
        r = self.api(method, path, json, params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert "Fault" not in body, body
        return dict(body)

    def fault(self, method: str, path: str, json: Any = None, params: Any = None) -> dict[str, Any]:
        r = self.api(method, path, json, params)
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["Fault"]["type"] == "ValidationFault" and "time" in body
        return dict(body["Fault"]["Error"][0])

    def query(self, q: str) -> dict[str, Any]:
        return dict(self.ok("GET", "query", params={"query": q})["QueryResponse"])

    def customer(self, name: str, **extra: Any) -> dict[str, Any]:
        return dict(self.ok("POST", "customer", {"DisplayName": name, **extra})["Customer"])

    def invoice(self, customer_id: str, *amounts: str, **extra: Any) -> dict[str, Any]:
        lines = [
            {"Amount": a, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            for a in amounts
        ]
        body = {"CustomerRef": {"value": customer_id}, "Line": lines, **extra}
        return dict(self.ok("POST", "invoice", body)["Invoice"])

    def as_user(self, method: str, path: str, json: Any = None, params: Any = None) -> httpx.Response:
        return self.http.request(
            method, f"{self.url}/_sandbox/tenants/{self.realm}/as-user/{path}", json=json, params=params
        )

    def dump(self) -> dict[str, Any]:
        return dict(self.control("GET", f"/tenants/{self.realm}/dump").json())


@pytest.fixture(scope="session")
def _server() -> Iterator[tuple[RunningServer, QboSandbox]]:
    sb = QboSandbox()
    with serve_in_thread(create_app(sb)) as server:
        yield server, sb


@pytest.fixture
def qs(_server: tuple[RunningServer, QboSandbox]) -> Iterator[Sandbox]:
    server, sb = _server
    with httpx.Client(timeout=10) as http:
        s = Sandbox(server, sb, http)
        assert s.control("POST", "/reset").status_code == 200
        s.control("PUT", "/config", {"webhook_retry_delays": [0.05, 0.1], "webhook_batch_window": 0.02})
        yield s


@pytest.fixture
def ready(qs: Sandbox) -> Sandbox:
    """A sandbox with one company, one app and a live token for it."""
    return qs.setup()


def contracts_dir() -> Path:
    if not (CONTRACTS / "Finance.xsd").exists():
        pytest.skip(f"QBO contracts not found at {CONTRACTS} (expected ../shared/contracts/qbo/ next to the repo)")
    return CONTRACTS


@pytest.fixture
def demo(qs: Sandbox) -> Sandbox:
    """A sandbox whose one company holds the demo records `--tenant` creates, with an app and a live token."""
    r = qs.control("POST", "/tenants", {"name": "Demo Workshop", "demo": True})
    assert r.status_code == 201, r.text
    qs.realm = str(r.json()["tenantId"])
    qs.add_app(qs.client_id, qs.client_secret)
    qs.tokens = qs.authorize()
    return qs


def auth_client(s: Sandbox, **kw: Any) -> AuthClient:
    """intuit-oauth's AuthClient reading the sandbox's discovery document."""
    return AuthClient(
        s.client_id,
        s.client_secret,
        REDIRECT,
        environment=f"{s.url}/.well-known/openid_configuration",
        **kw,
    )


def sdk_client(s: Sandbox) -> QuickBooks:
    """python-quickbooks pointed at the sandbox with `s`'s tokens (set OAUTHLIB_INSECURE_TRANSPORT first)."""
    auth = auth_client(s, access_token=s.tokens["access_token"], refresh_token=s.tokens["refresh_token"])
    qb = QuickBooks(
        auth_client=auth, refresh_token=s.tokens["refresh_token"], company_id=s.realm, minorversion=75, use_decimal=True
    )
    qb.api_url_v3 = f"{s.url}/v3"
    return qb
