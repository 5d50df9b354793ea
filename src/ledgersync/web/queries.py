"""The dashboard's reads: one page of records or events at a time, filtered and paged in SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from ledgersync.model import Entity, Record, record_from_json
from ledgersync.store import Store
from ledgersync.store.tables import AppRecord, Event, Link, SyncState

PAGE_SIZE = 50
FAILED_STATES = ("failed", "needs_review")
# The kinds of event-log row the engine writes (a fixed list: no DISTINCT over a large log per page view).
EVENT_KINDS = (
    "sync",
    "push",
    "pull",
    "call",
    "action",
    "check",
    "connection",
    "match",
    "reconcile",
    "remove",
    "overpayment",
    "token_refresh",
    "conflict",
    "verify",
)
OUTCOMES = ("ok", "failed", "error", "retrying", "needs_reconnect", "parked", "conflict", "drifted")


@dataclass(frozen=True)
class Row:
    """One record in a list, with its sync state on the current connection."""

    entity: Entity
    app_id: str
    record: Record
    updated_at: dt.datetime
    state: str
    error_code: str | None
    error: str | None
    hint: str | None
    actions: list[str]
    remote_id: str | None


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def _state_filter(state: str) -> ColumnElement[bool]:
    if state == "not_synced":
        return or_(SyncState.state.is_(None), SyncState.state == "not_synced")
    if state == "failed":
        return SyncState.state.in_(FAILED_STATES)
    return SyncState.state == state


def list_records(
    store: Store,
    org_id: str,
    conn_id: str | None,
    entity: Entity,
    *,
    state: str | None = None,
    search: str | None = None,
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> Page:
    """One page of the app's records of one kind, with state and platform id, in two queries (count, page)."""
    page = max(1, page)
    joined = and_(
        SyncState.connection_id == (conn_id or ""),
        SyncState.entity == AppRecord.entity,
        SyncState.app_id == AppRecord.app_id,
    )
    linked = and_(
        Link.connection_id == (conn_id or ""), Link.entity == AppRecord.entity, Link.app_id == AppRecord.app_id
    )
    where: list[ColumnElement[bool]] = [
        AppRecord.org_id == org_id,
        AppRecord.entity == entity.value,
        AppRecord.deleted.is_(False),
    ]
    if state:
        where.append(_state_filter(state))
    if search and search.strip():
        term = search.strip()
        where.append(
            or_(
                AppRecord.name.contains(term.lower(), autoescape=True),
                AppRecord.number.icontains(term, autoescape=True),
                AppRecord.email.contains(term.lower(), autoescape=True),
                AppRecord.app_id == term,
            )
        )
    if entity is Entity.CONTACT or entity is Entity.ITEM:
        order: Sequence[Any] = (AppRecord.name, AppRecord.app_id)
    elif entity in (Entity.INVOICE, Entity.CREDIT_NOTE):
        order = (AppRecord.number.desc(), AppRecord.app_id.desc())
    else:
        order = (AppRecord.app_id.desc(),)
    with store.session() as s:
        count_q = select(func.count()).select_from(AppRecord)
        if state:
            count_q = count_q.outerjoin(SyncState, joined)
        total = int(s.scalar(count_q.where(*where)) or 0)
        q = (
            select(
                AppRecord.app_id,
                AppRecord.data,
                AppRecord.updated_at,
                SyncState.state,
                SyncState.error_code,
                SyncState.error_message,
                SyncState.hint,
                SyncState.actions,
                Link.remote_id,
            )
            .select_from(AppRecord)
            .outerjoin(SyncState, joined)
            .outerjoin(Link, linked)
            .where(*where)
            .order_by(*order)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        rows = [
            Row(
                entity=entity,
                app_id=app_id,
                record=record_from_json(entity, dict(data)),
                updated_at=updated,
                state=st or "not_synced",
                error_code=code,
                error=msg,
                hint=hint,
                actions=list(actions or []),
                remote_id=remote,
            )
            for app_id, data, updated, st, code, msg, hint, actions, remote in s.execute(q).all()
        ]
    return Page(rows=rows, total=total, page=page, per_page=per_page)


def contact_names(store: Store, org_id: str, ids: set[str]) -> dict[str, str]:
    """Display names of the given contacts (one query), for invoice and payment lists."""
    if not ids:
        return {}
    with store.session() as s:
        rows = s.execute(
            select(AppRecord.app_id, AppRecord.data).where(
                AppRecord.org_id == org_id,
                AppRecord.entity == Entity.CONTACT.value,
                AppRecord.app_id.in_(sorted(ids)),
            )
        ).all()
    return {app_id: str(data.get("name") or app_id) for app_id, data in rows}


def record_history(
    store: Store, conn_ids: Sequence[str], entity: Entity, app_id: str, number: str | None, limit: int = 100
) -> list[Event]:
    """The event-log rows about one record: by its id, or by its document number."""
    if not conn_ids:
        return []
    about: ColumnElement[bool] = and_(Event.entity == entity.value, Event.app_id == app_id)
    if number:
        about = or_(about, Event.doc_number == number)
    with store.session() as s:
        q = select(Event).where(Event.connection_id.in_(list(conn_ids)), about).order_by(Event.id.desc()).limit(limit)
        return list(s.scalars(q))


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    next_before: int | None


def list_events(
    store: Store,
    org_id: str,
    *,
    search: str | None = None,
    kind: str | None = None,
    outcome: str | None = None,
    entity: str | None = None,
    before: int | None = None,
    per_page: int = PAGE_SIZE,
) -> EventPage:
    """Newest first, keyset-paged by id; search matches a document number, a record id or the message.
    The organisation's scope (its rows and its connections' rows) is Store.events's."""
    try:
        record_kind = Entity(entity) if entity else None
    except ValueError:
        return EventPage([], None)  # no record kind of that name: nothing to show
    rows = store.events(
        org_id=org_id,
        search=search,
        kind=kind,
        outcome=outcome,
        entity=record_kind,
        before_id=before,
        limit=per_page + 1,
    )
    more = len(rows) > per_page
    rows = rows[:per_page]
    return EventPage(rows, rows[-1].id if more and rows else None)


__all__ = [
    "EVENT_KINDS",
    "OUTCOMES",
    "PAGE_SIZE",
    "EventPage",
    "Page",
    "Row",
    "contact_names",
    "list_events",
    "list_records",
    "record_history",
]
