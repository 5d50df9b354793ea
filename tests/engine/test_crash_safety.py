"""Crash safety: a sync process killed with SIGKILL at random points, then rerun, leaves no duplicate in
Xero, nothing missing, and every record Synced."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine import check
from ledgersync.model import Allocation, Contact, Invoice, InvoiceLine, Payment

from .conftest import make_env

RUNNER = """
import sys
from ledgersync.engine import LedgerSync
ls = LedgerSync(sys.argv[1], secret_keys=[sys.argv[3]])
print("ready", flush=True)
sys.stdin.readline()
ls.sync(sys.argv[2])
print("done", flush=True)
"""


def corpus(start: int, n: int, contacts: int = 50) -> list[Invoice | Payment]:
    out: list[Invoice | Payment] = []
    for i in range(start, start + n):
        amount = Decimal(50 + (i % 17) * 10)
        out.append(
            Invoice(
                id=f"i{i:04d}",
                contact_id=f"c{i % contacts:03d}",
                number=f"K-{i:04d}",
                date=dt.date(2026, 10, 1) + dt.timedelta(days=i % 28),
                lines=[
                    InvoiceLine(
                        description=f"Job {i}",
                        quantity=Decimal(1),
                        unit_amount=amount,
                        account_code="200",
                        tax_type="NONE",
                    )
                ],
            )
        )
        out.append(
            Payment(
                id=f"p{i:04d}",
                date=dt.date(2026, 11, 1),
                amount=amount,
                account_code="090",
                reference=f"R{i}",
                allocations=[Allocation(invoice_id=f"i{i:04d}", amount=amount)],
            )
        )
    return out


def run_kills(sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    env = make_env(sandbox, f"sqlite:///{tmp_path / 'app.db'}", secret_key)
    env.ls.upsert_many(env.org, [Contact(id=f"c{i:03d}", name=f"Customer {i:03d}") for i in range(50)])
    total = 500
    per_round = (total - 100) // kills
    env.ls.upsert_many(env.org, corpus(0, 100))
    added = 100
    # Every call takes a while, so kills land inside pushes, reconciles and pulls alike.
    sandbox.control.put("/_sandbox/faults", json={"latency_ms": 60}).raise_for_status()
    child_env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    landed = Counter[str]()
    for k in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, env.db_url, env.conn, secret_key],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=child_env,
        )
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(rng.uniform(0.05, 1.5))
        proc.kill()
        proc.wait()
        landed["during sync" if proc.returncode == -9 else "after finishing"] += 1
        # The app keeps working between crashes: more invoices and payments arrive.
        n = per_round if k < kills - 1 else total - added
        env.ls.upsert_many(env.org, corpus(added, n))
        added += n
    assert landed["during sync"] >= kills * 0.6, landed
    sandbox.control.delete("/_sandbox/faults").raise_for_status()
    for _ in range(3):
        report = env.ls.sync(env.conn, wait=30)
        assert report.status == "ok", report.message
        if not report.pushed and not report.failed:
            break
    counts = env.ls.health(env.conn).counts
    assert counts == {"contact": {"synced": 50}, "invoice": {"synced": total}, "payment": {"synced": total}}, counts
    dump = sandbox.dump()
    numbers = Counter(i["InvoiceNumber"] for i in dump["Invoices"] if i["Status"] not in ("DELETED", "VOIDED"))
    assert len(numbers) == total and max(numbers.values()) == 1
    live_payments = [p for p in dump["Payments"] if p["Status"] != "DELETED"]
    assert len(live_payments) == total
    assert Counter(c["Name"] for c in dump["Contacts"]).most_common(1)[0][1] == 1
    assert all(i["Status"] == "PAID" for i in dump["Invoices"])
    reconciled = len(env.ls.store.events(connection_id=env.conn, kind="reconcile", limit=100_000))
    print(f"kills: {dict(landed)}; writes found by lookup after a crash: {reconciled}")
    report = check(env.ls.store, env.provider(), env.conn)
    assert report.agree, [str(d) for d in report.differences[:10]]


def test_sigkill_at_twenty_random_points_loses_and_duplicates_nothing(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    run_kills(sandbox, tmp_path, secret_key, kills=20, seed=20261121)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_many_more_random_points(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str, seed: int
) -> None:
    run_kills(sandbox, tmp_path, secret_key, kills=60, seed=seed)
