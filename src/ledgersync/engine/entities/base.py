"""What differs per entity, in one place: the hooks the stages call instead of branching on the entity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from sqlalchemy.orm import Session

from ledgersync.model import Entity, Record
from ledgersync.providers.base import RemoteRecord
from ledgersync.store import LinkRow, StoredRecord
from ledgersync.store.outbox import PlannedWrite
from ledgersync.store.tables import Link

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext


class EntityRules:
    """The default behaviour of an entity; an entity module overrides what is its own. Adding an entity (purchase
    orders, bills, sales receipts) means adding one such module and registering it, not editing the stages."""

    entity: ClassVar[Entity]
    # Plan-and-execute rounds per cycle: more than one where a batch cannot see what it creates itself and
    # records wait on others of their kind (sub-customers on their parents).
    max_passes: ClassVar[int] = 1
    # Whether a record that came in from one of the organisation's platforms is sent to its other platforms
    # even when `relay_between_platforms` is off (master data the app's own documents need everywhere).
    shared_everywhere: ClassVar[bool] = False
    # Whether what the platform computes for these records (totals, tax, amount due, PAID) is kept per connection
    # (engine/computed.py), so two platforms computing them differently each compare with their own.
    keeps_platform_fields: ClassVar[bool] = False

    # -- plan ----------------------------------------------------------------------------------------
    def wanted(self, ctx: CycleContext, rec: StoredRecord) -> bool:
        """Whether this app record syncs at all under the connection's settings."""
        return True

    def prepare(self, ctx: CycleContext, s: Session, rec: StoredRecord) -> StoredRecord | None:
        """Last changes to a record before its first write is planned; None: it was failed with a reason."""
        return rec

    def as_sent(self, ctx: CycleContext, s: Session, rec: StoredRecord) -> StoredRecord:
        """The app record as this connection sends an edit of it (one it already holds a platform copy of)."""
        return rec

    def nothing_to_send(self, outgoing: Record) -> bool:
        """Whether a record never synced needs no write at all (e.g. a payment already deleted in the app)."""
        return False

    def replaces(self, ctx: CycleContext, link: Link | LinkRow) -> bool:
        """Whether an update must be planned as remove-then-enter (the platform cannot edit it in place)."""
        return False

    def another_pass(self, ctx: CycleContext) -> bool:
        return False

    # -- after execute -------------------------------------------------------------------------------
    def after_push(self, ctx: CycleContext, written: list[PlannedWrite], removed: list[PlannedWrite]) -> None:
        """Reads that must follow this entity's writes in the same cycle (none by default)."""

    # -- record: the platform side coming back -------------------------------------------------------
    def match(self, ctx: CycleContext, s: Session, remote: RemoteRecord) -> str | None:
        """The app record an unlinked platform record is. None: none, create one in the app. '': leave it."""
        return None

    def merge(
        self, ctx: CycleContext, current: StoredRecord, incoming: Record, remote: RemoteRecord, app_changed: bool
    ) -> Record | None:
        """What the app record becomes after a platform-side change, under the conflict policy (None: keep)."""
        return incoming

    def merge_edit(
        self,
        ctx: CycleContext,
        s: Session,
        current: StoredRecord,
        incoming: Record,
        remote: RemoteRecord,
        *,
        app_changed: bool,
        platform_changed: bool,
    ) -> Record | None:
        """`merge`, told also whether the platform's content changed since the last sync (not only its version:
        a payment applied elsewhere bumps an invoice's). Entities that take platform-side edits override this
        one; the default is `merge`."""
        return self.merge(ctx, current, incoming, remote, app_changed)

    def platform_copy(self, ctx: CycleContext, current: Record, incoming: Record) -> Record:
        """The app's record as the platform has it ("keep the platform's"): the platform's content, with what
        the platform does not hold (its `unheld_fields`) kept from the app."""
        return keep_unheld(current, incoming, ctx.caps.unheld_fields)

    def created(self, incoming: Record, remote: RemoteRecord) -> Record:
        """A platform record new to the app, as the app stores it."""
        return incoming

    def settle_pushed(self, record: Record, incoming: Record) -> Record | None:
        """What the platform computed on a record we pushed and the app takes back (None: nothing). By default
        the exchange rate the platform took for a document sent without one (its rate of the day)."""
        taken = rate_taken(record, incoming)
        return record.model_copy(update=taken) if taken else None

    def deleted_copy(self, record: Record) -> Record | None:
        """The app's copy marked deleted, for a deletion the platform reports without content (None: n/a)."""
        return None

    def gone_from(self, ctx: CycleContext, s: Session, parents: Sequence[str], listed: set[str]) -> list[str]:
        """Platform ids of linked records of this entity that belong to `parents` (platform ids of the records a
        page lists this entity's records of whole: PullPage.listed_whole) and are not in `listed`: deleted on
        the platform. Only entities that hang off a parent have any (payments off invoices)."""
        return []


def rate_taken(record: Record, incoming: Record) -> dict[str, Any]:
    """The exchange rate the platform took (its rate of the day, Xero's XE.com rate) for a foreign-currency
    document the app sent without one, as an update of the app's record; {} when there is none to take."""
    if "currency_rate" not in type(record).model_fields:
        return {}
    mine, theirs = getattr(record, "currency_rate", None), getattr(incoming, "currency_rate", None)
    return {"currency_rate": theirs} if mine is None and theirs is not None else {}


Winner = Literal["app", "platform"]


def settle(ctx: CycleContext, current: StoredRecord, remote: RemoteRecord) -> Winner | None:
    """Which edit stays when a record changed on both sides since the last sync, under the conflict policy;
    None when the policy cannot say (`ask`; `newest` with no platform time, or edits closer together than
    `conflict_window_seconds`): the record becomes a `conflict` for a person to settle."""
    policy = ctx.settings.conflict_policy
    if policy == "app_wins":
        return "app"
    if policy == "platform_wins":
        return "platform"
    if policy == "ask" or remote.updated_at is None:
        return None
    gap = (current.updated_at - remote.updated_at).total_seconds()
    if abs(gap) < ctx.settings.conflict_window_seconds:
        return None
    return "app" if gap >= 0 else "platform"


def keep_unheld(current: Record, incoming: Record, unheld: frozenset[str]) -> Record:
    """`incoming` with the fields the platform does not hold (`lines.account_code` on QuickBooks) taken from
    `current`, line by line where both have the same lines."""
    data = incoming.to_json()
    mine = current.to_json()
    scope = f"{current.entity.value}:"
    for path in unheld:
        if ":" in path and not path.startswith(scope):
            continue  # scoped to another entity ("purchase_order:lines.account_code")
        head, _, tail = path.removeprefix(scope).partition(".")
        if head not in mine:
            continue  # a field of other records (a bill's purchase_order_id)
        if not tail:
            if data.get(head) is None:
                data[head] = mine.get(head)
            continue
        theirs, ours = data.get(head), mine.get(head)
        if isinstance(theirs, list) and isinstance(ours, list) and len(theirs) == len(ours):
            for a, b in zip(theirs, ours, strict=True):
                if isinstance(a, dict) and isinstance(b, dict) and a.get(tail) is None:
                    a[tail] = b.get(tail)
    data["id"] = current.id
    return type(current).model_validate(data)


def changed_fields(a: Record, b: Record) -> list[dict[str, Any]]:
    """The fields two versions of a record differ in, as {"field", "app", "platform"} (app = a)."""
    x, y = a.hash_view(), b.hash_view()
    return [
        {"field": k, "app": x.get(k), "platform": y.get(k)} for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)
    ]
