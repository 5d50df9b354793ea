"""Smoke: OAuth code flow, a customer round trip and the envelope shape."""

from __future__ import annotations

import re

from .conftest import Sandbox

ISO_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?[+-]\d{2}:\d{2}$")


def test_customer_round_trip(ready: Sandbox) -> None:
    body = ready.ok("POST", "customer", {"DisplayName": "Acme Pty"})
    assert ISO_OFFSET.match(body["time"])
    c = body["Customer"]
    assert c["DisplayName"] == "Acme Pty" and c["SyncToken"] == "0" and c["domain"] == "QBO"
    assert ISO_OFFSET.match(c["MetaData"]["CreateTime"]) and ISO_OFFSET.match(c["MetaData"]["LastUpdatedTime"])
    got = ready.ok("GET", f"customer/{c['Id']}")["Customer"]
    assert got["Id"] == c["Id"] and got["FullyQualifiedName"] == "Acme Pty" and got["Active"] is True
    assert ready.tokens["realmId"] == ready.realm
