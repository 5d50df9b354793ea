"""The conformance kit's behaviours for the vendor side and sales receipts: suppliers both ways (and the
platform's name rule), a purchase order that becomes a linked bill when it is finished in the app, bills and bill
payments both ways, and sales receipts both ways. ProviderConformance includes them; each skips, with the
reason, where the platform's capability data says it does not hold the entity."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ledgersync.engine.actions import ActionCentre
from ledgersync.model import (
    Bill,
    BillAllocation,
    BillPayment,
    Contact,
    Entity,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Item,
    LineAmountTypes,
    PurchaseOrder,
    PurchaseOrderStatus,
    SalesReceipt,
    Supplier,
    money,
)

if TYPE_CHECKING:
    from ledgersync.testing.suite import Connected


def _line(description: str, amount: str, quantity: str = "1", item: str | None = None) -> InvoiceLine:
    return InvoiceLine(description=description, quantity=Decimal(quantity), unit_amount=Decimal(amount), item_code=item)


class VendorBehaviours:
    """Mixed into ProviderConformance. Hooks (the platform as a person sees it) raise NotImplementedError until
    a platform's harness fills them in; a behaviour skips first where the platform lacks the entity."""

    currency: ClassVar[str]
    provider_name: ClassVar[str]

    # -- hooks: acting as a person on the platform ------------------------------------------------------
    def create_supplier(self, name: str) -> str:
        raise NotImplementedError("create_supplier: add a supplier (vendor) on the platform; return its id")

    def enter_bill(self, supplier_remote_id: str, number: str, amount: Decimal) -> str:
        raise NotImplementedError("enter_bill: enter a bill from a supplier on the platform; return its id")

    def pay_bill(self, bill_remote_id: str, amount: Decimal) -> str:
        raise NotImplementedError("pay_bill: pay a bill on the platform; return the payment's id")

    def enter_sales_receipt(self, number: str, amount: Decimal) -> str:
        raise NotImplementedError("enter_sales_receipt: record a sale paid on the spot; return its id")

    # -- hooks: reading the platform's truth ------------------------------------------------------------
    def supplier_names(self) -> list[str]:
        raise NotImplementedError("supplier_names: names of the platform's active suppliers")

    def bill_facts(self, remote_id: str) -> dict[str, Any]:
        """{'total': Decimal, 'state': 'open'|'paid'|'void', 'purchase_order': the platform id of the order the
        platform links the bill to, or None where it holds no such link}."""
        raise NotImplementedError("bill_facts")

    def purchase_order_facts(self, remote_id: str) -> dict[str, Any]:
        """{'total': Decimal, 'state': 'open'|'billed'|'deleted'}."""
        raise NotImplementedError("purchase_order_facts")

    def sales_receipt_total(self, remote_id: str) -> Decimal:
        raise NotImplementedError("sales_receipt_total")

    def create_stocked_item(self, code: str, name: str, quantity: Decimal) -> None:
        """Add a product the platform tracks as inventory, with `quantity` in stock (as a person would)."""
        raise NotImplementedError("create_stocked_item: an inventory item with stock on the platform")

    def platform_item_codes(self) -> list[str]:
        raise NotImplementedError("platform_item_codes: the codes of the platform's products")

    def enable_currency(self, code: str) -> None:
        """Turn on multicurrency where that is a switch, and add `code` to the organisation's currencies."""
        raise NotImplementedError("enable_currency: add a currency to the organisation on the platform")

    def invoice_home_total(self, remote_id: str) -> Decimal | None:
        """The invoice's total in the home currency, where the platform keeps one (None: it keeps none)."""
        raise NotImplementedError("invoice_home_total")

    def combined_tax(self) -> tuple[str, Decimal]:
        """The platform's code for a combined (group) tax rate, made there if need be, and its percent."""
        raise NotImplementedError("combined_tax: a combined tax rate's code on the platform and its percent")

    # -- helpers ---------------------------------------------------------------------------------------
    def _needs(self, *entities: Entity, both_ways: bool = True) -> None:
        caps = self.capabilities()  # type: ignore[attr-defined]
        for entity in entities:
            pushed, pulled = entity in caps.push_entities, entity in caps.pull_entities
            if not pushed or (both_ways and not pulled):
                self.require(False, f"{entity.value} is not supported by {caps.display_name} (capabilities)")  # type: ignore[attr-defined]

    def _open(self, tmp_path: Path) -> Connected:
        return self.open(tmp_path)  # type: ignore[attr-defined,no-any-return]

    def _po(self, number: str) -> PurchaseOrder:
        return PurchaseOrder(
            id="po1",
            supplier_id="s1",
            number=number,
            date=dt.date.today(),
            currency=self.currency,
            # A product line (quantity and price) and a plain one (an amount).
            lines=[_line("Brake pads", "45.00", "4", item="PADS"), _line("Freight", "20.00")],
            status=PurchaseOrderStatus.AUTHORISED,
        )

    # -- behaviours ------------------------------------------------------------------------------------
    def test_suppliers_flow_both_ways(self, tmp_path: Path) -> None:
        self._needs(Entity.SUPPLIER)
        c = self._open(tmp_path)
        c.ls.upsert(c.org, Supplier(id="s1", name="Parts Wholesale", email="sales@parts.example"))
        remote = self.create_supplier("Tyre Depot")
        self.enter_bill(remote, "TD-1", Decimal("80.00"))
        report = c.ls.sync(c.conn)
        assert report.status == "ok"
        assert sorted(self.supplier_names()) == ["Parts Wholesale", "Tyre Depot"]
        pulled = {r.record.name for r in c.ls.records(c.org, Entity.SUPPLIER)}  # type: ignore[attr-defined]
        assert pulled == {"Parts Wholesale", "Tyre Depot"}
        # A supplier is not a customer in the app.
        assert c.ls.records(c.org, Entity.CONTACT) == []
        c.ls.upsert(c.org, Supplier(id="s1", name="Parts Wholesale Pty", email="sales@parts.example"))
        c.ls.sync(c.conn)
        assert sorted(self.supplier_names()) == ["Parts Wholesale Pty", "Tyre Depot"]
        c.agree()

    def test_a_supplier_named_like_a_customer_is_refused_with_the_platform_text(self, tmp_path: Path) -> None:
        self._needs(Entity.SUPPLIER)
        self.require(self.traits.refuses_duplicate_names, "the platform takes two of one name")  # type: ignore[attr-defined]
        c = self._open(tmp_path)
        c.ls.upsert(c.org, Contact(id="c1", name="Sam Lee"))
        c.ls.upsert(c.org, Supplier(id="s1", name="Sam Lee"))
        c.ls.sync(c.conn)
        assert c.state(Entity.CONTACT, "c1") == "synced"
        assert c.state(Entity.SUPPLIER, "s1") == "failed"
        (err,) = ActionCentre(c.ls).errors(c.conn)
        assert err.code == "duplicate_name" and err.platform_message and err.hint

    def test_a_purchase_order_marked_billed_becomes_a_bill_linked_to_it(self, tmp_path: Path) -> None:
        self._needs(Entity.SUPPLIER, Entity.BILL)
        self._needs(Entity.PURCHASE_ORDER, both_ways=False)
        c = self._open(tmp_path)
        c.ls.upsert(c.org, Supplier(id="s1", name="Parts Wholesale"))
        c.ls.upsert(
            c.org,
            Item(id="pads", code="PADS", name="Brake pads", unit_price=Decimal("45.00")),
        )
        c.ls.upsert(c.org, self._po("PO-0101"))
        c.ls.sync(c.conn)
        po_remote = c.remote(Entity.PURCHASE_ORDER, "po1")
        facts = self.purchase_order_facts(po_remote)
        assert facts["state"] == "open" and facts["total"] == Decimal("200.00")
        assert c.ls.records(c.org, Entity.BILL) == []
        # Finished in the app: a bill is made from it and linked to it.
        c.ls.upsert(c.org, self._po("PO-0101").model_copy(update={"status": PurchaseOrderStatus.BILLED}))
        c.ls.sync(c.conn)
        (bill,) = c.ls.records(c.org, Entity.BILL)
        assert bill.record.purchase_order_id == "po1" and bill.record.number == "PO-0101"  # type: ignore[attr-defined]
        assert c.state(Entity.BILL, bill.record.id) == "synced"
        bill_facts = self.bill_facts(c.remote(Entity.BILL, bill.record.id))
        assert bill_facts["total"] == Decimal("200.00") and bill_facts["state"] == "open"
        assert bill_facts["purchase_order"] in (po_remote, None)
        if bill_facts["purchase_order"] is None:
            # The platform keeps no link from a bill to an order: the order itself shows billed.
            assert "purchase_order_id" in self.capabilities().unheld_fields  # type: ignore[attr-defined]
        assert self.purchase_order_facts(po_remote)["state"] == "billed"
        # Another cycle makes no second bill.
        c.ls.sync(c.conn)
        assert len(c.ls.records(c.org, Entity.BILL)) == 1
        c.agree()

    def test_bills_and_bill_payments_flow_both_ways(self, tmp_path: Path) -> None:
        self._needs(Entity.SUPPLIER, Entity.BILL, Entity.BILL_PAYMENT)
        c = self._open(tmp_path)
        today = dt.date.today()
        c.ls.upsert(c.org, Supplier(id="s1", name="Office Supplies Co"))
        c.ls.upsert(
            c.org,
            Bill(
                id="b1",
                supplier_id="s1",
                number="OS-77",
                date=today,
                currency=self.currency,
                lines=[_line("Paper", "60.00")],
            ),
        )
        c.ls.upsert(
            c.org,
            BillPayment(
                id="bp1",
                supplier_id="s1",
                date=today,
                amount=Decimal("60.00"),
                currency=self.currency,
                reference="CHQ-1",
                allocations=[BillAllocation(bill_id="b1", amount=Decimal("60.00"))],
            ),
        )
        c.ls.sync(c.conn)
        b1 = c.remote(Entity.BILL, "b1")
        assert self.bill_facts(b1)["state"] == "paid"
        app_b1 = c.ls.get(c.org, Entity.BILL, "b1")
        assert app_b1 is not None and app_b1.record.status is InvoiceStatus.PAID  # type: ignore[attr-defined]
        # A bill entered on the platform, and a part payment of it there, come into the app.
        supplier = c.remote(Entity.SUPPLIER, "s1")
        b2 = self.enter_bill(supplier, "OS-78", Decimal("90.00"))
        self.pay_bill(b2, Decimal("30.00"))
        self.settle()  # type: ignore[attr-defined]
        report = c.ls.sync(c.conn)
        assert report.created_in_app.get("bill") == 1 and report.created_in_app.get("bill_payment") == 1
        (pulled,) = [r for r in c.ls.records(c.org, Entity.BILL) if r.record.id != "b1"]
        assert pulled.record.number == "OS-78" and pulled.record.amount_due == Decimal("60.00")  # type: ignore[attr-defined]
        assert pulled.record.supplier_id == "s1"  # type: ignore[attr-defined]
        # A payment deleted in the app is removed on the platform: the bill is open again.
        c.ls.delete(c.org, Entity.BILL_PAYMENT, "bp1")
        c.ls.sync(c.conn)
        assert self.bill_facts(b1)["state"] == "open"
        c.agree()

    def test_sales_receipts_flow_both_ways(self, tmp_path: Path) -> None:
        self._needs(Entity.SALES_RECEIPT)
        c = self._open(tmp_path)
        c.ls.upsert(c.org, Contact(id="c1", name="Walk-in Customer"))
        c.ls.upsert(c.org, Item(id="wiper", code="WIPER", name="Wiper blades", unit_price=Decimal("25.00")))
        c.ls.upsert(
            c.org,
            SalesReceipt(
                id="sr1",
                contact_id="c1",
                number="SR-1",
                date=dt.date.today(),
                currency=self.currency,
                lines=[_line("Wiper blades", "25.00", "2", item="WIPER")],
            ),
        )
        remote = self.enter_sales_receipt("SR-900", Decimal("15.00"))
        c.ls.sync(c.conn)
        assert self.sales_receipt_total(c.remote(Entity.SALES_RECEIPT, "sr1")) == Decimal("50.00")
        got = c.ls.get(c.org, Entity.SALES_RECEIPT, "sr1")
        assert got is not None and got.record.total == Decimal("50.00")  # type: ignore[attr-defined]
        numbers = {r.record.number for r in c.ls.records(c.org, Entity.SALES_RECEIPT)}  # type: ignore[attr-defined]
        assert numbers == {"SR-1", "SR-900"} and remote
        c.agree()

    def test_a_combined_tax_rate_is_computed_exclusive_and_inclusive(self, tmp_path: Path) -> None:
        caps = self.capabilities()  # type: ignore[attr-defined]
        self.require(caps.tax_groups, f"combined tax rates are not supported by {caps.display_name}")  # type: ignore[attr-defined]
        code, percent = self.combined_tax()
        c = self._open(tmp_path)
        c.ls.update_settings(c.conn, {"tax_codes": json.dumps({"COMBINED": code})})
        c.ls.upsert(c.org, Contact(id="c1", name="Taxed Customer"))
        lines = [InvoiceLine(description="Service", unit_amount=Decimal("100.00"), tax_type="COMBINED")]
        base = Invoice(
            id="tx1", contact_id="c1", number="TX-1", date=dt.date.today(), currency=self.currency, lines=lines
        )
        c.ls.upsert(c.org, base)
        c.ls.upsert(
            c.org,
            base.model_copy(update={"id": "tx2", "number": "TX-2", "line_amount_types": LineAmountTypes.INCLUSIVE}),
        )
        c.ls.sync(c.conn)
        exclusive = money(Decimal("100.00") * percent / 100)
        inclusive = money(Decimal("100.00") - Decimal("100.00") * 100 / (100 + percent))
        tx1, tx2 = c.ls.get(c.org, Entity.INVOICE, "tx1"), c.ls.get(c.org, Entity.INVOICE, "tx2")
        assert tx1 is not None and tx2 is not None
        assert (tx1.record.total_tax, tx1.record.total) == (exclusive, Decimal("100.00") + exclusive)  # type: ignore[attr-defined]
        assert (tx2.record.total_tax, tx2.record.total) == (inclusive, Decimal("100.00"))  # type: ignore[attr-defined]
        assert self.invoice_total(c.remote(Entity.INVOICE, "tx1")) == Decimal("100.00") + exclusive  # type: ignore[attr-defined]
        c.agree()
        # A tax code the connection's map does not name fails, naming the map to fix.
        odd = [InvoiceLine(description="Service", unit_amount=Decimal("10.00"), tax_type="UNMAPPED")]
        c.ls.upsert(c.org, base.model_copy(update={"id": "tx3", "number": "TX-3", "lines": odd}))
        c.ls.sync(c.conn)
        assert c.state(Entity.INVOICE, "tx3") == "failed"
        view = c.ls.get(c.org, Entity.INVOICE, "tx3", c.conn)
        assert view is not None and "UNMAPPED" in (view.error or "") and "tax codes map" in (view.error or "")

    def test_export_sends_every_product_and_customer_with_a_summary(self, tmp_path: Path) -> None:
        caps = self.capabilities()  # type: ignore[attr-defined]
        self.require(Entity.ITEM in caps.push_entities, f"products are not supported by {caps.display_name}")  # type: ignore[attr-defined]
        from ledgersync import EngineSettings

        # A connection that syncs only customers with transactions: the export still sends them all.
        c = self.open(tmp_path, settings=EngineSettings(retry_base_seconds=0, contacts="with_transactions"))  # type: ignore[attr-defined]
        for i in range(5):
            c.ls.upsert(c.org, Contact(id=f"c{i}", name=f"Export Customer {i}"))
            c.ls.upsert(
                c.org, Item(id=f"it{i}", code=f"EXP-{i}", name=f"Export product {i}", unit_price=Decimal("9.50"))
            )
        c.ls.sync(c.conn)
        assert c.state(Entity.CONTACT, "c0") != "synced" or c.ls.get(c.org, Entity.CONTACT, "c0", c.conn) is None
        seen: list[tuple[str, int, int | None]] = []
        summary = c.ls.export(c.conn, "customers", progress=lambda p, n, t: seen.append((p, n, t)))
        assert (summary.total, summary.synced, summary.failed) == (5, 5, 0), summary.line()
        assert seen[0] == ("export customers", 0, 5) and sum(n for _, n, _ in seen) == 5
        assert "5 of 5 synced" in summary.line()
        products = c.ls.export(c.conn, "products")
        # Products the platform had (pulled into the app) count too.
        assert products.synced == products.total >= 5 and products.failed == 0, products.line()
        assert {f"EXP-{i}" for i in range(5)} <= set(self.platform_item_codes())
        # Once more: nothing left to send.
        assert c.ls.export(c.conn, "products").pushed == 0

    def test_stock_on_hand_is_read_from_the_platform(self, tmp_path: Path) -> None:
        caps = self.capabilities()  # type: ignore[attr-defined]
        self.require(Entity.ITEM in caps.pull_entities, f"products are not read from {caps.display_name}")  # type: ignore[attr-defined]
        try:
            self.create_stocked_item("STK-1", "Stocked part", Decimal("12"))
        except NotImplementedError:
            self.require(False, "the harness cannot add a stocked item (create_stocked_item)")  # type: ignore[attr-defined]
        c = self._open(tmp_path)
        c.ls.sync(c.conn)
        (item,) = [r for r in c.ls.records(c.org, Entity.ITEM) if r.record.code == "STK-1"]  # type: ignore[attr-defined]
        assert item.record.quantity_on_hand == Decimal("12")  # type: ignore[attr-defined]

    def test_only_enabled_currencies_are_taken_and_the_rate_goes_both_ways(self, tmp_path: Path) -> None:
        try:
            self.invoice_home_total("")
        except NotImplementedError:
            self.require(False, "the harness cannot read home-currency amounts (invoice_home_total)")  # type: ignore[attr-defined]
        except (StopIteration, KeyError):
            pass
        c = self._open(tmp_path)
        c.ls.upsert(c.org, Contact(id="c1", name="Euro Customer", currency="EUR"))
        lines = [InvoiceLine(description="Export job", unit_amount=Decimal("100.00"))]
        euro = Invoice(
            id="fx1",
            contact_id="c1",
            number="FX-1",
            date=dt.date.today(),
            currency="EUR",
            currency_rate=Decimal("0.6"),
            lines=lines,
        )
        c.ls.upsert(c.org, euro)
        c.ls.sync(c.conn)
        # The organisation has not added euros: refused, with the platform's words.
        assert c.state(Entity.INVOICE, "fx1") == "failed"
        view = c.ls.get(c.org, Entity.INVOICE, "fx1", c.conn)
        assert view is not None
        assert "EUR" in (view.error or ""), view.error
        self.enable_currency("EUR")
        c.ls.upsert(c.org, euro.model_copy(update={"reference": "retry"}))
        c.ls.upsert(c.org, Contact(id="c1", name="Euro Customer", currency="EUR", email="eu@example.com"))
        c.ls.sync(c.conn)
        assert c.state(Entity.INVOICE, "fx1") == "synced"
        remote = c.remote(Entity.INVOICE, "fx1")
        with c.provider() as provider:
            (back,) = provider.fetch(Entity.INVOICE, [remote])
        assert back.record.currency == "EUR" and back.record.currency_rate == Decimal("0.6")  # type: ignore[attr-defined]
        home = self.invoice_home_total(remote)
        if home is not None:
            # 100.00 EUR at 0.6 EUR to the home currency.
            assert home == money(Decimal("100.00") / Decimal("0.6"))
        c.agree()
