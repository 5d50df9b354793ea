"""Inbound QuickBooks Online webhooks: the same route shape, intuit-signature, legacy and CloudEvents bodies."""

from __future__ import annotations

import json
from typing import Any

from ledgersync.model import Entity
from ledgersync.providers.qbo.webhooks import changes as qbo_changes
from ledgersync.providers.webhooks import hmac_b64

from .conftest import Api

VERIFIER = "qbo-verifier-token"


def qbo_connection(api: Api) -> str:
    config = {"client_id": "x", "client_secret": "s", "redirect_uri": "http://127.0.0.1:9/cb"}
    return api.ls.connect(api.a.id, "qbo", {**config, "webhook_verifier": VERIFIER}).connection_id


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
    realm = "9130"
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
    assert qbo_changes(legacy, realm) == expected and qbo_changes(cloud, realm) == expected
    assert qbo_changes({"eventNotifications": "junk"}, realm) == {} and qbo_changes("junk", realm) == {}
