"""A QuickBooks Online sandbox on loopback for the connector's and the engine's integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

REDIRECT_URI = "http://127.0.0.1:8000/integrations/qbo/callback"
# Scaled-up limits so tests are not paced to QBO's 500 calls a minute (pacing has its own tests).
FAST_CLIENT = {"per_minute": "100000", "per_second": "100000", "batch_per_minute": "100000"}
FAST_SANDBOX = {
    "rate_limits": {"minute": 100_000, "concurrent": 10, "batch_minute": 100_000, "batch_realm_minute": 100_000}
}


@dataclass
class QboSandboxHandle:
    url: str
    realm_id: str
    client_id: str
    client_secret: str
    control: httpx.Client

    @property
    def config(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": REDIRECT_URI,
            "base_url": self.url,
            **FAST_CLIENT,
        }

    def as_user(self, entity: str, body: dict[str, Any], params: dict[str, str] | None = None) -> dict[str, Any]:
        """Act as a person in QuickBooks (no auth, no limits, no faults)."""
        resp = self.control.post(f"/_sandbox/tenants/{self.realm_id}/as-user/{entity}", json=body, params=params)
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def dump(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control.get(f"/_sandbox/tenants/{self.realm_id}/dump").json()
        return result

    def records(self, entity: str) -> list[dict[str, Any]]:
        found = self.dump().get(entity) or []
        return list(found.values()) if isinstance(found, dict) else list(found)

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control.get("/_sandbox/counters").json()
        return result


@contextmanager
def qbo_sandbox(company: str = "Craig's Design and Landscaping") -> Iterator[QboSandboxHandle]:
    from ledgersync.sandbox.qbo import create_app
    from ledgersync.sandbox.server import serve_in_thread

    server = serve_in_thread(create_app())
    try:
        control = httpx.Client(base_url=server.url, timeout=30)
        control.put("/_sandbox/config", json=FAST_SANDBOX).raise_for_status()
        tenant = control.post("/_sandbox/tenants", json={"name": company}).json()
        secret = "qbo-secret"
        control.post(
            "/_sandbox/apps",
            json={"client_id": "LSQBO", "client_secret": secret, "redirect_uris": [REDIRECT_URI]},
        ).raise_for_status()
        yield QboSandboxHandle(server.url, str(tenant["realmId"]), "LSQBO", secret, control)
        control.close()
    finally:
        server.stop()


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.action:
            self.action = a.get("action", "")
        elif tag == "input" and a.get("name"):
            if a.get("type") == "radio" and "checked" not in a:
                return
            self.fields[a["name"]] = a.get("value", "")


def consent(authorization_url: str, realm_id: str | None = None, approve: bool = True) -> str:
    """Complete Intuit's consent page as a browser would; returns the callback's query string
    (code, state and realmId), which is what the app hands to `complete_connect` as the code."""
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        page = client.get(authorization_url)
        page.raise_for_status()
        form = _Form()
        form.feed(page.text)
        data = {**form.fields, "action": "allow" if approve else "deny"}
        if realm_id:
            data["realmId"] = realm_id
        resp = client.post(urljoin(str(page.url), form.action), data=data)
        assert resp.status_code in (302, 303), resp.text[:300]
        return urlsplit(resp.headers["location"]).query
