"""Currency settings read at connect (Xero /Organisation and /Currencies; QuickBooks Online preferences,
companyinfo and CompanyCurrency), kept on the connection and shown on its card; a document in a currency the
organisation has not added refused before it is sent, with the platform's words and the fix; exchange rates
carried both ways on payments, credit notes, overpayments, purchase orders, bill payments and sales receipts; and
the home-currency check (issue 16). Against the sandboxes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledgersync import (
    Allocation,
    Contact,
    EngineSettings,
    Entity,
    Invoice,
    InvoiceLine,
    LedgerSync,
    Payment,
)
from ledgersync.demo import SandboxHandle, connect_sandbox, qbo_sandbox, xero_sandbox
from ledgersync.engine.actions import SYSTEM, ActionCentre
from ledgersync.model import (
    Bill,
    BillAllocation,
    BillPayment,
    CreditNote,
    CustomerCredit,
    PurchaseOrder,
    SalesReceipt,
    Supplier,
    money,
)
from ledgersync.providers.org import OrgSettings

TODAY = dt.date(2026, 11, 2)


@dataclass
class Env:
    sb: SandboxHandle
    ls: LedgerSync
    org: str
    conn: str

    def calls(self) -> dict[str, int]:
        data = self.sb.counters()
        by_tenant = data.get("by_tenant") or {}
        mine = by_tenant.get(self.sb.tenant_id) or by_tenant.get(self.sb.tenant_id.lower()) or data
        return {str(k): int(v) for k, v in (mine.get("calls") or {}).items()}

    def stored(self) -> OrgSettings:
        row = self.ls.store.get_connection(self.conn).platform_settings
        assert row, "no settings stored on the connection"
        return OrgSettings.from_json(row)

    def view(self, entity: Entity, app_id: str) -> Any:
        view = self.ls.get(self.org, entity, app_id, self.conn)
        assert view is not None
        return view


def _open(sb: SandboxHandle, tmp_path: Path, secret_key: str) -> Env:
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'app.db'}", secret_keys=[secret_key], settings=EngineSettings(retry_base_seconds=0)
    )
    org = ls.create_organisation("Currency Workshop")
    return Env(sb, ls, org, connect_sandbox(ls, org, sb))


@pytest.fixture
def xero(tmp_path: Path, secret_key: str) -> Iterator[Env]:
    with xero_sandbox() as sb:
        yield _open(sb, tmp_path, secret_key)


@pytest.fixture
def qbo(tmp_path: Path, secret_key: str) -> Iterator[Env]:
    with qbo_sandbox() as sb:
        yield _open(sb, tmp_path, secret_key)


def _qbo_currencies(sb: SandboxHandle, *codes: str) -> None:
    path = f"/_sandbox/tenants/{sb.tenant_id}/preferences"
    sb.control.put(path, json={"multicurrency": True, "currencies": list(codes)}).raise_for_status()


def _line(amount: str = "100.00", xero: bool = True) -> InvoiceLine:
    line = InvoiceLine(description="Export job", unit_amount=Decimal(amount))
    return line.model_copy(update={"account_code": "200", "tax_type": "OUTPUT"}) if xero else line


# ------------------------------------------------------------------ settings read at connect, kept, shown


def test_xero_settings_are_read_at_connect_and_on_refresh_and_shown_on_the_card(xero: Env) -> None:
    stored = xero.stored()
    assert (stored.home_currency, stored.multicurrency, stored.currencies) == ("AUD", False, ())
    assert stored.country == "AU" and stored.name
    assert xero.ls.health(xero.conn).currencies == "Home currency AUD · multicurrency off"
    for code in ("USD", "NZD"):
        xero.sb.as_user("Currencies", {"Code": code}, method="PUT")
    before = xero.calls()
    summary = xero.ls.refresh_org_settings(xero.conn)
    made = {k: v - before.get(k, 0) for k, v in xero.calls().items() if v != before.get(k, 0)}
    assert made == {"GET /Organisation": 1, "GET /Currencies": 1}, made
    assert summary is not None and summary.startswith("Home currency AUD · multicurrency on: ")
    assert set(summary.split(": ", 1)[1].split(", ")) == {"USD", "NZD"}
    assert set(xero.stored().currencies) == {"USD", "NZD"}
    assert xero.ls.health(xero.conn).currencies == summary


def test_qbo_settings_come_from_preferences_companyinfo_and_company_currencies(qbo: Env) -> None:
    stored = qbo.stored()
    assert (stored.home_currency, stored.multicurrency, stored.currencies) == ("USD", False, ())
    assert stored.country == "US" and stored.name == "Demo Company (US)"
    assert qbo.ls.health(qbo.conn).currencies == "Home currency USD · multicurrency off"
    _qbo_currencies(qbo.sb, "EUR", "CAD")
    assert qbo.ls.refresh_org_settings(qbo.conn) == "Home currency USD · multicurrency on: EUR, CAD"


@pytest.mark.parametrize("platform", ["xero", "qbo"])
def test_a_provider_opened_later_uses_the_stored_settings_without_reading_them(
    platform: str, request: pytest.FixtureRequest
) -> None:
    env: Env = request.getfixturevalue(platform)
    home = "AUD" if platform == "xero" else "USD"
    provider: Any = env.ls.open_provider(env.conn)
    try:
        assert provider.org_settings == env.stored()
        before = env.calls()
        invoice = Invoice(id="i1", contact_id="c1", date=TODAY, currency=home, lines=[_line(xero=platform == "xero")])
        assert provider._currency_refusal(Entity.INVOICE, invoice) is None
        euro = invoice.model_copy(update={"currency": "EUR"})
        assert provider._currency_refusal(Entity.INVOICE, euro) is not None
        # The home currency needed no call; EUR, unknown to the stored settings, one fresh read of them.
        made = {k: v - before.get(k, 0) for k, v in env.calls().items() if v != before.get(k, 0)}
        assert made == ({"GET /Organisation": 1, "GET /Currencies": 1} if platform == "xero" else {"GET /query": 2})
        # Only once per provider: a second EUR record is refused from what was read.
        assert provider._currency_refusal(Entity.PAYMENT, euro) is not None
        assert {k: v - before.get(k, 0) for k, v in env.calls().items() if v != before.get(k, 0)} == made
    finally:
        provider.close()


def test_stale_settings_are_read_again(xero: Env) -> None:
    old = xero.stored()
    aged = OrgSettings.from_json({**old.to_json(), "read_at": "2026-01-01T00:00:00+00:00"})
    xero.ls.store.save_platform_settings(xero.conn, aged.to_json())
    xero.ls.upsert(xero.org, Contact(id="c1", name="Home Customer"))
    xero.ls.upsert(xero.org, Invoice(id="i1", contact_id="c1", number="H-1", date=TODAY, lines=[_line()]))
    before = xero.calls().get("GET /Organisation", 0)
    assert xero.ls.sync(xero.conn).status == "ok"
    assert xero.calls().get("GET /Organisation", 0) == before + 1
    assert xero.stored().read_at > aged.read_at


# ------------------------------------------------------------------ refused before sending, with the fix


def test_xero_refuses_a_currency_not_added_before_sending_and_retry_takes_it_once_added(xero: Env) -> None:
    xero.ls.upsert(xero.org, Contact(id="c1", name="Euro Customer"))
    euro = Invoice(
        id="fx1", contact_id="c1", number="FX-1", date=TODAY, currency="EUR", currency_rate=Decimal("0.6"),
        lines=[_line()],
    )  # fmt: skip
    xero.ls.upsert(xero.org, euro)
    before = xero.calls()
    xero.ls.sync(xero.conn)
    view = xero.view(Entity.INVOICE, "fx1")
    assert view.state == "failed"
    (err,) = [e for e in ActionCentre(xero.ls).errors(xero.conn) if e.app_id == "fx1"]
    assert err.platform_message == (
        "The currency EUR has not been added to this organisation. Add it in Settings > Currencies."
    )
    assert "Enable EUR in Xero's currency settings" in err.hint and "Retry" in err.hint
    # Nothing was sent: no invoice write reached Xero (the settings were read once more, EUR being unknown).
    made = {k: v - before.get(k, 0) for k, v in xero.calls().items() if v != before.get(k, 0)}
    assert not any(k.startswith(("PUT /Invoices", "POST /Invoices")) for k in made), made
    assert made.get("GET /Currencies") == 1, made
    xero.sb.as_user("Currencies", {"Code": "EUR"}, method="PUT")
    ActionCentre(xero.ls).retry(SYSTEM, xero.conn, Entity.INVOICE, "fx1")
    xero.ls.sync(xero.conn)
    assert xero.view(Entity.INVOICE, "fx1").state == "synced"
    assert "EUR" in xero.stored().currencies
    (doc,) = [i for i in xero.sb.records("Invoices") if i.get("InvoiceNumber") == "FX-1"]
    assert (doc["CurrencyCode"], Decimal(str(doc["CurrencyRate"]))) == ("EUR", Decimal("0.6"))


def test_qbo_refuses_with_multicurrency_off_then_not_added_then_takes_it(qbo: Env) -> None:
    qbo.ls.upsert(qbo.org, Contact(id="c1", name="Euro Customer"))
    euro = Invoice(
        id="fx1", contact_id="c1", number="FX-1", date=TODAY, currency="EUR", currency_rate=Decimal("0.8"),
        lines=[_line(xero=False)],
    )  # fmt: skip
    qbo.ls.upsert(qbo.org, euro)
    qbo.ls.sync(qbo.conn)
    (err,) = [e for e in ActionCentre(qbo.ls).errors(qbo.conn) if e.app_id == "fx1"]
    assert "multicurrency is off" in (err.platform_message or "") and "Turn on multicurrency" in err.hint
    assert not [r for r in qbo.sb.records("Invoice") if r.get("DocNumber") == "FX-1"]
    _qbo_currencies(qbo.sb, "CAD")
    ActionCentre(qbo.ls).retry(SYSTEM, qbo.conn, Entity.INVOICE, "fx1")
    qbo.ls.sync(qbo.conn)
    (err,) = [e for e in ActionCentre(qbo.ls).errors(qbo.conn) if e.app_id == "fx1"]
    assert err.platform_message == "The currency EUR has not been added to this company's currency list."
    assert "Add EUR in QuickBooks" in err.hint
    _qbo_currencies(qbo.sb, "CAD", "EUR")
    ActionCentre(qbo.ls).retry(SYSTEM, qbo.conn, Entity.INVOICE, "fx1")
    qbo.ls.sync(qbo.conn)
    assert qbo.view(Entity.INVOICE, "fx1").state == "synced"
    (doc,) = [r for r in qbo.sb.records("Invoice") if r.get("DocNumber") == "FX-1"]
    assert Decimal(str(doc["ExchangeRate"])) == Decimal("1.25")


@pytest.mark.parametrize("platform", ["xero", "qbo"])
def test_a_home_currency_document_with_a_rate_is_refused_before_sending(
    platform: str, request: pytest.FixtureRequest
) -> None:
    env: Env = request.getfixturevalue(platform)
    home = "AUD" if platform == "xero" else "USD"
    env.ls.upsert(env.org, Contact(id="c1", name="Home Customer"))
    odd = Invoice(
        id="h1", contact_id="c1", number="H-1", date=TODAY, currency=home, currency_rate=Decimal("0.6"),
        lines=[_line(xero=platform == "xero")],
    )  # fmt: skip
    env.ls.upsert(env.org, odd)
    env.ls.sync(env.conn)
    view = env.view(Entity.INVOICE, "h1")
    assert view.state == "failed" and home in (view.error or "") and "0.6" in (view.error or "")
    # Rate 1 is the home currency's own: taken.
    env.ls.upsert(env.org, odd.model_copy(update={"currency_rate": Decimal("1")}))
    env.ls.sync(env.conn)
    assert env.view(Entity.INVOICE, "h1").state == "synced"


def test_xero_takes_its_day_rate_for_a_document_sent_without_one_and_the_app_reads_it_back(xero: Env) -> None:
    xero.sb.as_user("Currencies", {"Code": "EUR"}, method="PUT")
    xero.sb.control.put(f"/_sandbox/tenants/{xero.sb.tenant_id}/day-rates", json={"EUR": "0.62"}).raise_for_status()
    xero.ls.upsert(xero.org, Contact(id="c1", name="Euro Customer"))
    xero.ls.upsert(
        xero.org, Invoice(id="fx1", contact_id="c1", number="FX-1", date=TODAY, currency="EUR", lines=[_line()])
    )
    xero.ls.sync(xero.conn)
    view = xero.view(Entity.INVOICE, "fx1")
    assert view.state == "synced", view.error
    assert view.record.currency_rate == Decimal("0.62")
    again = xero.ls.sync(xero.conn)
    assert not again.pushed and not again.failed
    assert xero.ls.check(xero.conn).agree


# ------------------------------------------------------------------ exchange rates both ways


def test_xero_carries_the_rate_on_payments_credit_notes_overpayments_orders_and_bill_payments(xero: Env) -> None:
    xero.sb.as_user("Currencies", {"Code": "EUR"}, method="PUT")
    ls, org = xero.ls, xero.org
    ls.upsert(org, Contact(id="c1", name="Euro Customer", currency="EUR"))
    ls.upsert(org, Supplier(id="s1", name="Euro Supplier", currency="EUR"))
    rate = Decimal("0.6")
    ls.upsert(org, Invoice(id="i1", contact_id="c1", number="FX-1", date=TODAY, currency="EUR", currency_rate=rate,
                           lines=[_line()]))  # fmt: skip
    ls.upsert(org, Payment(id="p1", date=TODAY, amount=Decimal("55.00"), currency="EUR",
                           currency_rate=Decimal("0.55"), account_code="090",
                           allocations=[Allocation(invoice_id="i1", amount=Decimal("55.00"))]))  # fmt: skip
    ls.upsert(org, CreditNote(id="cn1", contact_id="c1", number="CN-1", date=TODAY, currency="EUR",
                              currency_rate=Decimal("0.58"), lines=[_line("20.00")]))  # fmt: skip
    ls.upsert(org, CustomerCredit(id="cr1", contact_id="c1", date=TODAY, amount=Decimal("15.00"), currency="EUR",
                                  currency_rate=Decimal("0.57"), reference="CR-1", account_code="090"))  # fmt: skip
    ls.upsert(org, PurchaseOrder(id="po1", supplier_id="s1", number="PO-1", date=TODAY, currency="EUR",
                                 currency_rate=Decimal("0.61"),
                                 lines=[InvoiceLine(description="Parts", unit_amount=Decimal("40.00"),
                                                    account_code="300")]))  # fmt: skip
    ls.upsert(org, Bill(id="b1", supplier_id="s1", number="EB-1", date=TODAY, currency="EUR", currency_rate=rate,
                        lines=[InvoiceLine(description="Parts", unit_amount=Decimal("30.00"),
                                           account_code="300")]))  # fmt: skip
    ls.upsert(org, BillPayment(id="bp1", date=TODAY, amount=Decimal("33.00"), currency="EUR",
                               currency_rate=Decimal("0.59"), account_code="090",
                               allocations=[BillAllocation(bill_id="b1", amount=Decimal("33.00"))]))  # fmt: skip
    report = ls.sync(xero.conn)
    assert not report.failed, [(e.app_id, e.message) for e in ActionCentre(ls).errors(xero.conn)]
    payments = xero.sb.records("Payments")
    pay = next(p for p in payments if Decimal(str(p["Amount"])) == Decimal("55.00"))
    assert Decimal(str(pay["CurrencyRate"])) == Decimal("0.55")
    # The bank account is in AUD: the payment's amount at its rate.
    assert Decimal(str(pay["BankAmount"])) == money(Decimal("55.00") / Decimal("0.55"))
    bill_pay = next(p for p in payments if Decimal(str(p["Amount"])) == Decimal("33.00"))
    assert Decimal(str(bill_pay["CurrencyRate"])) == Decimal("0.59")
    (note,) = xero.sb.records("CreditNotes")
    assert Decimal(str(note["CurrencyRate"])) == Decimal("0.58")
    (order,) = xero.sb.records("PurchaseOrders")
    assert Decimal(str(order["CurrencyRate"])) == Decimal("0.61")
    provider = ls.open_provider(xero.conn)
    try:
        for entity, app_id, want in (
            (Entity.PAYMENT, "p1", "0.55"),
            (Entity.CREDIT_NOTE, "cn1", "0.58"),
            (Entity.PURCHASE_ORDER, "po1", "0.61"),
            (Entity.BILL_PAYMENT, "bp1", "0.59"),
        ):
            (back,) = provider.fetch(entity, [xero.view(entity, app_id).remote_id])
            assert back.record.currency_rate == Decimal(want), (entity, back.record)
    finally:
        provider.close()
    checked = ls.check(xero.conn)
    assert checked.agree, checked.differences


def test_qbo_carries_the_rate_on_payments_credit_memos_receipts_orders_and_bill_payments(qbo: Env) -> None:
    _qbo_currencies(qbo.sb, "EUR")
    ls, org = qbo.ls, qbo.org
    ls.upsert(org, Contact(id="c1", name="Euro Customer", currency="EUR"))
    ls.upsert(org, Supplier(id="s1", name="Euro Supplier", currency="EUR"))
    plain = [_line(xero=False)]
    ls.upsert(org, Invoice(id="i1", contact_id="c1", number="FX-1", date=TODAY, currency="EUR",
                           currency_rate=Decimal("0.8"), lines=plain))  # fmt: skip
    ls.upsert(org, Payment(id="p1", date=TODAY, amount=Decimal("50.00"), currency="EUR",
                           currency_rate=Decimal("0.625"),
                           allocations=[Allocation(invoice_id="i1", amount=Decimal("50.00"))]))  # fmt: skip
    ls.upsert(org, CreditNote(id="cn1", contact_id="c1", number="CN-1", date=TODAY, currency="EUR",
                              currency_rate=Decimal("0.5"), lines=[_line("20.00", xero=False)]))  # fmt: skip
    ls.upsert(org, SalesReceipt(id="sr1", contact_id="c1", number="SR-1", date=TODAY, currency="EUR",
                                currency_rate=Decimal("0.4"), lines=[_line("10.00", xero=False)]))  # fmt: skip
    ls.upsert(org, PurchaseOrder(id="po1", supplier_id="s1", number="PO-1", date=TODAY, currency="EUR",
                                 currency_rate=Decimal("0.8"),
                                 lines=[InvoiceLine(description="Parts", unit_amount=Decimal("40.00"))]))  # fmt: skip
    ls.upsert(org, Bill(id="b1", supplier_id="s1", number="EB-1", date=TODAY, currency="EUR",
                        currency_rate=Decimal("0.8"),
                        lines=[InvoiceLine(description="Parts", unit_amount=Decimal("30.00"))]))  # fmt: skip
    ls.upsert(org, BillPayment(id="bp1", date=TODAY, amount=Decimal("30.00"), currency="EUR",
                               currency_rate=Decimal("0.625"),
                               allocations=[BillAllocation(bill_id="b1", amount=Decimal("30.00"))]))  # fmt: skip
    report = ls.sync(qbo.conn)
    assert not report.failed, [(e.app_id, e.message) for e in ActionCentre(ls).errors(qbo.conn)]
    # QuickBooks' ExchangeRate is the other way round: home currency per unit of the transaction's.
    for kind, want in (
        ("Payment", "1.6"),
        ("CreditMemo", "2"),
        ("SalesReceipt", "2.5"),
        ("PurchaseOrder", "1.25"),
        ("BillPayment", "1.6"),
    ):
        (row,) = qbo.sb.records(kind)
        assert Decimal(str(row["ExchangeRate"])) == Decimal(want), (kind, row.get("ExchangeRate"))
    (receipt,) = qbo.sb.records("SalesReceipt")
    assert Decimal(str(receipt["HomeTotalAmt"])) == Decimal("25.00")
    provider = ls.open_provider(qbo.conn)
    try:
        for entity, app_id, want in (
            (Entity.PAYMENT, "p1", "0.625"),
            (Entity.CREDIT_NOTE, "cn1", "0.5"),
            (Entity.SALES_RECEIPT, "sr1", "0.4"),
            (Entity.PURCHASE_ORDER, "po1", "0.8"),
            (Entity.BILL_PAYMENT, "bp1", "0.625"),
        ):
            (back,) = provider.fetch(entity, [qbo.view(entity, app_id).remote_id])
            assert back.record.currency_rate == Decimal(want), (entity, back.record)
    finally:
        provider.close()
    checked = ls.check(qbo.conn)
    assert checked.agree, checked.differences


def test_a_rate_added_to_a_record_leaves_older_records_hashes_alone() -> None:
    payment = Payment(id="p1", date=TODAY, amount=Decimal("5"), allocations=[])
    assert "currency_rate" not in payment.hash_view()
    rated = payment.model_copy(update={"currency_rate": Decimal("0.5")})
    assert Decimal(rated.hash_view()["currency_rate"]) == Decimal("0.5")
    assert rated.content_hash() != payment.content_hash()
