"""The attachments stage killed (SIGKILL) between claiming a file and sending it, and between the platform keeping
it and recording that: the rerun finds what landed (QuickBooks: by the hash in the Attachable's Note; Xero: by
the bytes), sends what did not, and every invoice holds its PDF exactly once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ledgersync.demo import SandboxHandle, connect_sandbox, qbo_sandbox, xero_sandbox
from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.model import Contact, Entity, Invoice, InvoiceLine

from .conftest import FAST_CLIENT, FAST_LIMITS

RUNNER = """
import sys
from ledgersync.engine import LedgerSync
ls = LedgerSync(sys.argv[1], secret_keys=[sys.argv[3]])
ls.sync(sys.argv[2])
"""


def pdf(i: int, version: int = 1) -> bytes:
    return b"%PDF-1.4\n" + f"invoice {i} version {version}\n".encode() * 50 + b"%%EOF\n"


@pytest.fixture(params=["xero", "qbo"])
def platform(request: pytest.FixtureRequest) -> Iterator[SandboxHandle]:
    if request.param == "xero":
        with xero_sandbox(config=FAST_LIMITS) as sb:
            yield sb
    else:
        with qbo_sandbox(config=FAST_LIMITS) as sb:
            yield sb


def on_platform(sb: SandboxHandle, remote_id: str) -> list[tuple[str, bytes]]:
    if sb.provider == "xero":
        base = f"/_sandbox/tenants/{sb.tenant_id}/as-user/Invoices/{remote_id}/Attachments"
        listed = sb.control.get(base).json()["Attachments"]
        return [(a["FileName"], sb.control.get(f"{base}/{a['AttachmentID']}").content) for a in listed]
    query = f"SELECT * FROM Attachable WHERE AttachableRef.EntityRef.Value = '{remote_id}'"
    found = sb.as_user("query", {}, method="GET", params={"query": query})["QueryResponse"].get("Attachable") or []
    return [(a["FileName"], httpx.get(a["TempDownloadUri"]).content) for a in found]


@pytest.mark.parametrize("kill_at", ["attachment_claimed:2", "attachment_sent:2"])
def test_a_kill_inside_the_attachments_stage_loses_and_duplicates_nothing(
    platform: SandboxHandle, tmp_path: Path, secret_key: str, kill_at: str
) -> None:
    db = f"sqlite:///{tmp_path / 'app.db'}"
    ls = LedgerSync(db, secret_keys=[secret_key], settings=EngineSettings(retry_base_seconds=0))
    org = ls.create_organisation("Kill Workshop")
    conn = connect_sandbox(ls, org, platform, dict(FAST_CLIENT) if platform.provider == "xero" else None)
    currency = "AUD" if platform.provider == "xero" else "USD"
    ls.upsert_contact(org, Contact(id="c1", name="Kim Customer"))
    for i in range(3):
        line = InvoiceLine(description=f"Job {i}", unit_amount=Decimal("50.00"))
        number, today = f"K-{i}", dt.date.today()
        ls.upsert_invoice(
            org, Invoice(id=f"i{i}", contact_id="c1", number=number, date=today, currency=currency, lines=[line])
        )
    assert ls.sync(conn).status == "ok"
    for i in range(3):
        ls.attach(org, Entity.INVOICE, f"i{i}", f"K-{i}.pdf", "application/pdf", pdf(i))
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, db, conn, secret_key],
        env={**os.environ, "PYTHONWARNINGS": "ignore", "LEDGERSYNC_KILL_AT": kill_at},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=300,
    )
    assert proc.returncode == -9, "the child should have died at the boundary"
    states = [[s.state for s in ls.attachments(org, Entity.INVOICE, f"i{i}")[0].states] for i in range(3)]
    assert states == [["synced"], ["syncing"], []]  # the third was never reached
    remote = {i: ls.get(org, Entity.INVOICE, f"i{i}", conn).remote_id for i in range(3)}  # type: ignore[union-attr]
    landed = on_platform(platform, str(remote[1]))
    assert landed == ([("K-1.pdf", pdf(1))] if kill_at.startswith("attachment_sent") else [])
    assert ls.sync(conn).status == "ok"
    for i in range(3):
        assert on_platform(platform, str(remote[i])) == [(f"K-{i}.pdf", pdf(i))]
        (view,) = ls.attachments(org, Entity.INVOICE, f"i{i}")
        assert [(s.state, s.current) for s in view.states] == [("synced", True)]
    found = [e for e in ls.store.events(connection_id=conn, kind="attachment") if "found on" in (e.message or "")]
    assert len(found) == (1 if kill_at.startswith("attachment_sent") else 0)
    # A changed PDF after the crash replaces the platform's copy: still one file, the new bytes.
    ls.attach(org, Entity.INVOICE, "i1", "K-1.pdf", "application/pdf", pdf(1, version=2))
    assert ls.sync(conn).status == "ok"
    assert on_platform(platform, str(remote[1])) == [("K-1.pdf", pdf(1, version=2))]


def test_a_file_changed_while_its_send_was_unknown_leaves_only_the_new_one(
    platform: SandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    db = f"sqlite:///{tmp_path / 'app.db'}"
    ls = LedgerSync(db, secret_keys=[secret_key], settings=EngineSettings(retry_base_seconds=0))
    org = ls.create_organisation("Kill Workshop")
    conn = connect_sandbox(ls, org, platform, dict(FAST_CLIENT) if platform.provider == "xero" else None)
    currency = "AUD" if platform.provider == "xero" else "USD"
    ls.upsert_contact(org, Contact(id="c1", name="Kim Customer"))
    line = InvoiceLine(description="Job", unit_amount=Decimal("50.00"))
    today = dt.date.today()
    ls.upsert_invoice(org, Invoice(id="i0", contact_id="c1", number="K-0", date=today, currency=currency, lines=[line]))
    assert ls.sync(conn).status == "ok"
    ls.attach(org, Entity.INVOICE, "i0", "K-0.pdf", "application/pdf", pdf(0))
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, db, conn, secret_key],
        env={**os.environ, "PYTHONWARNINGS": "ignore", "LEDGERSYNC_KILL_AT": "attachment_sent:1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=300,
    )
    assert proc.returncode == -9
    remote = str(ls.get(org, Entity.INVOICE, "i0", conn).remote_id)  # type: ignore[union-attr]
    assert on_platform(platform, remote) == [("K-0.pdf", pdf(0))]
    ls.attach(org, Entity.INVOICE, "i0", "K-0.pdf", "application/pdf", pdf(0, version=2))
    assert ls.sync(conn).status == "ok"
    assert on_platform(platform, remote) == [("K-0.pdf", pdf(0, version=2))]
    (view,) = ls.attachments(org, Entity.INVOICE, "i0")
    assert [(s.state, s.current) for s in view.states] == [("synced", True)]
