"""What a platform computes for a record, kept per connection (`platform_fields`, migration 0011).

The app has one record per document, and every connection's reads land on it, so its platform-computed fields
(an invoice's total, tax, amount due and paid, its PAID status; an item's stock on hand) are whichever platform
was read last. Each connection also keeps them as its own platform last said, for the platform record and
version its link names: the checker compares a connection's platform with what that platform said, and a
payment's effect on its invoices is derived from that platform's own balance (engine/entities/balances.py).
A row whose link has since moved (another platform record, a newer version read by a path that did not keep
it) is not used: the reader falls back as if there were none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ledgersync.model import Entity, Record
from ledgersync.store import Store

R = TypeVar("R", bound=Record)


def computed_of(record: Record) -> dict[str, Any]:
    """The record's platform-computed fields (its `remote_owned` ones, and its status), as JSON values."""
    names = set(record.remote_owned)
    if "status" in type(record).model_fields:
        names.add("status")
    return record.model_dump(mode="json", include=names)


def with_computed(record: R, fields: Mapping[str, Any]) -> R:
    """The record with one platform's computed fields in place of those it holds (status is not replaced: what
    the app owns of it is compared as it is)."""
    own = {k: v for k, v in fields.items() if k in record.remote_owned}
    if not own:
        return record
    return type(record).model_validate({**record.model_dump(mode="json"), **own})


def keep(
    store: Store, s: Session, conn_id: str, entity: Entity, rows: Sequence[tuple[str, str, str | None, Record]]
) -> None:
    """Keep what the platform said for these records: (app id, platform id, platform version, the record in the
    app's terms). Only for entities whose rules keep them (`EntityRules.keeps_platform_fields`)."""
    from ledgersync.engine.entities import rules_for  # the entity modules import this one

    if rows and rules_for(entity).keeps_platform_fields:
        store.save_platform_fields(s, conn_id, entity, [(a, r, v, computed_of(rec)) for a, r, v, rec in rows])


__all__ = ["computed_of", "keep", "with_computed"]
