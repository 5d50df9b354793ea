"""DEAR's API key entered on the dashboard's Integrations page: Refresh link opens a form of the flow's fields,
a refused key saves nothing and says why, the right one connects (checked with /me, stored encrypted)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgersync.demo import SandboxHandle, dear_sandbox
from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.web import create_user

from ...web.conftest import ADMIN, MEMBER, build_app, csrf_of, login


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with dear_sandbox() as sb:
        yield sb


def test_the_api_key_is_entered_on_the_integrations_page(
    tmp_path: Path, secret_key: str, sandbox: SandboxHandle
) -> None:
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'web.db'}", secret_keys=[secret_key], settings=EngineSettings(retry_base_seconds=0)
    )
    org = ls.create_organisation("Harbour Motors")
    conn = ls.connect(org, "dear", {"base_url": sandbox.url}).connection_id
    create_user(ls.store, *ADMIN, org, "admin", name="Ada Admin")
    create_user(ls.store, *MEMBER, org, "member", name="Mo Member")
    app = build_app(ls)
    with TestClient(app) as client:
        token = login(client, ADMIN)
        resp = client.post(f"/integrations/{conn}/refresh", data={"csrf_token": token}, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == f"/integrations/{conn}/credentials"
        page = client.get(f"/integrations/{conn}/credentials")
        assert 'name="account_id"' in page.text and 'name="application_key" type="password"' in page.text
        form = {"csrf_token": csrf_of(page.text), "account_id": sandbox.client_id, "application_key": "wrong"}
        refused = client.post(f"/integrations/{conn}/credentials", data=form)
        assert "Could not connect DEAR / Cin7 Core" in refused.text and "Nothing was saved" in refused.text
        assert ls.connection(conn).status != "connected" and "application_key" not in ls.store.credentials(conn)
        no_csrf = client.post(f"/integrations/{conn}/credentials", data={**form, "csrf_token": "x"})
        assert no_csrf.status_code in (400, 403)
        form["application_key"] = sandbox.client_secret
        done = client.post(f"/integrations/{conn}/credentials", data=form, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/integrations"
        assert "Connected to Demo Company (AU) Pty Ltd" in client.get("/integrations").text
    assert ls.connection(conn).status == "connected"
    assert ls.store.credentials(conn)["application_key"] == sandbox.client_secret
    with TestClient(app) as member:
        token = login(member, MEMBER)
        page = member.get(f"/integrations/{conn}/credentials")
        assert "Only an owner or admin" in page.text
        denied = member.post(
            f"/integrations/{conn}/credentials", data={"csrf_token": token, "account_id": "x", "application_key": "y"}
        )
        assert denied.status_code == 403
