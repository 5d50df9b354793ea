"""One Xero consent that adds several organisations: the dashboard asks which one the connection is for; and the
business's own "send documents between platforms" setting on the Integrations page (issue 15)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ledgersync.demo import consent_callback
from ledgersync.model import Contact

from .conftest import FAST_CLIENT, Web

Client = tuple[TestClient, str]


def two_org_consent(web: Web, *, register_redirect: str | None = None) -> tuple[str, str, str]:
    """A new Xero connection of the business whose consent ticks two organisations; returns (connection id, the
    callback's query, the second organisation's id)."""
    sb = web.sandbox
    second = sb.control.post("/_sandbox/tenants", json={"name": "Harbour Motors Fleet"}).json()["tenantId"]
    start = web.ls.connect(web.org, "xero", {**sb.config, **FAST_CLIENT})
    assert start.authorization_url is not None
    query = consent_callback(start.authorization_url, choose={"tenantId": [sb.tenant_id, second]})
    return start.connection_id, query, second


def test_a_consent_with_two_organisations_asks_which_then_connects_and_syncs_it(web: Web, admin: Client) -> None:
    client, token = admin
    conn, query, second = two_org_consent(web)
    back = client.get(f"/integrations/xero/callback?{query}", follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == f"/integrations/{conn}/organisation"
    page = client.get(back.headers["location"]).text
    assert "Choose the organisation to connect" in page
    assert "Harbour Motors Fleet" in page and "Demo Company (AU)" in page
    # The organisation the business's first connection already syncs is shown, and cannot be picked.
    assert f'value="{web.sandbox.tenant_id}" disabled' in page and "already connected" in page
    cards = client.get("/integrations").text
    assert "Choose the organisation" in cards and f'href="/integrations/{conn}/organisation"' in cards
    refused = client.post(
        f"/integrations/{conn}/organisation", data={"csrf_token": token, "tenant_id": web.sandbox.tenant_id}
    )
    assert "already connected" in refused.text and web.ls.connection(conn).status == "choose_organisation"
    done = client.post(f"/integrations/{conn}/organisation", data={"csrf_token": token, "tenant_id": second})
    assert done.url.path == "/integrations" and "Connected to Harbour Motors Fleet" in done.text
    row = web.ls.connection(conn)
    assert (row.status, row.tenant_id) == ("connected", second)
    web.ls.upsert_contact(web.org, Contact(id="c-fleet", name="Fleet Customer"))
    synced = client.post("/sync-now", data={"csrf_token": token, "conn": conn})
    assert "Synced with Xero" in synced.text
    dump = web.sandbox.control.get(f"/_sandbox/tenants/{second}/dump").json()
    assert "Fleet Customer" in {c["Name"] for c in dump["Contacts"]}
    assert web.ls.sync(conn).status == "ok"  # and the next sync works too
    # The picker is gone once chosen.
    assert client.get(f"/integrations/{conn}/organisation").url.path == "/integrations"


def test_a_member_sees_the_picker_but_cannot_choose(web: Web, member: Client) -> None:
    client, token = member
    conn, query, second = two_org_consent(web)
    web.ls.complete_callback(query)
    page = client.get(f"/integrations/{conn}/organisation").text
    assert "Only an owner or admin can choose the organisation" in page
    resp = client.post(f"/integrations/{conn}/organisation", data={"csrf_token": token, "tenant_id": second})
    assert resp.status_code == 403 and web.ls.connection(conn).status == "choose_organisation"


def test_the_rest_apis_callback_sends_the_browser_to_the_picker(web: Web, admin: Client) -> None:
    client, _ = admin
    if client.get("/v1/openapi.json").status_code != 200:
        pytest.skip("no REST API in this build")
    conn, query, _ = two_org_consent(web)
    page = client.get(f"/v1/oauth/callback?{query}")
    assert page.url.path == f"/integrations/{conn}/organisation"
    assert "Choose the organisation to connect" in page.text


def test_sync_now_for_everything_leaves_a_connection_waiting_for_its_organisation_alone(
    web: Web, admin: Client
) -> None:
    client, token = admin
    conn, query, _ = two_org_consent(web)
    web.ls.complete_callback(query)
    page = client.post("/sync-now", data={"csrf_token": token}).text
    assert "could not run" not in page
    assert web.ls.connection(conn).status == "choose_organisation"


def test_relay_between_platforms_is_the_businesss_own_setting(web: Web, admin: Client, member: Client) -> None:
    client, token = admin
    page = client.get("/integrations").text
    assert "is not sent</strong> to the others (this deployment's default)" in page
    saved = client.post("/integrations/relay", data={"csrf_token": token, "relay": "on"})
    assert "Saved: documents entered on one platform are sent to the other platforms" in saved.text
    assert web.ls.org_relay_setting(web.org) is True and web.ls.relay_between_platforms(web.org)
    assert '<option value="on" selected>' in saved.text
    client.post("/integrations/relay", data={"csrf_token": token, "relay": "off"})
    assert web.ls.org_relay_setting(web.org) is False
    client.post("/integrations/relay", data={"csrf_token": token, "relay": "default"})
    assert web.ls.org_relay_setting(web.org) is None
    bad = client.post("/integrations/relay", data={"csrf_token": token, "relay": "maybe"})
    assert "Choose the default, on or off" in bad.text and web.ls.org_relay_setting(web.org) is None
    m_client, m_token = member
    assert "Only an owner or admin can change this" in m_client.get("/integrations").text
    refused = m_client.post("/integrations/relay", data={"csrf_token": m_token, "relay": "on"})
    assert refused.status_code == 403 and web.ls.org_relay_setting(web.org) is None
