"""Attachments: the files the app attaches to its records, and where each stands on each connection."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ledgersync.model import Entity
from ledgersync.store.tables import Attachment, AttachmentSync, utcnow


@dataclass(frozen=True)
class StoredAttachment:
    """An attachment without its bytes (read them with `content`)."""

    org_id: str
    entity: Entity
    app_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    include_online: bool


_META = (
    Attachment.org_id,
    Attachment.entity,
    Attachment.app_id,
    Attachment.filename,
    Attachment.content_type,
    Attachment.size,
    Attachment.sha256,
    Attachment.include_online,
)


def _stored(row: tuple[str, str, str, str, str, int, str, bool]) -> StoredAttachment:
    org, entity, app_id, filename, ctype, size, sha, online = row
    return StoredAttachment(org, Entity(entity), app_id, filename, ctype, int(size), sha, bool(online))


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def version(att: StoredAttachment) -> str:
    """What a platform must hold for the file to be synced: its content, and whether it shows online (a change
    of either sends it again). The content's own hash where it does not show online."""
    return att.sha256 if not att.include_online else sha256_of(f"{att.sha256}:online".encode())


def put(
    s: Session,
    org_id: str,
    entity: Entity,
    app_id: str,
    filename: str,
    content_type: str,
    data: bytes,
    include_online: bool = False,
) -> tuple[StoredAttachment, bool]:
    """Keep the file (by file name: the same name again replaces it). Returns it and whether anything changed."""
    sha = sha256_of(data)
    row = s.get(Attachment, (org_id, entity.value, app_id, filename))
    changed = row is None or (row.sha256, row.content_type, row.include_online) != (sha, content_type, include_online)
    if row is None:
        row = Attachment(org_id=org_id, entity=entity.value, app_id=app_id, filename=filename)
        s.add(row)
    if changed:
        row.content_type, row.size, row.sha256, row.data = content_type, len(data), sha, data
        row.include_online = include_online
        row.updated_at = utcnow()
    return StoredAttachment(org_id, entity, app_id, filename, content_type, len(data), sha, include_online), changed


def listed(s: Session, org_id: str, entity: Entity, app_id: str | None = None) -> list[StoredAttachment]:
    q = select(*_META).where(Attachment.org_id == org_id, Attachment.entity == entity.value)
    if app_id is not None:
        q = q.where(Attachment.app_id == app_id)
    return [_stored(tuple(r)) for r in s.execute(q.order_by(Attachment.app_id, Attachment.filename))]  # type: ignore[arg-type]


def content(s: Session, org_id: str, entity: Entity, app_id: str, filename: str) -> bytes | None:
    return s.scalar(
        select(Attachment.data).where(
            Attachment.org_id == org_id,
            Attachment.entity == entity.value,
            Attachment.app_id == app_id,
            Attachment.filename == filename,
        )
    )


def remove(s: Session, org_id: str, entity: Entity, app_id: str, filename: str) -> bool:
    """Forget the app's file. Its state rows go with it; what a platform already holds stays there."""
    found = s.get(Attachment, (org_id, entity.value, app_id, filename)) is not None
    s.execute(
        delete(Attachment).where(
            Attachment.org_id == org_id,
            Attachment.entity == entity.value,
            Attachment.app_id == app_id,
            Attachment.filename == filename,
        )
    )
    s.execute(
        delete(AttachmentSync).where(
            AttachmentSync.entity == entity.value,
            AttachmentSync.app_id == app_id,
            AttachmentSync.filename == filename,
            AttachmentSync.connection_id.in_(_connections_of(s, org_id)),
        )
    )
    return found


def _connections_of(s: Session, org_id: str) -> list[str]:
    from ledgersync.store.tables import Connection

    return list(s.scalars(select(Connection.id).where(Connection.org_id == org_id)))


def sync_row(s: Session, conn_id: str, att: StoredAttachment) -> AttachmentSync:
    """The attachment's state row on this connection, made (pending) when there is none."""
    row = s.get(AttachmentSync, (conn_id, att.entity.value, att.app_id, att.filename))
    if row is None:
        row = AttachmentSync(
            connection_id=conn_id,
            entity=att.entity.value,
            app_id=att.app_id,
            filename=att.filename,
            state="pending",
            attempts=0,
        )
        s.add(row)
        s.flush()
    return row


def syncs(s: Session, conn_id: str, entity: Entity, app_id: str | None = None) -> dict[tuple[str, str], AttachmentSync]:
    """(app id, file name) -> state row, for one entity on one connection."""
    q = select(AttachmentSync).where(AttachmentSync.connection_id == conn_id, AttachmentSync.entity == entity.value)
    if app_id is not None:
        q = q.where(AttachmentSync.app_id == app_id)
    return {(r.app_id, r.filename): r for r in s.scalars(q)}


def syncs_of(s: Session, org_id: str, entity: Entity, app_id: str) -> list[AttachmentSync]:
    """A record's attachments' state on every connection of its organisation."""
    return list(
        s.scalars(
            select(AttachmentSync).where(
                AttachmentSync.entity == entity.value,
                AttachmentSync.app_id == app_id,
                AttachmentSync.connection_id.in_(_connections_of(s, org_id)),
            )
        )
    )
