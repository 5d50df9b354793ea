"""Outbound webhooks to the app: Standard Webhooks signatures, retries with backoff, the delivery log."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from standardwebhooks import Webhook

from ledgersync.api import services
from ledgersync.api.scheduler import Scheduler
from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine.actions import Role
from ledgersync.model import Contact
from ledgersync.sandbox.server import serve_in_thread

from .conftest import Api, make_api, queue_event, wait_for


class Receiver:
    """A webhook receiver over real HTTP that fails its first `fail_first` requests with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.requests.append((dict(request.headers), body))
                n = len(self.requests)
            return Response(status_code=500 if n <= self.fail_first else 204)

        self.server = serve_in_thread(app)
        self.url = f"{self.server.url}/hook"


def register(api: Api, url: str, **body: Any) -> dict[str, Any]:
    r = api.client.post("/v1/webhook-endpoints", headers=api.a.h(Role.ADMIN), json={"url": url, **body})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def pulled_contact(api: Api, conn: str, sandbox: XeroSandboxHandle, name: str) -> None:
    sandbox.as_user("Contacts", {"Contacts": [{"Name": name}]}, method="PUT")
    api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).raise_for_status()


def test_a_contact_created_in_xero_reaches_the_app_signed_per_standard_webhooks(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle
) -> None:
    api, conn = connected
    receiver = Receiver()
    try:
        ep = register(api, receiver.url, event_types=["contact.created"])
        assert ep["secret"].startswith("whsec_")
        pulled_contact(api, conn, sandbox, "Walk-in Customer")
        assert services.deliver_webhooks(api.ls, api.settings) == 1
        ((headers, body),) = receiver.requests
        event = Webhook(ep["secret"]).verify(body, headers)  # raises on a bad signature
        assert event["type"] == "contact.created" and event["data"]["record"]["name"] == "Walk-in Customer"
        assert event["data"]["organisation_id"] == api.a.id and headers["webhook-id"].startswith("msg_")
        # Another secret does not verify it.
        other = register(api, receiver.url)["secret"]
        try:
            Webhook(other).verify(body, headers)
            raise AssertionError("verified with the wrong secret")
        except Exception as exc:
            assert "signature" in str(exc).lower()
        log = api.client.get("/v1/webhook-deliveries", headers=api.a.h(Role.MEMBER)).json()
        (d,) = log["items"]
        assert d["status"] == "delivered" and d["attempts"] == 1 and d["response_code"] == 204
        assert d["endpoint_id"] == ep["id"] and d["event_type"] == "contact.created" and d["next_attempt_at"] is None
    finally:
        receiver.server.stop()


def test_a_receiver_failing_twice_gets_retries_with_growing_backoff(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle
) -> None:
    api, conn = connected
    receiver = Receiver(fail_first=2)
    scheduler = Scheduler(api.ls, api.settings.model_copy(update={"sync_every_seconds": 3600}))
    try:
        ep = register(api, receiver.url)
        pulled_contact(api, conn, sandbox, "Retry Me")
        scheduler.start()
        d = wait_for(
            lambda: next(
                (
                    x
                    for x in api.client.get("/v1/webhook-deliveries", headers=api.a.h()).json()["items"]
                    if x["status"] == "delivered"
                ),
                None,
            )
        )
    finally:
        scheduler.stop()
        receiver.server.stop()
    assert d["attempts"] == 3 and d["response_code"] == 204 and d["endpoint_id"] == ep["id"]
    log = d["attempt_log"]
    assert [a["response_code"] for a in log] == [500, 500, 204]
    assert log[0]["error"] == "receiver answered 500" and log[2]["next_attempt_at"] is None
    # The wait before each retry grows: base, then base * factor.
    import datetime as dt

    waits = [
        (dt.datetime.fromisoformat(a["next_attempt_at"]) - dt.datetime.fromisoformat(a["at"])).total_seconds()
        for a in log[:2]
    ]
    assert 0.15 < waits[0] < 0.3 and 0.35 < waits[1] < 0.5
    # All three carried the same webhook-id (receivers de-duplicate on it) and each verifies.
    assert len({h["webhook-id"] for h, _ in receiver.requests}) == 1
    for h, body in receiver.requests:
        Webhook(ep["secret"]).verify(body, h)
    one = api.client.get(f"/v1/webhook-deliveries/{d['id']}", headers=api.a.h()).json()
    assert one["attempt_log"] == log


