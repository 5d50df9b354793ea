"""Scale-out on Celery against real Redis, RabbitMQ and PostgreSQL: worker processes over many connections
converge with no duplicate and nothing missing, survive SIGKILL mid-batch, never hold one connection twice,
and share each tenant's rate budget."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgersync.demo import SandboxHandle
from ledgersync.engine.schedule import claim_due

from .conftest import Cluster, business, platform_agrees, synced, tenant


def overlaps(log: Path) -> list[tuple[str, list[float], list[float]]]:
    """Pairs of lease holds of one connection, by different processes, that overlap in time."""
    holds: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        conn, pid, start, end = json.loads(line)
        holds[conn].append((pid, start, end))
    found = []
    for conn, spans in holds.items():
        spans.sort(key=lambda s: s[1])
        for (pid_a, a0, a1), (pid_b, b0, b1) in itertools.pairwise(spans):
            if b0 < a1:
                found.append((conn, [pid_a, a0, a1], [pid_b, b0, b1]))
    return found


def setup_connections(
    cluster: Cluster, xero: SandboxHandle, n: int, contacts: int, invoices: int
) -> list[tuple[str, str, SandboxHandle]]:
    """n organisations, each connected to an organisation of its own in the sandbox, with a business to sync."""
    made = []
    for k in range(n):
        prefix = f"B{k:02d}"
        handle = tenant(xero, f"Org {prefix}")
        org, conn = cluster.connect(handle, f"Business {prefix}")
        cluster.ls.upsert_many(org, business(prefix, contacts, invoices))
        made.append((prefix, conn, handle))
    return made


def test_two_workers_converge_over_twenty_connections_from_one_dispatch(cluster: Cluster, xero: SandboxHandle) -> None:
    cluster.lease_log = cluster.tmp / "leases.jsonl"
    conns = setup_connections(cluster, xero, 20, contacts=3, invoices=6)
    for _ in range(2):
        cluster.start_worker()
    # What beat does every LEDGERSYNC_DISPATCH_EVERY seconds: one dispatch, which enqueues every due connection.
    cluster.enqueue.celery.send_task("ledgersync.dispatch", queue=cluster.queue)
    cluster.wait_for(
        lambda: all(synced(cluster.ls, conn, 3, 6) for _, conn, _ in conns), timeout=240, what="20 connections synced"
    )
    for prefix, _, handle in conns:
        platform_agrees(handle, prefix, 3, 6)
    assert xero.counters()["rate_limited"] == {"concurrent": 0, "minute": 0, "day": 0, "appminute": 0}
    # Both workers took part, and no connection was ever held by two at once.
    holders = {json.loads(line)[1] for line in cluster.lease_log.read_text().splitlines()}
    assert len(holders) == 2, holders
    assert overlaps(cluster.lease_log) == []
    # Each connection was claimed for this period: a second dispatch now enqueues nothing.
    assert claim_due(cluster.ls.store, cluster.ls.providers) == []


def test_two_workers_never_hold_one_connection(cluster: Cluster, xero: SandboxHandle) -> None:
    """Every kind of task for three connections at once, many times over: the lease lets one worker in per
    connection, the others retry later (not an error), and everything still converges."""
    cluster.lease_log = cluster.tmp / "leases.jsonl"
    conns = setup_connections(cluster, xero, 3, contacts=2, invoices=4)
    xero.control.put("/_sandbox/faults", json={"latency_ms": 30}).raise_for_status()
    for _ in range(2):
        cluster.start_worker()
    for _ in range(4):
        for _, conn, _ in conns:
            cluster.enqueue.cycle(conn)
            cluster.enqueue.sync_now(conn, everything_not_synced=True)
    cluster.wait_for(
        lambda: all(synced(cluster.ls, conn, 2, 4) for _, conn, _ in conns), timeout=180, what="3 connections synced"
    )
    for prefix, _, handle in conns:
        platform_agrees(handle, prefix, 2, 4)
    # 24 tasks for 3 connections: most met a busy connection at first and came back later.
    log = cluster.lease_log
    cluster.wait_for(lambda: len(log.read_text().splitlines()) >= 16, timeout=180, what="the tasks to be worked")
    lines = log.read_text().splitlines()
    assert len({json.loads(line)[1] for line in lines}) == 2
    assert overlaps(cluster.lease_log) == []


def run_kills(cluster: Cluster, xero: SandboxHandle, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    n, contacts, invoices, first = 6, 4, 8 + 2 * kills, 8
    conns = []
    for k in range(n):
        prefix = f"K{k:02d}"
        handle = tenant(xero, f"Org {prefix}")
        # One record a call, so a cycle is many calls and a kill can land between any two of them.
        org, conn = cluster.connect(handle, f"Business {prefix}", client={"batch_size": "1"})
        cluster.ls.upsert_many(org, business(prefix, contacts, first))
        conns.append((prefix, conn, handle))
    # Every call takes a while, so kills land inside pushes, reconciles and pulls alike.
    xero.control.put("/_sandbox/faults", json={"latency_ms": 60}).raise_for_status()
    workers = [cluster.start_worker(), cluster.start_worker()]
    added, mid_task = first, 0
    for k in range(kills):
        for _, conn, _ in conns:
            cluster.enqueue.cycle(conn)
        victim = workers.pop(rng.randrange(len(workers)))
        # Wait for the victim to be at work on some connection, then kill it a random moment later.
        deadline = time.monotonic() + 30
        while not holds_a_lease(cluster, victim.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if holds_a_lease(cluster, victim.pid):
            mid_task += 1
        cluster.kill(victim)
        workers.append(cluster.start_worker())
        # The app keeps working between crashes: more invoices and payments arrive.
        grow = 2 if k < kills - 1 else invoices - added
        for prefix, conn, _ in conns:
            cluster.ls.upsert_many(cluster.ls.connection(conn).org_id, business(prefix, contacts, added + grow))
        added += grow
    # Most kills land while the victim holds a connection (mid-cycle), not between tasks.
    assert mid_task >= max(1, kills // 2), (mid_task, kills)
    xero.control.delete("/_sandbox/faults").raise_for_status()

    def converged() -> bool:
        if all(synced(cluster.ls, conn, contacts, invoices) for _, conn, _ in conns):
            return True
        for _, conn, _ in conns:  # as beat would, each tick
            cluster.enqueue.cycle(conn)
        return False

    cluster.wait_for(converged, timeout=300, what="every connection synced after the kills", every=3.0)
    for prefix, _, handle in conns:
        platform_agrees(handle, prefix, contacts, invoices)


def holds_a_lease(cluster: Cluster, pid: int) -> bool:
    """Whether the worker process `pid` holds some connection's lease right now (owner is host:pid:...)."""
    with cluster.ls.store.engine.connect() as conn:
        owners = conn.execute(sa.text("SELECT owner FROM sync_leases WHERE owner IS NOT NULL")).scalars().all()
    return any(str(o).split(":")[1] == str(pid) for o in owners)


