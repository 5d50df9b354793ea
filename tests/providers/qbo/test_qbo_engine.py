"""The engine end to end with QuickBooks Online: connect by consent, then contacts, invoices and payments both ways.

The engine is driven only through LedgerSync and the registry's "qbo" spec: nothing here, or in the engine, names
the provider beyond choosing it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.model import Allocation, Contact, Entity, Invoice, InvoiceLine, InvoiceStatus, Payment, Tracking

from .sandbox import QboSandboxHandle, consent, qbo_sandbox

TODAY = dt.date.today()


@pytest.fixture
def sandbox() -> Iterator[QboSandboxHandle]:
    with qbo_sandbox("Ledgersync Test Co") as sb:
        yield sb


def connect(ls: LedgerSync, org: str, sandbox: QboSandboxHandle) -> str:
    start = ls.connect(org, "qbo", sandbox.config)
    # The app's callback hands over what Intuit put on the redirect: code, state and realmId.
    callback = consent(start.authorization_url, sandbox.realm_id)
    state = parse_qs(callback)["state"][0]
    return ls.complete_connect(state, callback)


def line(description: str, amount: str, quantity: int = 1) -> InvoiceLine:
    return InvoiceLine(description=description, quantity=Decimal(quantity), unit_amount=Decimal(amount))


def test_contacts_invoices_and_payments_sync_both_ways_with_quickbooks(
    sandbox: QboSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'app.db'}", secret_keys=[secret_key], settings=EngineSettings(retry_base_seconds=0)
    )
    org = ls.create_organisation("Workshop")
    conn = connect(ls, org, sandbox)
    health = ls.health(conn)
    assert health.display_name == "QuickBooks Online" and health.status == "connected"
    assert ls.store.get_connection(conn).tenant_id == sandbox.realm_id

    ls.upsert_many(
        org,
        [
            Contact(id="cust-1", name="Ava Nguyen", email="ava@example.com", first_name="Ava", last_name="Nguyen"),
            Contact(id="cust-2", name="Smith Plumbing"),
            Contact(id="job-1", name="Smith Plumbing - van", parent_id="cust-2"),
            Invoice(
                id="inv-1",
                contact_id="cust-1",
                number="WS-1",
                date=TODAY,
                currency="USD",
                lines=[line("Logbook service", "289.00"), line("Oil filter", "24.50", 2)],
                reference="Job 1000",
            ),
            Invoice(
                id="inv-2",
                contact_id="cust-1",
                number="WS-2",
                date=TODAY,
                currency="USD",
                lines=[line("Tyres", "35.00", 4)],
            ),
            Invoice(
                id="inv-3",
                contact_id="cust-2",
                number="WS-3",
                date=TODAY,
                currency="USD",
                lines=[line("Labour", "120.00")],
            ),
            # One payment to two invoices, with 10.00 left over as the customer's credit.
            Payment(
                id="pay-1",
                contact_id="cust-1",
                date=TODAY,
                amount=Decimal("488.00"),
                currency="USD",
                reference="EFT 1",
                allocations=[
                    Allocation(invoice_id="inv-1", amount=Decimal("338.00")),
                    Allocation(invoice_id="inv-2", amount=Decimal("140.00")),
                ],
            ),
        ],
    )
    first = ls.sync(conn)
    assert first.status == "ok", first.message
    # The sub-customer waits for its parent's link, so it goes on the next cycle.
    assert first.pushed.get("contact", 0) >= 2
    assert first.pushed.get("invoice") == 3 and first.pushed.get("payment") == 1
    second = ls.sync(conn)
    assert second.status == "ok", second.message

    customers = {c["DisplayName"]: c for c in sandbox.records("Customer")}
    assert customers["Smith Plumbing - van"]["ParentRef"]["value"] == customers["Smith Plumbing"]["Id"]
    [payment] = [p for p in sandbox.records("Payment") if p.get("PaymentRefNum") == "EFT 1"]
    assert Decimal(str(payment["TotalAmt"])) == Decimal("488.00")
    assert len(payment["Line"]) == 2 and Decimal(str(payment["UnappliedAmt"])) == Decimal("10.00")
    paid = ls.get(org, Entity.INVOICE, "inv-1", conn)
    assert paid is not None and paid.state == "synced"
    assert isinstance(paid.record, Invoice) and paid.record.status is InvoiceStatus.PAID
    assert paid.record.total == Decimal("338.00") and paid.record.amount_due == Decimal("0.00")

    # In QuickBooks: a new customer, and a payment on WS-3. In the app: an edited invoice and a new customer.
    sandbox.as_user("customer", {"DisplayName": "Walk-in (added in QuickBooks)"})
    inv3 = ls.get(org, Entity.INVOICE, "inv-3", conn)
    assert inv3 is not None and inv3.remote_id
    cust2 = customers["Smith Plumbing"]["Id"]
    sandbox.as_user(
        "payment",
        {
            "CustomerRef": {"value": cust2},
            "TotalAmt": "120.00",
            "TxnDate": TODAY.isoformat(),
            "PaymentRefNum": "Card in QBO",
            "Line": [{"Amount": "120.00", "LinkedTxn": [{"TxnId": inv3.remote_id, "TxnType": "Invoice"}]}],
        },
    )
    edited = ls.get(org, Entity.INVOICE, "inv-2", conn)
    assert edited is not None and isinstance(edited.record, Invoice)
    ls.upsert_invoice(
        org, edited.record.model_copy(update={"lines": [line("Tyres", "35.00", 4), line("Valve", "5.00")]})
    )
    ls.upsert_contact(org, Contact(id="cust-3", name="Zoe Carter"))

    third = ls.sync(conn)
    assert third.status == "ok", third.message
    assert third.created_in_app.get("contact") == 1
    assert third.created_in_app.get("payment") == 1
    assert third.pushed.get("invoice") == 1 and third.pushed.get("contact") == 1
    walk_in = [r for r in ls.records(org, Entity.CONTACT) if r.record.name == "Walk-in (added in QuickBooks)"]  # type: ignore[attr-defined]
    assert len(walk_in) == 1
    paid3 = ls.get(org, Entity.INVOICE, "inv-3", conn)
    assert paid3 is not None and isinstance(paid3.record, Invoice) and paid3.record.status is InvoiceStatus.PAID
    [qbo_inv2] = [i for i in sandbox.records("Invoice") if i.get("DocNumber") == "WS-2"]
    assert Decimal(str(qbo_inv2["TotalAmt"])) == Decimal("145.00")
    assert {c["DisplayName"] for c in sandbox.records("Customer")} >= {"Zoe Carter"}

    # Nothing left to do: a quiet cycle pushes and creates nothing.
    quiet = ls.sync(conn)
    assert quiet.status == "ok" and not quiet.pushed and not quiet.created_in_app and not quiet.failed


def test_a_name_quickbooks_refuses_fails_with_the_exact_rule_and_a_class_reaches_the_line(
    sandbox: QboSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'app.db'}", secret_keys=[secret_key], settings=EngineSettings(retry_base_seconds=0)
    )
    org = ls.create_organisation("Workshop")
    conn = connect(ls, org, sandbox)
    sandbox.as_user("class", {"Name": "Mobile"})
    ls.upsert_many(
        org,
        [
            Contact(id="bad", name="Smith: Plumbing"),
            Contact(id="ok", name="Good Name"),
            Invoice(
                id="inv",
                contact_id="ok",
                number="CL-1",
                date=TODAY,
                currency="USD",
                lines=[
                    InvoiceLine(
                        description="Call-out",
                        unit_amount=Decimal("80.00"),
                        tracking=[Tracking(category="Class", option="Mobile")],
                    )
                ],
            ),
        ],
    )
    report = ls.sync(conn)
    assert report.failed.get("contact") == 1
    bad = ls.get(org, Entity.CONTACT, "bad", conn)
    assert bad is not None and bad.state == "failed" and bad.error and "':'" in bad.error
    [invoice] = [i for i in sandbox.records("Invoice") if i.get("DocNumber") == "CL-1"]
    assert invoice["Line"][0]["SalesItemLineDetail"]["ClassRef"]["name"] == "Mobile"
