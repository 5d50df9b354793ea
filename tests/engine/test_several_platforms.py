"""One business on Xero and QuickBooks Online at once (issue 15): what comes in from one platform goes to the other
only when the business asks for it, and an action on one connection never changes what the other has synced."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ledgersync import (
    ActionCentre,
    Actor,
    Allocation,
    Contact,
    EngineSettings,
    Entity,
    Invoice,
    InvoiceLine,
    LedgerSync,
    Payment,
    Role,
)
from ledgersync.demo import SandboxHandle, connect_sandbox, qbo_sandbox, xero_sandbox
from ledgersync.engine.actions import ActionError
from ledgersync.model import LineAmountTypes

from .conftest import FAST_CLIENT, FAST_LIMITS

QBO_LIMITS = {
    "rate_limits": {"minute": 100_000, "concurrent": 10, "batch_minute": 100_000, "batch_realm_minute": 100_000}
}
QBO_CLIENT = {"per_minute": "100000", "per_second": "100000", "batch_per_minute": "100000"}
ADMIN = Actor("ada", Role.ADMIN)


@pytest.fixture
def both() -> Iterator[tuple[SandboxHandle, SandboxHandle]]:
    with xero_sandbox(config=FAST_LIMITS) as xero, qbo_sandbox(config=QBO_LIMITS, extra_config=QBO_CLIENT) as qbo:
        # One Australian business on both: the QuickBooks company keeps its books in AUD (multicurrency off).
        prefs = qbo.control.put(f"/_sandbox/tenants/{qbo.tenant_id}/preferences", json={"home_currency": "AUD"})
        prefs.raise_for_status()
        yield xero, qbo


def business(
    tmp_path: Path,
    secret_key: str,
    both: tuple[SandboxHandle, SandboxHandle],
    relay: bool,
    org_relay: bool | None = None,
) -> tuple[LedgerSync, str, str, str]:
    """`relay` is the engine's default; `org_relay` the business's own setting over it (None: none)."""
    xero, qbo = both
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'app.db'}",
        secret_keys=[secret_key],
        settings=EngineSettings(retry_base_seconds=0, relay_between_platforms=relay),
    )
    org = ls.create_organisation("Two-platform Workshop")
    ls.set_relay_between_platforms(org, org_relay)
    cx = connect_sandbox(ls, org, xero, {**FAST_CLIENT, "account_codes": '{"BANK": "090", "SALES": "200"}'})
    cq = connect_sandbox(ls, org, qbo, {**QBO_CLIENT, "account_codes": '{"BANK": "3", "SALES": "6"}'})
    return ls, org, cx, cq


def invoice() -> Invoice:
    return Invoice(
        id="i1",
        contact_id="c1",
        number="TW-0001",
        date=dt.date.today(),
        currency="AUD",
        # No tax on either side, so both platforms compute the same total (a tax set up differently would be a
        # real difference, and the checker rightly reports it).
        line_amount_types=LineAmountTypes.NO_TAX,
        lines=[InvoiceLine(description="Service", unit_amount=Decimal("100"), account_code="SALES")],
    )


def xero_payment(xero: SandboxHandle, invoice_id: str, amount: str = "30.00") -> None:
    body = {
        "Payments": [
            {
                "Invoice": {"InvoiceID": invoice_id},
                "Account": {"Code": "090"},
                "Date": dt.date.today().isoformat(),
                "Amount": amount,
            }
        ]
    }
    xero.as_user("Payments", body, method="PUT")


@pytest.mark.parametrize(
    ("default", "own"),
    [(False, None), (True, None), (False, True), (True, False)],
    ids=["kept-apart", "relayed", "business-relays-over-the-default", "business-keeps-apart-over-the-default"],
)
def test_a_payment_recorded_in_xero_goes_to_quickbooks_only_when_asked_with_quickbooks_codes(
    tmp_path: Path, secret_key: str, both: tuple[SandboxHandle, SandboxHandle], default: bool, own: bool | None
) -> None:
    ls, org, cx, cq = business(tmp_path, secret_key, both, default, own)
    relay = default if own is None else own
    assert ls.relay_between_platforms(org) is relay
    ls.upsert_contact(org, Contact(id="c1", name="Shared Customer"))
    ls.upsert_invoice(org, invoice())
    ls.sync(cx)
    ls.sync(cq)
    xero_payment(both[0], ls.get(org, Entity.INVOICE, "i1", cx).remote_id)  # type: ignore[union-attr]
    ls.sync(cx)
    (pay,) = ls.records(org, Entity.PAYMENT)
    assert pay.record.account_code == "BANK"  # type: ignore[attr-defined]  # Xero's 090, in the app's code
    report = ls.sync(cq)
    assert report.failed == {}
    qbo_payments = both[1].records("Payment")
    (qbo_invoice,) = both[1].records("Invoice")
    with ls.store.session() as s:
        quickbooks_says = ls.store.platform_fields(s, cq, Entity.INVOICE)["i1"]
    if relay:
        (sent,) = qbo_payments
        assert sent["DepositToAccountRef"]["value"] == "3"  # QuickBooks' code for the app's BANK
        assert ls.get(org, Entity.PAYMENT, pay.app_id, cq).state == "synced"  # type: ignore[union-attr]
        # QuickBooks' balance after the payment is derived from QuickBooks' own last figure (100 - 30), not read
        # back, although the app record held Xero's (70, which already counted this payment).
        assert Decimal(qbo_invoice["Balance"]) == Decimal("70")
        assert Decimal(quickbooks_says["amount_due"]) == Decimal("70")
        calls = [e.message for e in ls.store.events(connection_id=cq, kind="call", limit=1000)]  # newest first
        assert calls[0] == "POST payment -> 200"  # nothing read back after it
    else:
        assert qbo_payments == []
        assert ls.get(org, Entity.PAYMENT, pay.app_id, cq).state == "not_synced"  # type: ignore[union-attr]
        # The app's one invoice holds Xero's balance (a payment QuickBooks never heard of); QuickBooks' own is
        # kept beside it, so QuickBooks' connection does not read as a difference.
        assert ls.get(org, Entity.INVOICE, "i1").record.amount_due == Decimal("70")  # type: ignore[union-attr]
        assert Decimal(qbo_invoice["Balance"]) == Decimal("100")
        assert Decimal(quickbooks_says["amount_due"]) == Decimal("100")
    report_q = ls.check(cq)
    assert report_q.agree, [str(d) for d in report_q.differences]
    report_x = ls.check(cx)
    assert report_x.agree, [str(d) for d in report_x.differences]


def test_a_merge_on_one_connection_is_refused_when_it_would_change_the_other(
    tmp_path: Path, secret_key: str, both: tuple[SandboxHandle, SandboxHandle]
) -> None:
    ls, org, cx, cq = business(tmp_path, secret_key, both, relay=False)
    xero = both[0]
    ls.upsert_contact(org, Contact(id="c1", name="Customer 005"))
    ls.upsert_invoice(org, invoice())
    ls.sync(cx)
    ls.sync(cq)
    # The same customer entered again in the app, under the same name: Xero refuses it, merge is offered.
    ls.upsert_contact(org, Contact(id="c9", name="Customer 005"))
    ls.sync(cx)
    assert ls.get(org, Entity.CONTACT, "c9", cx).state == "failed"  # type: ignore[union-attr]
    before = {r["Id"]: r["SyncToken"] for r in both[1].records("Invoice")}
    with pytest.raises(ActionError, match="also synced with QuickBooks"):
        ActionCentre(ls).merge(ADMIN, cx, "c9")
    ls.sync(cq)
    assert {r["Id"]: r["SyncToken"] for r in both[1].records("Invoice")} == before
    assert ls.get(org, Entity.INVOICE, "i1", cq).state == "synced"  # type: ignore[union-attr]
    # QuickBooks refuses the second "Customer 005" too: the only difference, and it shows as failed.
    assert {d.app_id for d in ls.check(cq).differences} <= {"c9"}
    assert ls.get(org, Entity.CONTACT, "c9", cq).state == "failed"  # type: ignore[union-attr]
    assert len([c for c in xero.records("Contacts") if c["Name"] == "Customer 005"]) == 1


def test_an_invoice_paid_in_full_in_xero_is_paid_in_full_in_quickbooks_not_split_into_credit(
    tmp_path: Path, secret_key: str, both: tuple[SandboxHandle, SandboxHandle]
) -> None:
    # The app's invoice holds Xero's balance (0, the payment counted); QuickBooks still has 100 owing, which is
    # what the relayed payment is checked against, so none of it is taken for an overpayment.
    ls, org, cx, cq = business(tmp_path, secret_key, both, relay=False, org_relay=True)
    ls.upsert_contact(org, Contact(id="c1", name="Shared Customer"))
    ls.upsert_invoice(org, invoice())
    ls.sync(cx)
    ls.sync(cq)
    xero_payment(both[0], ls.get(org, Entity.INVOICE, "i1", cx).remote_id, "100.00")  # type: ignore[union-attr]
    ls.sync(cx)
    assert ls.get(org, Entity.INVOICE, "i1").record.amount_due == Decimal("0")  # type: ignore[union-attr]
    report = ls.sync(cq)
    assert report.failed == {}
    (sent,) = both[1].records("Payment")
    assert Decimal(str(sent["TotalAmt"])) == Decimal("100") and not Decimal(str(sent.get("UnappliedAmt") or 0))
    assert ls.records(org, Entity.CREDIT) == []
    (qbo_invoice,) = both[1].records("Invoice")
    assert Decimal(str(qbo_invoice["Balance"])) == Decimal("0")
    for conn in (cx, cq):
        report_c = ls.check(conn)
        assert report_c.agree, [str(d) for d in report_c.differences]


@pytest.mark.parametrize("first", ["xero", "quickbooks"])
def test_an_overpaid_payment_is_split_per_platform_and_neither_connection_pushes_the_others_split(
    tmp_path: Path, secret_key: str, both: tuple[SandboxHandle, SandboxHandle], first: str
) -> None:
    # Xero takes the excess as its own overpayment record; QuickBooks holds it in the payment, unapplied. Each
    # connection splits the one app payment its own way and the app's payment stays as the app recorded it.
    ls, org, cx, cq = business(tmp_path, secret_key, both, relay=True)
    xero, qbo = both
    ls.upsert_contact(org, Contact(id="c1", name="Shared Customer"))
    ls.upsert_invoice(org, invoice())
    ls.sync(cx)
    ls.sync(cq)
    recorded = Payment(
        id="p1",
        contact_id="c1",
        date=dt.date.today(),
        amount=Decimal("150.00"),
        currency="AUD",
        account_code="BANK",
        allocations=[Allocation(invoice_id="i1", amount=Decimal("150.00"))],
    )
    ls.upsert_payment(org, recorded)
    order = (cx, cq) if first == "xero" else (cq, cx)
    for conn in order:
        report = ls.sync(conn)
        assert report.failed == {}, conn
    # The app's payment is the app's: neither split rewrote it.
    assert ls.get(org, Entity.PAYMENT, "p1").record == recorded  # type: ignore[union-attr]
    # Xero: a payment of what was due, and the excess as an overpayment (the credit record, Xero's only).
    (xpay,) = [p for p in xero.records("Payments") if p.get("Status") != "DELETED"]
    assert Decimal(str(xpay["Amount"])) == Decimal("100")
    (xover,) = xero.records("Overpayments")
    assert Decimal(str(xover["Total"])) == Decimal("50")
    (credit,) = ls.records(org, Entity.CREDIT)
    assert credit.app_id == "p1-credit" and credit.record.amount == Decimal("50")  # type: ignore[attr-defined]
    assert ls.get(org, Entity.CREDIT, "p1-credit", cx).state == "synced"  # type: ignore[union-attr]
    # QuickBooks: the whole payment, 50 of it unapplied; the credit record is not sent there.
    (qpay,) = qbo.records("Payment")
    assert Decimal(str(qpay["TotalAmt"])) == Decimal("150") and Decimal(str(qpay["UnappliedAmt"])) == Decimal("50")
    assert ls.get(org, Entity.CREDIT, "p1-credit", cq).state == "not_synced"  # type: ignore[union-attr]
    for conn in (cx, cq):
        assert ls.get(org, Entity.PAYMENT, "p1", conn).state == "synced"  # type: ignore[union-attr]
    tokens = {p["Id"]: p["SyncToken"] for p in qbo.records("Payment")}
    # Another pass each: nothing goes again, on either side.
    for conn in order + order:
        report = ls.sync(conn)
        assert report.pushed == {} and report.failed == {}, (conn, report.pushed)
    assert {p["Id"]: p["SyncToken"] for p in qbo.records("Payment")} == tokens
    assert len(xero.records("Overpayments")) == 1
    assert len([p for p in xero.records("Payments") if p.get("Status") != "DELETED"]) == 1
    for conn in (cx, cq):
        report_c = ls.check(conn)
        assert report_c.agree, (conn, [str(d) for d in report_c.differences])