def test_sigkill_of_a_worker_mid_batch_at_a_few_random_points(cluster: Cluster, xero: SandboxHandle) -> None:
    run_kills(cluster, xero, kills=3, seed=20261201)


@pytest.mark.slow
def test_sigkill_of_a_worker_mid_batch_at_thirty_random_points(cluster: Cluster, xero: SandboxHandle) -> None:
    run_kills(cluster, xero, kills=30, seed=30)


def test_the_shared_budget_keeps_both_workers_under_the_limit(cluster: Cluster, xero: SandboxHandle) -> None:
    """Two workers syncing two organisations of one app at once, under an app-wide limit of 12 calls a minute
    (Xero's 10,000 scaled down) that their work exceeds: with the budget in Redis the sum of both workers'
    calls stays under it and the sandbox refuses nothing; each alone would have let 12 through."""
    limit = 12
    xero.control.put(
        "/_sandbox/config",
        json={"rate_limits": {"concurrent": 5, "minute": 100_000, "day": 1_000_000, "app_minute": limit}},
    ).raise_for_status()
    conns = []
    for k in range(2):
        prefix = f"L{k}"
        handle = tenant(xero, f"Org {prefix}")
        org, conn = cluster.connect(handle, f"Business {prefix}", client={"app_per_minute": str(limit)})
        cluster.ls.upsert_many(org, business(prefix, 2, 3))
        conns.append((prefix, conn, handle))
    xero.control.post("/_sandbox/counters/reset").raise_for_status()
    for _ in range(2):
        cluster.start_worker()
    for _, conn, _ in conns:
        cluster.enqueue.cycle(conn)
    cluster.wait_for(
        lambda: all(synced(cluster.ls, conn, 2, 3) for _, conn, _ in conns), timeout=200, what="both synced"
    )
    counters = xero.counters()
    assert counters["rate_limited"] == {"concurrent": 0, "minute": 0, "day": 0, "appminute": 0}, counters
    assert counters["total_calls"] > limit  # the work needed more than one window's allowance
    for prefix, _, handle in conns:
        platform_agrees(handle, prefix, 2, 3)
    # Both workers did calls, and no minute of the run held more than the limit across them.
    stamps = sorted(
        e.at.timestamp()
        for _, conn, _ in conns
        for e in cluster.ls.store.events(connection_id=conn, kind="call", limit=10_000)
    )
    assert len(stamps) == counters["total_calls"]
    busiest = max(sum(1 for t in stamps if s <= t < s + 60.0) for s in stamps)
    assert busiest <= limit, busiest


def test_rabbitmq_broker_redelivers_a_killed_workers_task(
    amqp_url: str, redis_url: str, postgres_url: str, secret_key: str, tmp_path: Path, xero: SandboxHandle
) -> None:
    """On RabbitMQ a task whose worker was SIGKILLed mid-cycle goes back to the queue at once (its channel
    closed unacknowledged) and the other worker finishes the connection: nothing enqueued again by hand."""
    import uuid

    from .conftest import Cluster as _Cluster

    cluster = _Cluster(
        postgres_url, amqp_url, f"{redis_url}?prefix=lstest-budget-{uuid.uuid4().hex[:8]}", secret_key, tmp_path
    )
    try:
        ((prefix, conn, handle),) = setup_connections(cluster, xero, 1, contacts=3, invoices=30)
        xero.control.put("/_sandbox/faults", json={"latency_ms": 150}).raise_for_status()
        first = cluster.start_worker()
        cluster.enqueue.cycle(conn)
        cluster.wait_for(
            lambda: holds_a_lease(cluster, first.pid), timeout=60, what="the first worker to start", every=0.1
        )
        time.sleep(0.8)
        assert holds_a_lease(cluster, first.pid)
        cluster.kill(first)
        cluster.start_worker()
        cluster.wait_for(lambda: synced(cluster.ls, conn, 3, 30), timeout=120, what="the redelivered cycle")
        xero.control.delete("/_sandbox/faults").raise_for_status()
        platform_agrees(handle, prefix, 3, 30)
    finally:
        cluster.stop()
        _delete_amqp_queue(amqp_url, cluster.queue)


def _delete_amqp_queue(url: str, queue: str) -> None:
    from kombu import Connection

    with Connection(url) as conn:
        conn.default_channel.queue_delete(queue)
