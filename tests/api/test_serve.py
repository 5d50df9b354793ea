"""`ledgersync serve` and its scheduler: one process, syncs on a cadence, never two at once per connection."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ledgersync.api.scheduler import Scheduler
from ledgersync.demo import XeroSandboxHandle

from .conftest import Api, fast_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_api_and_dashboard_in_one_process(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LEDGERSYNC_ADMIN_TOKEN": "serve-admin", "LEDGERSYNC_SESSION_SECRET": "s"}
    cmd = [sys.executable, "-m", "ledgersync.cli", "serve", "--port", str(port), "--db", f"sqlite:///{tmp_path}/s.db"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/v1/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        r = httpx.post(
            f"{base}/v1/organisations", json={"name": "Served"}, headers={"Authorization": "Bearer serve-admin"}
        )
        assert r.status_code == 201, r.text
        token = r.json()["owner_key"]["token"]
        assert httpx.get(f"{base}/v1/organisation", headers={"Authorization": f"Bearer {token}"}).json()["name"] == (
            "Served"
        )
    finally:
        proc.terminate()
        proc.wait(15)


def test_the_scheduler_syncs_due_connections_and_skips_one_another_worker_holds(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle
) -> None:
    api, conn = connected
    api.client.put("/v1/contacts/c1", headers=api.a.h(), json={"name": "Scheduled"}).raise_for_status()
    scheduler = Scheduler(api.ls, fast_settings(sync_every_seconds=3600))
    lease = api.ls.store.acquire_lease(conn, 600)  # another worker is syncing it
    assert lease is not None
    assert scheduler.sync_due() == 0
    api.ls.store.release_lease(lease)
    assert scheduler.sync_due() == 1
    assert [c["Name"] for c in sandbox.dump()["Contacts"]] == ["Scheduled"]
    assert scheduler.sync_due() == 0  # synced just now: not due for an hour


def test_the_scheduler_prunes_the_event_log_past_its_retention_at_most_hourly(tmp_path: Path) -> None:
    import datetime as dt

    from cryptography.fernet import Fernet

    from ledgersync.api.scheduler import Scheduler
    from ledgersync.api.settings import ApiSettings
    from ledgersync.engine import EngineSettings, LedgerSync
    from ledgersync.store.tables import Event, utcnow

    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'p.db'}",
        secret_keys=[Fernet.generate_key().decode()],
        settings=EngineSettings(event_retention_days=30),
    )
    ls.store.log("sync", message="recent")
    with ls.store.session() as s:
        s.add(Event(kind="sync", message="old", at=utcnow() - dt.timedelta(days=31), details={}))
    scheduler = Scheduler(ls, ApiSettings())
    assert scheduler.prune_due(now=1000.0) == 1
    assert [e.message for e in ls.store.events()] == ["recent"]
    with ls.store.session() as s:
        s.add(Event(kind="sync", message="old again", at=utcnow() - dt.timedelta(days=40), details={}))
    assert scheduler.prune_due(now=1000.0 + 60) == 0  # not again within the hour
    assert scheduler.prune_due(now=1000.0 + 3601) == 1
