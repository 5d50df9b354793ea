"""One set of behaviours every provider + sandbox pair must pass (in the spirit of the Singer SDK's standard tap
tests). The engine has no branch on the provider's name: what differs lives in each provider and its capabilities."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from ledgersync.demo import connect_sandbox
from ledgersync.engine import EngineSettings, LedgerSync, check
from ledgersync.engine.actions import ActionCentre, Actor, Role
from ledgersync.model import Allocation, Contact, Entity, Invoice, InvoiceLine, InvoiceStatus, Payment

from .platforms import Platform, platforms

ADMIN = Actor("ada", Role.ADMIN)
DAY = dt.date.today()


@pytest.fixture(params=list(platforms()), ids=lambda p: p.name)
def platform(request: pytest.FixtureRequest) -> Iterator[Platform]:
    plat: Platform = request.param
    with plat.start() as handle:
        plat.handle = handle
        yield plat
    plat.handle = None


@dataclass
class Conn:
    ls: LedgerSync
    org: str
    conn: str
    platform: Platform
    db_url: str
    key: str

    def remote(self, entity: Entity, app_id: str) -> str:
        view = self.ls.get(self.org, entity, app_id, self.conn)
        assert view is not None and view.remote_id, f"{entity.value} {app_id} is not linked"
        return view.remote_id

    def state(self, entity: Entity, app_id: str) -> str:
        view = self.ls.get(self.org, entity, app_id, self.conn)
        assert view is not None
        return view.state

    def counts(self) -> dict[str, dict[str, int]]:
        """Records per state, leaving out items a platform seeds itself (QuickBooks' default service item)."""
        counts = self.ls.health(self.conn).counts
        counts.pop("item", None)
        return counts

    def agree(self) -> None:
        provider = self.ls.open_provider(self.conn)
        provider.on_call = None
        try:
            report = check(self.ls.store, provider, self.conn)
        finally:
            provider.close()
        assert report.agree, [str(d) for d in report.differences[:10]]


def connect(
    platform: Platform,
    tmp_path: Path,
    key: str,
    settings: EngineSettings | None = None,
    client: dict[str, str] | None = None,
) -> Conn:
    db = f"sqlite:///{tmp_path / 'app.db'}"
    ls = LedgerSync(db, secret_keys=[key], settings=settings or EngineSettings(retry_base_seconds=0))
    org = ls.create_organisation("Conformance Workshop")
    conn = connect_sandbox(ls, org, platform.sb, {**platform.client_limits, **(client or {})})
    return Conn(ls, org, conn, platform, db, key)


def invoice(platform: Platform, i: int, contact: str, amount: str = "100.00") -> Invoice:
    return Invoice(
        id=f"i{i}",
        contact_id=contact,
        number=f"CF-{i:04d}",
        date=DAY,
        currency=platform.currency,
        lines=[InvoiceLine(description=f"Job {i}", unit_amount=Decimal(amount))],
    )


def payment(platform: Platform, i: int, invoice_id: str, amount: str) -> Payment:
    return Payment(
        id=f"p{i}",
        date=DAY,
        amount=Decimal(amount),
        currency=platform.currency,
        reference=f"R{i}",
        allocations=[Allocation(invoice_id=invoice_id, amount=Decimal(amount))],
    )


def test_contacts_flow_both_ways(platform: Platform, tmp_path: Path, secret_key: str) -> None:
    c = connect(platform, tmp_path, secret_key)
    c.ls.upsert_contact(c.org, Contact(id="c1", name="Ann Lee", email="ann@example.com"))
    remote_new = platform.create_contact("Bob's Garage")
    report = c.ls.sync(c.conn)
    assert report.status == "ok" and report.pushed == {"contact": 1} and report.created_in_app["contact"] == 1
    assert sorted(platform.active_contact_names()) == ["Ann Lee", "Bob's Garage"]
    # Edits on either side reach the other.
    platform.rename_contact(remote_new, "Bob's Garage Pty Ltd")
    c.ls.upsert_contact(c.org, Contact(id="c1", name="Ann Lee-Smith", email="ann@example.com"))
    platform.settle()
    c.ls.sync(c.conn)
    assert sorted(platform.active_contact_names()) == ["Ann Lee-Smith", "Bob's Garage Pty Ltd"]
    assert {r.record.name for r in c.ls.records(c.org, Entity.CONTACT)} == {  # type: ignore[attr-defined]
        "Ann Lee-Smith",
        "Bob's Garage Pty Ltd",
    }
    c.agree()


def test_invoice_lifecycle_create_update_and_void(platform: Platform, tmp_path: Path, secret_key: str) -> None:
    c = connect(platform, tmp_path, secret_key)
    c.ls.upsert_contact(c.org, Contact(id="c1", name="Cara"))
    c.ls.upsert_invoice(c.org, invoice(platform, 1, "c1"))
    c.ls.upsert_invoice(c.org, invoice(platform, 2, "c1", amount="0.00"))
    c.ls.sync(c.conn)
    assert sorted(platform.live_invoice_numbers()) == ["CF-0001", "CF-0002"]
    rid = c.remote(Entity.INVOICE, "i1")
    assert platform.invoice_total(rid) == Decimal("100.00")
    c.ls.upsert_invoice(c.org, invoice(platform, 1, "c1", amount="150.00"))
    c.ls.sync(c.conn)
    assert platform.invoice_total(rid) == Decimal("150.00")
    c.ls.delete(c.org, Entity.INVOICE, "i1")
    c.ls.sync(c.conn)
    assert platform.invoice_state(rid) == "void" and platform.live_invoice_numbers() == ["CF-0002"]


def test_payments_flow_both_ways_and_invoice_status_comes_back(
    platform: Platform, tmp_path: Path, secret_key: str
) -> None:
    c = connect(platform, tmp_path, secret_key)
    c.ls.upsert_contact(c.org, Contact(id="c1", name="Dee"))
    c.ls.upsert_invoice(c.org, invoice(platform, 1, "c1"))
    c.ls.upsert_invoice(c.org, invoice(platform, 2, "c1"))
    c.ls.upsert_payment(c.org, payment(platform, 1, "i1", "100.00"))
    c.ls.sync(c.conn)
    assert platform.invoice_state(c.remote(Entity.INVOICE, "i1")) == "paid"
    inv = c.ls.get(c.org, Entity.INVOICE, "i1")
    assert inv is not None and inv.record.status is InvoiceStatus.PAID  # type: ignore[attr-defined]
    platform.pay(c.remote(Entity.INVOICE, "i2"), Decimal("40.00"))
    platform.settle()
    report = c.ls.sync(c.conn)
    assert report.created_in_app == {"payment": 1}
    i2 = c.ls.get(c.org, Entity.INVOICE, "i2")
    assert i2 is not None and i2.record.amount_due == Decimal("60.00")  # type: ignore[attr-defined]
    assert platform.live_payment_count() == 2
    # A payment deleted in the app is removed on the platform.
    c.ls.delete(c.org, Entity.PAYMENT, "p1")
    c.ls.sync(c.conn)
    assert platform.invoice_state(c.remote(Entity.INVOICE, "i1")) == "open"
    c.agree()


def test_a_duplicate_name_fails_with_merge_offered_and_merge_resolves_it(
    platform: Platform, tmp_path: Path, secret_key: str
) -> None:
    c = connect(platform, tmp_path, secret_key)
    platform.create_contact("Eve Adams")
    c.ls.sync(c.conn)  # pulled into the app as its own customer
    c.ls.upsert_contact(c.org, Contact(id="c9", name="Eve Adams"))
    c.ls.sync(c.conn)
    ac = ActionCentre(c.ls)
    (err,) = ac.errors(c.conn)
    assert err.code == "duplicate_name" and "merge" in err.actions and err.message and err.hint
    ac.merge(ADMIN, c.conn, "c9")
    assert c.state(Entity.CONTACT, "c9") == "synced" and ac.errors(c.conn) == []
    assert platform.active_contact_names().count("Eve Adams") == 1


def test_rate_limited_calls_are_retried_and_the_sync_converges(
    platform: Platform, tmp_path: Path, secret_key: str
) -> None:
    c = connect(platform, tmp_path, secret_key, client={"max_retry_seconds": "5"})
    c.ls.upsert_many(c.org, [Contact(id=f"c{i}", name=f"Customer {i}") for i in range(40)])
    platform.sb.control.put("/_sandbox/faults", json={"error_rates": {"429": 0.3}, "seed": 7}).raise_for_status()
    for _ in range(10):
        c.ls.sync(c.conn)
        if c.counts() == {"contact": {"synced": 40}}:
            break
    platform.sb.control.delete("/_sandbox/faults").raise_for_status()
    assert c.counts() == {"contact": {"synced": 40}}
    assert platform.sb.counters()["faults"]["429"] >= 1
    assert sorted(platform.active_contact_names()) == sorted(f"Customer {i}" for i in range(40))


def test_injected_faults_converge_with_no_duplicate(platform: Platform, tmp_path: Path, secret_key: str) -> None:
    c = connect(
        platform,
        tmp_path,
        secret_key,
        settings=EngineSettings(retry_base_seconds=0, transient_failure_limit=50),
        client={"timeout": "1.0", "max_retry_seconds": "5", "max_attempts": "3", "batch_size": "5"},
    )
    records: list[Contact | Invoice | Payment] = [Contact(id=f"c{i}", name=f"Customer {i}") for i in range(10)]
    for i in range(60):
        records.append(invoice(platform, i, f"c{i % 10}", amount=str(100 + i)))
        if i % 2:
            records.append(payment(platform, i, f"i{i}", str(100 + i)))
    c.ls.upsert_many(c.org, records)
    platform.sb.control.put(
        "/_sandbox/faults",
        json={
            "error_rates": {"429": 0.025, "500": 0.025},
            "timeout_after_commit_rate": 0.025,
            "drop_after_commit_rate": 0.025,
            "hang_seconds": 1.5,
            "seed": 11,
        },
    ).raise_for_status()
    expected = {"contact": {"synced": 10}, "invoice": {"synced": 60}, "payment": {"synced": 30}}
    for _ in range(20):
        c.ls.sync(c.conn)
        if c.counts() == expected:
            break
    platform.sb.control.delete("/_sandbox/faults").raise_for_status()
    assert c.counts() == expected
    assert sum(platform.sb.counters()["faults"].values()) >= 2
    numbers = Counter(platform.live_invoice_numbers())
    assert len(numbers) == 60 and max(numbers.values()) == 1
    assert platform.live_payment_count() == 30
    assert len(platform.active_contact_names()) == 10
    c.agree()


RUNNER = """
import sys
from ledgersync.engine import LedgerSync
ls = LedgerSync(sys.argv[1], secret_keys=[sys.argv[3]])
print("ready", flush=True)
sys.stdin.readline()
ls.sync(sys.argv[2])
"""


def test_a_sync_killed_at_random_points_duplicates_and_loses_nothing(
    platform: Platform, tmp_path: Path, secret_key: str
) -> None:
    c = connect(platform, tmp_path, secret_key, client={"batch_size": "10"})
    records: list[Contact | Invoice | Payment] = [Contact(id=f"c{i}", name=f"Customer {i}") for i in range(10)]
    for i in range(80):
        records.append(invoice(platform, i, f"c{i % 10}", amount=str(50 + i)))
        records.append(payment(platform, i, f"i{i}", str(50 + i)))
    c.ls.upsert_many(c.org, records)
    platform.sb.control.put("/_sandbox/faults", json={"latency_ms": 60}).raise_for_status()
    rng = random.Random(platform.name)
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, c.db_url, c.conn, secret_key],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(rng.uniform(0.1, 1.2))
        proc.kill()
        proc.wait()
    platform.sb.control.delete("/_sandbox/faults").raise_for_status()
    for _ in range(3):
        report = c.ls.sync(c.conn, wait=30)
        if not report.pushed and not report.failed:
            break
    assert c.counts() == {"contact": {"synced": 10}, "invoice": {"synced": 80}, "payment": {"synced": 80}}
    numbers = Counter(platform.live_invoice_numbers())
    assert len(numbers) == 80 and max(numbers.values()) == 1
    assert platform.live_payment_count() == 80
    c.agree()


def test_an_expired_token_is_refreshed_once_and_a_revoked_one_stops_calls(
    platform: Platform, tmp_path: Path, secret_key: str
) -> None:
    c = connect(platform, tmp_path, secret_key)
    c.ls.upsert_contact(c.org, Contact(id="c1", name="Fay"))
    c.ls.sync(c.conn)
    before = platform.refreshes()
    platform.sb.control.post("/_sandbox/tokens/expire").raise_for_status()
    c.ls.upsert_contact(c.org, Contact(id="c2", name="Gus"))
    assert c.ls.sync(c.conn).status == "ok"
    assert platform.refreshes() - before == 1
    platform.sb.control.post("/_sandbox/tokens/revoke", json={}).raise_for_status()
    platform.sb.control.post("/_sandbox/tokens/expire").raise_for_status()
    c.ls.upsert_contact(c.org, Contact(id="c3", name="Hal"))
    assert c.ls.sync(c.conn).status == "needs_reconnect"
    calls = platform.sb.counters()["total_calls"]
    assert c.ls.sync(c.conn).status == "needs_reconnect"
    assert platform.sb.counters()["total_calls"] == calls
    assert c.ls.health(c.conn).status == "needs_reconnect"
