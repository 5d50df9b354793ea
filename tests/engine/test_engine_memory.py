"""The engine's core behaviours over the in-memory reference platform, through the public LedgerSync facade only.

No sandbox and no HTTP: the fast regression net for reshaping the engine. Each test reads the platform's truth
from the MemoryPlatform itself, never through the engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledgersync import (
    Allocation,
    Contact,
    CustomerCredit,
    EngineSettings,
    Entity,
    Invoice,
    InvoiceLine,
    LedgerSync,
    Payment,
)
from ledgersync.testing import MemoryPlatform, MemorySpec, connect_memory

DAY = dt.date(2026, 11, 2)


@dataclass
class App:
    ls: LedgerSync
    org: str
    conn: str
    platform: MemoryPlatform

    def remote(self, entity: Entity, app_id: str) -> str:
        view = self.ls.get(self.org, entity, app_id, self.conn)
        assert view is not None and view.remote_id, f"{entity.value} {app_id} is not linked"
        return view.remote_id

    def state(self, entity: Entity, app_id: str) -> str:
        view = self.ls.get(self.org, entity, app_id, self.conn)
        assert view is not None
        return view.state

    def live(self, entity: Entity) -> list[Any]:
        return [r.record for r in self.platform.records(entity, live=True)]


Make = Callable[..., App]


@pytest.fixture
def make(tmp_path: Path, secret_key: str) -> Make:
    def build(config: dict[str, str] | None = None, **capabilities: Any) -> App:
        platform = MemoryPlatform.with_capabilities(**capabilities)
        ls = LedgerSync(
            f"sqlite:///{tmp_path / 'app.db'}",
            secret_keys=[secret_key],
            settings=EngineSettings(retry_base_seconds=0),
            providers={"memory": MemorySpec(platform)},
        )
        org = ls.create_organisation("Memory Workshop")
        return App(ls, org, connect_memory(ls, org, "memory", config), platform)

    return build


def invoice(i: int, contact: str = "c1", amount: str = "100.00") -> Invoice:
    return Invoice(
        id=f"i{i}",
        contact_id=contact,
        number=f"M-{i:04d}",
        date=DAY,
        lines=[InvoiceLine(description="Service", unit_amount=Decimal(amount))],
    )


def payment(i: int, invoice_id: str, amount: str, applied: str | None = None) -> Payment:
    return Payment(
        id=f"p{i}",
        date=DAY,
        amount=Decimal(amount),
        reference=f"R{i}",
        allocations=[Allocation(invoice_id=invoice_id, amount=Decimal(applied or amount))],
    )


def test_a_record_made_in_the_app_is_created_on_the_platform_once(make: Make) -> None:
    app = make()
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    report = app.ls.sync(app.conn)
    assert report.status == "ok" and report.pushed == {"contact": 1, "invoice": 1}
    assert [c.name for c in app.live(Entity.CONTACT)] == ["Ann Lee"]
    (inv,) = app.live(Entity.INVOICE)
    assert inv.number == "M-0001" and inv.contact_id == app.remote(Entity.CONTACT, "c1")
    assert app.state(Entity.INVOICE, "i1") == "synced"


def test_a_second_sync_with_nothing_changed_pushes_nothing(make: Make) -> None:
    app = make()
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    app.ls.sync(app.conn)
    pushes = app.platform.calls["push"]
    report = app.ls.sync(app.conn)
    assert report.pushed == {} and report.created_in_app == {} and report.failed == {}
    assert app.platform.calls["push"] == pushes
    assert app.platform.count(Entity.CONTACT) == 1 and app.platform.count(Entity.INVOICE) == 1


def test_an_edit_made_on_the_platform_comes_back_to_the_app(make: Make) -> None:
    app = make()
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.sync(app.conn)
    app.platform.edit(Entity.CONTACT, app.remote(Entity.CONTACT, "c1"), name="Ann Lee-Smith", email="ann@example.com")
    report = app.ls.sync(app.conn)
    assert report.pulled == {"contact": 1} and report.pushed == {}
    view = app.ls.get(app.org, Entity.CONTACT, "c1")
    assert view is not None and view.record.name == "Ann Lee-Smith"  # type: ignore[attr-defined]
    assert view.record.email == "ann@example.com"  # type: ignore[attr-defined]


def test_a_write_whose_answer_was_lost_is_reconciled_without_a_duplicate(make: Make) -> None:
    # One try per call, so the lost answer reaches the engine as an unknown outcome.
    app = make({"max_attempts": "1"})
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    app.platform.fail_next("timeout_after_commit", operation="push", times=2)
    report = app.ls.sync(app.conn)
    assert app.platform.faults_injected["timeout_after_commit"] == 2
    assert report.reconciled == 2 and report.status == "ok"
    assert app.platform.count(Entity.CONTACT) == 1 and app.platform.count(Entity.INVOICE) == 1
    assert app.state(Entity.CONTACT, "c1") == "synced" and app.state(Entity.INVOICE, "i1") == "synced"
    assert app.ls.sync(app.conn).pushed == {}


def test_a_push_refused_by_a_rate_limit_goes_again_and_lands_once(make: Make) -> None:
    app = make({"max_attempts": "1"})
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.platform.fail_next("429", operation="push")
    first = app.ls.sync(app.conn)
    assert first.pushed == {} and app.state(Entity.CONTACT, "c1") == "pending"
    assert app.ls.sync(app.conn).pushed == {"contact": 1}
    assert app.platform.count(Entity.CONTACT) == 1


def test_an_overpayment_is_split_into_the_payment_and_customer_credit(make: Make) -> None:
    app = make()
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    app.ls.upsert_payment(app.org, payment(1, "i1", "150.00"))
    report = app.ls.sync(app.conn)
    assert report.failed == {}
    (pay,) = app.live(Entity.PAYMENT)
    assert pay.amount == Decimal("100.00") and pay.allocations[0].invoice_id == app.remote(Entity.INVOICE, "i1")
    (credit,) = app.live(Entity.CREDIT)
    assert isinstance(credit, CustomerCredit) and credit.amount == Decimal("50.00")
    assert credit.contact_id == app.remote(Entity.CONTACT, "c1")
    assert app.state(Entity.CREDIT, "p1-credit") == "synced"
    # The split is the connection's: the app's payment stays as the app recorded it, and nothing goes again.
    assert app.ls.get(app.org, Entity.PAYMENT, "p1").record == payment(1, "i1", "150.00")  # type: ignore[union-attr]
    assert app.ls.sync(app.conn).pushed == {}
    assert app.ls.check(app.conn).agree
    inv = app.ls.get(app.org, Entity.INVOICE, "i1")
    assert inv is not None and inv.record.amount_due == Decimal("0.00")  # type: ignore[attr-defined]


def test_an_overpayment_stays_in_the_payment_where_the_platform_holds_credit(make: Make) -> None:
    app = make(payment_holds_credit=True)
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    app.ls.upsert_payment(app.org, payment(1, "i1", "150.00"))
    assert app.ls.sync(app.conn).failed == {}
    (pay,) = app.live(Entity.PAYMENT)
    assert pay.amount == Decimal("150.00") and pay.unapplied == Decimal("50.00")
    assert app.live(Entity.CREDIT) == []


def test_a_payment_edited_in_the_app_is_deleted_and_entered_again_where_payments_cant_be_edited(make: Make) -> None:
    app = make(payments_editable=False)
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    app.ls.upsert_payment(app.org, payment(1, "i1", "40.00"))
    app.ls.sync(app.conn)
    old = app.remote(Entity.PAYMENT, "p1")
    app.ls.upsert_payment(app.org, payment(1, "i1", "60.00"))
    report = app.ls.sync(app.conn)
    assert report.failed == {}
    new = app.remote(Entity.PAYMENT, "p1")
    removed = app.platform.get(Entity.PAYMENT, old)
    assert new != old and removed is not None and removed.deleted
    (live,) = app.live(Entity.PAYMENT)
    assert live.id == new and live.amount == Decimal("60.00")
    inv = app.ls.get(app.org, Entity.INVOICE, "i1")
    assert inv is not None and inv.record.amount_due == Decimal("40.00")  # type: ignore[attr-defined]


def test_a_payment_edited_in_the_app_is_updated_in_place_where_payments_can_be_edited(make: Make) -> None:
    app = make(payments_editable=True)
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    app.ls.upsert_payment(app.org, payment(1, "i1", "40.00"))
    app.ls.sync(app.conn)
    old = app.remote(Entity.PAYMENT, "p1")
    app.ls.upsert_payment(app.org, payment(1, "i1", "60.00"))
    assert app.ls.sync(app.conn).failed == {}
    assert app.remote(Entity.PAYMENT, "p1") == old
    (live,) = app.live(Entity.PAYMENT)
    assert live.id == old and live.amount == Decimal("60.00")


def test_a_platform_contact_whose_name_two_app_customers_share_needs_review(make: Make) -> None:
    app = make()
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Sam Lee"))
    app.ls.upsert_contact(app.org, Contact(id="c2", name="Sam Lee", email="sam@example.com"))
    app.platform.create(Contact(id="new", name="Sam Lee"))
    report = app.ls.sync(app.conn)
    assert report.created_in_app == {} and report.pushed == {}
    assert app.state(Entity.CONTACT, "c1") == "needs_review" and app.state(Entity.CONTACT, "c2") == "needs_review"
    view = app.ls.get(app.org, Entity.CONTACT, "c1", app.conn)
    assert view is not None and view.error and "Sam Lee" in view.error
    assert app.platform.count(Entity.CONTACT) == 1


def test_sub_customers_are_created_after_their_parents(make: Make) -> None:
    app = make(sub_customers=True)
    app.ls.upsert_many(
        app.org,
        [
            Contact(id="job2", name="Kitchen, stage 2", parent_id="job1"),
            Contact(id="job1", name="Kitchen", parent_id="owner"),
            Contact(id="owner", name="Pat Owner"),
        ],
    )
    report = app.ls.sync(app.conn)
    assert report.pushed == {"contact": 3} and report.failed == {}
    owner, job1, job2 = (app.remote(Entity.CONTACT, i) for i in ("owner", "job1", "job2"))
    by_id = {c.id: c for c in app.live(Entity.CONTACT)}
    assert by_id[owner].parent_id is None
    assert by_id[job1].parent_id == owner and by_id[job2].parent_id == job1
    # Platform ids are handed out in creation order: each contact was created after its parent.
    assert [c.id for c in app.live(Entity.CONTACT)] == [owner, job1, job2]


def test_an_api_key_the_platform_no_longer_accepts_stops_calls_until_reconnected(make: Make) -> None:
    app = make(tokens=False)
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    assert app.ls.sync(app.conn).status == "ok"
    app.platform.rotate_key()
    app.ls.upsert_contact(app.org, Contact(id="c2", name="Bo Chen"))
    assert app.ls.sync(app.conn).status == "needs_reconnect"
    calls = app.platform.total_calls
    assert app.ls.sync(app.conn).status == "needs_reconnect"
    assert app.platform.total_calls == calls and app.platform.count(Entity.CONTACT) == 1


def test_an_invoice_voided_on_the_platform_leaves_both_sides_agreeing(make: Make) -> None:
    app = make()
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    app.ls.sync(app.conn)
    app.platform.remove(Entity.INVOICE, app.remote(Entity.INVOICE, "i1"))
    app.ls.sync(app.conn)
    report = app.ls.check(app.conn)
    assert report.agree, [str(d) for d in report.differences]


def test_a_deletion_after_a_refused_edit_still_voids_the_platform_copy(make: Make) -> None:
    app = make()
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    app.ls.upsert_invoice(app.org, invoice(2))
    assert app.ls.sync(app.conn).failed == {}
    remote = app.remote(Entity.INVOICE, "i2")
    # An edit the platform refuses (the number is taken): Failed, held on the record's hash.
    app.ls.upsert_invoice(app.org, invoice(2).model_copy(update={"number": "M-0001"}))
    assert app.ls.sync(app.conn).failed == {"invoice": 1}
    assert app.state(Entity.INVOICE, "i2") == "failed"
    assert app.ls.delete(app.org, Entity.INVOICE, "i2")
    report = app.ls.sync(app.conn)
    assert report.failed == {}
    row = app.platform.get(Entity.INVOICE, remote)
    assert row is not None and row.deleted
    assert app.state(Entity.INVOICE, "i2") == "synced"
    assert app.ls.sync(app.conn).pushed == {}


def test_a_record_refused_before_it_reached_the_platform_then_deleted_is_not_synced_and_gone(make: Make) -> None:
    app = make()
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    assert app.ls.sync(app.conn).failed == {}
    app.ls.upsert_invoice(app.org, invoice(2).model_copy(update={"number": "M-0001"}))
    report = app.ls.sync(app.conn)
    assert report.failed == {"invoice": 1} and app.state(Entity.INVOICE, "i2") == "failed"
    assert app.ls.delete(app.org, Entity.INVOICE, "i2")
    report = app.ls.sync(app.conn)
    assert report.failed == {} and report.pushed == {}
    view = app.ls.get(app.org, Entity.INVOICE, "i2", app.conn)
    assert view is not None and view.deleted and view.state == "not_synced" and view.remote_id is None
    assert [s.app_id for s in app.ls.store.states(app.conn, state="failed")] == []
    assert len(app.live(Entity.INVOICE)) == 1


def test_a_split_refused_on_a_stale_amount_due_is_split_again_from_the_apps_payment(make: Make) -> None:
    app = make()
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1))
    app.ls.sync(app.conn)
    app.platform.pay(app.remote(Entity.INVOICE, "i1"), "40.00")  # the invoice now owes 60 there
    app.ls.upsert_payment(app.org, payment(1, "i1", "150.00"))
    # A payments-only sync splits on the invoice's last known 100 owing: the platform refuses 100, and the
    # credit waits for its payment.
    report = app.ls.sync(app.conn, entities=[Entity.PAYMENT, Entity.CREDIT])
    assert report.pushed == {} and app.state(Entity.PAYMENT, "p1") == "pending"
    assert app.live(Entity.CREDIT) == []
    # Split again from the app's 150 on the 60 now owed: 60 paid, 90 credit (not 40 off an already cut payment).
    report = app.ls.sync(app.conn)
    assert report.failed == {} and report.pushed == {"payment": 1, "credit": 1}
    assert sorted(p.amount for p in app.live(Entity.PAYMENT)) == [Decimal("40.00"), Decimal("60.00")]
    (credit,) = app.live(Entity.CREDIT)
    assert credit.amount == Decimal("90.00")
    assert app.ls.get(app.org, Entity.PAYMENT, "p1").record == payment(1, "i1", "150.00")  # type: ignore[union-attr]
    assert app.ls.sync(app.conn).pushed == {}
    assert app.ls.check(app.conn).agree
