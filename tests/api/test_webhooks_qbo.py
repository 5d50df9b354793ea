"""Inbound QuickBooks Online webhooks: the same route shape, intuit-signature, legacy and CloudEvents bodies."""

from __future__ import annotations

import json
from typing import Any

from ledgersync.api.services import hmac_b64, qbo_changes
from ledgersync.model import Entity
from ledgersync.store.tables import Connection

from .conftest import Api

VERIFIER = "qbo-verifier-token"


def qbo_connection(api: Api) -> str:
    return api.ls.store.create_connection(api.a.id, "qbo", {"client_id": "x", "webhook_verifier": VERIFIER})


def test_intuit_signature_is_checked_on_the_raw_body(api: Api) -> None:
    conn = qbo_connection(api)
    body = json.dumps({"eventNotifications": []}).encode()
    ok = api.client.post(
        f"/v1/webhooks/qbo/{conn}", content=body, headers={"intuit-signature": hmac_b64(body, VERIFIER)}
    )
    assert ok.status_code == 200 and ok.content == b""
    bad = api.client.post(f"/v1/webhooks/qbo/{conn}", content=body, headers={"intuit-signature": hmac_b64(body, "x")})
    assert bad.status_code == 401
    # A QuickBooks connection does not take Xero's route, and the other way round.
    xero = api.client.post(
        f"/v1/webhooks/xero/{conn}", content=body, headers={"x-xero-signature": hmac_b64(body, VERIFIER)}
    )
    assert xero.status_code == 401


def test_legacy_and_cloudevents_bodies_name_the_same_changes() -> None:
    conn = Connection(id="c", org_id="o", provider="qbo", config={}, tenant_id="9130")
    legacy: Any = {
        "eventNotifications": [
            {
                "realmId": "9130",
                "dataChangeEvent": {
                    "entities": [
                        {"name": "Customer", "id": "58", "operation": "Update"},
                        {"name": "Invoice", "id": "130", "operation": "Create"},
                        {"name": "Account", "id": "1", "operation": "Update"},
                    ]
                },
            },
            {"realmId": "other", "dataChangeEvent": {"entities": [{"name": "Customer", "id": "99"}]}},
        ]
    }
    cloud = [
        {"type": "qbo.customer.updated.v1", "intuitentityid": "58", "intuitaccountid": "9130"},
        {"type": "qbo.invoice.created.v1", "intuitentityid": "130", "intuitaccountid": "9130"},
        {"type": "qbo.customer.updated.v1", "intuitentityid": "99", "intuitaccountid": "other"},
    ]
    expected = {Entity.CONTACT: {"58"}, Entity.INVOICE: {"130"}}
    assert qbo_changes(legacy, conn) == expected and qbo_changes(cloud, conn) == expected
    assert qbo_changes({"eventNotifications": "junk"}, conn) == {} and qbo_changes("junk", conn) == {}
