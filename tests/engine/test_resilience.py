"""Resilience: injected faults converge without duplicates; tokens expire, refresh once, or get revoked."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from ledgersync.demo import XeroSandboxHandle, consent
from ledgersync.engine import EngineSettings, check
from ledgersync.model import Allocation, Contact, Entity, Invoice, InvoiceLine, Payment

from .conftest import Env, make_env


def seed(env: Env, contacts: int, invoices: int) -> None:
    records: list[Contact | Invoice | Payment] = [Contact(id=f"c{i}", name=f"Customer {i}") for i in range(contacts)]
    for i in range(invoices):
        amt = Decimal(100 + i)
        records.append(
            Invoice(
                id=f"i{i}",
                contact_id=f"c{i % contacts}",
                number=f"F-{i:04d}",
                date=dt.date(2026, 11, 1),
                lines=[InvoiceLine(description="Work", unit_amount=amt, account_code="200", tax_type="NONE")],
            )
        )
        if i % 3:
            records.append(
                Payment(
                    id=f"p{i}",
                    date=dt.date(2026, 11, 2),
                    amount=amt,
                    account_code="090",
                    allocations=[Allocation(invoice_id=f"i{i}", amount=amt)],
                )
            )
    env.ls.upsert_many(env.org, records)


def test_with_ten_percent_of_calls_failing_a_sync_converges_with_no_duplicate(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(
        sandbox,
        f"sqlite:///{tmp_path / 'app.db'}",
        secret_key,
        client={"timeout": "1.0", "max_retry_seconds": "5", "max_attempts": "3", "batch_size": "5"},
        settings=EngineSettings(retry_base_seconds=0, transient_failure_limit=50),
    )
    seed(env, contacts=30, invoices=240)
    sandbox.control.put(
        "/_sandbox/faults",
        json={
            "error_rates": {"429": 0.025, "500": 0.025, "503": 0.0},
            "timeout_after_commit_rate": 0.025,
            "drop_after_commit_rate": 0.025,
            "hang_seconds": 1.5,
            "seed": 42,
        },
    ).raise_for_status()
    for _ in range(20):
        env.ls.sync(env.conn)
        counts = env.ls.health(env.conn).counts
        if all(set(c) == {"synced"} for c in counts.values()) and sum(sum(c.values()) for c in counts.values()) == 430:
            break
    counters = sandbox.counters()
    faults = counters["faults"]
    print(f"calls {counters['total_calls']}, faults {faults}")
    # The faults really happened, of every kind asked for.
    assert all(faults[k] >= 1 for k in ("429", "500", "timeout_after_commit", "drop_after_commit")), faults
    sandbox.control.delete("/_sandbox/faults").raise_for_status()
    counts = env.ls.health(env.conn).counts
    assert counts == {"contact": {"synced": 30}, "invoice": {"synced": 240}, "payment": {"synced": 160}}, counts
    dump = sandbox.dump()
    assert Counter(i["InvoiceNumber"] for i in dump["Invoices"]).most_common(1)[0][1] == 1
    assert len([p for p in dump["Payments"] if p["Status"] != "DELETED"]) == 160
    assert len(dump["Contacts"]) == 30
    report = check(env.ls.store, env.provider(), env.conn)
    assert report.agree, [str(d) for d in report.differences[:10]]


def test_an_access_token_expiring_mid_run_is_refreshed_exactly_once(env: Env) -> None:
    seed(env, contacts=10, invoices=100)
    env.sandbox.control.put("/_sandbox/faults", json={"latency_ms": 40}).raise_for_status()
    before = env.sandbox.counters()["token_grants"]["refresh_token"]
    timer = threading.Timer(0.3, lambda: env.sandbox.control.post("/_sandbox/tokens/expire").raise_for_status())
    timer.start()
    report = env.ls.sync(env.conn)
    timer.join()
    assert report.status == "ok" and report.pushed == {"contact": 10, "invoice": 100, "payment": 66}
    assert env.sandbox.counters()["token_grants"]["refresh_token"] - before == 1


def test_concurrent_requests_with_an_expired_token_share_one_refresh(env: Env) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Ann"))
    env.ls.sync(env.conn)
    rid = env.ls.get(env.org, Entity.CONTACT, "c1", env.conn).remote_id  # type: ignore[union-attr]
    env.sandbox.control.post("/_sandbox/tokens/expire").raise_for_status()
    before = env.sandbox.counters()["token_grants"]["refresh_token"]
    barrier = threading.Barrier(8)
    results: list[int] = []

    def worker() -> None:
        provider = env.provider()
        barrier.wait()
        results.append(len(provider.fetch(Entity.CONTACT, [rid])))
        provider.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1] * 8
    assert env.sandbox.counters()["token_grants"]["refresh_token"] - before == 1


def test_a_revoked_token_marks_the_connection_and_stops_calling_until_relinked(env: Env) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Ann"))
    env.ls.sync(env.conn)
    env.sandbox.control.post("/_sandbox/tokens/revoke", json={}).raise_for_status()
    env.sandbox.control.post("/_sandbox/tokens/expire").raise_for_status()
    env.ls.upsert_contact(env.org, Contact(id="c2", name="Ben"))
    report = env.ls.sync(env.conn)
    assert report.status == "needs_reconnect"
    health = env.ls.health(env.conn)
    assert health.status == "needs_reconnect" and health.status_reason
    calls = env.sandbox.counters()["total_calls"]
    grants = env.sandbox.counters()["token_grants"]["refresh_token"]
    again = env.ls.sync(env.conn)
    assert again.status == "needs_reconnect"
    # The app hears it once, from the cycle that found it, whichever way the sync was started.
    told = [e for e in env.ls.store.app_events(env.org) if e.type == "connection.needs_reconnect"]
    assert len(told) == 1 and told[0].payload["reason"]
    assert env.sandbox.counters()["total_calls"] == calls
    assert env.sandbox.counters()["token_grants"]["refresh_token"] == grants
    # Refresh link: same connection, links kept, sync resumes.
    start = env.ls.refresh_link(env.conn)
    code, state = consent(start.authorization_url, choose={"tenantId": env.sandbox.tenant_id})
    assert env.ls.complete_connect(state, code) == env.conn
    report = env.ls.sync(env.conn)
    assert report.status == "ok" and report.pushed == {"contact": 1}
    assert len(env.sandbox.dump()["Contacts"]) == 2


def test_a_tenant_over_its_daily_budget_is_parked_with_a_visible_status(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(sandbox, f"sqlite:///{tmp_path / 'app.db'}", secret_key)
    sandbox.control.put("/_sandbox/config", json={"rate_limits": {"day": 3}}).raise_for_status()
    seed(env, contacts=5, invoices=5)
    started = time.monotonic()
    report = env.ls.sync(env.conn)
    assert time.monotonic() - started < 30  # parked, not sleeping until tomorrow
    assert report.status == "parked"
    health = env.ls.health(env.conn)
    assert health.status == "parked" and "daily" in (health.status_reason or "")
    calls = sandbox.counters()["total_calls"]
    assert env.ls.sync(env.conn).status == "parked"
    assert sandbox.counters()["total_calls"] == calls
