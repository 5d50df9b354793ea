"""The outbox repository: planned platform writes per connection, claimed a batch at a time, deleted once recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Row, Table, Text, bindparam, cast, delete, func, insert, select, update
from sqlalchemy.orm import Session

from ledgersync.model import Entity, Record, record_from_json
from ledgersync.store.tables import OutboxRow, utcnow

if TYPE_CHECKING:
    from ledgersync.store.repo import Store


@dataclass(frozen=True)
class PlannedWrite:
    """One outbox row as the stages see it: the operation, its key and the record exactly as it is sent."""

    id: int
    entity: Entity
    app_id: str
    op: str
    batch: int
    idempotency_key: str
    version: int
    app_hash: str
    remote_id: str | None
    remote_version: str | None
    record: Record
    status: str


def _planned(row: OutboxRow | Row[Any]) -> PlannedWrite:
    entity = Entity(row.entity)
    # The claim reads the payload as its JSON text (`_columns`), parsed by pydantic at once (no dict in between).
    payload = row.payload
    record = record_from_json(entity, payload if isinstance(payload, str | bytes) else dict(payload))
    return PlannedWrite(
        id=row.id,
        entity=entity,
        app_id=row.app_id,
        op=row.op,
        batch=row.batch,
        idempotency_key=row.idempotency_key,
        version=row.version,
        app_hash=row.app_hash,
        remote_id=row.remote_id,
        remote_version=row.remote_version,
        record=record,
        status=row.status,
    )


def _table() -> Table:
    table = OutboxRow.__table__
    assert isinstance(table, Table)
    return table


def _columns(c: Any) -> tuple[Any, ...]:
    """The columns a PlannedWrite is made of; the payload as its JSON text (see _planned)."""
    return (
        c.id,
        c.entity,
        c.app_id,
        c.op,
        c.batch,
        c.idempotency_key,
        c.version,
        c.app_hash,
        c.remote_id,
        c.remote_version,
        cast(c.payload, Text).label("payload"),
        c.status,
    )


# Built once: the outbox's two hot statements (a plan's insert, a claim), so each call skips building them.
_STATEMENTS: dict[tuple[object, ...], Any] = {}


def _insert_statement(dialect: str) -> Any:
    """The executemany INSERT of planned rows, the payload bound as JSON text (`payload_text`): SQLite keeps
    the text as given; PostgreSQL casts it to its json type."""
    key = ("insert", dialect)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        text = bindparam("payload_text", type_=Text())
        stmt = insert(_table()).values(payload=cast(text, JSON()) if dialect == "postgresql" else text)
        _STATEMENTS[key] = stmt
    return stmt


def _claim_statement(by_entity: bool, writes_only: bool) -> Any:
    """UPDATE outbox SET status 'sent' for the lowest planned batch (of one entity) RETURNING its rows."""
    key = ("claim", by_entity, writes_only)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        c = _table().c
        first = select(func.min(c.batch)).where(c.connection_id == bindparam("b_conn"), c.status == "planned")
        if by_entity:
            first = first.where(c.entity == bindparam("b_entity"))
        stmt = update(_table()).where(
            c.connection_id == bindparam("b_conn"), c.status == "planned", c.batch == first.scalar_subquery()
        )
        if writes_only:
            stmt = stmt.where(c.op == "write")  # a removal is a batch of its own: then nothing matches
        stmt = stmt.values(status="sent").returning(*_columns(c))
        _STATEMENTS[key] = stmt
    return stmt


class Outbox:
    """Rows of `outbox` (see OutboxRow). Every method takes the caller's session where it writes, so a plan, a
    claim or a recording is one transaction with the states and links it goes with."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def next_batch_number(self, s: Session, conn_id: str) -> int:
        return (
            int(
                s.scalar(select(func.coalesce(func.max(OutboxRow.batch), 0)).where(OutboxRow.connection_id == conn_id))
                or 0
            )
            + 1
        )

    def add(
        self,
        s: Session,
        conn_id: str,
        *,
        entity: Entity,
        app_id: str,
        op: str,
        batch: int,
        idempotency_key: str,
        version: int,
        app_hash: str,
        record: Record,
        remote_id: str | None = None,
        remote_version: str | None = None,
    ) -> None:
        s.add(
            OutboxRow(
                connection_id=conn_id,
                entity=entity.value,
                app_id=app_id,
                op=op,
                batch=batch,
                idempotency_key=idempotency_key,
                version=version,
                app_hash=app_hash,
                remote_id=remote_id,
                remote_version=remote_version,
                payload=record.to_json(),
                status="planned",
            )
        )

    def add_many(self, s: Session, conn_id: str, writes: Sequence[dict[str, object]]) -> None:
        """`add` for many rows in one executemany INSERT; each dict holds add's keyword arguments. The payload
        goes in as pydantic's own JSON text (`model_dump_json`: one pass, no dict dumped again by json)."""
        if not writes:
            return
        rows = []
        now = utcnow()
        for w in writes:
            record = w["record"]
            entity = w["entity"]
            assert isinstance(record, Record) and isinstance(entity, Entity)
            rows.append(
                {
                    "connection_id": conn_id,
                    "entity": entity.value,
                    "app_id": w["app_id"],
                    "op": w["op"],
                    "batch": w["batch"],
                    "idempotency_key": w["idempotency_key"],
                    "version": w["version"],
                    "app_hash": w["app_hash"],
                    "remote_id": w.get("remote_id"),
                    "remote_version": w.get("remote_version"),
                    "payload_text": record.model_dump_json(),
                    "status": "planned",
                    "created_at": now,
                }
            )
        s.execute(_insert_statement(self.store.dialect), rows)

    def shift_batches(self, s: Session, conn_id: str, entity: Entity, from_batch: int, by: int) -> None:
        """Move this entity's planned batches numbered `from_batch` or more `by` places on (to put removals
        planned after them ahead of them)."""
        if by:
            s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.connection_id == conn_id,
                    OutboxRow.entity == entity.value,
                    OutboxRow.status == "planned",
                    OutboxRow.batch >= from_batch,
                )
                .values(batch=OutboxRow.batch + by)
            )

    def drop_planned(self, s: Session, conn_id: str, entity: Entity | None = None) -> int:
        """Forget a plan nothing of which was sent (a new plan supersedes it)."""
        q = delete(OutboxRow).where(OutboxRow.connection_id == conn_id, OutboxRow.status == "planned")
        if entity is not None:
            q = q.where(OutboxRow.entity == entity.value)
        return s.execute(q).rowcount or 0  # type: ignore[attr-defined]

    def next_batch(self, conn_id: str, entity: Entity | None = None) -> list[PlannedWrite]:
        """The planned rows of the lowest batch number (one provider call), in planned order: one read of plain
        rows (no ORM objects)."""
        table = OutboxRow.__table__
        assert isinstance(table, Table)
        c = table.c
        first = select(func.min(c.batch)).where(c.connection_id == conn_id, c.status == "planned")
        if entity is not None:
            first = first.where(c.entity == entity.value)
        q = (
            select(*_columns(c))
            .where(c.connection_id == conn_id, c.status == "planned", c.batch == first.scalar_subquery())
            .order_by(c.id)
        )
        with self.store.session() as s:
            return [_planned(r) for r in s.execute(q)]

    def claim(
        self, s: Session, conn_id: str, entity: Entity | None = None, *, writes_only: bool = False
    ) -> list[PlannedWrite]:
        """`next_batch` marked `sent` in the caller's transaction, in one statement (UPDATE ... RETURNING): the
        claim's states go in the same transaction, committed before the call. [] when nothing is planned, or,
        with `writes_only`, when the next batch is a removal (left planned)."""
        stmt = _claim_statement(entity is not None, writes_only)
        params: dict[str, Any] = {"b_conn": conn_id}
        if entity is not None:
            params["b_entity"] = entity.value
        rows = [_planned(r) for r in s.execute(stmt, params)]
        rows.sort(key=lambda r: r.id)  # RETURNING's order is the database's
        return rows

    # Core statements on the table (not the mapped class): the ORM's bulk UPDATE / DELETE would first match the
    # criteria against every object in the session. The fence counts them as writes all the same.
    def done(self, s: Session, ids: Sequence[int]) -> None:
        if ids:
            table = _table()
            s.execute(delete(table).where(table.c.id.in_(list(ids))))

    def drop_record(self, s: Session, conn_id: str, entity: Entity, app_id: str) -> None:
        """Forget what is still planned for one record (its earlier step was refused)."""
        s.execute(
            delete(OutboxRow).where(
                OutboxRow.connection_id == conn_id,
                OutboxRow.entity == entity.value,
                OutboxRow.app_id == app_id,
                OutboxRow.status == "planned",
            )
        )

    def sent(self, conn_id: str, entity: Entity) -> dict[str, PlannedWrite]:
        """Writes claimed by an execute stage whose results were never recorded (a crash), by app id."""
        with self.store.session() as s:
            rows = s.scalars(
                select(OutboxRow)
                .where(
                    OutboxRow.connection_id == conn_id,
                    OutboxRow.entity == entity.value,
                    OutboxRow.status == "sent",
                )
                .order_by(OutboxRow.id)
            )
            return {r.app_id: _planned(r) for r in rows}

    def clear_sent(self, s: Session, conn_id: str, entity: Entity, app_ids: Sequence[str]) -> None:
        if app_ids:
            s.execute(
                delete(OutboxRow).where(
                    OutboxRow.connection_id == conn_id,
                    OutboxRow.entity == entity.value,
                    OutboxRow.status == "sent",
                    OutboxRow.app_id.in_(list(app_ids)),
                )
            )

    def pending(self, conn_id: str) -> int:
        with self.store.session() as s:
            return int(s.scalar(select(func.count()).where(OutboxRow.connection_id == conn_id)) or 0)
