"""Canonical records shared by the engine and every provider: the sales side (contacts, items, invoices,
payments, credit, credit notes, refunds, sales receipts) and the vendor side (suppliers, purchase orders, bills,
bill payments)."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

TWO_PLACES = Decimal("0.01")


def money(value: Decimal | int | str) -> Decimal:
    """Round an amount to cents the way accounting platforms do (half up, never banker's rounding)."""
    return Decimal(value).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def canonical_decimal(value: Decimal) -> Decimal:
    """One spelling per number ("2", "2.0000" -> 2.00; 10.005 kept), so equal amounts hash equally."""
    cents = value.quantize(TWO_PLACES)
    return cents if cents == value else value.normalize()


# Decimals serialise as strings so a JSON round trip never passes through float.
Amount = Annotated[
    Decimal,
    AfterValidator(canonical_decimal),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
]


class Entity(enum.StrEnum):
    """The kinds of record that sync, in the order they must be pushed (dependencies first)."""

    CONTACT = "contact"
    ITEM = "item"
    INVOICE = "invoice"
    PAYMENT = "payment"
    CREDIT = "credit"
    CREDIT_NOTE = "credit_note"
    REFUND = "refund"
    SALES_RECEIPT = "sales_receipt"
    SUPPLIER = "supplier"
    PURCHASE_ORDER = "purchase_order"
    BILL = "bill"
    BILL_PAYMENT = "bill_payment"

    @classmethod
    def push_order(cls) -> list[Entity]:
        return [
            cls.CONTACT,
            cls.SUPPLIER,
            cls.ITEM,
            cls.INVOICE,
            cls.PAYMENT,
            cls.CREDIT,
            cls.CREDIT_NOTE,
            cls.REFUND,
            cls.SALES_RECEIPT,
            cls.PURCHASE_ORDER,
            cls.BILL,
            cls.BILL_PAYMENT,
        ]


class Record(BaseModel):
    """Base of every canonical record: `id` is the record's id in the namespace it is expressed in.

    In the app's namespace that is the app's own id; a provider speaks in the platform's namespace, where
    `id` and every reference (contact_id, invoice_id) are platform ids. The engine translates between the two
    through its links, so providers never see app ids and the engine never sees platform ids in references.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    entity: ClassVar[Entity]
    # Fields owned by the platform (computed there) that never go out and never count as an app-side edit.
    remote_owned: ClassVar[frozenset[str]] = frozenset()
    # Fields added to a record after its first release: left out of the hash while unset, so a record stored
    # before the field existed keeps its hash (and is not taken for an edit).
    hash_if_set: ClassVar[frozenset[str]] = frozenset()

    id: str

    def hash_view(self, dumped: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the app owns in this record: the fields a content hash covers. `dumped`: this record's `to_json()`
        when the caller has it already (the same view, without dumping the record again)."""
        if dumped is None:
            view = self.model_dump(mode="json", exclude={"id", *self.remote_owned})
        else:
            view = {k: v for k, v in dumped.items() if k != "id" and k not in self.remote_owned}
        for name in self.hash_if_set:
            if view.get(name) is None:
                view.pop(name, None)
        return view

    def content_hash(self, dumped: dict[str, Any] | None = None) -> str:
        """A stable hash of what the app owns in this record, used to see whether either side changed it."""
        data = self.hash_view(dumped)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class ContactStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Party(Record):
    """What a customer (Contact) and a vendor (Supplier) both hold; archiving is the platform's, not an edit."""

    remote_owned: ClassVar[frozenset[str]] = frozenset({"status"})

    name: str = Field(min_length=1, max_length=255)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    tax_number: str | None = None
    account_number: str | None = None
    address: Address | None = None
    currency: str | None = None
    status: ContactStatus = ContactStatus.ACTIVE


class Contact(Party):
    """A customer or supplier. `parent_id` makes it a sub-customer (a job) where the platform supports it."""

    entity: ClassVar[Entity] = Entity.CONTACT

    parent_id: str | None = None
    is_customer: bool = True
    is_supplier: bool = False


class Item(Record):
    """A product or service the business sells or buys, identified on platforms by its code.

    `quantity_on_hand` is the stock the platform counts for an item it tracks as inventory (read from it, never
    sent; None where the platform tracks none for the item)."""

    entity: ClassVar[Entity] = Entity.ITEM
    remote_owned: ClassVar[frozenset[str]] = frozenset({"quantity_on_hand"})

    code: str = Field(min_length=1, max_length=30)
    name: str = Field(min_length=1, max_length=50)
    description: str | None = None
    unit_price: Amount | None = None
    account_code: str | None = None
    tax_type: str | None = None
    is_sold: bool = True
    is_purchased: bool = False
    quantity_on_hand: Amount | None = None


class Tracking(BaseModel):
    """A tracking option on a line (Xero tracking category, QuickBooks class or location)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    category: str
    option: str


class LineAmountTypes(enum.StrEnum):
    EXCLUSIVE = "exclusive"
    INCLUSIVE = "inclusive"
    NO_TAX = "no_tax"


class InvoiceLine(BaseModel):
    # Defaults go through the validators too, so a line built with the default quantity spells it as one read
    # back from JSON does ("1.00"), and the two compare and hash equal.
    model_config = ConfigDict(extra="forbid", validate_default=True)
    description: str
    quantity: Amount = Decimal("1")
    unit_amount: Amount = Decimal("0")
    item_code: str | None = None
    account_code: str | None = None
    tax_type: str | None = None
    discount_rate: Amount | None = None
    tracking: list[Tracking] = Field(default_factory=list)

    @property
    def line_amount(self) -> Decimal:
        gross = self.quantity * self.unit_amount
        if self.discount_rate:
            gross = gross * (Decimal(100) - self.discount_rate) / Decimal(100)
        return money(gross)


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    AUTHORISED = "authorised"
    PAID = "paid"
    VOIDED = "voided"
    DELETED = "deleted"


class Document(Record):
    """What every document with lines holds (invoice, bill, purchase order, sales receipt, credit note). The
    total is the platform's. Each subclass names its party (`contact_id` / `supplier_id`) and status."""

    remote_owned: ClassVar[frozenset[str]] = frozenset({"total"})

    number: str | None = None
    date: dt.date
    currency: str = "AUD"
    line_amount_types: LineAmountTypes = LineAmountTypes.EXCLUSIVE
    lines: list[InvoiceLine] = Field(default_factory=list)
    total: Amount | None = None


class PayableDocument(Document):
    """An invoice or a bill: due, paid by payments, with totals, amount due and paid status computed by the
    platform."""

    remote_owned: ClassVar[frozenset[str]] = frozenset({"total", "total_tax", "amount_due", "amount_paid"})

    due_date: dt.date | None = None
    # Units of the document's currency per unit of the platform's home currency (Xero CurrencyRate); None: the
    # home currency, or the platform's own rate of the day. Carried both ways (issue 16).
    currency_rate: Amount | None = None
    status: InvoiceStatus = InvoiceStatus.AUTHORISED
    reference: str | None = None
    total_tax: Amount | None = None
    amount_due: Amount | None = None
    amount_paid: Amount | None = None

    def hash_view(self, dumped: dict[str, Any] | None = None) -> dict[str, Any]:
        view = super().hash_view(dumped)
        # PAID is reached by payments, not by editing the document; it must not read as an edit.
        if view["status"] == InvoiceStatus.PAID.value:
            view["status"] = InvoiceStatus.AUTHORISED.value
        return view


class Invoice(PayableDocument):
    """A sales invoice. Totals, amount due and paid status are computed by the platform and flow back."""

    entity: ClassVar[Entity] = Entity.INVOICE

    contact_id: str

    @property
    def subtotal(self) -> Decimal:
        return money(sum((line.line_amount for line in self.lines), Decimal(0)))


class Allocation(BaseModel):
    """The part of a payment applied to one invoice."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    invoice_id: str
    amount: Amount


class PaymentStatus(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class Payment(Record):
    """Money received against one or several invoices; any excess over what is due is customer credit."""

    entity: ClassVar[Entity] = Entity.PAYMENT
    # Platforms take a payment's customer from the invoices it pays; the app's value is informative only.
    remote_owned: ClassVar[frozenset[str]] = frozenset({"contact_id"})
    hash_if_set: ClassVar[frozenset[str]] = frozenset({"currency_rate"})

    contact_id: str | None = None
    date: dt.date
    amount: Amount
    currency: str = "AUD"
    # As Invoice.currency_rate (issue 16): units of the document's currency per unit of the home currency.
    currency_rate: Amount | None = None
    reference: str | None = None
    account_code: str | None = None
    allocations: list[Allocation] = Field(default_factory=list)
    status: PaymentStatus = PaymentStatus.ACTIVE

    @property
    def allocated(self) -> Decimal:
        return money(sum((a.amount for a in self.allocations), Decimal(0)))

    @property
    def unapplied(self) -> Decimal:
        return money(self.amount - self.allocated)


class CustomerCredit(Record):
    """Money a customer paid beyond what was due, held as credit (Xero: an overpayment; QuickBooks: a payment's
    unapplied amount)."""

    entity: ClassVar[Entity] = Entity.CREDIT
    # payment_id and the deposit account are the app's bookkeeping: Xero does not show them on an
    # overpayment, so they are never compared.
    remote_owned: ClassVar[frozenset[str]] = frozenset({"remaining_credit", "payment_id", "account_code"})
    hash_if_set: ClassVar[frozenset[str]] = frozenset({"currency_rate"})

    contact_id: str
    date: dt.date
    amount: Amount
    currency: str = "AUD"
    # As Invoice.currency_rate (issue 16): units of the document's currency per unit of the home currency.
    currency_rate: Amount | None = None
    reference: str | None = None
    account_code: str | None = None
    # The app payment whose excess this credit holds, when it came from an overpayment.
    payment_id: str | None = None
    remaining_credit: Amount | None = None


class CreditNote(Document):
    """A credit against a customer, optionally allocated to invoices or refunded."""

    entity: ClassVar[Entity] = Entity.CREDIT_NOTE
    remote_owned: ClassVar[frozenset[str]] = frozenset({"total", "remaining_credit"})
    hash_if_set: ClassVar[frozenset[str]] = frozenset({"currency_rate"})

    contact_id: str
    # As Invoice.currency_rate (issue 16): units of the document's currency per unit of the home currency.
    currency_rate: Amount | None = None
    status: InvoiceStatus = InvoiceStatus.AUTHORISED
    allocations: list[Allocation] = Field(default_factory=list)
    remaining_credit: Amount | None = None

    def hash_view(self, dumped: dict[str, Any] | None = None) -> dict[str, Any]:
        view = super().hash_view(dumped)
        # PAID is reached by allocating or refunding the credit, not by editing the note.
        if view["status"] == InvoiceStatus.PAID.value:
            view["status"] = InvoiceStatus.AUTHORISED.value
        return view


class Refund(Record):
    """Money paid back to a customer out of a credit note or customer credit (Xero: a payment on the credit
    note; QuickBooks: a RefundReceipt; MYOB: a CreditRefund). At most one of `credit_note_id` / `credit_id`; neither
    for a refund the platform keeps without a link (a QuickBooks RefundReceipt entered there names only the customer,
    who is then `contact_id`)."""

    entity: ClassVar[Entity] = Entity.REFUND
    remote_owned: ClassVar[frozenset[str]] = frozenset({"contact_id"})

    contact_id: str | None = None
    credit_note_id: str | None = None
    credit_id: str | None = None
    date: dt.date
    amount: Amount
    currency: str = "AUD"
    reference: str | None = None
    account_code: str | None = None
    status: PaymentStatus = PaymentStatus.ACTIVE


class SalesReceipt(Document):
    """A sale paid on the spot ("customer purchases"): lines and the account the money went to, no invoice."""

    entity: ClassVar[Entity] = Entity.SALES_RECEIPT
    remote_owned: ClassVar[frozenset[str]] = frozenset({"total", "total_tax"})
    hash_if_set: ClassVar[frozenset[str]] = frozenset({"currency_rate"})

    contact_id: str | None = None
    # As Invoice.currency_rate (issue 16): units of the document's currency per unit of the home currency.
    currency_rate: Amount | None = None
    account_code: str | None = None
    reference: str | None = None
    status: PaymentStatus = PaymentStatus.ACTIVE
    total_tax: Amount | None = None


class Supplier(Party):
    """A vendor the business buys from. Its own entity because most platforms keep vendors apart from
    customers (QuickBooks Vendor, MYOB Contact/Supplier, DEAR supplier); on Xero it is a contact that is a
    supplier."""

    entity: ClassVar[Entity] = Entity.SUPPLIER


class PurchaseOrderStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    AUTHORISED = "authorised"
    # Finished in the app: the engine creates a bill from it and links the two.
    BILLED = "billed"
    DELETED = "deleted"


class PurchaseOrder(Document):
    """An order to a supplier. When it is marked `billed` (finished) in the app, a bill is made from it."""

    entity: ClassVar[Entity] = Entity.PURCHASE_ORDER
    remote_owned: ClassVar[frozenset[str]] = frozenset({"total", "total_tax"})
    hash_if_set: ClassVar[frozenset[str]] = frozenset({"currency_rate"})

    supplier_id: str
    delivery_date: dt.date | None = None
    # As Invoice.currency_rate (issue 16): units of the document's currency per unit of the home currency.
    currency_rate: Amount | None = None
    status: PurchaseOrderStatus = PurchaseOrderStatus.AUTHORISED
    reference: str | None = None
    total_tax: Amount | None = None


class Bill(PayableDocument):
    """A supplier's invoice to the business (Xero ACCPAY invoice, QuickBooks Bill, MYOB Purchase/Bill)."""

    entity: ClassVar[Entity] = Entity.BILL

    supplier_id: str
    # The purchase order this bill was made from, if any.
    purchase_order_id: str | None = None


class BillAllocation(BaseModel):
    """The part of a bill payment applied to one bill."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    bill_id: str
    amount: Amount


class BillPayment(Record):
    """Money paid to a supplier against one or several bills."""

    entity: ClassVar[Entity] = Entity.BILL_PAYMENT
    remote_owned: ClassVar[frozenset[str]] = frozenset({"supplier_id"})
    hash_if_set: ClassVar[frozenset[str]] = frozenset({"currency_rate"})

    supplier_id: str | None = None
    date: dt.date
    amount: Amount
    currency: str = "AUD"
    # As Invoice.currency_rate (issue 16): units of the document's currency per unit of the home currency.
    currency_rate: Amount | None = None
    reference: str | None = None
    account_code: str | None = None
    allocations: list[BillAllocation] = Field(default_factory=list)
    status: PaymentStatus = PaymentStatus.ACTIVE

    @property
    def allocated(self) -> Decimal:
        return money(sum((a.amount for a in self.allocations), Decimal(0)))


RECORD_TYPES: dict[Entity, type[Record]] = {
    Entity.CONTACT: Contact,
    Entity.ITEM: Item,
    Entity.INVOICE: Invoice,
    Entity.PAYMENT: Payment,
    Entity.CREDIT: CustomerCredit,
    Entity.CREDIT_NOTE: CreditNote,
    Entity.REFUND: Refund,
    Entity.SALES_RECEIPT: SalesReceipt,
    Entity.SUPPLIER: Supplier,
    Entity.PURCHASE_ORDER: PurchaseOrder,
    Entity.BILL: Bill,
    Entity.BILL_PAYMENT: BillPayment,
}


def record_from_json(entity: Entity, data: dict[str, Any] | str | bytes) -> Record:
    """A record from its JSON form: a dict, or JSON text (a column read as text), parsed by pydantic in one pass."""
    if isinstance(data, str | bytes):
        return RECORD_TYPES[entity].model_validate_json(data)
    return RECORD_TYPES[entity].model_validate(data)
