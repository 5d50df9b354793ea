"""Account controls through the REST API against the Xero sandbox: link from a searchable list of the
platform's customers (unlinked first), Create new, and Unsync (an excluded customer's invoices Excluded, not
Failed). Owners and admins only."""

from __future__ import annotations

from typing import Any

from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine.actions import Role

from .conftest import Api
from .test_actions import INVOICE, act, put, state, sync


def candidates(api: Api, conn: str, role: Role = Role.ADMIN, **params: Any) -> Any:
    return api.client.get(f"/v1/connections/{conn}/link-candidates/contact", headers=api.a.h(role), params=params)


def test_link_from_a_searchable_list_unlinked_first(connected: tuple[Api, str], sandbox: XeroSandboxHandle) -> None:
    api, conn = connected
    put(api, "contacts/c1", {"name": "Linked Larry"})
    sync(api, conn)
    for name in ("Mia Garage", "Max Motors", "Zed Panels"):
        sandbox.as_user("Contacts", {"Contacts": [{"Name": name}]}, method="PUT")
    # Members may not list the platform's customers.
    assert candidates(api, conn, Role.MEMBER).status_code == 403
    r = candidates(api, conn)
    assert r.status_code == 200, r.text
    rows = r.json()
    names = [row["name"] for row in rows]
    # Not yet linked first (by name), then the ones linked to an app customer.
    assert names[:3] == ["Max Motors", "Mia Garage", "Zed Panels"] and names[-1] == "Linked Larry"
    assert rows[-1]["linked_to"] == "c1" and rows[0]["linked_to"] is None
    assert [row["name"] for row in candidates(api, conn, search="m garage").json()] == ["Mia Garage"]
    # Link an app customer to the one picked; its details go on the next sync.
    put(api, "contacts/c2", {"name": "Mia's Garage"})
    mia = next(row["remote_id"] for row in rows if row["name"] == "Mia Garage")
    r = act(api, conn, "contact", "c2", "link", remote_id=mia)
    assert r.status_code == 200 and r.json()["remote_id"] == mia
    sync(api, conn)
    assert {c["Name"] for c in sandbox.records("Contacts") if c["ContactID"] == mia} == {"Mia's Garage"}
    # Create new, as the alternative: sent now as a new platform contact.
    put(api, "contacts/c3", {"name": "Brand New"})
    r = act(api, conn, "contact", "c3", "create_new")
    assert r.status_code == 200 and r.json()["state"] == "synced"
    assert "Brand New" in {c["Name"] for c in sandbox.records("Contacts")}


def test_unsync_a_customer_its_invoices_show_excluded_never_failed(connected: tuple[Api, str]) -> None:
    api, conn = connected
    put(api, "contacts/c1", {"name": "Quiet Customer"})
    assert act(api, conn, "contact", "c1", "exclude").status_code == 200
    put(api, "invoices/i1", {**INVOICE, "contact_id": "c1"})
    report = sync(api, conn)
    assert not report.get("failed")
    assert state(api, "invoices/i1") == "excluded"
    errors = api.client.get(f"/v1/connections/{conn}/errors", headers=api.a.h()).json()
    assert errors == []
