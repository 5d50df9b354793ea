"""Every action-centre fix through the API against the Xero sandbox, with roles enforced (403 for members)."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine.actions import Role
from ledgersync.model import Contact

from .conftest import Api, make_api

INVOICE: dict[str, Any] = {
    "contact_id": "c1",
    "number": "INV-0001",
    "date": "2026-11-02",
    "lines": [{"description": "Service", "unit_amount": "100.00", "account_code": "200", "tax_type": "NONE"}],
}


def act(api: Api, conn: str, entity: str, app_id: str, action: str, role: Role = Role.ADMIN, **body: Any) -> Any:
    return api.client.post(
        f"/v1/connections/{conn}/records/{entity}/{app_id}/actions/{action}",
        headers=api.a.h(role),
        json=body or None,
    )


def sync(api: Api, conn: str) -> dict[str, Any]:
    r = api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h(Role.MEMBER))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def put(api: Api, path: str, body: dict[str, Any]) -> None:
    api.client.put(f"/v1/{path}", headers=api.a.h(), json=body).raise_for_status()


def state(api: Api, path: str) -> str:
    return str(api.client.get(f"/v1/{path}", headers=api.a.h()).json()["state"])


def test_a_member_may_not_skip_but_an_admin_may(connected: tuple[Api, str]) -> None:
    api, conn = connected
    # A name the platform refuses; the REST API refuses it at the door (422), so it comes in through the
    # Python API, as an app's own import would.
    api.ls.upsert_contact(api.a.id, Contact(id="c1", name="Bad\x07 Name"))
    sync(api, conn)
    r = act(api, conn, "contact", "c1", "skip", Role.MEMBER)
    assert r.status_code == 403 and "owner or admin" in r.json()["detail"]
    assert state(api, "contacts/c1") == "failed"
    r = act(api, conn, "contact", "c1", "skip")
    assert r.status_code == 200 and r.json()["state"] == "skipped"


def test_exclude_then_include_then_retry_now(connected: tuple[Api, str], sandbox: XeroSandboxHandle) -> None:
    api, conn = connected
    put(api, "contacts/c1", {"name": "Gus"})
    assert act(api, conn, "contact", "c1", "exclude", Role.MEMBER).status_code == 403
    assert act(api, conn, "contact", "c1", "exclude").json()["state"] == "excluded"
    sync(api, conn)
    assert sandbox.dump()["Contacts"] == []
    assert act(api, conn, "contact", "c1", "include").json()["state"] == "pending"
    r = act(api, conn, "contact", "c1", "retry", Role.MEMBER)  # members may retry
    assert r.status_code == 200 and r.json()["state"] == "synced" and r.json()["report"]["pushed"] == {"contact": 1}
    assert r.json()["remote_id"] == sandbox.dump()["Contacts"][0]["ContactID"]


def test_merge_into_the_platform_contact_with_the_same_name(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle
) -> None:
    api, conn = connected
    sandbox.as_user("Contacts", {"Contacts": [{"Name": "Ann Lee"}]}, method="PUT")
    sync(api, conn)
    put(api, "contacts/c5", {"name": "Ann Lee", "email": "ann@app.example"})
    sync(api, conn)
    (err,) = api.client.get(f"/v1/connections/{conn}/errors", headers=api.a.h()).json()
    assert err["code"] == "duplicate_name" and "merge" in err["actions"]
    assert act(api, conn, "contact", "c5", "merge", Role.MEMBER).status_code == 403
    r = act(api, conn, "contact", "c5", "merge")
    assert r.status_code == 200, r.text
    xero_id = next(c["ContactID"] for c in sandbox.dump()["Contacts"] if c["Name"] == "Ann Lee")
    assert r.json()["state"] == "synced" and r.json()["remote_id"] == xero_id
    # merge is for contacts only
    put(api, "invoices/i1", {**INVOICE, "contact_id": "c5"})
    assert act(api, conn, "invoice", "i1", "merge").status_code == 409


def test_link_to_a_chosen_platform_record_and_bad_links_explain_themselves(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle
) -> None:
    api, conn = connected
    sandbox.as_user("Contacts", {"Contacts": [{"Name": "A. Lee Pty Ltd"}]}, method="PUT")
    xero_id = sandbox.dump()["Contacts"][0]["ContactID"]
    put(api, "contacts/c5", {"name": "Ann Lee"})
    assert act(api, conn, "contact", "c5", "link", Role.MEMBER, remote_id=xero_id).status_code == 403
    r = act(api, conn, "contact", "c5", "link", remote_id="00000000-0000-0000-0000-000000000000")
    assert r.status_code in (409, 502) and r.json()["detail"]
    r = act(api, conn, "contact", "c5", "link", remote_id=xero_id)
    assert r.status_code == 200 and r.json()["remote_id"] == xero_id and r.json()["state"] == "pending"
    sync(api, conn)
    assert [c["Name"] for c in sandbox.dump()["Contacts"]] == ["Ann Lee"]  # the app's details went to it
    assert act(api, conn, "contact", "c5", "link").status_code == 422  # remote_id is required


def test_record_credit_for_an_overpayment(tmp_path: Path, secret_key: str, sandbox: XeroSandboxHandle) -> None:
    api = make_api(tmp_path, secret_key, overpayments="ask")
    conn = api.connect(sandbox)
    put(api, "contacts/c1", {"name": "Cara"})
    put(api, "invoices/i1", INVOICE)
    put(
        api,
        "payments/p1",
        {
            "date": "2026-11-02",
            "amount": "150.00",
            "account_code": "090",
            "allocations": [{"invoice_id": "i1", "amount": "150.00"}],
        },
    )
    sync(api, conn)
    assert state(api, "payments/p1") == "failed"
    assert act(api, conn, "payment", "p1", "record_credit", Role.MEMBER).status_code == 403
    assert act(api, conn, "contact", "c1", "record_credit").status_code == 409  # payments only
    r = act(api, conn, "payment", "p1", "record_credit")
    assert r.status_code == 200 and r.json()["credit_id"] == "p1-credit"
    sync(api, conn)
    assert state(api, "payments/p1") == "synced" and state(api, "credits/p1-credit") == "synced"
    assert Decimal(str(sandbox.dump()["Overpayments"][0]["Total"])) == Decimal("50.00")


def test_restore_an_archived_platform_contact(connected: tuple[Api, str], sandbox: XeroSandboxHandle) -> None:
    api, conn = connected
    put(api, "contacts/c1", {"name": "Eve"})
    sync(api, conn)
    rid = api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["remote_id"]
    sandbox.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "ContactStatus": "ARCHIVED"}]})
    time.sleep(1.05)  # Xero's If-Modified-Since has one-second precision
    put(api, "invoices/i1", INVOICE)
    sync(api, conn)
    assert state(api, "invoices/i1") == "failed"
    assert act(api, conn, "contact", "c1", "restore", Role.MEMBER).status_code == 403
    r = act(api, conn, "contact", "c1", "restore")
    assert r.status_code == 200, r.text
    sync(api, conn)
    assert state(api, "invoices/i1") == "synced"


def test_actions_on_unknown_records_or_connections_are_404(connected: tuple[Api, str]) -> None:
    api, conn = connected
    assert act(api, conn, "contact", "nope", "skip").status_code == 404
    assert act(api, "conn_nope", "contact", "nope", "skip").status_code == 404
    assert act(api, conn, "gizmo", "x", "skip").status_code == 422


def test_a_connection_another_worker_holds_answers_409_with_a_plain_message(connected: tuple[Api, str]) -> None:
    api, conn = connected
    put(api, "contacts/c1", {"name": "Ann Lee"})
    assert api.ls.store.acquire_lease(conn, 600) is not None  # another worker is syncing it
    busy = f"Connection {conn} is being synced by another worker; try again in a minute."
    r = act(api, conn, "contact", "c1", "merge")
    assert r.status_code == 409 and r.json()["detail"] == busy and r.headers["Retry-After"]
    r = api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h(Role.MEMBER))
    assert r.status_code == 409 and r.json()["detail"] == busy
