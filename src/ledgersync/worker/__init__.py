"""Scale-out on Celery: `ledgersync worker` runs these tasks, `ledgersync beat` schedules them.

`celery -A ledgersync.worker inspect active` (or Flower) watches the same app."""

from ledgersync.worker.settings import WorkerSettings
from ledgersync.worker.tasks import app

celery = app

__all__ = ["WorkerSettings", "app", "celery"]
