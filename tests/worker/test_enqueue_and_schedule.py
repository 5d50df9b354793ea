"""`serve --no-scheduler` hands Sync now to the workers; beat's dispatch claims each due connection once per
period with each platform's cadence; workers refuse a store whose schema is behind (migrations run once)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from ledgersync import Role
from ledgersync.api import create_app, issue_key
from ledgersync.demo import SandboxHandle
from ledgersync.engine import LedgerSync
from ledgersync.engine.schedule import claim_due
from ledgersync.store import SchemaBehind
from ledgersync.store.tables import utcnow
from ledgersync.web.auth import create_user

from ..api.conftest import fast_settings
from ..web.conftest import login
from .conftest import ROOT, Cluster, business, connect_org, platform_agrees, synced, tenant


def test_serve_without_scheduler_enqueues_sync_now_for_the_workers(cluster: Cluster, xero: SandboxHandle) -> None:
    handle = tenant(xero, "Org Q")
    org, conn = cluster.connect(handle, "Business Q")
    cluster.ls.upsert_many(org, business("Q", 2, 3))
    key = issue_key(cluster.ls, org, Role.MEMBER, "member").token
    app = create_app(cluster.ls, settings=fast_settings(), enqueue=cluster.enqueue)
    with TestClient(app) as client:
        r = client.post(f"/v1/connections/{conn}/sync", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued" and r.json()["task_id"]
        # Nothing ran in the web process: no worker yet, nothing synced.
        assert not synced(cluster.ls, conn, 2, 3)
        missing = client.post(
            f"/v1/connections/{conn}/records/invoice/nope/sync", headers={"Authorization": f"Bearer {key}"}
        )
        assert missing.status_code == 404
        # The dashboard's Sync now is queued too, and the Integrations page shows each connection's schedule.
        create_user(cluster.ls.store, "mo@example.com", "member-password-1", org, "member", name="Mo")
        csrf = login(client, ("mo@example.com", "member-password-1"))
        page = client.get("/integrations").text
        assert "Syncs every 5 minutes (Xero&#39;s default)" in page or "Syncs every 5 minutes (Xero's default)" in page
        r = client.post("/sync-now", data={"conn": conn, "csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303, r.text
        assert "queued" in client.get("/integrations").text
        assert not synced(cluster.ls, conn, 2, 3)
    cluster.start_worker()
    cluster.wait_for(lambda: synced(cluster.ls, conn, 2, 3), timeout=120, what="the queued Sync now")
    platform_agrees(handle, "Q", 2, 3)
    actions = cluster.ls.store.events(connection_id=conn, kind="action", limit=10)
    assert any((e.details or {}).get("actor") == "api-key:member" for e in actions)


def test_dispatch_claims_each_due_connection_once_at_its_cadence(
    postgres_url: str, secret_key: str, xero: SandboxHandle
) -> None:
    ls = LedgerSync(postgres_url, secret_keys=[secret_key], migrate=True)
    try:
        conns = [connect_org(ls, tenant(xero, f"Org {k}"), f"B{k}")[1] for k in range(8)]
        # Xero's default is every 5 minutes; one connection has its own hour, one is off.
        ls.set_sync_every(conns[0], 3600)
        ls.set_sync_every(conns[1], 0)
        assert ls.health(conns[2]).sync_every_seconds == 300 and not ls.health(conns[2]).own_cadence
        assert "Xero's default" in ls.health(conns[2]).schedule_phrase()
        assert "not scheduled" in ls.health(conns[1]).schedule_phrase()
        # Two dispatchers at once (two beats by mistake): every due connection is claimed exactly once.
        got: list[list[str]] = [[], []]
        barrier = threading.Barrier(2)

        def claim(i: int) -> None:
            barrier.wait()
            got[i] = claim_due(ls.store, ls.providers)

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got[0] + got[1]) == sorted(c for c in conns if c != conns[1])
        assert not set(got[0]) & set(got[1])
        assert claim_due(ls.store, ls.providers) == []
        # Each is due again one cadence later: the 5-minute ones at 5 minutes, the hourly one at the hour.
        later = utcnow() + dt.timedelta(seconds=301)
        assert sorted(claim_due(ls.store, ls.providers, later)) == sorted(conns[2:])
        assert sorted(claim_due(ls.store, ls.providers, utcnow() + dt.timedelta(seconds=3601))) == sorted(
            [conns[0], *conns[2:]]
        )
        # A platform that drives its own schedule (default None, QuickBooks Desktop's Web Connector) never is.
        calls_in: dict[str, Any] = {"xero": SimpleNamespace(capabilities=SimpleNamespace(default_sync_seconds=None))}
        assert claim_due(ls.store, calls_in, utcnow() + dt.timedelta(days=1)) == [conns[0]]
    finally:
        ls.store.engine.dispose()


def test_workers_refuse_a_store_whose_schema_is_behind(postgres_url: str) -> None:
    key = Fernet.generate_key().decode()
    with pytest.raises(SchemaBehind, match="ledgersync db upgrade"):
        LedgerSync(postgres_url, secret_keys=[key], migrate=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "LEDGERSYNC_SECRET_KEY": key}
    cli = [sys.executable, "-m", "ledgersync.cli"]
    worker = subprocess.run(
        [*cli, "worker", "--db", postgres_url], env=env, capture_output=True, text=True, timeout=120
    )
    assert worker.returncode == 2, worker.stdout + worker.stderr
    assert "ledgersync db upgrade" in worker.stdout
    up = subprocess.run([*cli, "db", "upgrade", "--db", postgres_url], env=env, capture_output=True, text=True)
    import sqlalchemy as sa

    from ledgersync.store.database import head_revision

    head = head_revision(sa.create_engine(postgres_url))
    assert head and up.returncode == 0 and head in up.stdout, up.stdout + up.stderr
    current = subprocess.run([*cli, "db", "current", "--db", postgres_url], env=env, capture_output=True, text=True)
    assert current.returncode == 0, current.stdout
    LedgerSync(postgres_url, secret_keys=[key], migrate=False).store.engine.dispose()


def test_serve_without_scheduler_enqueues_a_webhooks_refresh(cluster: Cluster, xero: SandboxHandle) -> None:
    import json

    from ledgersync import Entity
    from ledgersync.providers.webhooks import hmac_b64

    key = "xero-webhook-key-for-worker-tests"
    handle = tenant(xero, "Org W")
    org, conn = cluster.connect(handle, "Business W", client={"webhook_key": key})
    cluster.ls.upsert_many(org, business("W", 1, 1))
    assert cluster.ls.sync(conn).status == "ok"
    view = cluster.ls.get(org, Entity.CONTACT, "c0", conn)
    assert view is not None and view.remote_id
    rid = view.remote_id
    handle.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "Name": "W Customer (renamed in Xero)"}]})
    payload = {
        "events": [
            {
                "resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{rid}",
                "resourceId": rid,
                "eventDateUtc": "2026-12-01T12:00:00.000",
                "eventType": "UPDATE",
                "eventCategory": "CONTACT",
                "tenantId": handle.tenant_id,
                "tenantType": "ORGANISATION",
            }
        ],
        "firstEventSequence": 1,
        "lastEventSequence": 1,
        "entropy": "WORKERTEST",
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    app = create_app(cluster.ls, settings=fast_settings(), enqueue=cluster.enqueue)
    with TestClient(app) as client:
        r = client.post(
            f"/v1/webhooks/xero/{conn}",
            content=body,
            headers={"x-xero-signature": hmac_b64(body, key), "content-type": "application/json"},
        )
        assert r.status_code == 200
    # Answered at once; the refresh is a task, not a background thread of the web process.

    def renamed() -> bool:
        got = cluster.ls.get(org, Entity.CONTACT, "c0", conn)
        return got is not None and getattr(got.record, "name", "") == "W Customer (renamed in Xero)"

    assert not renamed()
    cluster.start_worker()
    cluster.wait_for(renamed, timeout=120, what="the queued webhook refresh")
    assert any(e.kind == "webhook" for e in cluster.ls.store.events(connection_id=conn))
