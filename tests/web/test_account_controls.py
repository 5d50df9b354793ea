"""The dashboard's account controls: export all products/customers from the Integrations page with progress, and
link an unlinked customer by picking from the platform's list (or Create new). Owners and admins only."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from ledgersync.model import Contact, Entity, Item

from .conftest import Web


def test_export_all_customers_from_the_integrations_page_shows_progress_then_a_summary(
    web: Web, admin: tuple[TestClient, str], member: tuple[TestClient, str]
) -> None:
    for i in range(4):
        web.ls.upsert_contact(web.org, Contact(id=f"c{i}", name=f"Page Customer {i}"))
    client, token = admin
    page = client.get("/integrations").text
    assert f'action="/integrations/{web.conn}/export/customers"' in page
    mclient, mtoken = member
    refused = mclient.post(f"/integrations/{web.conn}/export/customers", data={"csrf_token": mtoken})
    assert refused.status_code == 403
    started = client.post(
        f"/integrations/{web.conn}/export/customers", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert started.status_code == 200 and "Export of all customers" in started.text
    deadline = time.monotonic() + 30
    while True:
        fragment = client.get(f"/integrations/{web.conn}/export/customers").text
        if "hx-trigger" not in fragment or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "Exported customers: 4 of 4 synced" in fragment, fragment
    assert '<progress max="100" value="100"' in fragment
    # The card keeps showing the last run.
    assert "Exported customers: 4 of 4 synced" in client.get("/integrations").text
    names = {c["Name"] for c in web.sandbox.records("Contacts")}
    assert {f"Page Customer {i}" for i in range(4)} <= names


def test_an_unlinked_customer_is_linked_by_picking_from_the_platforms_list(
    web: Web, admin: tuple[TestClient, str], member: tuple[TestClient, str]
) -> None:
    web.sandbox.as_user("Contacts", {"Contacts": [{"Name": "Garage From Xero"}, {"Name": "Other One"}]}, method="PUT")
    web.ls.upsert_contact(web.org, Contact(id="c9", name="Garage (app spelling)"))
    web.ls.upsert_item(web.org, Item(id="i9", code="PICK-1", name="Pick me"))
    client, token = admin
    page = client.get("/records/contact/c9?pick=1&q=garage").text
    assert "Link to a Xero customer" in page and "Garage From Xero" in page and "Other One" not in page
    assert "Create new in Xero" in page
    # Members see no picker (the platform's list is for owners and admins).
    mclient, _ = member
    assert "Link to a Xero" not in mclient.get("/records/contact/c9?pick=1").text
    remote = next(c["ContactID"] for c in web.sandbox.records("Contacts") if c["Name"] == "Garage From Xero")
    resp = client.post(
        "/actions/link",
        data={
            "conn": web.conn,
            "entity": "contact",
            "app_id": "c9",
            "remote_id": remote,
            "csrf_token": token,
            "next": "/records/contact/c9",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    view = web.ls.get(web.org, Entity.CONTACT, "c9", web.conn)
    assert view is not None and view.remote_id == remote
    # Linked now: no picker any more.
    assert "Link to a Xero" not in client.get("/records/contact/c9?pick=1").text
