"""The vendor side and sales receipts <-> QuickBooks Online JSON: Vendor, PurchaseOrder, Bill (linked to its
purchase order by LinkedTxn on its lines), BillPayment (a cheque from a bank account) and SalesReceipt.

QuickBooks keeps vendors apart from customers, but DisplayName is unique across customers, vendors and
employees (fault 6240 "Duplicate Name Exists Error"), so a supplier named like a customer is refused with that
text. Purchase lines with a product are ItemBasedExpenseLineDetail (quantity and unit price held); lines without
one are AccountBasedExpenseLineDetail, which hold only an amount and an expense account."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ledgersync.model import (
    Bill,
    BillAllocation,
    BillPayment,
    Entity,
    ErrorCode,
    InvoiceLine,
    InvoiceStatus,
    LineAmountTypes,
    PaymentStatus,
    PurchaseOrder,
    PurchaseOrderStatus,
    Record,
    SalesReceipt,
    Supplier,
)
from ledgersync.providers.base import RemoteRecord
from ledgersync.providers.qbo.errors import name_problem
from ledgersync.providers.qbo.mapping import (
    _TAX_CALCULATION,
    MappingError,
    Refs,
    _clean,
    _currency,
    _dec,
    _error,
    _identity,
    _line_types,
    _lines_from_qbo,
    _lines_to_qbo,
    _ref,
    _split_tracking,
    _str,
    exchange_rate_from_qbo,
    exchange_rate_to_qbo,
    is_voided,
    linked_amounts,
    parse_date,
    parse_datetime,
    party_from_qbo,
    party_to_qbo,
)

VENDOR_ENTITY_NAME: dict[Entity, str] = {
    Entity.SUPPLIER: "Vendor",
    Entity.PURCHASE_ORDER: "PurchaseOrder",
    Entity.BILL: "Bill",
    Entity.BILL_PAYMENT: "BillPayment",
    Entity.SALES_RECEIPT: "SalesReceipt",
}
VENDOR_ENTITIES = tuple(VENDOR_ENTITY_NAME)
_ITEM_LINE = "ItemBasedExpenseLineDetail"
_ACCOUNT_LINE = "AccountBasedExpenseLineDetail"


def _with_currency(body: dict[str, Any], currency: str | None, refs: Refs) -> None:
    if currency and (refs.home_currency is None or currency != refs.home_currency):
        body["CurrencyRef"] = {"value": currency}


def _tax_calculation(body: dict[str, Any], types: LineAmountTypes) -> None:
    if types is not LineAmountTypes.EXCLUSIVE:
        body["GlobalTaxCalculation"] = _TAX_CALCULATION[types]


# ---------------------------------------------------------------- vendors


def _with_rate(body: dict[str, Any], rate: Decimal | None) -> None:
    """The transaction's ExchangeRate (QuickBooks' way round: home currency per unit of the transaction's)."""
    if rate is not None:
        body["ExchangeRate"] = exchange_rate_to_qbo(rate)


