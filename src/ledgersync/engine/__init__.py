"""Engine: the sync cycle, matching, conflict policy, retries and the app-facing Python API."""

from ledgersync.engine.app import Health, LedgerSync, RecordView
from ledgersync.engine.check import CheckReport, Difference, check
from ledgersync.engine.connections import ConnectStart, open_provider
from ledgersync.engine.lease import ConnectionBusy, Heartbeat, hold
from ledgersync.engine.settings import EngineSettings
from ledgersync.engine.sync import CycleReport, idempotency_key, run_cycle

__all__ = [
    "CheckReport",
    "ConnectStart",
    "ConnectionBusy",
    "CycleReport",
    "Difference",
    "EngineSettings",
    "Health",
    "Heartbeat",
    "LedgerSync",
    "RecordView",
    "check",
    "hold",
    "idempotency_key",
    "open_provider",
    "run_cycle",
]
