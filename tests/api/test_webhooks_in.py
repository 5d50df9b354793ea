"""Inbound Xero webhooks: signature checked on the raw body, intent-to-receive, targeted refresh, idempotence."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, select

from ledgersync.demo import XeroSandboxHandle
from ledgersync.providers.webhooks import hmac_b64
from ledgersync.sandbox.server import serve_in_thread
from ledgersync.store.tables import AppEvent, Event

from .conftest import Api, wait_for

KEY = "xero-webhook-key-for-tests"


def set_key(api: Api, conn: str, key: str = KEY) -> None:
    r = api.client.patch(f"/v1/connections/{conn}", headers=api.a.h(), json={"config": {"webhook_key": key}})
    assert r.status_code == 200 and "webhook_key" in r.json()["config_keys"]


def post(api: Api, conn: str, payload: dict[str, Any], key: str = KEY) -> Any:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return api.client.post(
        f"/v1/webhooks/xero/{conn}",
        content=body,
        headers={"x-xero-signature": hmac_b64(body, key), "content-type": "application/json"},
    )


def event(sandbox: XeroSandboxHandle, rid: str, when: str, category: str = "CONTACT", kind: str = "UPDATE") -> Any:
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{rid}",
        "resourceId": rid,
        "eventDateUtc": when,
        "eventType": kind,
        "eventCategory": category,
        "tenantId": sandbox.tenant_id,
        "tenantType": "ORGANISATION",
    }


def counts(api: Api) -> tuple[int, int]:
    with api.ls.store.session() as s:
        return (
            int(s.scalar(select(func.count()).select_from(Event)) or 0),
            int(s.scalar(select(func.count()).select_from(AppEvent)) or 0),
        )


def synced_contact(api: Api, conn: str, name: str = "Ann Lee") -> str:
    api.client.put("/v1/contacts/c1", headers=api.a.h(), json={"name": name}).raise_for_status()
    api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).raise_for_status()
    rid: str = api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["remote_id"]
    return rid


def test_a_bad_signature_gets_401_and_nothing_is_stored(connected: tuple[Api, str], sandbox: XeroSandboxHandle) -> None:
    api, conn = connected
    set_key(api, conn)
    rid = synced_contact(api, conn)
    sandbox.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "Name": "Changed"}]})
    before = counts(api)
    payload = {"events": [event(sandbox, rid, "2026-11-02T00:00:00.000Z")], "firstEventSequence": 1}
    r = post(api, conn, payload, key="wrong-key")
    assert r.status_code == 401 and r.content == b""
    body = json.dumps(payload).encode()
    unsigned = api.client.post(f"/v1/webhooks/xero/{conn}", content=body)
    assert unsigned.status_code == 401
    # A valid signature over a different body (the raw bytes matter, not the JSON they parse to).
    spaced = json.dumps(payload, indent=2).encode()
    r = api.client.post(f"/v1/webhooks/xero/{conn}", content=spaced, headers={"x-xero-signature": hmac_b64(body, KEY)})
    assert r.status_code == 401
    assert post(api, "conn_unknown", payload).status_code == 401
    assert counts(api) == before
    assert api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["record"]["name"] == "Ann Lee"


def test_intent_to_receive_and_a_change_in_xero_reaches_the_app_over_http(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle
) -> None:
    api, conn = connected
    set_key(api, conn)
    rid = synced_contact(api, conn)
    with serve_in_thread(api.app) as server:
        url = f"{server.url}/v1/webhooks/xero/{conn}"
        started = time.monotonic()
        r = sandbox.control.put(f"/_sandbox/apps/{sandbox.client_id}/webhook", json={"url": url, "key": KEY})
        r.raise_for_status()
        intent = r.json()["intent_to_receive"]
        assert intent["ok"] is True and intent["signed_status"] == 200 and intent["badly_signed_status"] == 401
        assert time.monotonic() - started < 5
        # A person renames the contact in Xero: no sync runs, the webhook alone brings it in.
        sandbox.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "Name": "Ann Lee (renamed in Xero)"}]})
        wait_for(
            lambda: (
                api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["record"]["name"]
                == "Ann Lee (renamed in Xero)"
            )
        )
    updates = [e for e in api.client.get("/v1/app-events", headers=api.a.h()).json() if e["type"] == "contact.updated"]
    assert updates and updates[-1]["app_id"] == "c1"
    assert any(e.kind == "webhook" for e in api.ls.store.events(connection_id=conn))


def test_an_empty_intent_to_receive_batch_answers_200_with_an_empty_body(connected: tuple[Api, str]) -> None:
    api, conn = connected
    set_key(api, conn)
    payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "ABC"}
    r = post(api, conn, payload)
    assert r.status_code == 200 and r.content == b""
    assert post(api, conn, payload, key="nope").status_code == 401


def test_duplicate_and_out_of_order_events_do_no_harm(connected: tuple[Api, str], sandbox: XeroSandboxHandle) -> None:
    api, conn = connected
    set_key(api, conn)
    rid = synced_contact(api, conn)
    sandbox.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "Name": "First rename"}]})
    first = {"events": [event(sandbox, rid, "2026-11-02T10:00:00.000Z")]}
    sandbox.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "Name": "Second rename"}]})
    second = {"events": [event(sandbox, rid, "2026-11-02T10:05:00.000Z")]}
    # Newest first, then a duplicate, then the older one arriving late.
    for payload in (second, second, first):
        assert post(api, conn, payload).status_code == 200
    got = api.client.get("/v1/contacts/c1", headers=api.a.h()).json()
    assert got["record"]["name"] == "Second rename" and got["state"] == "synced"
    assert [c["Name"] for c in sandbox.dump()["Contacts"]] == ["Second rename"]
    assert api.client.get("/v1/contacts", headers=api.a.h()).json()["total"] == 1
    # A contact new in Xero (not linked yet) is brought in by a pull of contacts.
    sandbox.as_user("Contacts", {"Contacts": [{"Name": "New in Xero"}]}, method="PUT")
    new_id = next(c["ContactID"] for c in sandbox.dump()["Contacts"] if c["Name"] == "New in Xero")
    created = {"events": [event(sandbox, new_id, "2026-11-02T10:06:00.000Z", kind="CREATE")]}
    assert post(api, conn, created).status_code == 200
    assert post(api, conn, created).status_code == 200
    names = sorted(c["record"]["name"] for c in api.client.get("/v1/contacts", headers=api.a.h()).json()["items"])
    assert names == ["New in Xero", "Second rename"]


def test_events_for_another_tenant_are_ignored(connected: tuple[Api, str], sandbox: XeroSandboxHandle) -> None:
    api, conn = connected
    set_key(api, conn)
    rid = synced_contact(api, conn)
    sandbox.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "Name": "Changed"}]})
    ev = {**event(sandbox, rid, "2026-11-02T10:00:00.000Z"), "tenantId": "someone-else"}
    assert post(api, conn, {"events": [ev]}).status_code == 200
    assert api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["record"]["name"] == "Ann Lee"
