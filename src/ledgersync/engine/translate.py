"""Moving records between the app's namespace and a platform's: ids and references swapped through links."""

from __future__ import annotations

from collections.abc import Callable

from ledgersync.model import Allocation, Contact, CreditNote, CustomerCredit, Entity, Invoice, Payment, Record

# Looks a reference up: (entity, id) -> the id on the other side, or None when not linked (yet).
Resolver = Callable[[Entity, str], str | None]


class Unresolved(Exception):
    """A record refers to another that has no counterpart on the other side yet."""

    def __init__(self, entity: Entity, ref_id: str) -> None:
        super().__init__(f"{entity.value} {ref_id} is not linked")
        self.entity = entity
        self.ref_id = ref_id


def _need(resolve: Resolver, entity: Entity, ref: str) -> str:
    found = resolve(entity, ref)
    if found is None:
        raise Unresolved(entity, ref)
    return found


def translate(record: Record, new_id: str, resolve: Resolver) -> Record:
    """The same record with its id replaced by `new_id` and every reference resolved across; raises
    Unresolved when a reference has no counterpart."""
    update: dict[str, object] = {"id": new_id}
    if isinstance(record, Contact) and record.parent_id:
        update["parent_id"] = _need(resolve, Entity.CONTACT, record.parent_id)
    if isinstance(record, Invoice | CreditNote | CustomerCredit):
        update["contact_id"] = _need(resolve, Entity.CONTACT, record.contact_id)
    if isinstance(record, CustomerCredit) and record.payment_id:
        update["payment_id"] = resolve(Entity.PAYMENT, record.payment_id)
    if isinstance(record, CreditNote | Payment) and record.allocations:
        update["allocations"] = [
            Allocation(invoice_id=_need(resolve, Entity.INVOICE, a.invoice_id), amount=a.amount)
            for a in record.allocations
        ]
    if isinstance(record, Payment) and record.contact_id:
        contact = resolve(Entity.CONTACT, record.contact_id)
        # A payment's contact is informative only (its invoice decides); an unlinked one is dropped.
        update["contact_id"] = contact
    return record.model_copy(update=update)
