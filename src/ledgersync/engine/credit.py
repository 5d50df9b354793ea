"""Overpayments: the part of a payment beyond what its invoices owe becomes the customer's credit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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


def money_of(pay: Payment) -> dict[str, Any]:
    """The payment's money as the app has it: a split holds only while this is unchanged."""
    return {"amount": str(pay.amount), "allocations": [[a.invoice_id, str(a.amount)] for a in pay.allocations]}


def split_view(pay: Payment, split: Mapping[str, Any] | None) -> Payment:
    """The payment as this connection sends it (and its platform holds it): its split's allocations and amount,
    while the app's money is the one it was split from; otherwise the app's payment as it is."""
    if not split or split.get("source") != money_of(pay):
        return pay
    allocations = [Allocation(invoice_id=i, amount=Decimal(a)) for i, a in split["allocations"]]
    return pay.model_copy(update={"allocations": allocations, "amount": Decimal(split["amount"])})


def split(
    store: Store, s: Session, org_id: str, conn_id: str, excess: Excess, *, keep_in_payment: bool
) -> tuple[Payment, CustomerCredit | None]:
    """Split the payment for this connection only: its platform gets a payment of what is due and the excess as
    customer credit (its own credit record, unless the platform holds unapplied amounts inside the payment).
    The app's payment is not changed (another of the business's platforms may have synced it whole, or split it
    its own way); the split is kept per connection (`payment_splits`) and the credit record is sent only by the
    connections whose split made it."""
    pay = excess.payment
    applied = money(sum((a.amount for a in excess.capped), Decimal(0)))
    new_pay = pay.model_copy(
        update={"allocations": excess.capped} if keep_in_payment else {"allocations": excess.capped, "amount": applied}
    )
    held = {
        "source": money_of(pay),
        "allocations": [[a.invoice_id, str(a.amount)] for a in new_pay.allocations],
        "amount": str(new_pay.amount),
        "credit": str(excess.amount),
    }
    if keep_in_payment:
        store.save_split(s, conn_id, pay.id, None, {**held, "held_in": "payment"})
        store.emit(
            s,
            org_id,
            "payment.credit_recorded",
            Entity.PAYMENT,
            pay.id,
            {"payment_id": pay.id, "credit": str(excess.amount), "held_in": "payment", "connection_id": conn_id},
        )
        return new_pay, None
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
    existing = store.get_record(org_id, Entity.CREDIT, credit.id, s)
    if (
        existing is not None
        and not existing.deleted
        and (existing.record.contact_id, existing.record.amount) != (credit.contact_id, credit.amount)  # type: ignore[attr-defined]
        and conn_id not in store.credit_splits(s, [credit.id]).get(credit.id, set())
    ):
        # Another connection split this payment differently (its platform owed another amount): this
        # connection's credit is its own record.
        credit = credit.model_copy(update={"id": f"{credit.id}-{conn_id}"})
    store.save_split(s, conn_id, pay.id, credit.id, {**held, "credit_id": credit.id})
    store.upsert_record(org_id, credit, s=s)
    store.emit(
        s,
        org_id,
        "payment.credit_recorded",
        Entity.PAYMENT,
        pay.id,
        {
            "payment_id": pay.id,
            "credit_id": credit.id,
            "credit": str(excess.amount),
            "applied": str(applied),
            "connection_id": conn_id,
        },
    )
    return new_pay, credit
