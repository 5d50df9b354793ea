"""Fixtures for the Celery scale-out tests: real PostgreSQL, Redis and RabbitMQ, worker processes, sandboxes.

Each test gets a database of its own on LEDGERSYNC_TEST_POSTGRES_URL's server, a Celery queue and a Redis key
prefix of its own (so concurrent runs share nothing), and a Xero sandbox on loopback with one organisation per
connection. Workers are real `ledgersync worker` processes (tests/worker/runner.py)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ledgersync.demo import SandboxHandle, xero_sandbox
from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.testing.harness import business as business  # re-exported: the tests import it from here
from ledgersync.testing.harness import connect_by_consent, invoice_number, scratch_database
from ledgersync.worker.client import Enqueuer
from ledgersync.worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("runner.py")

# Scaled-up limits (pacing has its own tests); the budget test sets its own.
FAST_SANDBOX = {"rate_limits": {"concurrent": 5, "minute": 100_000, "day": 1_000_000, "app_minute": 1_000_000}}
FAST_CLIENT = {"per_minute": "100000", "per_day": "1000000", "app_per_minute": "1000000"}


def _service(name: str, why: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.skip(f"{name} is not set: {why} (.ci/run sets it)")
    return value


@pytest.fixture
def redis_url() -> str:
    return _service("LEDGERSYNC_TEST_REDIS_URL", "the workers' broker and shared rate budgets need a real Redis")


@pytest.fixture
def amqp_url() -> str:
    return _service("LEDGERSYNC_TEST_AMQP_URL", "the RabbitMQ broker test needs a real RabbitMQ")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base = _service("LEDGERSYNC_TEST_POSTGRES_URL", "workers share one PostgreSQL store")
    with scratch_database(base, f"test_celery_{uuid.uuid4().hex[:10]}") as url:
        yield url


@dataclass
class Cluster:
    """A deployment under test: the store (migrated once, here), a broker, a queue, workers and sandboxes."""

    db_url: str
    broker_url: str
    budget_url: str
    secret_key: str
    tmp: Path
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    lease_log: Path | None = None

    def __post_init__(self) -> None:
        self.queue = f"ledgersync-test-{self.run}"
        self.ls = LedgerSync(
            self.db_url, secret_keys=[self.secret_key], settings=EngineSettings(retry_base_seconds=0), migrate=True
        )
        self.settings = WorkerSettings(
            broker_url=self.broker_url,
            queue=self.queue,
            database_url=self.db_url,
            broker_prefix=f"lstest-{self.run}:",
            visibility_timeout=6.0,
        )
        self.enqueue = Enqueuer(self.settings)

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "PYTHONWARNINGS": "ignore",
            "LEDGERSYNC_DATABASE_URL": self.db_url,
            "LEDGERSYNC_SECRET_KEY": self.secret_key,
            "LEDGERSYNC_BROKER_URL": self.broker_url,
            "LEDGERSYNC_BROKER_PREFIX": self.settings.broker_prefix,
            "LEDGERSYNC_BROKER_VISIBILITY_TIMEOUT": str(self.settings.visibility_timeout),
            "LEDGERSYNC_QUEUE": self.queue,
            "LEDGERSYNC_BUDGET_URL": self.budget_url,
            "LEDGERSYNC_BUSY_RETRY": "1",
            "LEDGERSYNC_DB_POOL_SIZE": "3",
            **self.extra_env,
        }
        if self.lease_log is not None:
            env["LEDGERSYNC_TEST_LEASE_LOG"] = str(self.lease_log)
        return env

    def start_worker(self) -> subprocess.Popen[bytes]:
        n = len(self.workers)
        log = open(self.tmp / f"worker-{n}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                sys.executable,
                str(RUNNER),
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                os.environ.get("LEDGERSYNC_TEST_WORKER_LOGLEVEL", "warning"),
                "--hostname",
                f"w{n}-{self.run}@%h",
            ],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.workers if p.poll() is None]

    def stop(self) -> None:
        for proc in self.workers:
            self.kill(proc)
        self.enqueue.close()
        self.ls.store.engine.dispose()

    def connect(self, sandbox: SandboxHandle, org_name: str, client: dict[str, str] | None = None) -> tuple[str, str]:
        """A new organisation of the app connected to a new organisation in the sandbox: (org id, connection)."""
        return connect_org(self.ls, sandbox, org_name, client)

    def wait_for(self, done: Any, timeout: float, what: str, every: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                logs = {p.name: p.read_bytes()[-3000:].decode(errors="replace") for p in self.tmp.glob("worker-*.log")}
                raise AssertionError(f"timed out waiting for {what}; worker logs: {json.dumps(logs, indent=1)}")
            if not self.live_workers():
                raise AssertionError("every worker exited")
            time.sleep(every)


def connect_org(
    ls: LedgerSync, sandbox: SandboxHandle, org_name: str, client: dict[str, str] | None = None
) -> tuple[str, str]:
    """A new organisation of the app connected, through the consent flow, to `sandbox`'s organisation."""
    config = {**sandbox.config, **FAST_CLIENT, **(client or {})}
    return connect_by_consent(ls, org_name, sandbox.provider, config, sandbox.tenant_id, sandbox.tenant_field)


def tenant(sandbox: SandboxHandle, name: str) -> SandboxHandle:
    """The same sandbox with one more organisation, as a handle of its own."""
    created = sandbox.control.post("/_sandbox/tenants", json={"name": name}).json()
    return replace(sandbox, tenant_id=str(created["tenantId"]))


def synced(ls: LedgerSync, conn: str, contacts: int, invoices: int) -> bool:
    counts = ls.health(conn).counts
    return counts == {"contact": {"synced": contacts}, "invoice": {"synced": invoices}, "payment": {"synced": invoices}}


def platform_agrees(handle: SandboxHandle, prefix: str, contacts: int, invoices: int) -> None:
    """No duplicate and nothing missing in the platform's organisation, every invoice paid."""
    dump = handle.dump()
    numbers = [i["InvoiceNumber"] for i in dump["Invoices"] if i["Status"] not in ("DELETED", "VOIDED")]
    assert sorted(numbers) == [invoice_number(prefix, i) for i in range(invoices)], (prefix, sorted(numbers)[:10])
    assert all(i["Status"] == "PAID" for i in dump["Invoices"]), prefix
    live_payments = [p for p in dump["Payments"] if p["Status"] != "DELETED"]
    assert len(live_payments) == invoices, (prefix, len(live_payments))
    names = sorted(c["Name"] for c in dump["Contacts"])
    assert names == sorted(f"{prefix} Customer {i:03d}" for i in range(contacts)), (prefix, names)


@pytest.fixture
def cluster(redis_url: str, postgres_url: str, secret_key: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(
        postgres_url, redis_url, f"{redis_url}?prefix=lstest-budget-{uuid.uuid4().hex[:8]}", secret_key, tmp_path
    )
    try:
        yield c
    finally:
        c.stop()
        from ledgersync.providers.budget_redis import RedisBudgetBackend

        RedisBudgetBackend.from_url(c.budget_url).clear()
        _clear_broker(c)


def _clear_broker(c: Cluster) -> None:
    if not c.broker_url.startswith("redis"):
        return
    import redis

    client = redis.Redis.from_url(c.broker_url)
    for key in client.scan_iter(match=f"{c.settings.broker_prefix}*", count=500):
        client.delete(key)


@pytest.fixture
def xero() -> Iterator[SandboxHandle]:
    with xero_sandbox(config=FAST_SANDBOX) as sb:
        yield sb
