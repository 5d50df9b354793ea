"""Webhooks in both formats with signature checks and retries; XSD field names; the CLI command."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from quickbooks import QuickBooks
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from ledgersync.sandbox.cli import sandbox_app
from ledgersync.sandbox.server import RunningServer, serve_in_thread

from .conftest import Sandbox, contracts_dir

VERIFIER = "verifier-token-123"


class Receiver:
    def __init__(self) -> None:
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        self.statuses: list[int] = []

    async def hook(self, request: Request) -> Response:
        self.calls.append((await request.body(), dict(request.headers)))
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, RunningServer]]:
    rec = Receiver()
    with serve_in_thread(Starlette(routes=[Route("/hook", rec.hook, methods=["POST"])])) as srv:
        yield rec, srv


def _wait(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
def test_webhooks_signed_with_retries(qs: Sandbox, receiver: tuple[Receiver, RunningServer], fmt: str) -> None:
    rec, srv = receiver
    rec.calls.clear()
    rec.statuses[:] = [500]
    qs.realm = qs.add_tenant()
    qs.add_app(webhook_url=f"{srv.url}/hook", webhook_verifier=VERIFIER, webhook_format=fmt)
    qs.tokens = qs.authorize()
    c = qs.customer("Hooked Co")
    qs.ok("POST", "vendor", {"DisplayName": "Not delivered"})  # Vendor is not a webhook entity by default
    _wait(lambda: len(rec.calls) >= 2)
    body, headers = rec.calls[-1]
    assert rec.calls[0][0] == body  # the retry re-sends the same payload
    qb = QuickBooks(verifier_token=VERIFIER, minorversion=75)
    assert qb.validate_webhook_signature(body.decode(), headers["intuit-signature"])
    assert not qb.validate_webhook_signature(body.decode(), headers["intuit-signature"], verifier_token="wrong")
    import json

    payload = json.loads(body)
    if fmt == "legacy":
        note = payload["eventNotifications"][0]
        assert note["realmId"] == qs.realm
        ents = note["dataChangeEvent"]["entities"]
        assert [(e["name"], e["id"], e["operation"]) for e in ents] == [("Customer", c["Id"], "Create")]
        assert ents[0]["lastUpdated"].endswith("Z")
    else:
        assert isinstance(payload, list) and len(payload) == 1
        ev = payload[0]
        assert ev["specversion"] == "1.0" and ev["type"] == "qbo.customer.created.v1"
        assert ev["intuitentityid"] == c["Id"] and ev["intuitaccountid"] == qs.realm
        assert ev["source"].startswith("intuit.") and ev["datacontenttype"] == "application/json"
    log = qs.control("GET", "/webhooks/deliveries").json()["deliveries"]
    _wait(lambda: qs.control("GET", "/webhooks/deliveries").json()["deliveries"][-1]["status"] == "delivered")
    log = qs.control("GET", "/webhooks/deliveries").json()["deliveries"]
    assert [a["status_code"] for a in log[-1]["attempts"]] == [500, 200] and log[-1]["format"] == fmt


def test_as_user_changes_fire_webhooks(qs: Sandbox, receiver: tuple[Receiver, RunningServer]) -> None:
    rec, srv = receiver
    rec.calls.clear()
    qs.realm = qs.add_tenant()
    qs.add_app(webhook_url=f"{srv.url}/hook", webhook_verifier=VERIFIER)
    qs.tokens = qs.authorize()
    r = qs.as_user("POST", "item", {"Name": "User Item"})
    assert r.status_code == 200
    _wait(lambda: len(rec.calls) >= 1)
    assert b'"name":"Item"' in rec.calls[-1][0]


def _xsd_names() -> set[str]:
    """Element and attribute names of Finance.xsd and everything it xs:includes (IntuitBaseTypes, names)."""
    d = contracts_dir()
    names: set[str] = set()
    todo, seen = ["Finance.xsd", "IntuitBaseTypes.xsd"], set()
    while todo:
        fname = todo.pop()
        if fname in seen:
            continue
        seen.add(fname)
        for el in ET.parse(d / fname).iter():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag in ("element", "attribute") and el.get("name"):
                names.add(str(el.get("name")))
            if tag == "include" and el.get("schemaLocation"):
                todo.append(str(el.get("schemaLocation")))
    # JSON carries a simpleContent type's text (ReferenceType's id) under "value".
    names.add("value")
    return names


def _keys(obj: Any, out: set[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            _keys(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _keys(v, out)


def test_emitted_field_names_exist_in_xsd(ready: Sandbox) -> None:
    names = _xsd_names()
    parent = ready.customer("XSD Parent", GivenName="A", PrimaryEmailAddr={"Address": "a@example.com"})
    cust = ready.customer("XSD Job", ParentRef={"value": parent["Id"]})
    inv = ready.invoice(cust["Id"], "10.00")
    pay = ready.ok(
        "POST",
        "payment",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TotalAmt": 10,
            "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    emitted: dict[str, set[str]] = {}
    for entity, obj in (
        ("Customer", cust),
        ("Invoice", ready.ok("GET", f"invoice/{inv['Id']}")["Invoice"]),
        ("Payment", pay["Payment"]),
        ("Item", ready.ok("GET", "item/1")["Item"]),
    ):
        keys: set[str] = set()
        _keys(obj, keys)
        emitted[entity] = keys
    for entity, keys in emitted.items():
        missing = sorted(keys - names)
        assert not missing, f"{entity} emits fields not in the XSD: {missing}"


def test_cli_help_lists_options() -> None:
    result = CliRunner().invoke(sandbox_app, ["qbo", "--help"])
    assert result.exit_code == 0, result.output
    for opt in ("--host", "--port", "--data", "--client-id", "--client-secret", "--redirect-uri", "--tenant"):
        assert opt in result.output
