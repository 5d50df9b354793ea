"""Fixtures for API tests: a LedgerSync behind the FastAPI app, two organisations with keys per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledgersync.api import ApiSettings, create_app, issue_key
from ledgersync.demo import XeroSandboxHandle, consent, xero_sandbox
from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.engine.actions import Role

from ..engine.conftest import FAST_CLIENT, FAST_LIMITS

ADMIN_TOKEN = "test-admin-token"


def fast_settings(**overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "session_secret": "test-session-secret",
        "admin_token": ADMIN_TOKEN,
        "dashboard_url": "/integrations",
        "webhook_backoff_base": 0.2,
        "webhook_backoff_factor": 2.0,
        "webhook_max_attempts": 5,
        "webhook_timeout": 5.0,
        "deliver_every_seconds": 0.05,
        "refresh_wait_seconds": 10.0,
        # The operator's opt-ins for local development, which these tests are: the sandboxes and the
        # webhook receivers listen on loopback. tests/api/test_security.py turns them off to show the refusals.
        "allow_private_urls": True,
        "allowed_base_urls": ["http://127.0.0.1:*"],
    }
    values.update(overrides)
    return ApiSettings(**values)


@dataclass
class Org:
    id: str
    keys: dict[Role, str] = field(default_factory=dict)

    def h(self, role: Role = Role.OWNER) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@dataclass
class Api:
    ls: LedgerSync
    app: FastAPI
    client: TestClient
    a: Org
    b: Org
    settings: ApiSettings

    def connect(self, sandbox: XeroSandboxHandle, org: Org | None = None, **config: str) -> str:
        """Connect `org` (default A) to the sandbox through the API's OAuth routes, as a browser would."""
        org = org or self.a
        r = self.client.post(
            "/v1/connections",
            headers=org.h(),
            json={"provider": "xero", "config": {**sandbox.config, **FAST_CLIENT, **config}},
        )
        assert r.status_code == 201, r.text
        code, state = consent(r.json()["authorization_url"], choose={"tenantId": sandbox.tenant_id})
        cb = self.client.get("/v1/oauth/callback", params={"code": code, "state": state}, follow_redirects=False)
        assert cb.status_code == 303, cb.text
        conn_id: str = r.json()["connection_id"]
        assert cb.headers["location"] == f"/integrations?connected={conn_id}"
        return conn_id


def make_org(ls: LedgerSync, name: str) -> Org:
    org = Org(ls.create_organisation(name))
    for role in Role:
        org.keys[role] = issue_key(ls, org.id, role, f"{name} {role.value}").token
    return org


def make_api(tmp_path: Path, secret_key: str, settings: ApiSettings | None = None, **engine: Any) -> Api:
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'api.db'}",
        secret_keys=[secret_key],
        settings=EngineSettings(**{"retry_base_seconds": 0, **engine}),
    )
    settings = settings or fast_settings()
    app = create_app(ls, settings=settings)
    return Api(ls, app, TestClient(app), make_org(ls, "Org A"), make_org(ls, "Org B"), settings)


@pytest.fixture
def api(tmp_path: Path, secret_key: str) -> Api:
    return make_api(tmp_path, secret_key)


@pytest.fixture
def sandbox() -> Iterator[XeroSandboxHandle]:
    with xero_sandbox(config=FAST_LIMITS) as sb:
        yield sb


@pytest.fixture
def connected(api: Api, sandbox: XeroSandboxHandle) -> tuple[Api, str]:
    return api, api.connect(sandbox)


def wait_for(predicate: Any, timeout: float = 15.0, every: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy (background work over real HTTP); returns its value."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(every)


__all__ = ["ADMIN_TOKEN", "Api", "Org", "fast_settings", "httpx", "make_api", "wait_for"]


def queue_event(ls: LedgerSync, org_id: str, type_: str, payload: dict[str, Any]) -> None:
    """Queue an app event the way the engine does, for tests of its delivery."""
    with ls.store.session() as s:
        ls.store.emit(s, org_id, type_, None, None, payload)
