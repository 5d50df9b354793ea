"""Link from a list (account controls): the platform's customers (or suppliers, products) to pick from when
linking an app record, searchable, the ones not yet linked to anything in the app first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledgersync.model import Entity

if TYPE_CHECKING:
    from ledgersync.engine.app import LedgerSync

# What can be linked by picking: the list records a person recognises by name.
PICKABLE = (Entity.CONTACT, Entity.SUPPLIER, Entity.ITEM)


@dataclass(frozen=True)
class Candidate:
    """One platform record a person may link to."""

    remote_id: str
    name: str
    detail: str | None
    # The app record already linked to it on this connection (None: free to link).
    linked_to: str | None
    archived: bool = False


def _label(record: object) -> tuple[str, str | None]:
    name = getattr(record, "name", None) or getattr(record, "code", None) or ""
    detail = getattr(record, "email", None) or getattr(record, "code", None)
    return str(name), (str(detail) if detail and detail != name else None)


def candidates(ls: LedgerSync, conn_id: str, entity: Entity, search: str = "", limit: int = 50) -> list[Candidate]:
    """The platform's records of `entity`, read now (every page), filtered by `search` (any word, in the name or
    the email / code, case-insensitive), unlinked ones first, then by name; at most `limit`."""
    if entity not in PICKABLE:
        raise ValueError(f"{entity.value} records are not linked by picking from a list")
    linked = {remote: app for app, remote, _ in ls.store.link_pairs(conn_id, entity)}
    words = [w.casefold() for w in search.split()]
    found: list[Candidate] = []
    provider = ls.open_provider(conn_id)
    provider.on_call = None
    try:
        for page in provider.pull(entity, None):
            for remote in page.records:
                if remote.deleted:
                    continue
                name, detail = _label(remote.record)
                text = f"{name} {detail or ''}".casefold()
                if words and not all(w in text for w in words):
                    continue
                found.append(Candidate(remote.remote_id, name, detail, linked.get(remote.remote_id), remote.archived))
    finally:
        provider.close()
    found.sort(key=lambda c: (c.linked_to is not None, c.archived, c.name.casefold()))
    return found[: max(1, limit)]
