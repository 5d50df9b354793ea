"""A Xero consent connects the organisation the person chose (issue 15): the tenants come from
/connections?authEventId= (the access token's authentication event), not the app's every connection."""

from __future__ import annotations

from pathlib import Path

from ledgersync import LedgerSync
from ledgersync.demo import consent_callback, xero_sandbox
from ledgersync.providers.xero.oauth import auth_event_id


def test_a_second_organisations_consent_connects_that_organisation(tmp_path: Path, secret_key: str) -> None:
    with xero_sandbox() as sb:
        second = sb.control.post("/_sandbox/tenants", json={"name": "Second Org Ltd"}).json()["tenantId"]
        ls = LedgerSync(f"sqlite:///{tmp_path / 'app.db'}", secret_keys=[secret_key])
        org = ls.create_organisation("Workshop")
        first = ls.connect(org, "xero", sb.config)
        assert first.authorization_url is not None
        c1 = ls.complete_callback(consent_callback(first.authorization_url, choose={"tenantId": sb.tenant_id}))
        again = ls.connect(org, "xero", sb.config)
        assert again.authorization_url is not None
        c2 = ls.complete_callback(consent_callback(again.authorization_url, choose={"tenantId": second}))
        assert ls.connection(c1).tenant_id == sb.tenant_id
        assert ls.connection(c2).tenant_id == second and ls.connection(c2).tenant_name == "Second Org Ltd"
        # Both sync, each against its own organisation.
        assert ls.sync(c1).status == "ok" and ls.sync(c2).status == "ok"


def test_the_authentication_event_is_read_from_the_access_token() -> None:
    # header.payload.signature with payload {"authentication_event_id": "ev-1"}
    token = "e30.eyJhdXRoZW50aWNhdGlvbl9ldmVudF9pZCI6ICJldi0xIn0.c2ln"
    assert auth_event_id(token) == "ev-1"
    assert auth_event_id("opaque-token") is None
    assert auth_event_id("a.!!!.c") is None
