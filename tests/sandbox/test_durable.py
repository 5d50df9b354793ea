"""A durable sandbox: `ledgersync sandbox xero --data` SIGKILLed in the middle of a sync loses nothing it answered
200 for, and after a restart from --data every endpoint serves again (GET /connections included)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledgersync.demo import SandboxHandle, connect_sandbox
from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.model import Contact, Entity

CLIENT_ID, SECRET, REDIRECT = "DURABLE", "durable-secret", "http://127.0.0.1:8000/integrations/xero/callback"
FAST_LIMITS = {"rate_limits": {"concurrent": 5, "minute": 100_000, "day": 1_000_000, "app_minute": 1_000_000}}
FAST_CLIENT = {"per_minute": "100000", "per_day": "1000000", "app_per_minute": "1000000", "batch_size": "2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SandboxProcess:
    """The real command in its own process, so it can be killed the hard way."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("ledgersync") or str(Path(sys.executable).parent / "ledgersync")
        args = [exe, "sandbox", "xero", "--port", str(self.port), "--data", str(self.data)]
        args += ["--client-id", CLIENT_ID, "--client-secret", SECRET, "--redirect-uri", REDIRECT]
        args += ["--tenant", "Durable Ltd", "--no-demo"]  # an empty organisation: the test counts what it syncs
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/_sandbox/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "the sandbox exited during start-up"
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[SandboxProcess]:
    sp = SandboxProcess(tmp_path / "xero.json", free_port())
    sp.start()
    try:
        yield sp
    finally:
        sp.stop()


def handle(sp: SandboxProcess, control: httpx.Client) -> SandboxHandle:
    tenant = next(t for t in control.get("/_sandbox/tenants").json() if t["name"] == "Durable Ltd")
    return SandboxHandle("xero", sp.url, tenant["tenantId"], CLIENT_ID, SECRET, REDIRECT, control)


def contacts_in(control: httpx.Client, tenant_id: str) -> list[dict[str, Any]]:
    found = control.get(f"/_sandbox/tenants/{tenant_id}/dump").json().get("Contacts") or []
    return list(found.values()) if isinstance(found, dict) else list(found)


def test_a_sigkill_during_a_sync_loses_nothing_the_sandbox_answered_200_for(
    sandbox_process: SandboxProcess, tmp_path: Path, secret_key: str
) -> None:
    sp = sandbox_process
    with httpx.Client(base_url=sp.url, timeout=30) as control:
        control.put("/_sandbox/config", json=FAST_LIMITS).raise_for_status()
        sb = handle(sp, control)
        ls = LedgerSync(
            f"sqlite:///{tmp_path / 'app.db'}", secret_keys=[secret_key], settings=EngineSettings(retry_base_seconds=0)
        )
        org = ls.create_organisation("Durable Workshop")
        conn = connect_sandbox(ls, org, sb, FAST_CLIENT)
        ls.upsert_many(org, [Contact(id=f"c{i:03d}", name=f"Customer {i:03d}") for i in range(80)])

        sync = threading.Thread(target=lambda: _sync_quietly(ls, conn))
        sync.start()
        # Kill it as soon as a few batches have been confirmed, well inside the old 2-second save interval.
        deadline = time.monotonic() + 30
        while len(ls.store.links(conn, Entity.CONTACT)) < 6:
            assert time.monotonic() < deadline, "the sync made no progress"
            time.sleep(0.005)
        sp.kill()
        # The client keeps retrying a vanished platform for a while (bounded); on a loaded machine that can
        # outlast a minute, so wait for the sync to give up rather than race its lease.
        sync.join(300)
        assert not sync.is_alive(), "the sync never gave up on the vanished platform"
        confirmed = {link.app_id: link.remote_id for link in ls.store.links(conn, Entity.CONTACT).values()}
        assert 6 <= len(confirmed) < 80

    sp.start()  # from the same --data file
    with httpx.Client(base_url=sp.url, timeout=30) as control:
        kept = {c["ContactID"] for c in contacts_in(control, sb.tenant_id)}
        assert set(confirmed.values()) <= kept  # every contact it answered 200 for survived the SIGKILL
        # Every endpoint serves after the restart: the identity ones (tokens survived too) and the API.
        token = ls.store.load_token(conn)
        assert token is not None
        auth = {"Authorization": f"Bearer {token.access_token}"}
        assert control.get("/connections", headers=auth).status_code == 200
        assert control.get("/api.xro/2.0/Contacts", headers={**auth, "xero-tenant-id": sb.tenant_id}).status_code == 200
        # The next sync finishes the job without a duplicate.
        report = ls.sync(conn, wait=60)
        assert report.status == "ok", report.message
        names = sorted(c["Name"] for c in contacts_in(control, sb.tenant_id))
        assert names == [f"Customer {i:03d}" for i in range(80)]


def _sync_quietly(ls: LedgerSync, conn: str) -> None:
    # The platform vanishes mid-call: the sync fails, and the store keeps the outcome as unknown.
    with contextlib.suppress(Exception):
        ls.sync(conn)
