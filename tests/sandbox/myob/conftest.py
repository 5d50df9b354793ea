"""A MYOB sandbox on loopback with one business and one API key, and pymyob pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ledgersync.sandbox.myob import MyobSandbox, create_app
from ledgersync.sandbox.server import serve_in_thread

REDIRECT = "http://127.0.0.1:9/callback"


@dataclass
class Running:
    url: str
    sb: MyobSandbox
    control: httpx.Client
    business_id: str
    client_id: str = "SANDBOXKEY"
    client_secret: str = "sandbox-secret"

    def account(self, display: str) -> dict[str, Any]:
        return next(
            a
            for a in self.sb.tenants[self.business_id].data["GeneralLedger/Account"].values()
            if a["DisplayID"] == display
        )

    def tax(self, code: str) -> dict[str, Any]:
        return next(
            t for t in self.sb.tenants[self.business_id].data["GeneralLedger/TaxCode"].values() if t["Code"] == code
        )


@pytest.fixture
def running() -> Iterator[Running]:
    sb = MyobSandbox()
    server = serve_in_thread(create_app(sb))
    try:
        control = httpx.Client(base_url=server.url, timeout=30)
        business = control.post("/_sandbox/tenants", json={"name": "Harbour Motors Pty Ltd"}).json()["tenantId"]
        control.post(
            "/_sandbox/apps",
            json={"client_id": "SANDBOXKEY", "client_secret": "sandbox-secret", "redirect_uris": [REDIRECT]},
        ).raise_for_status()
        yield Running(server.url, sb, control, business)
        control.close()
    finally:
        server.stop()


@pytest.fixture
def pymyob_at(running: Running, monkeypatch: pytest.MonkeyPatch) -> Running:
    """pymyob 3.x with its hosts pointed at the sandbox. It copies myob.constants' values into the modules that
    use them at import (`from .constants import MYOB_BASE_URL`), so those copies are patched too."""
    import myob.constants
    import myob.credentials
    import myob.managers

    monkeypatch.setattr(myob.constants, "MYOB_BASE_URL", f"{running.url}/accountright/")
    monkeypatch.setattr(myob.constants, "MYOB_PARTNER_BASE_URL", f"{running.url}/oauth2/")
    monkeypatch.setattr(myob.managers, "MYOB_BASE_URL", f"{running.url}/accountright/")
    monkeypatch.setattr(myob.credentials, "MYOB_PARTNER_BASE_URL", f"{running.url}/oauth2/")
    # requests-oauthlib refuses plain http unless told it is a local test.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    return running


def authorization_url(running: Running, scope: str = "CompanyFile", state: str = "s1") -> str:
    from urllib.parse import urlencode

    query = {
        "client_id": running.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": scope,
        "state": state,
        "prompt": "consent",
    }
    return f"{running.url}/oauth2/account/authorize?{urlencode(query)}"


def token_for(running: Running, scope: str = "CompanyFile") -> dict[str, Any]:
    from urllib.parse import parse_qs

    from ledgersync.demo import consent_callback

    query = parse_qs(consent_callback(authorization_url(running, scope)))
    resp = running.control.post(
        "/oauth2/v1/authorize",
        data={
            "client_id": running.client_id,
            "client_secret": running.client_secret,
            "redirect_uri": REDIRECT,
            "code": query["code"][0],
            "grant_type": "authorization_code",
            "scope": scope,
        },
    )
    resp.raise_for_status()
    token: dict[str, Any] = resp.json()
    return token


def api_client(running: Running, scope: str = "CompanyFile") -> httpx.Client:
    """An HTTP client that sends what MYOB requires: the bearer token, the API key and API version 2."""
    token = token_for(running, scope)
    return httpx.Client(
        base_url=f"{running.url}/accountright/{running.business_id}",
        headers={
            "Authorization": f"Bearer {token['access_token']}",
            "x-myobapi-key": running.client_id,
            "x-myobapi-version": "v2",
        },
        timeout=30,
    )


@pytest.fixture
def api(running: Running) -> Iterator[httpx.Client]:
    running.control.put("/_sandbox/config", json={"rate_limits": {"second": 10_000}}).raise_for_status()
    with api_client(running) as client:
        yield client
