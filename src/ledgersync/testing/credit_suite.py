"""The conformance kit's behaviours for credit notes with their allocations and their refunds ("Refund invoices
sync", a row users compare integrations by): allocations made in the app reach the platform and lower the
invoices' amount due, allocations made on the platform come into the app, an allocation taken off frees the
credit again, refunds go out and come in, and a refund deleted in the app is removed on the platform.
ProviderConformance includes them; each skips, with the reason, where the capability data says the platform
lacks what it needs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ledgersync.model import (
    Allocation,
    Contact,
    CreditNote,
    Entity,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    Refund,
)

if TYPE_CHECKING:
    from ledgersync.testing.suite import Connected


class CreditBehaviours:
    """Mixed into ProviderConformance. Hooks (the platform as a person sees it) raise NotImplementedError until a
    platform's harness fills them in."""

    currency: ClassVar[str]
    provider_name: ClassVar[str]

    # -- hooks: acting as a person on the platform ------------------------------------------------------
    def allocate_credit_note(self, note_remote_id: str, invoice_remote_id: str, amount: Decimal) -> None:
        raise NotImplementedError("allocate_credit_note: apply part of a credit note to an invoice on the platform")

    def refund_on_platform(self, note_remote_id: str, customer_remote_id: str, amount: Decimal) -> str:
        """Pay money back to the customer on the platform, out of the credit note where the platform links a
        refund to one; return the refund's id."""
        raise NotImplementedError("refund_on_platform: record a refund on the platform; return its id")

    # -- hooks: reading the platform's truth ------------------------------------------------------------
    def invoice_due(self, remote_id: str) -> Decimal:
        raise NotImplementedError("invoice_due: an invoice's amount due on the platform")

    def credit_note_remaining(self, remote_id: str) -> Decimal:
        raise NotImplementedError("credit_note_remaining: a credit note's remaining credit on the platform")

    def credit_note_numbers(self) -> list[str]:
        raise NotImplementedError("credit_note_numbers: the numbers of the platform's live credit notes")

    def refund_live(self, remote_id: str) -> Decimal | None:
        """A refund's amount on the platform; None once deleted or voided there."""
        raise NotImplementedError("refund_live")

    # -- helpers ---------------------------------------------------------------------------------------
    def _note(self, app_id: str, number: str, amount: str, allocations: list[Allocation] | None = None) -> CreditNote:
        return CreditNote(
            id=app_id,
            contact_id="cc1",
            number=number,
            date=dt.date.today(),
            currency=self.currency,
            lines=[InvoiceLine(description=f"Credit {number}", unit_amount=Decimal(amount))],
            allocations=allocations or [],
        )

    def _invoice(self, app_id: str, number: str, amount: str) -> Invoice:
        return Invoice(
            id=app_id,
            contact_id="cc1",
            number=number,
            date=dt.date.today(),
            currency=self.currency,
            lines=[InvoiceLine(description=f"Job {number}", unit_amount=Decimal(amount))],
        )

    # -- behaviours ------------------------------------------------------------------------------------
    def test_credit_note_allocations_flow_both_ways(self, tmp_path: Path) -> None:
        caps = self.capabilities()  # type: ignore[attr-defined]
        self.require(  # type: ignore[attr-defined]
            caps.credit_note_allocations and Entity.CREDIT_NOTE in caps.pull_entities,
            f"credit notes applied to invoices are not supported by {caps.display_name} (capabilities)",
        )
        c: Connected = self.open(tmp_path)  # type: ignore[attr-defined]
        c.ls.upsert_contact(c.org, Contact(id="cc1", name="Credit Customer"))
        c.ls.upsert(c.org, self._invoice("ci1", "CA-0001", "100.00"))
        c.ls.upsert(c.org, self._invoice("ci2", "CA-0002", "80.00"))
        c.ls.upsert(c.org, self._note("cn1", "CN-A1", "30.00", [Allocation(invoice_id="ci1", amount=Decimal("30"))]))
        c.ls.upsert(c.org, self._note("cn2", "CN-A2", "50.00"))
        report = c.ls.sync(c.conn)
        assert report.status == "ok", report
        assert c.state(Entity.CREDIT_NOTE, "cn1") == "synced"
        # The allocation is on the platform: the invoice owes less there and in the app; the note is used up.
        assert self.invoice_due(c.remote(Entity.INVOICE, "ci1")) == Decimal("70.00")
        assert self.credit_note_remaining(c.remote(Entity.CREDIT_NOTE, "cn1")) == Decimal("0.00")
        ci1 = c.ls.get(c.org, Entity.INVOICE, "ci1")
        assert ci1 is not None and ci1.record.amount_due == Decimal("70.00")  # type: ignore[attr-defined]
        cn1 = c.ls.get(c.org, Entity.CREDIT_NOTE, "cn1")
        assert cn1 is not None and cn1.record.remaining_credit == Decimal("0.00")  # type: ignore[attr-defined]
        assert cn1.record.status is InvoiceStatus.PAID  # type: ignore[attr-defined]
        # An allocation made on the platform comes into the app, with the invoice's new amount due.
        self.person(  # type: ignore[attr-defined]
            "allocate_credit_note", c.remote(Entity.CREDIT_NOTE, "cn2"), c.remote(Entity.INVOICE, "ci2"), Decimal("20")
        )
        c.ls.sync(c.conn)
        cn2 = c.ls.get(c.org, Entity.CREDIT_NOTE, "cn2")
        assert cn2 is not None
        assert cn2.record.allocations == [Allocation(invoice_id="ci2", amount=Decimal("20"))]  # type: ignore[attr-defined]
        assert cn2.record.remaining_credit == Decimal("30.00")  # type: ignore[attr-defined]
        assert c.state(Entity.CREDIT_NOTE, "cn2") == "synced"
        ci2 = c.ls.get(c.org, Entity.INVOICE, "ci2")
        assert ci2 is not None and ci2.record.amount_due == Decimal("60.00")  # type: ignore[attr-defined]
        # The app applies more of that credit: only the new allocation goes (the person's stays as it is).
        more = [*cn2.record.allocations, Allocation(invoice_id="ci1", amount=Decimal("10"))]  # type: ignore[attr-defined]
        c.ls.upsert(c.org, cn2.record.model_copy(update={"allocations": more}))
        c.ls.sync(c.conn)
        assert c.state(Entity.CREDIT_NOTE, "cn2") == "synced"
        assert self.credit_note_remaining(c.remote(Entity.CREDIT_NOTE, "cn2")) == Decimal("20.00")
        assert self.invoice_due(c.remote(Entity.INVOICE, "ci1")) == Decimal("60.00")
        # The allocation taken off in the app frees the credit on the platform; the invoice owes that part again
        # (in the app after the next read of invoices: the platform touched it).
        cn1_record = cn1.record.model_copy(update={"allocations": []})
        c.ls.upsert(c.org, cn1_record)
        c.ls.sync(c.conn)
        assert self.credit_note_remaining(c.remote(Entity.CREDIT_NOTE, "cn1")) == Decimal("30.00")
        assert self.invoice_due(c.remote(Entity.INVOICE, "ci1")) == Decimal("90.00")
        self.settle()  # type: ignore[attr-defined]
        c.ls.sync(c.conn)
        ci1 = c.ls.get(c.org, Entity.INVOICE, "ci1")
        assert ci1 is not None and ci1.record.amount_due == Decimal("90.00")  # type: ignore[attr-defined]
        cn1 = c.ls.get(c.org, Entity.CREDIT_NOTE, "cn1")
        assert cn1 is not None and cn1.record.status is InvoiceStatus.AUTHORISED  # type: ignore[attr-defined]
        c.agree()

    def test_an_allocation_beyond_the_credit_is_refused_and_nothing_is_duplicated(self, tmp_path: Path) -> None:
        caps = self.capabilities()  # type: ignore[attr-defined]
        self.require(  # type: ignore[attr-defined]
            caps.credit_note_allocations, f"credit notes applied to invoices are not supported by {caps.display_name}"
        )
        c: Connected = self.open(tmp_path)  # type: ignore[attr-defined]
        c.ls.upsert_contact(c.org, Contact(id="cc1", name="Credit Customer"))
        c.ls.upsert(c.org, self._invoice("ci1", "CA-0101", "100.00"))
        # 40 of credit applied twice over (25 + 25): more than the note holds.
        too_much = [
            Allocation(invoice_id="ci1", amount=Decimal("25")),
            Allocation(invoice_id="ci1", amount=Decimal("25")),
        ]
        c.ls.upsert(c.org, self._note("cn1", "CN-B1", "40.00", too_much))
        c.ls.sync(c.conn)
        assert c.state(Entity.CREDIT_NOTE, "cn1") == "failed"
        # The credit note itself exists on the platform and stays linked: fixing the allocation sends only it.
        remote = c.remote(Entity.CREDIT_NOTE, "cn1")
        c.ls.upsert(c.org, self._note("cn1", "CN-B1", "40.00", [Allocation(invoice_id="ci1", amount=Decimal("40"))]))
        c.ls.sync(c.conn)
        assert c.state(Entity.CREDIT_NOTE, "cn1") == "synced"
        assert c.remote(Entity.CREDIT_NOTE, "cn1") == remote
        assert self.credit_note_remaining(remote) == Decimal("0.00")
        assert self.invoice_due(c.remote(Entity.INVOICE, "ci1")) == Decimal("60.00")
        assert self.credit_note_numbers().count("CN-B1") == 1
        c.agree()

    def test_refunds_of_credit_notes_flow_both_ways(self, tmp_path: Path) -> None:
        caps = self.capabilities()  # type: ignore[attr-defined]
        both = Entity.REFUND in caps.push_entities and Entity.REFUND in caps.pull_entities
        self.require(both, f"refunds are not supported by {caps.display_name} (capabilities)")  # type: ignore[attr-defined]
        linked = "refund:credit_note_id" not in caps.unheld_fields
        c: Connected = self.open(tmp_path)  # type: ignore[attr-defined]
        c.ls.upsert_contact(c.org, Contact(id="cc1", name="Refund Customer"))
        c.ls.upsert(c.org, self._note("cn1", "CN-R1", "40.00"))
        c.ls.upsert(c.org, self._note("cn2", "CN-R2", "25.00"))
        c.ls.upsert(
            c.org,
            Refund(
                id="r1",
                credit_note_id="cn1",
                date=dt.date.today(),
                amount=Decimal("40.00"),
                currency=self.currency,
                reference="RF-1",
            ),
        )
        report = c.ls.sync(c.conn)
        assert report.status == "ok", report
        assert c.state(Entity.REFUND, "r1") == "synced"
        r1 = c.remote(Entity.REFUND, "r1")
        assert self.refund_live(r1) == Decimal("40.00")
        # The refund's event-log rows carry the credit note's number, as a payment's carry its invoice's.
        rows = c.ls.store.events(connection_id=c.conn, doc_number="CN-R1", entity=Entity.REFUND)
        assert any(r.kind == "push" for r in rows), [(r.kind, r.doc_number) for r in rows]
        if linked:
            # The platform links the refund to the credit note: its credit is used up there and in the app.
            assert self.credit_note_remaining(c.remote(Entity.CREDIT_NOTE, "cn1")) == Decimal("0.00")
            cn1 = c.ls.get(c.org, Entity.CREDIT_NOTE, "cn1")
            assert cn1 is not None and cn1.record.status is InvoiceStatus.PAID  # type: ignore[attr-defined]
        # A refund made on the platform comes into the app.
        remote = self.refund_on_platform(
            c.remote(Entity.CREDIT_NOTE, "cn2"), c.remote(Entity.CONTACT, "cc1"), Decimal("10.00")
        )
        self.settle()  # type: ignore[attr-defined]
        report = c.ls.sync(c.conn)
        assert report.created_in_app.get("refund") == 1, report.created_in_app
        (pulled,) = [r for r in c.ls.records(c.org, Entity.REFUND) if r.app_id != "r1"]
        assert pulled.record.amount == Decimal("10.00")  # type: ignore[attr-defined]
        if linked:
            assert pulled.record.credit_note_id == "cn2"  # type: ignore[attr-defined]
        else:
            assert pulled.record.contact_id == "cc1"  # type: ignore[attr-defined]
        assert c.ls.get(c.org, Entity.REFUND, pulled.app_id, c.conn).remote_id == remote  # type: ignore[union-attr]
        # A refund deleted in the app is removed on the platform (and the credit is free again there).
        c.ls.delete(c.org, Entity.REFUND, "r1")
        c.ls.sync(c.conn)
        assert self.refund_live(r1) is None
        got = c.ls.get(c.org, Entity.REFUND, "r1", c.conn)
        assert got is not None and got.deleted and got.state == "synced"
        if linked:
            assert self.credit_note_remaining(c.remote(Entity.CREDIT_NOTE, "cn1")) == Decimal("40.00")
        c.agree()

    def test_customer_credit_from_an_overpayment_is_refunded(self, tmp_path: Path) -> None:
        caps = self.capabilities()  # type: ignore[attr-defined]
        self.require(  # type: ignore[attr-defined]
            Entity.CREDIT in caps.push_entities
            and Entity.REFUND in caps.push_entities
            and "refund:credit_id" not in caps.unheld_fields,
            f"refunds of customer credit are not supported by {caps.display_name} (capabilities)",
        )
        c: Connected = self.open(tmp_path)  # type: ignore[attr-defined]
        c.ls.upsert_contact(c.org, Contact(id="cc1", name="Overpaying Customer"))
        c.ls.upsert(c.org, self._invoice("ci1", "CA-0201", "100.00"))
        c.ls.sync(c.conn)
        due = c.ls.get(c.org, Entity.INVOICE, "ci1")
        assert due is not None and due.record.amount_due is not None  # type: ignore[attr-defined]
        over = due.record.amount_due + Decimal("25.00")  # type: ignore[attr-defined]
        c.ls.upsert(
            c.org,
            Payment(
                id="cp1",
                date=dt.date.today(),
                amount=over,
                currency=self.currency,
                reference="Card",
                allocations=[Allocation(invoice_id="ci1", amount=over)],
            ),
        )
        c.ls.sync(c.conn)
        credit = c.ls.get(c.org, Entity.CREDIT, "cp1-credit", c.conn)
        assert credit is not None and credit.state == "synced", credit
        c.ls.upsert(
            c.org,
            Refund(
                id="r1",
                credit_id="cp1-credit",
                date=dt.date.today(),
                amount=Decimal("25.00"),
                currency=self.currency,
                reference="Refund of the excess",
            ),
        )
        c.ls.sync(c.conn)
        assert c.state(Entity.REFUND, "r1") == "synced"
        assert self.refund_live(c.remote(Entity.REFUND, "r1")) == Decimal("25.00")
        credit = c.ls.get(c.org, Entity.CREDIT, "cp1-credit", c.conn)
        assert credit is not None and credit.record.remaining_credit == Decimal("0.00")  # type: ignore[attr-defined]
        c.agree()

    def test_an_allocated_credit_note_deleted_in_the_app_frees_its_invoice(self, tmp_path: Path) -> None:
        caps = self.capabilities()  # type: ignore[attr-defined]
        self.require(  # type: ignore[attr-defined]
            caps.credit_note_allocations, f"credit notes applied to invoices are not supported by {caps.display_name}"
        )
        c: Connected = self.open(tmp_path)  # type: ignore[attr-defined]
        c.ls.upsert_contact(c.org, Contact(id="cc1", name="Credit Customer"))
        c.ls.upsert(c.org, self._invoice("ci1", "CA-0301", "100.00"))
        c.ls.upsert(c.org, self._note("cn1", "CN-D1", "35.00", [Allocation(invoice_id="ci1", amount=Decimal("35"))]))
        c.ls.sync(c.conn)
        invoice = c.remote(Entity.INVOICE, "ci1")
        assert self.invoice_due(invoice) == Decimal("65.00")
        # Its allocation is taken off first (as a person does before voiding it), then it is voided or deleted.
        c.ls.delete(c.org, Entity.CREDIT_NOTE, "cn1")
        c.ls.sync(c.conn)
        assert c.state(Entity.CREDIT_NOTE, "cn1") == "synced"
        assert "CN-D1" not in self.credit_note_numbers()
        assert self.invoice_due(invoice) == Decimal("100.00")
        self.settle()  # type: ignore[attr-defined]
        c.ls.sync(c.conn)
        ci1 = c.ls.get(c.org, Entity.INVOICE, "ci1")
        assert ci1 is not None and ci1.record.amount_due == Decimal("100.00")  # type: ignore[attr-defined]
