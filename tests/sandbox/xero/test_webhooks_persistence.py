"""Webhooks (intent-to-receive, signatures, batching, retries) and --data persistence."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledgersync.sandbox.server import RunningServer, serve_in_thread
from ledgersync.sandbox.xero import XeroSandbox, create_app

from .conftest import Sandbox

KEY = "webhook-key-123"


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0

    async def hook(self, request: Request) -> Response:
        raw = await request.body()
        expected = base64.b64encode(hmac.new(KEY.encode(), raw, hashlib.sha256).digest()).decode()
        if request.headers.get("x-xero-signature") != expected:
            return Response(status_code=401)
        if self.fail_next:
            self.fail_next -= 1
            return Response(status_code=500)
        self.received.append(json.loads(raw))
        return Response(status_code=200)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, RunningServer]]:
    rec = Receiver()
    with serve_in_thread(Starlette(routes=[Route("/hook", rec.hook, methods=["POST"])])) as srv:
        yield rec, srv


def _wait(pred: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_webhook_itr_signature_batching_and_retry(
    ready: Sandbox, receiver: tuple[Receiver, RunningServer]
) -> None:
    rec, srv = receiver
    r = ready.control("PUT", f"/apps/{ready.client_id}/webhook", {"url": f"{srv.url}/hook", "key": KEY})
    itr = r.json()["intent_to_receive"]
    assert itr["ok"] is True and itr["signed_status"] == 200 and itr["badly_signed_status"] == 401
    assert rec.received[0]["events"] == []  # the correctly signed intent-to-receive payload

    ready.api("PUT", "Contacts", {"Contacts": [{"Name": "Hooked"}, {"Name": "Hooked 2"}]})
    _wait(lambda: len(rec.received) >= 2)
    batch = rec.received[1]
    assert [e["eventType"] for e in batch["events"]] == ["CREATE", "CREATE"]
    assert batch["firstEventSequence"] == 1 and batch["lastEventSequence"] == 2 and batch["entropy"]
    ev = batch["events"][0]
    assert ev["eventCategory"] == "CONTACT" and ev["tenantId"] == ready.tenant_id
    assert ev["resourceUrl"].endswith(f"/Contacts/{ev['resourceId']}")

    rec.fail_next = 1
    ready.as_user("PUT", "Invoices", {"Type": "ACCREC", "Contact": {"Name": "Hooked"}, "LineItems": []})
    _wait(lambda: len(rec.received) >= 3)
    assert rec.received[2]["events"][0]["eventCategory"] == "INVOICE"

    def deliveries() -> dict[str, Any]:
        return dict(ready.control("GET", "/webhooks/deliveries").json())

    # The receiver holds the retry before the sandbox has logged its answer: let the log catch up.
    _wait(lambda: [d for d in deliveries()["deliveries"] if d["kind"] == "events"][-1]["status"] != "retrying")
    log = deliveries()
    last = [d for d in log["deliveries"] if d["kind"] == "events"][-1]
    assert [a["status_code"] for a in last["attempts"]] == [500, 200] and last["status"] == "delivered"
    assert log["intent_to_receive"][ready.client_id]["ok"] is True


def test_failed_intent_to_receive_disables_delivery(
    ready: Sandbox, receiver: tuple[Receiver, RunningServer]
) -> None:
    rec, srv = receiver
    r = ready.control(
        "PUT", f"/apps/{ready.client_id}/webhook", {"url": f"{srv.url}/hook", "key": "wrong-key"}
    )
    assert r.json()["intent_to_receive"]["ok"] is False
    ready.api("PUT", "Contacts", {"Name": "Silent"})
    time.sleep(0.2)
    assert rec.received == []


def test_unreachable_webhook_is_retried_then_failed(ready: Sandbox) -> None:
    sb = ready.sb
    ready.control("PUT", f"/apps/{ready.client_id}/webhook", {"url": "http://127.0.0.1:9/hook", "key": KEY})
    # Force-enable so we can watch the retry schedule against a dead endpoint.
    sb.apps[ready.client_id].intent_to_receive = {"ok": True}
    ready.api("PUT", "Contacts", {"Name": "Nobody listens"})
    _wait(lambda: any(d.get("status") == "failed" and d["kind"] == "events" for d in sb.deliveries))
    entry = next(d for d in sb.deliveries if d["kind"] == "events")
    assert len(entry["attempts"]) == 3 and all(a["error"] for a in entry["attempts"])


def test_data_file_persists_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "xero.json"
    sb = XeroSandbox.load(path)
    sb.config["persist_interval"] = 0.1
    t = sb.add_tenant("Persisted Org")
    with serve_in_thread(create_app(sb)) as srv:
        import httpx

        r = httpx.put(f"{srv.url}/_sandbox/tenants/{t.id}/as-user/Contacts", json={"Name": "Kept"})
        assert r.status_code == 200
        _wait(lambda: path.exists() and b"Kept" in path.read_bytes())
    again = XeroSandbox.load(path)
    tenant = again.tenants[t.id]
    assert [c["Name"] for c in tenant.data["Contacts"].values()] == ["Kept"]
    assert tenant.lookup("Contacts", "Name", "kept")
    assert len(tenant.data["Accounts"]) > 10
