"""The worker's settings, from the environment (every process of a deployment reads the same variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ledgersync.store.database import default_url


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


@dataclass(frozen=True)
class WorkerSettings:
    """What `ledgersync worker`, `ledgersync beat` and `ledgersync serve --no-scheduler` share.

    - LEDGERSYNC_BROKER_URL: the Celery broker (Redis by default; `amqp://...` for RabbitMQ works as well).
    - LEDGERSYNC_QUEUE: the queue every task goes to (one per deployment, or per test run).
    - LEDGERSYNC_DATABASE_URL: the store (PostgreSQL at scale); workers never migrate it.
    - LEDGERSYNC_BUDGET_URL: the Redis holding the shared rate budgets (read by LedgerSync itself).
    - LEDGERSYNC_DISPATCH_EVERY: seconds between the beat's looks for due connections (30).
    - LEDGERSYNC_DELIVER_EVERY: seconds between outbound webhook delivery passes (2).
    - LEDGERSYNC_PRUNE_EVERY: seconds between event-log prunes (3600).
    - LEDGERSYNC_BUSY_RETRY: seconds a task waits before trying a busy connection again (15).
    - LEDGERSYNC_BROKER_VISIBILITY_TIMEOUT: with a Redis broker, seconds after which a message taken by a
      worker that died is handed out again (900). A task still running past it is handed out twice: harmless,
      the second meets a busy connection and retries later.
    - LEDGERSYNC_BROKER_PREFIX: with a Redis broker, a prefix for every key Celery keeps there (several
      deployments, or test runs, on one Redis database)."""

    broker_url: str = field(
        default_factory=lambda: os.environ.get("LEDGERSYNC_BROKER_URL", "").strip() or "redis://127.0.0.1:6379/0"
    )
    queue: str = field(default_factory=lambda: os.environ.get("LEDGERSYNC_QUEUE", "").strip() or "ledgersync")
    database_url: str = field(default_factory=default_url)
    dispatch_every: float = field(default_factory=lambda: _float("LEDGERSYNC_DISPATCH_EVERY", 30.0))
    deliver_every: float = field(default_factory=lambda: _float("LEDGERSYNC_DELIVER_EVERY", 2.0))
    prune_every: float = field(default_factory=lambda: _float("LEDGERSYNC_PRUNE_EVERY", 3600.0))
    busy_retry: float = field(default_factory=lambda: _float("LEDGERSYNC_BUSY_RETRY", 15.0))
    visibility_timeout: float = field(default_factory=lambda: _float("LEDGERSYNC_BROKER_VISIBILITY_TIMEOUT", 900.0))
    broker_prefix: str = field(default_factory=lambda: os.environ.get("LEDGERSYNC_BROKER_PREFIX", "").strip())

    def transport_options(self) -> dict[str, object]:
        """Celery's broker_transport_options for this broker (Redis's redelivery and key prefix)."""
        if not self.broker_url.startswith(("redis://", "rediss://", "unix://")):
            return {}
        options: dict[str, object] = {"visibility_timeout": self.visibility_timeout}
        if self.visibility_timeout < 60:
            # A short visibility timeout only helps if the unacked set is swept that often too.
            options["unacked_restore_interval"] = max(1, int(self.visibility_timeout / 3))
            options["unacked_restore_throttle"] = 1
        if self.broker_prefix:
            options["global_keyprefix"] = self.broker_prefix
        return options
