"""The dashboard's side of issue 15: a conflict's page shows both versions with Keep the app's / Keep the
platform's, and "Check against Xero" runs verify and says what it found."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgersync.demo import SandboxHandle
from ledgersync.model import Contact, Entity

from .conftest import ADMIN, MEMBER, Web, csrf_of, invoice, login, make_web


@pytest.fixture
def web(sandbox: SandboxHandle, tmp_path: Path, secret_key: str) -> Web:
    return make_web(sandbox, tmp_path, secret_key, conflict_policy="ask")


def conflict(web: Web) -> None:
    web.ls.upsert_contact(web.org, Contact(id="c1", name="Ben Brown"))
    web.ls.upsert_invoice(web.org, invoice(1, "c1"))
    web.ls.sync(web.conn)
    rid = web.remote(Entity.INVOICE, "i1")
    web.sandbox.as_user(f"Invoices/{rid}", {"Invoices": [{"InvoiceID": rid, "Reference": "XERO-SIDE"}]})
    web.ls.upsert_invoice(web.org, invoice(1, "c1").model_copy(update={"reference": "APP-SIDE"}))
    web.ls.sync(web.conn)
    assert web.state(Entity.INVOICE, "i1") == "conflict"


def test_a_conflict_shows_both_versions_and_keep_the_platforms_settles_it(web: Web) -> None:
    conflict(web)
    with TestClient(web.app) as client:
        token = login(client, ADMIN)
        page = client.get("/records/invoice/i1").text
        assert "Changed on both sides" in page and "APP-SIDE" in page and "XERO-SIDE" in page
        assert 'data-action="keep_app"' in page and 'data-action="keep_platform"' in page
        assert "Conflict" in client.get("/errors").text
        data = {"conn": web.conn, "entity": "invoice", "app_id": "i1", "next": "/errors", "csrf_token": token}
        resp = client.post("/actions/keep_platform", data=data, follow_redirects=False)
        assert resp.status_code == 303
    assert web.state(Entity.INVOICE, "i1") == "synced"
    view = web.ls.get(web.org, Entity.INVOICE, "i1")
    assert view is not None and view.record.reference == "XERO-SIDE"  # type: ignore[attr-defined]


def test_a_member_sees_keep_disabled_and_check_against_xero_reports(web: Web) -> None:
    conflict(web)
    with TestClient(web.app) as client:
        login(client, MEMBER)
        page = client.get("/records/invoice/i1").text
        assert "Only an owner or admin can keep the app" in page
        integrations = client.get("/integrations").text
        assert "Check against Xero" in integrations
        resp = client.post(
            "/verify", data={"conn": web.conn, "next": "/integrations", "csrf_token": csrf_of(integrations)}
        )
        assert resp.status_code == 200 and "Checked against Xero" in resp.text
