"""Overpayments: the part of a payment beyond what its invoices owe becomes the customer's credit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from ledgersync.model import Allocation, CustomerCredit, Entity, Invoice, Payment, money
from ledgersync.store import Store


@dataclass(frozen=True)
class Excess:
    payment: Payment
    capped: list[Allocation]
    amount: Decimal
    contact_id: str | None


def credit_id(payment_id: str) -> str:
    return f"{payment_id}-credit"


def credit_reference(payment: Payment) -> str:
    # Deterministic and unique per payment, so a credit whose creation timed out can be found again.
    return f"Credit from payment {payment.id}"


def excess_of(payment: Payment, dues: dict[str, Decimal], invoices: dict[str, Invoice]) -> Excess | None:
    """How much of `payment` its invoices cannot take, given what each still owes (None: it all fits)."""
    capped: list[Allocation] = []
    for alloc in payment.allocations:
        due = dues.get(alloc.invoice_id)
        take = alloc.amount if due is None else max(Decimal(0), min(alloc.amount, due))
        capped.append(Allocation(invoice_id=alloc.invoice_id, amount=money(take)))
    amount = money(payment.amount - sum((a.amount for a in capped), Decimal(0)))
    if amount <= 0:
        return None
    contact = payment.contact_id
    for alloc in payment.allocations:
        inv = invoices.get(alloc.invoice_id)
        if inv is not None:
            contact = inv.contact_id
            break
    return Excess(payment=payment, capped=[a for a in capped if a.amount > 0], amount=amount, contact_id=contact)


def split(
    store: Store, s: Session, org_id: str, excess: Excess, *, keep_in_payment: bool
) -> tuple[Payment, CustomerCredit | None]:
    """Apply the split to the app's records: the payment pays what is due; the excess becomes customer credit
    (its own record, unless the platform holds unapplied amounts inside the payment itself)."""
    pay = excess.payment
    if keep_in_payment:
        new_pay = pay.model_copy(update={"allocations": excess.capped})
        store.upsert_record(org_id, new_pay, s=s)
        store.emit(
            s,
            org_id,
            "payment.credit_recorded",
            Entity.PAYMENT,
            pay.id,
            {"payment_id": pay.id, "credit": str(excess.amount), "held_in": "payment"},
        )
        return new_pay, None
    applied = money(sum((a.amount for a in excess.capped), Decimal(0)))
    new_pay = pay.model_copy(update={"allocations": excess.capped, "amount": applied})
    if excess.contact_id is None:
        raise ValueError(f"payment {pay.id} has no customer to hold the credit")
    credit = CustomerCredit(
        id=credit_id(pay.id),
        contact_id=excess.contact_id,
        date=pay.date,
        amount=excess.amount,
        currency=pay.currency,
        reference=credit_reference(pay),
        account_code=pay.account_code,
        payment_id=pay.id,
    )
    store.upsert_record(org_id, new_pay, s=s)
    store.upsert_record(org_id, credit, s=s)
    store.emit(
        s,
        org_id,
        "payment.credit_recorded",
        Entity.PAYMENT,
        pay.id,
        {"payment_id": pay.id, "credit_id": credit.id, "credit": str(excess.amount), "applied": str(applied)},
    )
    return new_pay, credit
