"""BatchPayments: one receipt over several invoices (xero_accounting.yaml createBatchPayment, getBatchPayments,
deleteBatchPayment / deleteBatchPaymentByUrlParam). Each invoice gets a payment of its own carrying the batch's
BatchPaymentID, as Xero records them; deleting the batch deletes its payments. Sandbox guesses (no source has
them): the whole batch is refused when any of its payments would be, and "Type" of a receivable batch is
RECBATCH, per the spec's enum."""

from __future__ import annotations

from typing import Any

from .records import (
    INVOICE,
    MSG_NOT_FOUND,
    MSG_OVERPAY,
    MSG_PAY_NOT_AUTH,
    Ctx,
    ElementError,
    _delete_payment,
    _resolve_account_for_payment,
    resolve_doc,
    upsert_payment,
)
from .util import money, new_id, to_dec

MSG_NO_PAYMENTS = "A batch payment must have at least one payment."  # sandbox guesses the text
MSG_BATCH_UPDATE = "Batch payments can only be deleted, not updated."  # sandbox guesses the text


def upsert_batch_payment(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    t = ctx.tenant
    bid = target or (str(el["BatchPaymentID"]) if mode == "POST" and el.get("BatchPaymentID") else None)
    if bid:
        return _delete_batch(ctx, bid, el)
    lines = el.get("Payments")
    if not isinstance(lines, list) or not lines:
        raise ElementError(MSG_NO_PAYMENTS)
    account = el.get("Account")
    _resolve_account_for_payment(t, account)
    # Every payment is checked before any is made: the batch lands whole or not at all.
    for line in lines:
        if not isinstance(line, dict):
            raise ElementError(MSG_NOT_FOUND)
        doc = resolve_doc(t, INVOICE, line.get("Invoice"))
        if doc["Status"] != "AUTHORISED":
            raise ElementError(MSG_PAY_NOT_AUTH)
        try:
            amount = money(line.get("Amount"))
        except ValueError as exc:
            raise ElementError("Payment amount must be specified") from exc
        if amount <= 0:
            raise ElementError("Payment amount must be greater than zero")
        if amount > to_dec(doc["AmountDue"]):
            raise ElementError(MSG_OVERPAY)
    batch_id = new_id()
    made = []
    for line in lines:
        pay = upsert_payment(
            ctx,
            {
                "Invoice": line["Invoice"],
                "Account": account,
                "Date": el.get("Date"),
                "Amount": line["Amount"],
                "Reference": el.get("Reference"),
            },
            "PUT",
            None,
        )
        pay = t.put("Payments", {**pay, "BatchPaymentID": batch_id, "BatchPayment": {"BatchPaymentID": batch_id}})
        made.append(pay)
    batch: dict[str, Any] = {
        "BatchPaymentID": batch_id,
        "Account": made[0]["Account"],
        "Date": made[0]["Date"],
        "Reference": str(el.get("Reference") or ""),
        "Type": "RECBATCH",
        "Status": "AUTHORISED",
        "IsReconciled": False,
        "TotalAmount": sum((to_dec(p["Amount"]) for p in made), to_dec(0)),
        "_payment_ids": [p["PaymentID"] for p in made],
    }
    return with_payments(ctx, t.put("BatchPayments", batch))


def _delete_batch(ctx: Ctx, bid: str, el: dict[str, Any]) -> dict[str, Any]:
    t = ctx.tenant
    batch = t.get("BatchPayments", bid)
    if batch is None:
        raise ElementError(MSG_NOT_FOUND)
    if el.get("Status") != "DELETED":
        raise ElementError(MSG_BATCH_UPDATE)
    if batch["Status"] != "DELETED":
        for pid in batch["_payment_ids"]:
            _delete_payment(ctx, pid, {"Status": "DELETED"})
        batch = t.put("BatchPayments", {**batch, "Status": "DELETED"})
    return with_payments(ctx, batch)


def with_payments(ctx: Ctx, batch: dict[str, Any]) -> dict[str, Any]:
    """The batch as GET shows it: its payments, each with the invoice it pays."""
    out = dict(batch)
    out["Payments"] = [
        {
            "PaymentID": p["PaymentID"],
            "Invoice": {k: v for k, v in p["Invoice"].items() if k in ("InvoiceID", "InvoiceNumber", "Type")},
            "Amount": p["Amount"],
            "Status": p["Status"],
        }
        for pid in batch["_payment_ids"]
        if (p := ctx.tenant.get("Payments", pid)) is not None
    ]
    return out
