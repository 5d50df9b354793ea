"""Enqueueing from a process that does not run tasks (`ledgersync serve --no-scheduler`): tasks by name."""

from __future__ import annotations

from collections.abc import Mapping, Set

from celery import Celery

from ledgersync.model import Entity
from ledgersync.worker.settings import WorkerSettings


class Enqueuer:
    """Sends the workers' tasks to the configured broker and queue; the web process never runs them."""

    def __init__(self, settings: WorkerSettings | None = None, celery: Celery | None = None) -> None:
        self.settings = settings or WorkerSettings()
        self.celery = celery or Celery("ledgersync-client", broker=self.settings.broker_url, set_as_current=False)
        self.celery.conf.update(
            task_serializer="json",
            task_ignore_result=True,
            broker_connection_retry=True,
            broker_transport_options=self.settings.transport_options(),
        )

    def _send(self, name: str, *args: object, **kwargs: object) -> str:
        result = self.celery.send_task(name, args=args, kwargs=kwargs, queue=self.settings.queue)
        return str(result.id)

    def cycle(self, conn_id: str) -> str:
        return self._send("ledgersync.cycle", conn_id)

    def sync_now(
        self,
        conn_id: str,
        entity: Entity | None = None,
        app_id: str | None = None,
        *,
        everything_not_synced: bool = False,
        actor: str = "api",
        role: str = "member",
    ) -> str:
        return self._send(
            "ledgersync.sync_now",
            conn_id,
            entity.value if entity else None,
            app_id,
            everything_not_synced,
            actor,
            role,
        )

    def refresh(self, conn_id: str, changes: Mapping[Entity, Set[str]]) -> str:
        return self._send("ledgersync.refresh", conn_id, {e.value: sorted(ids) for e, ids in changes.items()})

    def close(self) -> None:
        self.celery.close()


__all__ = ["Enqueuer"]
