"""The action centre against the Xero sandbox: every failure explains itself and offers its fix."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import pytest

from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine import EngineSettings, check
from ledgersync.engine.actions import SYSTEM, ActionCentre, Actor, PermissionDenied, Role
from ledgersync.model import (
    Allocation,
    Contact,
    ContactStatus,
    CustomerCredit,
    Entity,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
)
from ledgersync.store.tables import utcnow

from .conftest import Env, make_env, pay_in_xero

ADMIN = Actor("ada", Role.ADMIN)
MEMBER = Actor("mo", Role.MEMBER)
DAY = dt.date(2026, 11, 2)


def invoice(i: int, contact: str, amount: str = "100.00") -> Invoice:
    return Invoice(
        id=f"i{i}",
        contact_id=contact,
        number=f"INV-{i:04d}",
        date=DAY,
        lines=[InvoiceLine(description="Service", unit_amount=Decimal(amount), account_code="200", tax_type="NONE")],
    )


def state(env: Env, entity: Entity, app_id: str) -> str:
    view = env.ls.get(env.org, entity, app_id, env.conn)
    assert view is not None
    return view.state


def remote(env: Env, entity: Entity, app_id: str) -> str:
    view = env.ls.get(env.org, entity, app_id, env.conn)
    assert view is not None and view.remote_id
    return view.remote_id


@pytest.fixture
def ac(env: Env) -> ActionCentre:
    return ActionCentre(env.ls)


def pulled_contact(env: Env, name: str) -> str:
    """A contact created in Xero and pulled into the app; returns its app id."""
    env.sandbox.as_user("Contacts", {"Contacts": [{"Name": name}]}, method="PUT")
    env.ls.sync(env.conn)
    return next(r.app_id for r in env.ls.records(env.org, Entity.CONTACT) if r.record.name == name)  # type: ignore[attr-defined]


def test_a_new_customer_with_a_name_taken_in_xero_fails_with_edit_merge_and_link(env: Env, ac: ActionCentre) -> None:
    existing = pulled_contact(env, "Ann Lee")
    env.ls.upsert_contact(env.org, Contact(id="c5", name="Ann Lee", email="ann@app.example"))
    env.ls.sync(env.conn)
    (err,) = ac.errors(env.conn)
    assert err.app_id == "c5" and err.code == "duplicate_name" and err.state == "failed"
    assert "already" in (err.message or "") and err.hint
    assert err.actions == ["edit", "merge", "link", "skip"]
    assert "Ann Lee" in (err.platform_message or "")
    # A data error keeps its state: the next sync does not send it again.
    before = env.sandbox.counters()["calls"].get("PUT /Contacts", 0)
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c5") == "failed"
    assert env.sandbox.counters()["calls"].get("PUT /Contacts", 0) == before
    # Only an owner or admin may merge.
    with pytest.raises(PermissionDenied):
        ac.merge(MEMBER, env.conn, "c5")
    # An invoice for the pulled contact follows the merge.
    env.ls.upsert_invoice(env.org, invoice(1, existing))
    env.ls.sync(env.conn)
    xero_id = ac.merge(ADMIN, env.conn, "c5")
    assert state(env, Entity.CONTACT, "c5") == "synced" and remote(env, Entity.CONTACT, "c5") == xero_id
    moved = env.ls.get(env.org, Entity.INVOICE, "i1")
    assert moved is not None and moved.record.contact_id == "c5"  # type: ignore[attr-defined]
    assert any(e.type == "contact.merged" for e in env.ls.store.app_events(env.org))
    assert ac.errors(env.conn) == []
    env.ls.upsert_invoice(env.org, invoice(2, "c5"))
    env.ls.sync(env.conn)
    inv = {i["InvoiceID"]: i for i in env.sandbox.dump()["Invoices"]}
    assert inv[remote(env, Entity.INVOICE, "i2")]["Contact"]["ContactID"] == xero_id
    assert len([c for c in env.sandbox.dump()["Contacts"] if c["Name"] == "Ann Lee"]) == 1


def test_editing_the_duplicate_name_retries_it_on_its_own(env: Env, ac: ActionCentre) -> None:
    pulled_contact(env, "Ann Lee")
    env.ls.upsert_contact(env.org, Contact(id="c5", name="Ann Lee"))
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c5") == "failed"
    env.ls.upsert_contact(env.org, Contact(id="c5", name="Ann Lee (Brisbane)"))
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c5") == "synced"


def test_link_uses_a_chosen_platform_contact_and_sends_the_app_details(env: Env, ac: ActionCentre) -> None:
    env.sandbox.as_user("Contacts", {"Contacts": [{"Name": "Ann Lee"}, {"Name": "A. Lee Pty Ltd"}]}, method="PUT")
    xero = {c["Name"]: c["ContactID"] for c in env.sandbox.dump()["Contacts"]}
    env.ls.sync(env.conn)
    env.ls.upsert_contact(env.org, Contact(id="c5", name="Ann Lee", email="ann@app.example"))
    ac.exclude(ADMIN, env.conn, Entity.CONTACT, "c5")  # keep it out while choosing
    ac.include(ADMIN, env.conn, Entity.CONTACT, "c5")
    app_copy = next(
        r.app_id
        for r in env.ls.records(env.org, Entity.CONTACT)
        if r.app_id != "c5" and r.record.name == "A. Lee Pty Ltd"
    )  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="already linked"):
        ac.link(ADMIN, env.conn, Entity.CONTACT, "c5", xero["A. Lee Pty Ltd"])
    assert app_copy
    with pytest.raises(PermissionDenied):
        ac.link(MEMBER, env.conn, Entity.CONTACT, "c5", xero["Ann Lee"])


def test_an_invoice_edited_after_it_was_paid_in_xero_fails_then_skip_or_retry(env: Env, ac: ActionCentre) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Ben"))
    env.ls.upsert_invoice(env.org, invoice(1, "c1"))
    env.ls.sync(env.conn)
    paid = pay_in_xero(env, remote(env, Entity.INVOICE, "i1"), "100.00")
    time.sleep(1.05)
    env.ls.sync(env.conn)
    view = env.ls.get(env.org, Entity.INVOICE, "i1")
    assert view is not None and view.record.status is InvoiceStatus.PAID  # type: ignore[attr-defined]
    env.ls.upsert_invoice(env.org, invoice(1, "c1", amount="120.00"))
    env.ls.sync(env.conn)
    (err,) = ac.errors(env.conn)
    assert err.code == "document_locked" and "paid in Xero" in (err.message or "") and err.doc_number == "INV-0001"
    assert err.actions == ["retry", "skip"]
    assert env.ls.store.events(doc_number="INV-0001", outcome="failed")
    # Retry after the payment is removed in Xero.
    env.sandbox.as_user(f"Payments/{paid['Payments'][0]['PaymentID']}", {"Status": "DELETED"})
    ac.retry(MEMBER, env.conn, Entity.INVOICE, "i1", now=True)
    assert state(env, Entity.INVOICE, "i1") == "synced"
    inv = {i["InvoiceID"]: i for i in env.sandbox.dump()["Invoices"]}
    assert Decimal(str(inv[remote(env, Entity.INVOICE, "i1")]["Total"])) == Decimal("120.00")


def test_skip_keeps_the_app_copy_and_takes_it_off_the_error_list(env: Env, ac: ActionCentre) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Ben"))
    env.ls.upsert_invoice(env.org, invoice(1, "c1"))
    env.ls.sync(env.conn)
    pay_in_xero(env, remote(env, Entity.INVOICE, "i1"), "100.00")
    env.ls.upsert_invoice(env.org, invoice(1, "c1", amount="90.00"))
    env.ls.sync(env.conn)
    assert state(env, Entity.INVOICE, "i1") == "failed"
    with pytest.raises(PermissionDenied):
        ac.skip(MEMBER, env.conn, Entity.INVOICE, "i1")
    ac.skip(ADMIN, env.conn, Entity.INVOICE, "i1")
    assert state(env, Entity.INVOICE, "i1") == "skipped" and ac.errors(env.conn) == []
    env.ls.sync(env.conn)
    assert state(env, Entity.INVOICE, "i1") == "skipped"
    assert env.ls.get(env.org, Entity.INVOICE, "i1").record.lines[0].unit_amount == Decimal("90.00")  # type: ignore[union-attr]


def test_an_overpayment_pays_the_invoice_and_records_the_excess_as_credit(env: Env) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Cara"))
    env.ls.upsert_invoice(env.org, invoice(1, "c1"))
    env.ls.upsert_payment(
        env.org,
        Payment(
            id="p1",
            date=DAY,
            amount=Decimal("120.00"),
            account_code="090",
            reference="Card",
            allocations=[Allocation(invoice_id="i1", amount=Decimal("120.00"))],
        ),
    )
    env.ls.sync(env.conn)
    assert state(env, Entity.PAYMENT, "p1") == "synced" and state(env, Entity.CREDIT, "p1-credit") == "synced"
    dump = env.sandbox.dump()
    inv = {i["InvoiceID"]: i for i in dump["Invoices"]}[remote(env, Entity.INVOICE, "i1")]
    assert inv["Status"] == "PAID"
    (over,) = dump["Overpayments"]
    assert Decimal(str(over["Total"])) == Decimal("20.00") and over["Contact"]["ContactID"] == remote(
        env, Entity.CONTACT, "c1"
    )
    credit = env.ls.get(env.org, Entity.CREDIT, "p1-credit")
    assert credit is not None and isinstance(credit.record, CustomerCredit) and credit.record.amount == Decimal("20.00")
    assert any(e.type == "payment.credit_recorded" for e in env.ls.store.app_events(env.org))
    assert check(env.ls.store, env.provider(), env.conn).agree


def test_an_overpayment_can_instead_be_offered_as_an_action(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(
        sandbox,
        f"sqlite:///{tmp_path / 'a.db'}",
        secret_key,
        settings=EngineSettings(retry_base_seconds=0, overpayments="ask"),
    )
    ac = ActionCentre(env.ls)
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Cara"))
    env.ls.upsert_invoice(env.org, invoice(1, "c1"))
    env.ls.upsert_payment(
        env.org,
        Payment(
            id="p1",
            date=DAY,
            amount=Decimal("150.00"),
            account_code="090",
            allocations=[Allocation(invoice_id="i1", amount=Decimal("150.00"))],
        ),
    )
    env.ls.sync(env.conn)
    (err,) = ac.errors(env.conn)
    assert err.code == "overpayment" and err.doc_number == "INV-0001" and "record_credit" in err.actions
    assert "150.00" in (err.message or "") and "100.00" in (err.message or "")
    assert sandbox.dump()["Payments"] == []  # never sent as it was
    with pytest.raises(PermissionDenied):
        ac.record_credit(MEMBER, env.conn, "p1")
    assert ac.record_credit(ADMIN, env.conn, "p1") == "p1-credit"
    env.ls.sync(env.conn)
    assert state(env, Entity.PAYMENT, "p1") == "synced" and state(env, Entity.CREDIT, "p1-credit") == "synced"
    assert Decimal(str(sandbox.dump()["Overpayments"][0]["Total"])) == Decimal("50.00")


def test_a_name_xero_cannot_hold_fails_with_the_exact_rule_then_edit_fixes_it(env: Env, ac: ActionCentre) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Dan\x07 Smith"))
    env.ls.sync(env.conn)
    (err,) = ac.errors(env.conn)
    assert err.code == "invalid_characters" and "control characters" in (err.message or "")
    assert err.actions == ["edit", "skip"]
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Dan Smith"))
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c1") == "synced"


def test_names_can_be_cleaned_automatically_by_configuration(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(
        sandbox,
        f"sqlite:///{tmp_path / 'a.db'}",
        secret_key,
        settings=EngineSettings(retry_base_seconds=0, clean_names=True),
    )
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Dan\x07  Smith"))
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c1") == "synced"
    assert [c["Name"] for c in sandbox.dump()["Contacts"]] == ["Dan Smith"]


def test_a_new_invoice_for_a_contact_archived_in_xero_fails_and_restore_fixes_it(env: Env, ac: ActionCentre) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Eve"))
    env.ls.sync(env.conn)
    rid = remote(env, Entity.CONTACT, "c1")
    env.sandbox.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "ContactStatus": "ARCHIVED"}]})
    time.sleep(1.05)
    env.ls.upsert_invoice(env.org, invoice(1, "c1"))
    env.ls.sync(env.conn)
    contact = env.ls.get(env.org, Entity.CONTACT, "c1")
    assert contact is not None and contact.record.status is ContactStatus.ARCHIVED  # type: ignore[attr-defined]
    (err,) = ac.errors(env.conn)
    assert err.code == "archived_contact" and "archived" in (err.message or "").lower()
    assert err.actions[0] == "restore"
    ac.restore(ADMIN, env.conn, "c1")
    env.ls.sync(env.conn)
    assert state(env, Entity.INVOICE, "i1") == "synced"


def test_transient_failures_retry_with_backoff_and_show_failed_only_past_the_limit(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(
        sandbox,
        f"sqlite:///{tmp_path / 'a.db'}",
        secret_key,
        client={"max_attempts": "1"},
        settings=EngineSettings(retry_base_seconds=0, transient_failure_limit=3),
    )
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Fay"))
    sandbox.control.put(
        "/_sandbox/faults", json={"error_rates": {"503": 1.0}, "methods": ["PUT", "POST"]}
    ).raise_for_status()
    env.ls.sync(env.conn)
    st = env.ls.store.get_state(env.conn, Entity.CONTACT, "c1")
    assert st is not None and st.state == "pending" and st.error_code == "unavailable" and st.attempts == 1
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c1") == "pending"
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c1") == "failed"
    sandbox.control.delete("/_sandbox/faults").raise_for_status()
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c1") == "synced"


def test_an_excluded_record_is_never_sent_until_included(env: Env, ac: ActionCentre) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Gus"))
    ac.exclude(ADMIN, env.conn, Entity.CONTACT, "c1")
    env.ls.sync(env.conn)
    assert env.sandbox.dump()["Contacts"] == [] and ac.errors(env.conn) == []
    with pytest.raises(PermissionDenied):
        ac.include(MEMBER, env.conn, Entity.CONTACT, "c1")
    ac.include(ADMIN, env.conn, Entity.CONTACT, "c1")
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c1") == "synced"


def test_sync_now_on_one_record_sends_it_with_its_contact_and_nothing_else(env: Env, ac: ActionCentre) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Hal"))
    env.ls.upsert_contact(env.org, Contact(id="c2", name="Ivy"))
    env.ls.upsert_invoice(env.org, invoice(1, "c1"))
    report = ac.sync_now(MEMBER, env.conn, Entity.INVOICE, "i1")
    assert report.pushed == {"contact": 1, "invoice": 1}
    assert state(env, Entity.CONTACT, "c2") == "not_synced"


def test_sync_now_for_everything_not_yet_synced_clears_waiting_backoffs(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(
        sandbox,
        f"sqlite:///{tmp_path / 'a.db'}",
        secret_key,
        client={"max_attempts": "1"},
        settings=EngineSettings(retry_base_seconds=3600),
    )
    ac = ActionCentre(env.ls)
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Jo"))
    sandbox.control.put("/_sandbox/faults", json={"error_rates": {"503": 1.0}, "methods": ["PUT"]}).raise_for_status()
    env.ls.sync(env.conn)
    sandbox.control.delete("/_sandbox/faults").raise_for_status()
    env.ls.sync(env.conn)
    assert state(env, Entity.CONTACT, "c1") == "pending"  # waiting for its backoff
    ac.sync_now(MEMBER, env.conn, everything_not_synced=True)
    assert state(env, Entity.CONTACT, "c1") == "synced"


def test_only_contacts_with_transactions_sync_when_so_configured(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(
        sandbox,
        f"sqlite:///{tmp_path / 'a.db'}",
        secret_key,
        settings=EngineSettings(retry_base_seconds=0, contacts="with_transactions"),
    )
    env.ls.upsert_contact(env.org, Contact(id="lead", name="Just A Lead"))
    env.ls.upsert_contact(env.org, Contact(id="cust", name="Real Customer"))
    env.ls.upsert_invoice(env.org, invoice(1, "cust"))
    env.ls.sync(env.conn)
    assert [c["Name"] for c in sandbox.dump()["Contacts"]] == ["Real Customer"]


def test_a_payment_error_is_found_in_the_log_by_its_invoice_number(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(
        sandbox,
        f"sqlite:///{tmp_path / 'a.db'}",
        secret_key,
        settings=EngineSettings(retry_base_seconds=0, overpayments="ask"),
    )
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Kim"))
    env.ls.upsert_invoice(env.org, invoice(42, "c1"))
    env.ls.upsert_payment(
        env.org,
        Payment(
            id="p1",
            date=DAY,
            amount=Decimal("500.00"),
            allocations=[Allocation(invoice_id="i42", amount=Decimal("500.00"))],
        ),
    )
    env.ls.sync(env.conn)
    st = env.ls.store.get_state(env.conn, Entity.PAYMENT, "p1")
    assert st is not None and st.doc_number == "INV-0042"
    events = env.ls.store.events(doc_number="INV-0042")
    assert {e.entity for e in events} >= {"invoice"}
    assert env.ls.store.events(search="INV-0042")


def test_health_is_stale_after_the_configured_period_and_disconnect_keeps_data(env: Env) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c1", name="Lou"))
    env.ls.sync(env.conn)
    assert not env.ls.health(env.conn).stale
    env.ls.store.update_connection(env.conn, last_success_at=utcnow() - dt.timedelta(hours=25))
    health = env.ls.health(env.conn)
    assert (health.stale and "1 day" in health.last_sync_phrase()) or "25 hours" in health.last_sync_phrase()
    env.ls.disconnect(env.conn)
    assert env.ls.get(env.org, Entity.CONTACT, "c1", env.conn).remote_id  # type: ignore[union-attr]
    assert env.ls.health(env.conn).status == "disconnected"


def test_system_actor_may_do_everything() -> None:
    assert SYSTEM.can_manage and not MEMBER.can_manage and ADMIN.can_manage
