"""The QuickBooks Online provider's vendor side and sales receipts: the look-ups their mapping needs (products on
purchase lines, the expense and bank accounts, the vendors of bills) and finding bill payments whose outcome was
unknown. The provider calls in here; the payloads are in vendor_mapping.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ledgersync.model import BillPayment, Entity, PaymentStatus, Record, SalesReceipt
from ledgersync.providers.base import RemoteRecord, Write
from ledgersync.providers.qbo.mapping import is_voided, parse_date, quote

if TYPE_CHECKING:
    from ledgersync.providers.qbo.provider import QboProvider

VENDOR_SIDE = (Entity.SUPPLIER, Entity.PURCHASE_ORDER, Entity.BILL, Entity.BILL_PAYMENT)
_PURCHASE_FORMS = (Entity.PURCHASE_ORDER, Entity.BILL)


def _line_refs(rows: Sequence[Mapping[str, Any]], detail_type: str) -> list[str]:
    return [
        str(ref["value"])
        for row in rows
        for line in row.get("Line") or []
        if (ref := ((line.get(detail_type) or {}).get("ItemRef") or {})).get("value")
    ]


class VendorSide:
    def __init__(self, provider: QboProvider) -> None:
        self.p = provider
        self._accounts_looked_up = False

    def is_deleted_payment(self, record: Record) -> bool:
        return isinstance(record, BillPayment | SalesReceipt) and record.status is PaymentStatus.DELETED

    def _accounts(self) -> None:
        """The company's accounts the vendor side defaults to, looked up once: the bank account bills are paid
        from (the connection's deposit_account_id, else the first bank account), the expense account a purchase
        line without product or account goes to, and Undeposited Funds."""
        if self._accounts_looked_up:
            return
        self._accounts_looked_up = True
        refs = self.p.refs
        rows = self.p._select_all("Account", "AccountType IN ('Bank', 'Expense', 'Other Current Asset')")
        banks = [r for r in rows if r.get("AccountType") == "Bank" and r.get("Active", True)]
        expenses = [r for r in rows if r.get("AccountType") == "Expense" and r.get("Active", True)]
        undeposited = [r for r in rows if r.get("AccountSubType") == "UndepositedFunds"]
        refs.bank_account = refs.deposit_account or (str(banks[0]["Id"]) if banks else None)
        if expenses and refs.expense_account is None:
            preferred = [r for r in expenses if str(r.get("Name", "")).lower() in ("purchases", "supplies")]
            refs.expense_account = str((preferred or expenses)[0]["Id"])
        refs.undeposited_account = str(undeposited[0]["Id"]) if undeposited else None

    def prepare_read(self, entity: Entity, rows: Sequence[Mapping[str, Any]]) -> None:
        if entity not in (*VENDOR_SIDE, Entity.SALES_RECEIPT):
            return
        self.p._ensure_home_currency()
        self._accounts()
        if entity in _PURCHASE_FORMS:
            self.p._ensure_item_ids(_line_refs(rows, "ItemBasedExpenseLineDetail"))
        if entity is Entity.SALES_RECEIPT:
            self.p._ensure_item_ids(_line_refs(rows, "SalesItemLineDetail"))
            self.p._ensure_default_item(create=False)

    def prepare_write(self, entity: Entity, writes: Sequence[Write]) -> None:
        if entity not in (*VENDOR_SIDE, Entity.SALES_RECEIPT):
            return
        self.p._ensure_home_currency()
        self._accounts()
        lines = [line for w in writes for line in getattr(w.record, "lines", [])]
        if entity in _PURCHASE_FORMS or entity is Entity.SALES_RECEIPT:
            self.p._ensure_items_by_code(line.item_code for line in lines if line.item_code)
        if entity is Entity.SALES_RECEIPT and any(not line.item_code for line in lines):
            self.p._ensure_default_item()
        if entity is Entity.BILL_PAYMENT:
            missing = [
                a.bill_id
                for w in writes
                if isinstance(w.record, BillPayment)
                for a in w.record.allocations
                if a.bill_id not in self.p.refs.bill_vendors
            ]
            for row in self.p._where_in("Bill", "Id", missing):
                self.p.refs.learn_bill(row)

    def find_bill_payments(self, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        """Bill payments whose outcome was unknown, found by vendor, amount, date, number and the bills paid."""
        candidates = [(w, w.record) for w in writes if isinstance(w.record, BillPayment)]
        if not candidates:
            return {}
        dates = [p.date for _, p in candidates]
        rows = self.p._select_all(
            "BillPayment",
            f"TxnDate >= {quote(min(dates).isoformat())} AND TxnDate <= {quote(max(dates).isoformat())}",
        )
        records = self.p._records(Entity.BILL_PAYMENT, [r for r in rows if not is_voided(r)])
        out: dict[str, RemoteRecord] = {}
        claimed: set[str] = set()
        for write, payment in candidates:
            wanted = sorted((a.bill_id, a.amount) for a in payment.allocations)
            for remote in records:
                found = remote.record
                assert isinstance(found, BillPayment)
                if remote.remote_id in claimed:
                    continue
                if (
                    found.amount == payment.amount
                    and parse_date(found.date) == payment.date
                    and (found.reference or None) == (payment.reference or None)
                    and sorted((a.bill_id, a.amount) for a in found.allocations) == wanted
                ):
                    out[write.key] = remote
                    claimed.add(remote.remote_id)
                    break
        return out
