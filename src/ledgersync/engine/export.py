"""The one-time export of everything of one kind (products, customers, suppliers) to a connection's platform,
with progress and a summary: every app record of the kind is sent (or found already there), whatever the
connection's `contacts` setting keeps back from regular syncs; records a person skipped or excluded stay so."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ledgersync.engine.sync import run_cycle
from ledgersync.model import Entity

if TYPE_CHECKING:
    from ledgersync.engine.app import LedgerSync
    from ledgersync.engine.context import CycleReport

# What `ledgersync export <what>` exports.
EXPORTS: dict[str, Entity] = {"products": Entity.ITEM, "customers": Entity.CONTACT, "suppliers": Entity.SUPPLIER}


@dataclass
class ExportSummary:
    """How an export went: records of the kind, and their states on the connection afterwards."""

    what: str
    entity: Entity
    total: int
    states: dict[str, int] = field(default_factory=dict)
    pushed: int = 0
    seconds: float = 0.0
    status: str = "ok"
    message: str | None = None
    # Why records are still waiting (not synced, not failed): the first reason met, e.g. the platform is down.
    waiting_reason: str | None = None

    @property
    def waiting(self) -> int:
        return self.states.get("pending", 0) + self.states.get("not_synced", 0) + self.states.get("syncing", 0)

    @property
    def synced(self) -> int:
        return self.states.get("synced", 0)

    @property
    def failed(self) -> int:
        return self.states.get("failed", 0) + self.states.get("needs_review", 0)

    def line(self) -> str:
        held = self.states.get("skipped", 0) + self.states.get("excluded", 0)
        out = (
            f"Exported {self.what}: {self.synced} of {self.total} synced ({self.pushed} sent now), "
            f"{self.failed} failed, {held} skipped or excluded, in {self.seconds:.1f}s"
        )
        if self.waiting:
            why = f" ({self.waiting_reason})" if self.waiting_reason else ""
            out += f"; {self.waiting} still waiting{why}: they go with the next sync, or export again"
        return out + (f" — {self.message}" if self.message else "")


def export(
    ls: LedgerSync,
    conn_id: str,
    what: str,
    *,
    progress: Callable[[str, int, int | None], None] | None = None,
    wait: float = 0,
) -> ExportSummary:
    """Send every app record of `what` ("products", "customers", "suppliers") to the connection's platform."""
    if what not in EXPORTS:
        raise ValueError(f"export what? one of {', '.join(EXPORTS)}, not {what!r}")
    entity = EXPORTS[what]
    conn = ls.store.get_connection(conn_id)
    spec = ls.spec(conn.provider)
    if entity not in spec.capabilities.push_entities:
        raise ValueError(f"{what} are not supported by {spec.capabilities.display_name}")
    ids = {r.app_id for r in ls.store.records(conn.org_id, entity)}
    started = time.monotonic()
    summary = ExportSummary(what, entity, len(ids))
    if progress is not None:
        progress(f"export {what}", 0, len(ids))
    if ids:
        # Every record of the kind, even those the regular sync keeps back (contacts without transactions).
        settings = ls.settings.model_copy(update={"contacts": "all"})

        def relay(phase: str, n: int, total: int | None) -> None:
            if progress is not None and phase == f"push {entity.value}":
                progress(f"export {what}", n, len(ids))

        report: CycleReport = run_cycle(
            ls.store,
            spec,
            conn_id,
            settings,
            only={entity: ids},
            entities=[entity],
            wait=wait,
            progress=relay,
            budget=ls.budget,
        )
        summary.pushed = report.pushed.get(entity.value, 0)
        summary.status = report.status
        summary.message = report.message
    states = ls.store.state_map(conn_id, entity, sorted(ids)) if ids else {}
    for app_id in ids:
        st = states.get(app_id)
        key = st.state if st is not None else "not_synced"
        summary.states[key] = summary.states.get(key, 0) + 1
        if key in ("pending", "syncing") and st is not None and st.error_message and not summary.waiting_reason:
            summary.waiting_reason = st.error_message
    summary.seconds = time.monotonic() - started
    return summary
