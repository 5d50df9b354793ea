"""Organisation isolation: every operation of the OpenAPI document, called with another organisation's key on
this organisation's ids, answers 403/404 (or, for platform-facing routes, 400/401) and changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

from ledgersync.api import services
from ledgersync.engine.actions import Role
from ledgersync.model import CustomerCredit

from .conftest import Api, queue_event

VICTIM_IDS = {
    "contacts": "victim-contact-1",
    "items": "victim-item-1",
    "invoices": "victim-invoice-1",
    "payments": "victim-payment-1",
    "credit-notes": "victim-cn-1",
    "credits": "victim-credit-1",
}
BODIES = {
    "contacts": {"name": "Intruder"},
    "items": {"code": "EVIL", "name": "Evil"},
    "invoices": {"contact_id": "victim-contact-1", "date": "2026-11-02"},
    "payments": {"date": "2026-11-02", "amount": "1.00"},
    "credit-notes": {"contact_id": "victim-contact-1", "date": "2026-11-02"},
}


def seed_victim(api: Api) -> dict[str, str]:
    """Org A with one of everything: records, a connection, an endpoint with a delivery, keys."""
    h = api.a.h()
    api.client.put("/v1/contacts/victim-contact-1", headers=h, json={"name": "Victim Customer"}).raise_for_status()
    api.client.put("/v1/items/victim-item-1", headers=h, json={"code": "V1", "name": "Victim item"}).raise_for_status()
    for path in ("invoices", "credit-notes"):
        api.client.put(
            f"/v1/{path}/{VICTIM_IDS[path]}", headers=h, json={"contact_id": "victim-contact-1", "date": "2026-11-02"}
        ).raise_for_status()
    api.client.put(
        "/v1/payments/victim-payment-1", headers=h, json={"date": "2026-11-02", "amount": "5.00"}
    ).raise_for_status()
    api.client.put(
        "/v1/invoices/victim-invoice-1/attachments/victim-invoice.pdf",
        headers={**h, "content-type": "application/pdf"},
        content=b"%PDF-1.4 victim",
    ).raise_for_status()
    api.ls.upsert(
        api.a.id,
        CustomerCredit(
            id="victim-credit-1", contact_id="victim-contact-1", date=dt.date(2026, 11, 2), amount=Decimal("3")
        ),
    )
    conn = api.client.post(
        "/v1/connections",
        headers=h,
        json={
            "provider": "xero",
            "config": {
                "client_id": "victim-client",
                "client_secret": "victim-secret",
                "redirect_uri": "http://127.0.0.1:9/cb",
                "webhook_key": "victim-webhook-key",
            },
        },
    ).json()["connection_id"]
    ep = api.client.post("/v1/webhook-endpoints", headers=h, json={"url": "http://127.0.0.1:9/victim"}).json()
    queue_event(api.ls, api.a.id, "sync.failed", {"connection_id": conn})
    services.deliver_webhooks(api.ls, api.settings.model_copy(update={"webhook_timeout": 0.5}))
    delivery = api.client.get("/v1/webhook-deliveries", headers=h).json()["items"][0]["id"]
    key = next(k["id"] for k in api.client.get("/v1/api-keys", headers=h).json() if k["role"] == "member")
    return {
        "connection_id": conn,
        "endpoint_id": ep["id"],
        "delivery_id": str(delivery),
        "key_id": key,
        "filename": "victim-invoice.pdf",
    }


def snapshot(api: Api) -> str:
    """Everything org A can see through the API (minus last-used stamps), as one string."""
    h = api.a.h()
    parts: dict[str, Any] = {}
    for path in (
        *[f"/v1/{p}" for p in VICTIM_IDS],
        "/v1/connections",
        "/v1/webhook-endpoints",
        "/v1/webhook-deliveries",
        "/v1/events",
        "/v1/app-events",
        "/v1/organisation",
    ):
        parts[path] = api.client.get(path, headers=h).json()
    parts["keys"] = [
        {k: v for k, v in key.items() if k != "last_used_at"}
        for key in api.client.get("/v1/api-keys", headers=h).json()
    ]
    conn = parts["/v1/connections"][0]["id"]
    parts["config"] = api.ls.store.get_connection(conn).config
    parts["states"] = api.client.get(f"/v1/connections/{conn}/states", headers=h).json()
    parts["attachments"] = api.client.get("/v1/invoices/victim-invoice-1/attachments", headers=h).json()
    return json.dumps(parts, sort_keys=True, default=str)


def test_every_endpoint_refuses_another_organisations_key_and_changes_nothing(api: Api) -> None:
    ids = seed_victim(api)
    # Ids the intruder's responses must never contain.
    secrets = [
        *VICTIM_IDS.values(),
        *(v for k, v in ids.items() if k != "delivery_id"),
        "victim-secret",
        "victim-webhook-key",
        api.a.id,
    ]
    before = snapshot(api)
    intruder = api.b.h(Role.OWNER)
    doc = api.app.openapi()
    walked = 0
    operations = [
        (path, method, op)
        for path, item in doc["paths"].items()
        if path.startswith("/v1/")
        for method, op in item.items()
    ]
    # Every PUT last, across all paths: it creates the intruder's own record under the same id, which it may then
    # read and delete (and attach files to) on this and other paths.
    for path, method, op in sorted(operations, key=lambda o: o[1] == "put"):
        walked += 1
        names = re.findall(r"{(\w+)}", path)
        entity_path = path.split("/")[2]
        url = path
        for name in names:
            value = {
                "app_id": VICTIM_IDS.get(entity_path, "victim-contact-1"),
                "entity": "contact",
                **ids,
            }[name]
            url = url.replace("{" + name + "}", value)
        body: Any = None
        if "requestBody" in op:
            body = {
                "/v1/organisations": {"name": "Evil"},
                "/v1/api-keys": {"role": "member"},
                "/v1/connections": {"provider": "xero", "config": {"client_id": "x", "redirect_uri": "http://e"}},
                "/v1/webhook-endpoints": {"url": "http://127.0.0.1:9/evil"},
            }.get(path)
            if body is None:
                body = BODIES.get(entity_path) if method == "put" else {}
                if path.endswith("/link"):
                    body = {"remote_id": "evil"}
                elif path.startswith("/v1/connections/{connection_id}") and method == "patch":
                    body = {"config": {"webhook_key": "evil"}}
                elif path.startswith("/v1/webhook-endpoints/") and method == "patch":
                    body = {"url": "http://127.0.0.1:9/evil", "active": False}
        params = {"state": "forged", "code": "x"} if path == "/v1/oauth/callback" else None
        if path.startswith("/v1/webhooks/"):
            r = api.client.post(url, content=b'{"events": []}', headers={**intruder, "x-xero-signature": "AAAA"})
        else:
            r = api.client.request(method.upper(), url, headers=intruder, json=body, params=params)
        label = f"{method.upper()} {path} -> {r.status_code} {r.text[:200]}"
        assert r.status_code < 500, label
        touches_victim = any(n in ("connection_id", "endpoint_id", "delivery_id", "key_id") for n in names) or (
            "app_id" in names and method in ("get", "delete")
        )
        if path.startswith("/v1/webhooks/"):
            assert r.status_code == 401, label  # no key takes the place of the platform's signature
        elif path == "/v1/oauth/callback":
            assert r.status_code == 400, label
        elif path == "/v1/organisations":
            assert r.status_code in (401, 403), label
        elif touches_victim:
            assert r.status_code in (403, 404), label
        for s in secrets:
            # Echoing what the intruder itself sent reveals nothing.
            assert s not in r.text or s in url or s in json.dumps(body), f"{label} leaks {s}"
        assert snapshot(api) == before, f"{label} changed org A"
    assert walked >= 50