def supplier_to_qbo(
    supplier: Supplier, refs: Refs, *, remote_id: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    problem = name_problem(supplier.name, "supplier name")
    if problem is not None:
        raise MappingError(problem)
    body = party_to_qbo(supplier, TaxIdentifier=supplier.tax_number, AcctNum=supplier.account_number)
    _with_currency(body, supplier.currency, refs)
    return _identity(_clean(body), remote_id, sync_token)


def supplier_from_qbo(data: Mapping[str, Any], refs: Refs) -> Supplier:
    return Supplier(
        **party_from_qbo(data, refs.home_currency),
        name=str(data.get("DisplayName") or data["Id"]),
        # QuickBooks masks a stored tax id on reads (all but the last four characters): not read back.
        tax_number=None,
        account_number=_str(data.get("AcctNum")),
    )


# ---------------------------------------------------------------- purchase lines


def purchase_lines_to_qbo(lines: list[InvoiceLine], refs: Refs, *, link_po: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if line.discount_rate:
            raise _error(
                ErrorCode.VALIDATION,
                "QuickBooks has no discount on a purchase line.",
                "Put the discounted price on the line, or skip.",
            )
        detail: dict[str, Any]
        if line.item_code:
            item_id = refs.item_ids.get(line.item_code)
            if item_id is None:
                raise _error(
                    ErrorCode.MISSING_DEPENDENCY,
                    f"QuickBooks has no product or service with the code '{line.item_code}'.",
                    "Sync or add the product in QuickBooks, then retry; or skip.",
                )
            kind = _ITEM_LINE
            detail = {"ItemRef": {"value": item_id}, "Qty": line.quantity, "UnitPrice": line.unit_amount}
        else:
            if line.quantity != 1:
                raise _error(
                    ErrorCode.VALIDATION,
                    "QuickBooks holds only an amount on a purchase line without a product; the line "
                    f"'{line.description}' is {line.quantity} x {line.unit_amount}.",
                    "Give the line a product (item code), or enter it as quantity 1 at its full amount.",
                )
            account = line.account_code or refs.expense_account
            if account is None:
                raise _error(
                    ErrorCode.MISSING_DEPENDENCY,
                    "QuickBooks needs an expense account on a purchase line without a product, and none is set.",
                    "Give the line an account code (mapped in the connection's account_codes), then retry.",
                )
            kind = _ACCOUNT_LINE
            detail = {"AccountRef": {"value": account}}
        if line.tax_type:
            detail["TaxCodeRef"] = {"value": line.tax_type}
        new: dict[str, Any] = {
            "LineNum": number,
            "Description": line.description,
            "Amount": line.line_amount,
            "DetailType": kind,
            kind: detail,
        }
        if link_po:
            new["LinkedTxn"] = [{"TxnId": link_po, "TxnType": "PurchaseOrder"}]
        out.append(new)
    return out


def purchase_lines_from_qbo(data: Mapping[str, Any], refs: Refs) -> list[InvoiceLine]:
    out: list[InvoiceLine] = []
    for line in data.get("Line") or []:
        kind = line.get("DetailType")
        amount = _dec(line.get("Amount")) or Decimal(0)
        if kind == _ITEM_LINE:
            detail = line.get(_ITEM_LINE) or {}
            quantity = _dec(detail.get("Qty")) or Decimal(1)
            unit = _dec(detail.get("UnitPrice"))
            item_id = _ref(detail.get("ItemRef"))
            out.append(
                InvoiceLine(
                    description=str(line.get("Description") or ""),
                    quantity=quantity,
                    unit_amount=unit if unit is not None else amount / quantity,
                    item_code=(refs.item_codes.get(item_id) or item_id) if item_id else None,
                    tax_type=_ref(detail.get("TaxCodeRef")),
                )
            )
        elif kind == _ACCOUNT_LINE:
            detail = line.get(_ACCOUNT_LINE) or {}
            account = _ref(detail.get("AccountRef"))
            out.append(
                InvoiceLine(
                    description=str(line.get("Description") or ""),
                    quantity=Decimal(1),
                    unit_amount=amount,
                    account_code=None if account == refs.expense_account else account,
                    tax_type=_ref(detail.get("TaxCodeRef")),
                )
            )
    return out


def _linked_po(data: Mapping[str, Any]) -> str | None:
    for line in data.get("Line") or []:
        for linked in line.get("LinkedTxn") or []:
            if linked.get("TxnType") == "PurchaseOrder" and linked.get("TxnId"):
                return str(linked["TxnId"])
    for linked in data.get("LinkedTxn") or []:
        if linked.get("TxnType") == "PurchaseOrder" and linked.get("TxnId"):
            return str(linked["TxnId"])
    return None


# ---------------------------------------------------------------- purchase orders and bills


def purchase_order_to_qbo(
    po: PurchaseOrder, refs: Refs, *, remote_id: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    if po.status is PurchaseOrderStatus.DELETED:
        raise _error(
            ErrorCode.VALIDATION,
            "A deleted purchase order can't be sent to QuickBooks as a change.",
            "Delete it in the app to delete it in QuickBooks, or skip.",
        )
    body: dict[str, Any] = {
        "VendorRef": {"value": po.supplier_id},
        "DocNumber": po.number,
        "TxnDate": po.date.isoformat(),
        "ExpectedDate": po.delivery_date.isoformat() if po.delivery_date else None,
        "Memo": po.reference,
        # POStatus is left to QuickBooks: it closes the order once the bill made from it links to it (a closed
        # order can no longer be linked, so sending "Closed" first would refuse the bill).
        "Line": purchase_lines_to_qbo(po.lines, refs),
    }
    _tax_calculation(body, po.line_amount_types)
    _with_currency(body, po.currency, refs)
    _with_rate(body, po.currency_rate)
    return _identity(_clean(body), remote_id, sync_token)


def purchase_order_from_qbo(data: Mapping[str, Any], refs: Refs) -> PurchaseOrder:
    date = parse_date(data.get("TxnDate"))
    if date is None:
        raise ValueError("QBO purchase order without a TxnDate")
    closed = str(data.get("POStatus") or "Open") == "Closed"
    return PurchaseOrder(
        id=str(data["Id"]),
        supplier_id=_ref(data.get("VendorRef")) or "",
        number=_str(data.get("DocNumber")),
        date=date,
        delivery_date=parse_date(data.get("ExpectedDate")),
        currency=_currency(data, refs),
        currency_rate=exchange_rate_from_qbo(data),
        line_amount_types=_line_types(data.get("GlobalTaxCalculation")),
        lines=purchase_lines_from_qbo(data, refs),
        status=PurchaseOrderStatus.BILLED if closed else PurchaseOrderStatus.AUTHORISED,
        reference=_str(data.get("Memo")),
        total=_dec(data.get("TotalAmt")),
        total_tax=_dec((data.get("TxnTaxDetail") or {}).get("TotalTax")),
    )


def bill_to_qbo(
    bill: Bill, refs: Refs, *, remote_id: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    if bill.status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
        raise _error(
            ErrorCode.VALIDATION,
            "A voided or deleted bill can't be sent to QuickBooks as a change.",
            "Delete it in the app to delete it in QuickBooks, or skip.",
        )
    body: dict[str, Any] = {
        "VendorRef": {"value": bill.supplier_id},
        "DocNumber": bill.number,
        "TxnDate": bill.date.isoformat(),
        "DueDate": bill.due_date.isoformat() if bill.due_date else None,
        "PrivateNote": bill.reference,
        "Line": purchase_lines_to_qbo(bill.lines, refs, link_po=bill.purchase_order_id),
        "ExchangeRate": exchange_rate_to_qbo(bill.currency_rate),
    }
    _tax_calculation(body, bill.line_amount_types)
    _with_currency(body, bill.currency, refs)
    return _identity(_clean(body), remote_id, sync_token)


def bill_from_qbo(data: Mapping[str, Any], refs: Refs) -> Bill:
    date = parse_date(data.get("TxnDate"))
    if date is None:
        raise ValueError("QBO bill without a TxnDate")
    total = _dec(data.get("TotalAmt"))
    balance = _dec(data.get("Balance"))
    paid = total is not None and total > 0 and balance == 0
    due = parse_date(data.get("DueDate"))
    return Bill(
        id=str(data["Id"]),
        supplier_id=_ref(data.get("VendorRef")) or "",
        number=_str(data.get("DocNumber")),
        date=date,
        # QuickBooks fills a missing due date with the bill's date (or its terms): that default is not the app's.
        due_date=None if due == date else due,
        currency=_currency(data, refs),
        currency_rate=exchange_rate_from_qbo(data),
        line_amount_types=_line_types(data.get("GlobalTaxCalculation")),
        lines=purchase_lines_from_qbo(data, refs),
        status=InvoiceStatus.PAID if paid else InvoiceStatus.AUTHORISED,
        reference=_str(data.get("PrivateNote")),
        purchase_order_id=_linked_po(data),
        total=total,
        total_tax=_dec((data.get("TxnTaxDetail") or {}).get("TotalTax")),
        amount_due=balance,
        amount_paid=total - balance if total is not None and balance is not None else None,
    )


# ---------------------------------------------------------------- bill payments


def bill_payment_to_qbo(
    payment: BillPayment, refs: Refs, *, remote_id: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    if payment.amount <= 0 or payment.allocated > payment.amount:
        raise _error(
            ErrorCode.VALIDATION,
            f"This bill payment of {payment.amount} applies {payment.allocated} to bills.",
            "Correct the amounts, or skip.",
        )
    vendors = {refs.bill_vendors.get(a.bill_id) for a in payment.allocations} - {None}
    if len(vendors) > 1:
        raise _error(
            ErrorCode.VALIDATION,
            "QuickBooks records a bill payment to one vendor; these bills belong to different vendors.",
            "Split the payment per vendor, or skip.",
        )
    vendor = next(iter(vendors), None) or payment.supplier_id
    if not vendor:
        raise _error(
            ErrorCode.MISSING_DEPENDENCY,
            "QuickBooks needs the vendor of this bill payment, and neither its bills nor its supplier say who.",
            "Sync the supplier or the bills first, then retry; or skip.",
        )
    bank = payment.account_code or refs.bank_account
    if not bank:
        raise _error(
            ErrorCode.MISSING_DEPENDENCY,
            "QuickBooks pays bills from a bank account, and none is set for this payment or the connection.",
            "Set deposit_account_id (a bank account) on the connection, or give the payment an account code.",
        )
    body: dict[str, Any] = {
        "VendorRef": {"value": vendor},
        "PayType": "Check",
        "CheckPayment": {"BankAccountRef": {"value": bank}},
        "TotalAmt": payment.amount,
        "TxnDate": payment.date.isoformat(),
        "DocNumber": payment.reference,
        "Line": [
            {"Amount": a.amount, "LinkedTxn": [{"TxnId": a.bill_id, "TxnType": "Bill"}]} for a in payment.allocations
        ],
    }
    _with_currency(body, payment.currency, refs)
    _with_rate(body, payment.currency_rate)
    return _identity(_clean(body), remote_id, sync_token)


def bill_payment_from_qbo(data: Mapping[str, Any], refs: Refs) -> BillPayment:
    date = parse_date(data.get("TxnDate"))
    if date is None:
        raise ValueError("QBO bill payment without a TxnDate")
    allocations = [BillAllocation(bill_id=i, amount=a) for i, a in linked_amounts(data, "Bill")]
    bank = _ref((data.get("CheckPayment") or {}).get("BankAccountRef"))
    return BillPayment(
        id=str(data["Id"]),
        supplier_id=_ref(data.get("VendorRef")),
        date=date,
        amount=_dec(data.get("TotalAmt")) or Decimal(0),
        currency=_currency(data, refs),
        currency_rate=exchange_rate_from_qbo(data),
        reference=_str(data.get("DocNumber")),
        account_code=None if bank == refs.bank_account else bank,
        allocations=allocations,
        status=PaymentStatus.DELETED if is_voided(data) else PaymentStatus.ACTIVE,
    )


# ---------------------------------------------------------------- sales receipts


def sales_receipt_to_qbo(
    receipt: SalesReceipt, refs: Refs, *, remote_id: str | None = None, sync_token: str | None = None
) -> dict[str, Any]:
    location, classes = _split_tracking(receipt.lines, "sales receipt")
    body: dict[str, Any] = {
        "CustomerRef": {"value": receipt.contact_id} if receipt.contact_id else None,
        "DocNumber": receipt.number,
        "TxnDate": receipt.date.isoformat(),
        "PrivateNote": receipt.reference,
        "DepositToAccountRef": {"value": receipt.account_code} if receipt.account_code else None,
        "Line": _lines_to_qbo(receipt.lines, refs, classes),
    }
    if location is not None:
        department = refs.department_ids.get(location)
        if department is None:
            raise _error(
                ErrorCode.MISSING_DEPENDENCY,
                f"QuickBooks has no location called '{location}' (or location tracking is off).",
                "Add the location in QuickBooks (Settings > Locations) and retry, or skip.",
            )
        body["DepartmentRef"] = {"value": department, "name": location}
    _tax_calculation(body, receipt.line_amount_types)
    _with_currency(body, receipt.currency, refs)
    _with_rate(body, receipt.currency_rate)
    return _identity(_clean(body), remote_id, sync_token)


def sales_receipt_from_qbo(data: Mapping[str, Any], refs: Refs) -> SalesReceipt:
    date = parse_date(data.get("TxnDate"))
    if date is None:
        raise ValueError("QBO sales receipt without a TxnDate")
    account = _ref(data.get("DepositToAccountRef"))
    return SalesReceipt(
        id=str(data["Id"]),
        contact_id=_ref(data.get("CustomerRef")),
        number=_str(data.get("DocNumber")),
        date=date,
        currency=_currency(data, refs),
        currency_rate=exchange_rate_from_qbo(data),
        line_amount_types=_line_types(data.get("GlobalTaxCalculation")),
        lines=_lines_from_qbo(data, refs),
        # QuickBooks puts a receipt with no deposit account in Undeposited Funds (Id 4 is its usual id): that
        # default is not the app's account.
        account_code=account if account and account != refs.undeposited_account else None,
        reference=None if is_voided(data) else _str(data.get("PrivateNote")),
        status=PaymentStatus.DELETED if is_voided(data) else PaymentStatus.ACTIVE,
        total=_dec(data.get("TotalAmt")),
        total_tax=_dec((data.get("TxnTaxDetail") or {}).get("TotalTax")),
    )


# ---------------------------------------------------------------- dispatch


def vendor_to_qbo(
    entity: Entity, record: Record, refs: Refs, *, remote_id: str | None, sync_token: str | None
) -> dict[str, Any] | None:
    if entity is Entity.SUPPLIER and isinstance(record, Supplier):
        return supplier_to_qbo(record, refs, remote_id=remote_id, sync_token=sync_token)
    if entity is Entity.PURCHASE_ORDER and isinstance(record, PurchaseOrder):
        return purchase_order_to_qbo(record, refs, remote_id=remote_id, sync_token=sync_token)
    if entity is Entity.BILL and isinstance(record, Bill):
        return bill_to_qbo(record, refs, remote_id=remote_id, sync_token=sync_token)
    if entity is Entity.BILL_PAYMENT and isinstance(record, BillPayment):
        return bill_payment_to_qbo(record, refs, remote_id=remote_id, sync_token=sync_token)
    if entity is Entity.SALES_RECEIPT and isinstance(record, SalesReceipt):
        return sales_receipt_to_qbo(record, refs, remote_id=remote_id, sync_token=sync_token)
    return None


def vendor_from_qbo(entity: Entity, data: Mapping[str, Any], refs: Refs) -> RemoteRecord:
    updated = parse_datetime((data.get("MetaData") or {}).get("LastUpdatedTime"))
    record: Record
    archived = deleted = False
    doc_number: str | None = _str(data.get("DocNumber"))
    if entity is Entity.SUPPLIER:
        record = supplier_from_qbo(data, refs)
        archived = not data.get("Active", True)
        doc_number = None
    elif entity is Entity.PURCHASE_ORDER:
        record = purchase_order_from_qbo(data, refs)
    elif entity is Entity.BILL:
        record = bill_from_qbo(data, refs)
        refs.learn_bill(data)
    elif entity is Entity.BILL_PAYMENT:
        record = bill_payment_from_qbo(data, refs)
        deleted = is_voided(data)
    else:
        record = sales_receipt_from_qbo(data, refs)
        deleted = is_voided(data)
    if str(data.get("status") or "").lower() == "deleted":
        deleted = True
    return RemoteRecord(
        entity=entity,
        remote_id=record.id,
        version=str(data.get("SyncToken") or "0"),
        record=record,
        updated_at=updated,
        archived=archived,
        deleted=deleted,
        doc_number=doc_number,
    )


def vendor_deleted_stub(entity: Entity, remote_id: str, record_date: Any) -> Record:
    """The placeholder record of a vendor-side transaction CDC reports deleted (only its Id comes back)."""
    if entity is Entity.PURCHASE_ORDER:
        return PurchaseOrder(id=remote_id, supplier_id="", date=record_date, status=PurchaseOrderStatus.DELETED)
    if entity is Entity.BILL:
        return Bill(id=remote_id, supplier_id="", date=record_date, status=InvoiceStatus.DELETED)
    if entity is Entity.BILL_PAYMENT:
        return BillPayment(id=remote_id, date=record_date, amount=Decimal(0), status=PaymentStatus.DELETED)
    return SalesReceipt(id=remote_id, date=record_date, status=PaymentStatus.DELETED)
