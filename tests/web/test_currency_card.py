"""The connection card shows the organisation's currency settings as its platform last told them, read at
connect and again on Refresh link (issue 16)."""

from __future__ import annotations

from html import unescape

from fastapi.testclient import TestClient

from ledgersync.demo import consent_callback

from .conftest import Web

Client = tuple[TestClient, str]


def test_the_card_shows_the_home_currency_and_refresh_link_reads_them_again(web: Web, admin: Client) -> None:
    client, token = admin
    page = unescape(client.get("/integrations").text)
    assert "Home currency AUD · multicurrency off" in page
    for code in ("USD", "NZD"):
        web.sandbox.as_user("Currencies", {"Code": code}, method="PUT")
    # Not read again until the connection is made again (or a cycle needs them).
    assert "multicurrency off" in unescape(client.get("/integrations").text)
    resp = client.post(f"/integrations/{web.conn}/refresh", data={"csrf_token": token}, follow_redirects=False)
    query = consent_callback(resp.headers["location"], choose={"tenantId": web.sandbox.tenant_id})
    assert client.get(f"/integrations/xero/callback?{query}", follow_redirects=False).status_code == 303
    page = unescape(client.get("/integrations").text)
    assert "Home currency AUD · multicurrency on: " in page
    line = page.split("Home currency AUD · multicurrency on: ", 1)[1].split("<", 1)[0]
    assert set(line.split(", ")) == {"USD", "NZD"}
