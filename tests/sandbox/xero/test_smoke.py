"""Smoke: OAuth code flow, a contact round trip and the envelope shape."""

from __future__ import annotations

from .conftest import Sandbox


def test_contact_round_trip(ready: Sandbox) -> None:
    r = ready.api("PUT", "Contacts", {"Contacts": [{"Name": "Acme"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["Status"] == "OK" and body["Contacts"][0]["Name"] == "Acme"
    cid = body["Contacts"][0]["ContactID"]
    r = ready.api("GET", f"Contacts/{cid}")
    assert r.status_code == 200 and r.json()["Contacts"][0]["ContactID"] == cid
    assert "X-MinLimit-Remaining" in r.headers
