"""Benchmark: scale-out on Celery. Many connections synced by 1, 2 and 4 worker processes at once.

50 connections x 1,000 records each (a tenth contacts, the rest invoices and their payments), every connection
its own organisation in Xero sandbox *processes* (two, tenants spread over them) with Xero's published limits
(per tenant 5 in flight, 60 a minute, 5,000 a day; 10,000 a minute per app; `--limit-scale` multiplies the
minute and day limits), the store on PostgreSQL, the broker and the shared rate budgets in Redis. For each worker
count it prints: records per second from the first enqueue until every connection is Synced, the busiest minute
of calls of any tenant (from the event log, which has one row per call) against the limit, and the 429s the
sandboxes sent. Throughput rises with workers until the machine's cores are busy (workers, sandboxes,
PostgreSQL and Redis all share them), then flattens. Never asserts on time.

    .venv/bin/python benchmarks/scale.py                       # 50 x 1,000 on 1, 2, 4 workers
    .venv/bin/python benchmarks/scale.py --scale 0.04          # CI: 2 connections x 40 records
    .venv/bin/python benchmarks/scale.py --workers 1 2 --json out.json

Needs LEDGERSYNC_TEST_POSTGRES_URL (a server where it may create databases) and LEDGERSYNC_TEST_REDIS_URL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.providers.budget_redis import RedisBudgetBackend
from ledgersync.testing.harness import business, connect_by_consent, scratch_database
from ledgersync.worker.client import Enqueuer
from ledgersync.worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ID, SECRET, REDIRECT = "SCALEBENCH", "scale-bench-secret", "http://127.0.0.1:8000/integrations/xero/callback"


@dataclass
class Figures:
    workers: int
    connections: int
    records: int
    seconds: float
    records_per_second: float
    calls: int
    busiest_tenant_minute: int
    tenant_minute_limit: int
    rate_limited: int

    def line(self) -> str:
        return (
            f"workers {self.workers}  {self.connections} connections x {self.records // self.connections} records"
            f"  {self.seconds:7.1f} s  {self.records_per_second:8.1f} records/s  calls {self.calls:>6}"
            f"  busiest tenant minute {self.busiest_tenant_minute:>3}/{self.tenant_minute_limit}"
            f"  429s {self.rate_limited}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sandbox:
    url: str
    proc: subprocess.Popen[bytes]
    control: httpx.Client


@contextmanager
def sandboxes(n: int, limits: dict[str, int]) -> Iterator[list[Sandbox]]:
    """`n` Xero sandbox processes with the benchmark's OAuth app and the given rate limits."""
    started: list[Sandbox] = []
    try:
        for _ in range(n):
            port = free_port()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ledgersync.cli",
                    "sandbox",
                    "xero",
                    "--port",
                    str(port),
                    "--no-demo",
                    "--client-id",
                    CLIENT_ID,
                    "--client-secret",
                    SECRET,
                    "--redirect-uri",
                    REDIRECT,
                ],
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            url = f"http://127.0.0.1:{port}"
            control = httpx.Client(base_url=url, timeout=30)
            deadline = time.monotonic() + 60
            while True:
                try:
                    control.get("/_sandbox/counters").raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("a sandbox did not start") from None
                    time.sleep(0.2)
            control.put("/_sandbox/config", json={"rate_limits": limits}).raise_for_status()
            started.append(Sandbox(url, proc, control))
        yield started
    finally:
        for sb in started:
            sb.control.close()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sb.proc.pid, signal.SIGKILL)
            sb.proc.wait()


