"""Conflict and drift through the REST API against the Xero sandbox: both versions side by side, Keep the app's /
Keep the platform's with roles enforced, and verify as a route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine.actions import Role

from .conftest import make_api

INVOICE: dict[str, Any] = {
    "contact_id": "c1",
    "number": "INV-0001",
    "date": "2026-11-02",
    "reference": "ORIGINAL",
    "lines": [{"description": "Service", "unit_amount": "100.00", "account_code": "200", "tax_type": "NONE"}],
}


def test_a_conflict_shows_both_versions_and_keep_the_platforms_settles_it(
    tmp_path: Path, secret_key: str, sandbox: XeroSandboxHandle
) -> None:
    api = make_api(tmp_path, secret_key, conflict_policy="ask")
    conn = api.connect(sandbox)
    h = api.a.h()
    api.client.put("/v1/contacts/c1", headers=h, json={"name": "Ann Lee"}).raise_for_status()
    api.client.put("/v1/invoices/i1", headers=h, json=INVOICE).raise_for_status()
    api.client.post(f"/v1/connections/{conn}/sync", headers=h).raise_for_status()
    rid = api.client.get("/v1/invoices/i1", headers=h).json()["remote_id"]
    sandbox.as_user(f"Invoices/{rid}", {"Invoices": [{"InvoiceID": rid, "Reference": "FROM XERO"}]})
    api.client.put("/v1/invoices/i1", headers=h, json={**INVOICE, "reference": "FROM THE APP"}).raise_for_status()
    api.client.post(f"/v1/connections/{conn}/sync", headers=h).raise_for_status()
    assert api.client.get("/v1/invoices/i1", headers=h).json()["state"] == "conflict"
    (err,) = api.client.get(f"/v1/connections/{conn}/errors", headers=h).json()
    assert err["state"] == "conflict" and err["actions"] == ["keep_app", "keep_platform", "skip"]
    d = api.client.get(f"/v1/connections/{conn}/records/invoice/i1/divergence", headers=h)
    assert d.status_code == 200, d.text
    body = d.json()
    assert body["kind"] == "conflict" and body["fields"] == [
        {"field": "reference", "app": "FROM THE APP", "platform": "FROM XERO"}
    ]
    assert body["app_version"]["reference"] == "FROM THE APP"
    assert body["platform_version"]["reference"] == "FROM XERO"
    path = f"/v1/connections/{conn}/records/invoice/i1/actions"
    r = api.client.post(f"{path}/keep_platform", headers=api.a.h(Role.MEMBER))
    assert r.status_code == 403
    r = api.client.post(f"{path}/keep_platform", headers=api.a.h(Role.ADMIN))
    assert r.status_code == 200 and r.json()["state"] == "synced", r.text
    got = api.client.get("/v1/invoices/i1", headers=h).json()
    assert got["record"]["reference"] == "FROM XERO"
    assert api.client.get(f"/v1/connections/{conn}/records/invoice/i1/divergence", headers=h).status_code == 404
    v = api.client.post(f"/v1/connections/{conn}/verify", headers=api.a.h(Role.MEMBER))
    assert v.status_code == 200 and v.json()["agree"], v.text
    # The states filter takes the new states.
    assert api.client.get(f"/v1/connections/{conn}/states?state=drifted", headers=h).status_code == 200
