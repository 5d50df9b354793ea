"""A Xero consent connects the organisation the person chose (issue 15): the tenants come from
/connections?authEventId= (the access token's authentication event), not the app's every connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgersync import Contact, LedgerSync
from ledgersync.demo import consent_callback, xero_sandbox
from ledgersync.model import ProviderError
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


def test_a_consent_adding_two_organisations_waits_for_the_person_to_choose_one(
    tmp_path: Path, secret_key: str
) -> None:
    with xero_sandbox() as sb:
        second = sb.control.post("/_sandbox/tenants", json={"name": "Second Org Ltd"}).json()["tenantId"]
        first_name = {t["tenantId"]: t["name"] for t in sb.control.get("/_sandbox/tenants").json()}[sb.tenant_id]
        ls = LedgerSync(f"sqlite:///{tmp_path / 'app.db'}", secret_keys=[secret_key])
        org = ls.create_organisation("Workshop")
        start = ls.connect(org, "xero", sb.config)
        assert start.authorization_url is not None
        both = {"tenantId": [sb.tenant_id, second]}
        conn = ls.complete_callback(consent_callback(start.authorization_url, choose=both))
        # Nothing connected yet: the connection lists the consent's organisations and refuses to sync.
        row = ls.connection(conn)
        assert row.status == "choose_organisation" and row.tenant_id is None
        assert [(t.id, t.name, t.connected_by) for t in ls.pending_tenants(conn)] == [
            (sb.tenant_id, first_name, None),
            (second, "Second Org Ltd", None),
        ]
        with pytest.raises(ProviderError, match="no organisation is chosen"):
            ls.sync(conn)
        with pytest.raises(ValueError, match="not in this consent"):
            ls.choose_tenant(conn, "someone-elses-org")
        assert ls.choose_tenant(conn, second) == conn
        row = ls.connection(conn)
        assert (row.status, row.tenant_id, row.tenant_name) == ("connected", second, "Second Org Ltd")
        assert row.pending_tenants is None and ls.pending_tenants(conn) == []
        with pytest.raises(ValueError, match="not waiting"):
            ls.choose_tenant(conn, sb.tenant_id)
        # The chosen organisation is the one synced, now and on the next sync.
        ls.upsert_contact(org, Contact(id="c1", name="Chosen Org Customer"))
        assert ls.sync(conn).status == "ok"
        names = lambda tid: {c["Name"] for c in sb.control.get(f"/_sandbox/tenants/{tid}/dump").json()["Contacts"]}  # noqa: E731
        assert "Chosen Org Customer" in names(second) and "Chosen Org Customer" not in names(sb.tenant_id)
        ls.upsert_contact(org, Contact(id="c1", name="Chosen Org Customer Pty"))
        report = ls.sync(conn)
        assert report.status == "ok" and report.failed == {}
        assert "Chosen Org Customer Pty" in names(second)
        # A reconnect of that connection whose consent again lists both goes straight back to the chosen one.
        again = ls.refresh_link(conn)
        assert again.authorization_url is not None
        ls.complete_callback(consent_callback(again.authorization_url, choose=both))
        assert ls.connection(conn).status == "connected" and ls.connection(conn).tenant_id == second
        # A second connection of the business from a consent with both: the one already connected is marked,
        # and choosing it again is refused.
        other = ls.connect(org, "xero", sb.config)
        assert other.authorization_url is not None
        c2 = ls.complete_callback(consent_callback(other.authorization_url, choose=both))
        assert {t.id: t.connected_by for t in ls.pending_tenants(c2)} == {sb.tenant_id: None, second: conn}
        with pytest.raises(ValueError, match="already connected"):
            ls.choose_tenant(c2, second)
        ls.choose_tenant(c2, sb.tenant_id)
        assert ls.sync(c2).status == "ok"