def busiest_minute(stamps: list[float]) -> int:
    stamps.sort()
    best = lo = 0
    for hi, t in enumerate(stamps):
        while t - stamps[lo] >= 60.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def run(workers: int, connections: int, records: int, limits: dict[str, int], pg: str, redis_url: str) -> Figures:
    run_id = uuid.uuid4().hex[:8]
    key = Fernet.generate_key().decode()
    client = {
        "per_minute": str(limits["minute"]),
        "per_day": str(limits["day"]),
        "app_per_minute": str(limits["app_minute"]),
        "max_in_flight": str(limits["concurrent"]),
    }
    budget_url = f"{redis_url}?prefix=lsbench-budget-{run_id}"
    with scratch_database(pg, f"bench_scale_{run_id}") as db, sandboxes(2, limits) as sbs:
        ls = LedgerSync(db, secret_keys=[key], settings=EngineSettings(retry_base_seconds=0), migrate=True)
        conns: list[str] = []
        for k in range(connections):
            sb = sbs[k % len(sbs)]
            tenant = str(sb.control.post("/_sandbox/tenants", json={"name": f"Org {k}"}).json()["tenantId"])
            config = {"client_id": CLIENT_ID, "client_secret": SECRET, "redirect_uri": REDIRECT, "base_url": sb.url}
            org, conn = connect_by_consent(ls, f"Business {k}", "xero", {**config, **client}, tenant)
            conns.append(conn)
            # A tenth contacts, the rest invoices and their payments.
            contacts = max(1, records // 10)
            per_connection = ls.upsert_many(org, business(f"S{k:03d}", contacts, max(1, (records - contacts) // 2)))
        settings = WorkerSettings(
            broker_url=redis_url, queue=f"lsbench-{run_id}", database_url=db, broker_prefix=f"lsbench-{run_id}:"
        )
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "LEDGERSYNC_DATABASE_URL": db,
            "LEDGERSYNC_SECRET_KEY": key,
            "LEDGERSYNC_BROKER_URL": redis_url,
            "LEDGERSYNC_BROKER_PREFIX": settings.broker_prefix,
            "LEDGERSYNC_QUEUE": settings.queue,
            "LEDGERSYNC_BUDGET_URL": budget_url,
            "LEDGERSYNC_DB_POOL_SIZE": "3",
            "LEDGERSYNC_BUSY_RETRY": "2",
        }
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ledgersync.cli",
                    "worker",
                    "--pool",
                    "solo",
                    "--loglevel",
                    "warning",
                    "--hostname",
                    f"bench{i}-{run_id}@%h",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for i in range(workers)
        ]
        enqueue = Enqueuer(settings)
        try:
            time.sleep(3.0)  # let the workers connect, so the clock measures syncing, not interpreter start-up
            started = time.monotonic()
            for c in conns:
                enqueue.cycle(c)
            while True:
                if all(
                    sum(st.get("synced", 0) for st in ls.health(c).counts.values()) == per_connection for c in conns
                ):
                    break
                if all(p.poll() is not None for p in procs):
                    raise RuntimeError("every worker exited")
                time.sleep(0.5)
            seconds = time.monotonic() - started
        finally:
            for p in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            enqueue.close()
        per_tenant: dict[str, list[float]] = defaultdict(list)
        calls = 0
        for c in conns:
            for e in ls.store.events(connection_id=c, kind="call", limit=1_000_000):
                per_tenant[c].append(e.at.timestamp())
                calls += 1
        limited = sum(sum(sb.control.get("/_sandbox/counters").json()["rate_limited"].values()) for sb in sbs)
        total = per_connection * len(conns)
        ls.store.engine.dispose()
        RedisBudgetBackend.from_url(budget_url).clear()
        # The broker's keys of this run (its queue, bindings) go too.
        broker = RedisBudgetBackend.from_url(redis_url).redis
        for stale in broker.scan_iter(match=f"{settings.broker_prefix}*", count=500):
            broker.delete(stale)
        return Figures(
            workers=workers,
            connections=connections,
            records=total,
            seconds=seconds,
            records_per_second=total / seconds,
            calls=calls,
            busiest_tenant_minute=max((busiest_minute(v) for v in per_tenant.values()), default=0),
            tenant_minute_limit=limits["minute"],
            rate_limited=limited,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="Shrink connections and records (CI: 0.04)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--limit-scale", type=float, default=1.0, help="Multiply Xero's minute and day limits")
    parser.add_argument("--json", type=Path, help="Also write the figures here")
    args = parser.parse_args()
    pg = os.environ.get("LEDGERSYNC_TEST_POSTGRES_URL")
    redis_url = os.environ.get("LEDGERSYNC_TEST_REDIS_URL")
    if not pg or not redis_url:
        sys.exit("set LEDGERSYNC_TEST_POSTGRES_URL and LEDGERSYNC_TEST_REDIS_URL (see .ci/run)")
    connections = max(2, round(50 * args.scale))
    records = max(20, round(1000 * args.scale))
    limits = {
        "concurrent": 5,
        "minute": max(1, round(60 * args.limit_scale)),
        "day": max(1, round(5000 * args.limit_scale)),
        "app_minute": max(1, round(10_000 * args.limit_scale)),
    }
    print(f"{connections} connections x {records} records; Xero limits {limits}; {os.cpu_count()} CPUs here")
    figures = []
    for w in args.workers:
        f = run(w, connections, records, limits, pg, redis_url)
        print(f.line(), flush=True)
        figures.append(f)
    if args.json:
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2))


if __name__ == "__main__":
    main()