def test_a_delivery_gives_up_after_the_configured_attempts(tmp_path: Path, secret_key: str) -> None:
    from .conftest import fast_settings

    api = make_api(tmp_path, secret_key, settings=fast_settings(webhook_max_attempts=2, webhook_backoff_base=0))
    receiver = Receiver(fail_first=10)
    try:
        register(api, receiver.url)
        queue_event(api.ls, api.a.id, "sync.failed", {"connection_id": "x"})
        services.deliver_webhooks(api.ls, api.settings)
        services.deliver_webhooks(api.ls, api.settings)
        services.deliver_webhooks(api.ls, api.settings)
    finally:
        receiver.server.stop()
    (d,) = api.client.get("/v1/webhook-deliveries", headers=api.a.h()).json()["items"]
    assert d["status"] == "failed" and d["attempts"] == 2 and len(receiver.requests) == 2


def test_sync_failed_and_needs_reconnect_are_sent_from_the_sync_path(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle
) -> None:
    api, conn = connected
    # A name Xero refuses, put in through the Python API (the REST API refuses it with 422 before any sync).
    api.ls.upsert_contact(api.a.id, Contact(id="c1", name="Bad\x07 Name"))
    api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).raise_for_status()
    sandbox.control.post("/_sandbox/tokens/revoke", json={}).raise_for_status()
    sandbox.control.post("/_sandbox/tokens/expire", json={}).raise_for_status()
    report = api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).json()
    assert report["status"] == "needs_reconnect"
    api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).raise_for_status()  # still; not sent twice
    types = [e["type"] for e in api.client.get("/v1/app-events", headers=api.a.h()).json()]
    assert types.count("connection.needs_reconnect") == 1 and "sync.failed" in types
    sent = next(e for e in api.client.get("/v1/app-events", headers=api.a.h()).json() if e["type"] == "sync.failed")
    assert sent["payload"]["connection_id"] == conn and sent["payload"]["failed"] == {"contact": 1}
    health = api.client.get(f"/v1/connections/{conn}/health", headers=api.a.h()).json()
    assert health["status"] == "needs_reconnect"


def test_endpoints_are_managed_by_admins_and_removed_ones_get_nothing(api: Api) -> None:
    assert (
        api.client.post(
            "/v1/webhook-endpoints", headers=api.a.h(Role.MEMBER), json={"url": "http://127.0.0.1:9/x"}
        ).status_code
        == 403
    )
    ep = register(api, "http://127.0.0.1:9/x")
    r = api.client.patch(f"/v1/webhook-endpoints/{ep['id']}", headers=api.a.h(), json={"event_types": ["sync.failed"]})
    assert r.json()["event_types"] == ["sync.failed"]
    rotated = api.client.post(f"/v1/webhook-endpoints/{ep['id']}/rotate-secret", headers=api.a.h()).json()
    assert rotated["secret"] != ep["secret"]
    assert api.client.delete(f"/v1/webhook-endpoints/{ep['id']}", headers=api.a.h()).status_code == 204
    queue_event(api.ls, api.a.id, "sync.failed", {})
    services.deliver_webhooks(api.ls, api.settings)
    assert api.client.get("/v1/webhook-deliveries", headers=api.a.h()).json()["total"] == 0
    assert api.client.post("/v1/webhook-endpoints", headers=api.a.h(), json={"url": "ftp://x"}).status_code == 422
    assert json.loads(api.client.get("/v1/webhook-endpoints", headers=api.a.h()).text)[0]["active"] is False
