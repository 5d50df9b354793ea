"""Records through the API: upsert by the app's ids, read back with sync state and platform id, lists, roles."""

from __future__ import annotations

from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine.actions import Role
from ledgersync.model import Contact

from .conftest import ADMIN_TOKEN, Api

INVOICE = {
    "contact_id": "c1",
    "number": "INV-0042",
    "date": "2026-11-02",
    "lines": [{"description": "Service", "unit_amount": "100.00", "account_code": "200", "tax_type": "NONE"}],
}


def test_a_record_upserted_by_its_app_id_reads_back_not_synced_then_synced_with_its_platform_id(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle
) -> None:
    api, conn = connected
    h = api.a.h(Role.MEMBER)
    r = api.client.put("/v1/contacts/c1", headers=h, json={"name": "Ann Lee", "email": "ann@example.com"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "not_synced" and r.json()["remote_id"] is None and r.json()["version"] == 1
    r = api.client.put("/v1/invoices/i1", headers=h, json=INVOICE)
    assert r.status_code == 200, r.text
    report = api.client.post(f"/v1/connections/{conn}/sync", headers=h).json()
    assert report["status"] == "ok" and report["pushed"] == {"contact": 1, "invoice": 1}
    got = api.client.get("/v1/invoices/i1", headers=h).json()
    xero = {i["InvoiceNumber"]: i["InvoiceID"] for i in sandbox.dump()["Invoices"]}
    assert got["state"] == "synced" and got["remote_id"] == xero["INV-0042"]
    assert got["record"]["total"] == "100.00" and got["record"]["lines"][0]["unit_amount"] == "100.00"
    assert got["sync"] == [
        {
            "connection_id": conn,
            "provider": "xero",
            "state": "synced",
            "remote_id": xero["INV-0042"],
            "error": None,
            "hint": None,
            "actions": [],
        }
    ]


def test_lists_page_and_filter_by_sync_state(connected: tuple[Api, str]) -> None:
    api, conn = connected
    h = api.a.h()
    for i in range(5):
        api.client.put(f"/v1/contacts/c{i}", headers=h, json={"name": f"Person {i}"}).raise_for_status()
    api.client.post(f"/v1/connections/{conn}/records/contact/c3/sync", headers=h).raise_for_status()
    page = api.client.get("/v1/contacts", headers=h, params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 5 and [c["app_id"] for c in page["items"]] == ["c2", "c3"]
    synced = api.client.get("/v1/contacts", headers=h, params={"state": "synced"}).json()
    assert [c["app_id"] for c in synced["items"]] == ["c3"]
    waiting = api.client.get("/v1/contacts", headers=h, params={"state": "not_synced"}).json()
    assert waiting["total"] == 4
    assert api.client.get("/v1/contacts", headers=h, params={"state": "bogus"}).status_code == 422


def test_the_body_id_must_match_the_path_and_invalid_records_get_422_with_a_plain_message(api: Api) -> None:
    h = api.a.h()
    r = api.client.put("/v1/contacts/c1", headers=h, json={"id": "other", "name": "X"})
    assert r.status_code == 422 and "differs" in r.json()["detail"]
    r = api.client.put("/v1/contacts/c1", headers=h, json={"name": ""})
    assert r.status_code == 422 and r.json()["detail"].startswith("invalid request: name")
    r = api.client.put("/v1/payments/p1", headers=h, json={"date": "2026-01-01", "amount": "1e999999"})
    assert r.status_code == 422
    assert api.client.get("/v1/contacts/nope", headers=h).status_code == 404


def test_delete_marks_the_record_deleted(api: Api) -> None:
    h = api.a.h()
    api.client.put("/v1/items/widget", headers=h, json={"code": "W1", "name": "Widget"}).raise_for_status()
    assert api.client.delete("/v1/items/widget", headers=h).status_code == 204
    assert api.client.get("/v1/items/widget", headers=h).json()["deleted"] is True
    assert api.client.get("/v1/items", headers=h).json()["total"] == 0


def test_requests_without_a_live_key_get_401(api: Api) -> None:
    assert api.client.get("/v1/contacts").status_code == 401
    assert api.client.get("/v1/contacts", headers={"Authorization": "Bearer lsk_nope"}).status_code == 401
    keys = api.client.get("/v1/api-keys", headers=api.a.h()).json()
    member = next(k for k in keys if k["role"] == "member")
    assert api.client.delete(f"/v1/api-keys/{member['id']}", headers=api.a.h(Role.ADMIN)).status_code == 204
    assert api.client.get("/v1/contacts", headers=api.a.h(Role.MEMBER)).status_code == 401


def test_keys_are_stored_only_as_hashes_and_roles_cannot_escalate(api: Api) -> None:
    created = api.client.post("/v1/api-keys", headers=api.a.h(Role.ADMIN), json={"name": "ci", "role": "member"})
    assert created.status_code == 201 and created.json()["token"].startswith("lsk_")
    token = created.json()["token"]
    stored = [k.hash for k in api.ls.store.api_keys(api.a.id)]
    assert token not in stored and all(len(h) == 64 for h in stored)
    assert api.client.post("/v1/api-keys", headers=api.a.h(Role.ADMIN), json={"role": "owner"}).status_code == 403
    assert api.client.post("/v1/api-keys", headers=api.a.h(Role.MEMBER), json={"role": "member"}).status_code == 403
    assert "token" not in api.client.get("/v1/api-keys", headers=api.a.h()).json()[0]


def test_organisations_are_created_with_the_admin_token_only(api: Api) -> None:
    assert api.client.post("/v1/organisations", headers=api.a.h(), json={"name": "X"}).status_code in (401, 403)
    r = api.client.post("/v1/organisations", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json={"name": "New"})
    assert r.status_code == 201, r.text
    token = r.json()["owner_key"]["token"]
    me = api.client.get("/v1/organisation", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["name"] == "New"


def test_health_shows_the_last_sync_phrase_counts_and_failures(connected: tuple[Api, str]) -> None:
    api, conn = connected
    h = api.a.h(Role.MEMBER)
    before = api.client.get(f"/v1/connections/{conn}/health", headers=h).json()
    assert before["stale"] is True and before["last_sync_phrase"] == "No sync with Xero yet"
    # The organisation's currency settings, read when the connection was made (issue 16).
    assert before["currencies"] == "Home currency AUD · multicurrency off"
    # A name Xero refuses, put in through the Python API (the REST API refuses it with 422 before any sync).
    api.ls.upsert_contact(api.a.id, Contact(id="c1", name="Bad\x07 Name"))
    api.client.post(f"/v1/connections/{conn}/sync", headers=h).raise_for_status()
    after = api.client.get(f"/v1/connections/{conn}/health", headers=h).json()
    assert after["status"] == "connected" and after["stale"] is False
    assert after["last_sync_phrase"] == "Last sync with Xero performed less than a minute ago"
    assert after["counts"]["contact"]["failed"] == 1 and after["failed_count"] == 1
    (err,) = api.client.get(f"/v1/connections/{conn}/errors", headers=h).json()
    assert err["code"] == "invalid_characters" and err["actions"] == ["edit", "skip"]
    states = api.client.get(f"/v1/connections/{conn}/states", headers=h, params={"state": "failed"}).json()
    assert [s["app_id"] for s in states["items"]] == ["c1"]


def test_the_event_log_is_searched_by_document_number_and_text(connected: tuple[Api, str]) -> None:
    api, conn = connected
    h = api.a.h(Role.MEMBER)
    api.client.put("/v1/contacts/c1", headers=h, json={"name": "Kim"}).raise_for_status()
    api.client.put("/v1/invoices/i1", headers=h, json=INVOICE).raise_for_status()
    api.client.post(f"/v1/connections/{conn}/sync", headers=h).raise_for_status()
    by_doc = api.client.get("/v1/events", headers=h, params={"doc_number": "INV-0042"}).json()["items"]
    assert by_doc and all(e["doc_number"] == "INV-0042" for e in by_doc)
    assert any(e["app_id"] == "i1" for e in by_doc)
    by_text = api.client.get("/v1/events", headers=h, params={"search": "0042"}).json()["items"]
    assert {e["id"] for e in by_doc} <= {e["id"] for e in by_text}
    page1 = api.client.get("/v1/events", headers=h, params={"limit": 3, "connection_id": conn}).json()
    assert len(page1["items"]) == 3 and page1["next_before_id"] == page1["items"][-1]["id"]
    page2 = api.client.get(
        "/v1/events", headers=h, params={"limit": 3, "connection_id": conn, "before_id": page1["next_before_id"]}
    ).json()
    assert all(e["id"] < page1["next_before_id"] for e in page2["items"])


def test_another_orgs_records_are_invisible(api: Api) -> None:
    api.client.put("/v1/contacts/secret", headers=api.a.h(), json={"name": "A's customer"}).raise_for_status()
    assert api.client.get("/v1/contacts/secret", headers=api.b.h()).status_code == 404
    assert api.client.get("/v1/contacts", headers=api.b.h()).json()["total"] == 0
