"""Scale-out on Celery against real Redis, RabbitMQ and PostgreSQL: worker processes over many connections
converge with no duplicate and nothing missing, survive SIGKILL mid-batch, never hold one connection twice,
and share each tenant's rate budget."""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from pathlib import Path

import pytest

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
        for (pid_a, a0, a1), (pid_b, b0, b1) in zip(spans, spans[1:], strict=False):
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
    for _ in range(6):
        for _, conn, _ in conns:
            cluster.enqueue.cycle(conn)
            cluster.enqueue.sync_now(conn, everything_not_synced=True)
    cluster.wait_for(
        lambda: all(synced(cluster.ls, conn, 2, 4) for _, conn, _ in conns), timeout=180, what="3 connections synced"
    )
    for prefix, _, handle in conns:
        platform_agrees(handle, prefix, 2, 4)
    lines = cluster.lease_log.read_text().splitlines()
    assert len(lines) >= 6, lines  # the connections were worked many times, by both workers
    assert len({json.loads(line)[1] for line in lines}) == 2
    assert overlaps(cluster.lease_log) == []


def run_kills(cluster: Cluster, xero: SandboxHandle, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    n, contacts, invoices = 6, 4, 24
    conns = setup_connections(cluster, xero, n, contacts, invoices=8)
    # Every call takes a while, so kills land inside pushes, reconciles and pulls alike.
    xero.control.put("/_sandbox/faults", json={"latency_ms": 40}).raise_for_status()
    workers = [cluster.start_worker(), cluster.start_worker()]
    added = 8
    per_round = max(1, (invoices - 8) // kills)
    for k in range(kills):
        for _, conn, _ in conns:
            cluster.enqueue.cycle(conn)
        time.sleep(rng.uniform(1.0, 4.0))
        victim = workers.pop(rng.randrange(len(workers)))
        cluster.kill(victim)
        workers.append(cluster.start_worker())
        # The app keeps working between crashes: more invoices and payments arrive.
        grow = per_round if k < kills - 1 else invoices - added
        for prefix, conn, _ in conns:
            org = cluster.ls.connection(conn).org_id
            everything = business(prefix, contacts, added + grow)
            cluster.ls.upsert_many(org, everything)
        added += grow
    xero.control.delete("/_sandbox/faults").raise_for_status()
    # The last kill's task comes back by itself (redelivered); beat would enqueue the rest on its next tick.
    for _, conn, _ in conns:
        cluster.enqueue.cycle(conn)

    def converged() -> bool:
        if all(synced(cluster.ls, conn, contacts, invoices) for _, conn, _ in conns):
            return True
        for _, conn, _ in conns:  # as beat would, each tick
            cluster.enqueue.cycle(conn)
        return False

    cluster.wait_for(converged, timeout=300, what="every connection synced after the kills", every=3.0)
    for prefix, _, handle in conns:
        platform_agrees(handle, prefix, contacts, invoices)


def test_sigkill_of_a_worker_mid_batch_at_a_few_random_points(cluster: Cluster, xero: SandboxHandle) -> None:
    run_kills(cluster, xero, kills=3, seed=20261201)


@pytest.mark.slow
def test_sigkill_of_a_worker_mid_batch_at_thirty_random_points(cluster: Cluster, xero: SandboxHandle) -> None:
    run_kills(cluster, xero, kills=30, seed=30)
