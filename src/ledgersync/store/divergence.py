"""Divergences: the two versions of a record in `conflict` or `drifted`, kept until a person chooses one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ledgersync.model import Entity
from ledgersync.store.tables import Divergence, RecordOrigin, utcnow


def save(
    s: Session,
    conn_id: str,
    entity: Entity,
    app_id: str,
    *,
    kind: str,
    app_version: dict[str, Any],
    platform_version: dict[str, Any] | None,
    fields: Sequence[dict[str, Any]],
    remote_id: str | None,
    remote_version: str | None,
) -> None:
    row = s.get(Divergence, (conn_id, entity.value, app_id))
    if row is None:
        row = Divergence(connection_id=conn_id, entity=entity.value, app_id=app_id)
        s.add(row)
    row.kind = kind
    row.app_version = app_version
    row.platform_version = platform_version
    row.fields = [dict(f) for f in fields]
    row.remote_id = remote_id
    row.remote_version = remote_version
    row.found_at = utcnow()


def get(s: Session, conn_id: str, entity: Entity, app_id: str) -> Divergence | None:
    return s.get(Divergence, (conn_id, entity.value, app_id))


def clear(s: Session, conn_id: str, entity: Entity, app_id: str) -> None:
    s.execute(
        delete(Divergence).where(
            Divergence.connection_id == conn_id, Divergence.entity == entity.value, Divergence.app_id == app_id
        )
    )


def listed(s: Session, conn_id: str, kind: str | None = None) -> list[Divergence]:
    q = select(Divergence).where(Divergence.connection_id == conn_id)
    if kind is not None:
        q = q.where(Divergence.kind == kind)
    return list(s.scalars(q.order_by(Divergence.entity, Divergence.app_id)))


# -- where a record came from ------------------------------------------------------------------------
def set_origin(s: Session, org_id: str, entity: Entity, app_id: str, conn_id: str) -> None:
    if s.get(RecordOrigin, (org_id, entity.value, app_id)) is None:
        s.add(RecordOrigin(org_id=org_id, entity=entity.value, app_id=app_id, connection_id=conn_id))


def origins(s: Session, org_id: str, entity: Entity) -> dict[str, str]:
    """App id -> the connection it came in from, for records of one entity that came from a platform."""
    rows = s.execute(
        select(RecordOrigin.app_id, RecordOrigin.connection_id).where(
            RecordOrigin.org_id == org_id, RecordOrigin.entity == entity.value
        )
    )
    return {a: c for a, c in rows}
