"""DEAR webhooks end to end through the REST API: registered by the sync with our secret bearer token, refused
(401, nothing stored) without it, live when delivered, and, once DEAR has switched one off after its failed
retries, noticed by the next cycle's poll and switched back on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ledgersync.demo import SandboxHandle, dear_sandbox
from ledgersync.providers.dear.config import DEFAULT_WEBHOOK_TYPES
from ledgersync.sandbox.server import serve_in_thread
from ledgersync.store.tables import AppEvent, Event, InboundWebhook

from ...api.conftest import Api, make_api, wait_for
from .test_dear_provider import FAST


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with dear_sandbox() as sb:
        yield sb


def connect(api: Api, sb: SandboxHandle, **config: str) -> str:
    r = api.client.post(
        "/v1/connections",
        headers=api.a.h(),
        json={"provider": "dear", "config": {"base_url": sb.url, **FAST, **config}},
    )
    assert r.status_code == 201, r.text
    conn: str = r.json()["connection_id"]
    r = api.client.post(
        f"/v1/connections/{conn}/credentials",
        headers=api.a.h(),
        json={"fields": {"account_id": sb.client_id, "application_key": sb.client_secret}},
    )
    assert r.status_code == 200 and r.json()["status"] == "connected", r.text
    return conn


def stored(api: Api) -> tuple[int, int, int]:
    with api.ls.store.session() as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(t)) or 0)  # type: ignore[return-value]
            for t in (Event, AppEvent, InboundWebhook)
        )


def hooks(sb: SandboxHandle) -> list[dict[str, Any]]:
    r = sb.control.get(f"/_sandbox/accounts/{sb.tenant_id}/as-user/webhooks")
    found: list[dict[str, Any]] = r.json()["Webhooks"]
    return found


def token_of(api: Api, conn: str) -> str:
    return str(api.ls.store.credentials(conn)["webhook_token"])


def synced_customer(api: Api, conn: str) -> str:
    api.client.put("/v1/contacts/c1", headers=api.a.h(), json={"name": "Ann Lee"}).raise_for_status()
    api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).raise_for_status()
    rid: str = api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["remote_id"]
    return rid


def test_a_webhook_with_a_wrong_credential_is_refused_and_nothing_is_stored(
    tmp_path: Path, secret_key: str, sandbox: SandboxHandle
) -> None:
    api = make_api(tmp_path, secret_key)
    conn = connect(api, sandbox)
    rid = synced_customer(api, conn)
    token = token_of(api, conn)
    assert len(token) >= 32
    before = stored(api)
    body = json.dumps({"ID": rid, "Name": "Changed"}).encode()
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {token}"},
        {"Authorization": f"Bearer {token}x"},
    ):
        r = api.client.post(f"/v1/webhooks/dear/{conn}", content=body, headers=headers)
        assert r.status_code == 401 and r.content == b""
    # The right token for another connection id, or an unknown one, is refused the same way.
    assert (
        api.client.post(
            "/v1/webhooks/dear/conn_unknown", content=body, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )
    assert stored(api) == before
    assert api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["record"]["name"] == "Ann Lee"


def test_registered_webhooks_bring_changes_live_and_a_switched_off_one_is_restored_by_the_next_cycle(
    tmp_path: Path, secret_key: str, sandbox: SandboxHandle
) -> None:
    api = make_api(tmp_path, secret_key)
    with serve_in_thread(api.app) as server:
        conn = connect(api, sandbox)
        url = f"{server.url}/v1/webhooks/dear/{conn}"
        api.client.patch(f"/v1/connections/{conn}", headers=api.a.h(), json={"config": {"webhook_url": url}})
        rid = synced_customer(api, conn)
        # The sync registered every webhook we want, pointing at us with our bearer token.
        registered = {h["Type"]: h for h in hooks(sandbox)}
        assert set(registered) == set(DEFAULT_WEBHOOK_TYPES)
        assert all(
            h["ExternalAuthorizationType"] == "bearerauth"
            and h["ExternalBearerToken"] == token_of(api, conn)
            and h["ExternalURL"] == url
            and h["IsActive"]
            for h in registered.values()
        )
        # A person renames the customer in DEAR: no sync runs, the webhook alone brings it in.
        sandbox.control.put(
            f"/_sandbox/accounts/{sandbox.tenant_id}/as-user/customer",
            json={"ID": rid, "Name": "Ann Lee (renamed in DEAR)"},
        ).raise_for_status()
        wait_for(
            lambda: (
                api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["record"]["name"]
                == "Ann Lee (renamed in DEAR)"
            )
        )
        # A payment taken in DEAR (Sale/FullPaymentReceived) reaches the app the same way, with the invoice paid.
        api.client.put(
            "/v1/invoices/i1",
            headers=api.a.h(),
            json={
                "contact_id": "c1",
                "number": "WH-1",
                "date": "2026-11-02",
                "lines": [{"description": "Service", "unit_amount": "80.00"}],
            },
        ).raise_for_status()
        # (The rename's webhook refresh may still hold the connection: 409 until it is done.)
        wait_for(lambda: api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).status_code == 200)
        sale_id = api.client.get("/v1/invoices/i1", headers=api.a.h()).json()["remote_id"]
        sale = sandbox.control.get(
            f"/_sandbox/accounts/{sandbox.tenant_id}/as-user/sale", params={"ID": sale_id}
        ).json()
        sandbox.control.post(
            f"/_sandbox/accounts/{sandbox.tenant_id}/as-user/sale/payment",
            json={"TaskID": sale["Invoices"][0]["TaskID"], "Amount": 80, "Reference": "Card in DEAR"},
        ).raise_for_status()
        wait_for(lambda: api.client.get("/v1/invoices/i1", headers=api.a.h()).json()["record"]["status"] == "paid")
    # Our endpoint is down now: DEAR's deliveries fail, are retried six times and the webhook is switched off.
    sandbox.control.put(
        f"/_sandbox/accounts/{sandbox.tenant_id}/as-user/customer",
        json={"ID": rid, "Name": "Ann Lee (while we were down)"},
    ).raise_for_status()
    for _ in range(7):
        sandbox.control.post("/_sandbox/clock", json={"advance_seconds": 26 * 60})
        time.sleep(0.2)
    wait_for(lambda: not {h["Type"]: h for h in hooks(sandbox)}["Customer/Updated"]["IsActive"])
    # The next cycle polls (UpdatedSince / ModifiedSince), finds the change, notices and switches it back on.
    answers: list[Any] = []
    wait_for(
        lambda: (
            answers.append(api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()))
            or answers[-1].status_code == 200
        )
    )
    report = answers[-1].json()
    assert report["status"] == "ok", report
    assert {h["Type"]: h for h in hooks(sandbox)}["Customer/Updated"]["IsActive"] is True
    assert (
        api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["record"]["name"] == "Ann Lee (while we were down)"
    )
    assert sandbox.counters()["calls"].get("PUT /webhooks", 0) >= 1
