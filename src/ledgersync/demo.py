"""The demo: a sample business synced two ways with a local Xero sandbox over the real OAuth flow."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx

from ledgersync import (
    Address,
    Allocation,
    CheckReport,
    Contact,
    CycleReport,
    Entity,
    Invoice,
    InvoiceLine,
    LedgerSync,
    Payment,
    PurchaseOrder,
    Record,
    Supplier,
)
from ledgersync.model import CreditNote, PurchaseOrderStatus, Refund

FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Dan",
    "Ella",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jack",
    "Kate",
    "Liam",
    "Mia",
    "Noah",
    "Olive",
    "Paul",
    "Quinn",
    "Ruby",
    "Sam",
    "Tess",
]
LAST = ["Nguyen", "Smith", "Patel", "Brown", "Wilson", "Taylor", "Lee", "Martin", "Walker", "Young"]
TRADES = ["Motors", "Plumbing", "Bakery", "Cafe", "Builders", "Electrics", "Garage", "Florist", "Studio", "Tyres"]
SERVICES = [
    ("Logbook service", Decimal("289.00")),
    ("Brake pads (front)", Decimal("180.00")),
    ("Wheel alignment", Decimal("89.00")),
    ("Tyre fitting", Decimal("35.00")),
    ("Labour (hour)", Decimal("120.00")),
    ("Diagnostic scan", Decimal("95.00")),
    ("Oil filter", Decimal("24.50")),
    ("Air-con regas", Decimal("159.00")),
]


@dataclass
class SampleBusiness:
    contacts: list[Contact] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    # The vendor side and tax (issue 16): a supplier, a purchase order the demo marks billed (it becomes a bill),
    # and an invoice taxed at a combined rate (the app's code COMBINED, mapped per connection).
    suppliers: list[Supplier] = field(default_factory=list)
    purchase_orders: list[PurchaseOrder] = field(default_factory=list)
    taxed: list[Invoice] = field(default_factory=list)
    # Credit notes (issue 15): one allocated to an open invoice, one refunded to the customer.
    credit_notes: list[CreditNote] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)

    def records(self) -> list[Record]:
        return [
            *self.contacts,
            *self.suppliers,
            *self.invoices,
            *self.taxed,
            *self.payments,
            *self.purchase_orders,
            *self.credit_notes,
            *self.refunds,
        ]


# The app's own code for the combined rate; each connection maps it to its platform's (tax_codes).
COMBINED_TAX = "COMBINED"
COMBINED_INVOICE = "inv-tax-0001"


def _vendor_side(biz: SampleBusiness, start: dt.date) -> None:
    biz.suppliers.append(
        Supplier(id="supp-0001", name="Auto Parts Wholesale", email="orders@autoparts.example", phone="0730001000")
    )
    biz.purchase_orders.append(
        PurchaseOrder(
            id="po-0001",
            supplier_id="supp-0001",
            number="PO-0001",
            date=start + dt.timedelta(days=100),
            lines=[
                # No tax code: each platform applies its purchases account's own (GST on Expenses in Xero).
                InvoiceLine(description="Brake pads (box of 10)", unit_amount=Decimal("420.00"), account_code="300"),
                InvoiceLine(description="Freight", unit_amount=Decimal("35.00"), account_code="300"),
            ],
            status=PurchaseOrderStatus.AUTHORISED,
        )
    )
    biz.taxed.append(
        Invoice(
            id=COMBINED_INVOICE,
            contact_id=biz.contacts[0].id,
            number="WS-TAX-01",
            date=start + dt.timedelta(days=105),
            lines=[
                InvoiceLine(
                    description="Fleet service (taxed at the combined rate)",
                    unit_amount=Decimal("400.00"),
                    account_code="200",
                    tax_type=COMBINED_TAX,
                )
            ],
            reference="Fleet job",
        )
    )


def sample_business(
    n_contacts: int = 40, n_invoices: int = 200, seed: int = 7, start: dt.date | None = None
) -> SampleBusiness:
    """A deterministic workshop's books: customers, invoices (some $0), full and part payments."""
    rng = random.Random(seed)
    start = start or dt.date.today() - dt.timedelta(days=120)
    biz = SampleBusiness()
    names: set[str] = set()
    while len(biz.contacts) < n_contacts:
        i = len(biz.contacts)
        if rng.random() < 0.5:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        else:
            name = f"{rng.choice(LAST)} {rng.choice(TRADES)}"
        if name in names:
            name = f"{name} {i}"
        names.add(name)
        first, _, last = name.partition(" ")
        biz.contacts.append(
            Contact(
                id=f"cust-{i + 1:04d}",
                name=name,
                email=f"{first.lower()}.{i + 1}@example.com",
                first_name=first,
                last_name=last,
                phone=f"04{rng.randrange(10**7, 10**8)}",
                address=Address(
                    line1=f"{rng.randrange(1, 300)} Main St",
                    city="Brisbane",
                    region="QLD",
                    postal_code="4000",
                    country="AU",
                ),
            )
        )
    for i in range(n_invoices):
        contact = rng.choice(biz.contacts)
        date = start + dt.timedelta(days=rng.randrange(0, 110))
        lines = []
        if i % 50 == 49:
            lines.append(
                InvoiceLine(
                    description="Warranty check (no charge)",
                    quantity=Decimal(1),
                    unit_amount=Decimal(0),
                    account_code="200",
                    tax_type="OUTPUT",
                )
            )
        else:
            for _ in range(rng.randrange(1, 4)):
                desc, price = rng.choice(SERVICES)
                lines.append(
                    InvoiceLine(
                        description=desc,
                        quantity=Decimal(rng.randrange(1, 4)),
                        unit_amount=price,
                        account_code="200",
                        tax_type="OUTPUT",
                    )
                )
        inv = Invoice(
            id=f"inv-{i + 1:05d}",
            contact_id=contact.id,
            number=f"WS-{i + 1:05d}",
            date=date,
            due_date=date + dt.timedelta(days=14),
            lines=lines,
            reference=f"Job {1000 + i}",
        )
        biz.invoices.append(inv)
        gross = sum((ln.line_amount for ln in lines), Decimal(0)) * Decimal("1.1")
        roll = rng.random()
        if gross > 0 and roll < 0.45:
            amount = gross.quantize(Decimal("0.01"))
            if roll < 0.1:
                amount = (gross / 2).quantize(Decimal("0.01"))
            biz.payments.append(
                Payment(
                    id=f"pay-{i + 1:05d}",
                    contact_id=contact.id,
                    date=date + dt.timedelta(days=rng.randrange(0, 10)),
                    amount=amount,
                    reference=f"EFT {rng.randrange(10**5, 10**6)}",
                    account_code="090",
                    allocations=[Allocation(invoice_id=inv.id, amount=amount)],
                )
            )
    _vendor_side(biz, start)
    _credit_notes(biz, start)
    return biz


ALLOCATED_NOTE = "cn-0001"
REFUNDED_NOTE = "cn-0002"
REFUND = "rf-0001"


def _credit_notes(biz: SampleBusiness, start: dt.date) -> None:
    """A goodwill credit applied to the last open invoice of 100 or more, and a credit refunded to the card.
    No tax on either, so every platform's total is the same."""
    paid = {a.invoice_id for p in biz.payments for a in p.allocations}
    target = next(i for i in reversed(biz.invoices) if i.id not in paid and i.subtotal >= 100)
    day = start + dt.timedelta(days=110)

    def note(app_id: str, number: str, contact: str, text: str, amount: str, alloc: list[Allocation]) -> CreditNote:
        line = InvoiceLine(description=text, unit_amount=Decimal(amount), account_code="200", tax_type="NONE")
        return CreditNote(id=app_id, contact_id=contact, number=number, date=day, lines=[line], allocations=alloc)

    biz.credit_notes.append(
        note(
            ALLOCATED_NOTE,
            "WS-CN-0001",
            target.contact_id,
            "Goodwill discount",
            "50.00",
            [Allocation(invoice_id=target.id, amount=Decimal("50.00"))],
        )
    )
    biz.credit_notes.append(
        note(REFUNDED_NOTE, "WS-CN-0002", biz.contacts[1].id, "Returned part (refunded)", "40.00", [])
    )
    biz.refunds.append(
        Refund(
            id=REFUND,
            credit_note_id=REFUNDED_NOTE,
            date=day,
            amount=Decimal("40.00"),
            reference="Refund to card",
            account_code="090",
        )
    )


class _FormParser(HTMLParser):
    """Reads the first form of a page: its action and the values a browser would submit by default."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
            self.in_form = True
        elif tag == "input" and self.in_form and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox"):
                if "checked" in a and a["name"] not in self.fields:
                    self.fields[a["name"]] = a.get("value", "on")
            elif kind != "submit":
                self.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False


def consent_callback(
    authorization_url: str, *, approve: bool = True, choose: Mapping[str, str | list[str]] | None = None
) -> str:
    """Complete a platform's consent page the way a person's browser would; returns the redirect's query string
    (what the app's callback receives and hands to LedgerSync.complete_callback). A list in `choose` ticks
    several boxes of one name (Xero's consent adding several organisations)."""
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        page = client.get(authorization_url)
        page.raise_for_status()
        form = _FormParser()
        form.feed(page.text)
        data: dict[str, str | list[str]] = {**form.fields, **(choose or {}), "action": "allow" if approve else "deny"}
        resp = client.post(urljoin(str(page.url), form.action or str(page.url)), data=data)
        if resp.status_code not in (302, 303):
            raise RuntimeError(f"consent page answered {resp.status_code}: {resp.text[:200]}")
        query = urlparse(resp.headers["location"]).query
        if "error" in parse_qs(query):
            raise RuntimeError(f"consent refused: {parse_qs(query)['error'][0]}")
        return query


def consent(
    authorization_url: str, *, approve: bool = True, choose: Mapping[str, str | list[str]] | None = None
) -> tuple[str, str]:
    """Like consent_callback, as (code, state)."""
    query = parse_qs(consent_callback(authorization_url, approve=approve, choose=choose))
    return query["code"][0], query["state"][0]


@dataclass
class SandboxHandle:
    """A platform sandbox running on loopback with one organisation and one OAuth app registered."""

    provider: str
    url: str
    tenant_id: str
    client_id: str
    client_secret: str
    redirect_uri: str
    control: httpx.Client
    # The consent form's field that picks the organisation (Xero: tenantId; QuickBooks: realmId).
    tenant_field: str = "tenantId"
    extra_config: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri,
            "base_url": self.url,
            **self.extra_config,
        }

    def as_user(
        self, path: str, body: dict[str, Any], method: str = "POST", params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Act as a person in the platform (its business rules apply; no auth, limits or faults)."""
        resp = self.control.request(
            method, f"/_sandbox/tenants/{self.tenant_id}/as-user/{path}", json=body, params=params
        )
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def dump(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control.get(f"/_sandbox/tenants/{self.tenant_id}/dump").json()
        return result

    def records(self, collection: str) -> list[dict[str, Any]]:
        found = self.dump().get(collection) or []
        return list(found.values()) if isinstance(found, dict) else list(found)

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control.get("/_sandbox/counters").json()
        return result


XeroSandboxHandle = SandboxHandle


@contextmanager
def _sandbox(
    provider: str,
    app: Any,
    tenant_name: str,
    config: dict[str, Any] | None,
    client_id: str,
    tenant_field: str,
    extra_config: dict[str, str] | None = None,
) -> Iterator[SandboxHandle]:
    from ledgersync.sandbox.server import serve_in_thread

    server = serve_in_thread(app)
    try:
        control = httpx.Client(base_url=server.url, timeout=30)
        if config:
            control.put("/_sandbox/config", json=config).raise_for_status()
        tenant = control.post("/_sandbox/tenants", json={"name": tenant_name}).json()
        redirect_uri = f"http://127.0.0.1:8000/integrations/{provider}/callback"
        secret = "demo-secret-" + client_id.lower()
        control.post(
            "/_sandbox/apps",
            json={"client_id": client_id, "client_secret": secret, "redirect_uris": [redirect_uri]},
        ).raise_for_status()
        yield SandboxHandle(
            provider,
            server.url,
            str(tenant["tenantId"]),
            client_id,
            secret,
            redirect_uri,
            control,
            tenant_field=tenant_field,
            extra_config=dict(extra_config or {}),
        )
        control.close()
    finally:
        server.stop()


@contextmanager
def xero_sandbox(
    tenant_name: str = "Demo Company (AU)",
    config: dict[str, Any] | None = None,
    client_id: str = "LEDGERSYNCDEMO",
) -> Iterator[SandboxHandle]:
    """A Xero sandbox on loopback with one organisation and an OAuth app registered."""
    from ledgersync.sandbox.xero import create_app

    with _sandbox("xero", create_app(), tenant_name, config, client_id, "tenantId") as handle:
        yield handle


@contextmanager
def qbo_sandbox(
    company_name: str = "Demo Company (US)",
    config: dict[str, Any] | None = None,
    client_id: str = "LEDGERSYNCQBO",
    extra_config: dict[str, str] | None = None,
) -> Iterator[SandboxHandle]:
    """A QuickBooks Online sandbox on loopback with one company and an OAuth app registered."""
    from ledgersync.sandbox.qbo import create_app

    with _sandbox("qbo", create_app(), company_name, config, client_id, "realmId", extra_config) as handle:
        yield handle


@contextmanager
def myob_sandbox(
    business_name: str = "Demo Workshop Pty Ltd",
    config: dict[str, Any] | None = None,
    client_id: str = "LEDGERSYNCMYOB",
    extra_config: dict[str, str] | None = None,
) -> Iterator[SandboxHandle]:
    """A MYOB Business API sandbox on loopback with one business (company file) and an API key registered."""
    from ledgersync.sandbox.myob import create_app

    with _sandbox("myob", create_app(), business_name, config, client_id, "businessId", extra_config) as handle:
        yield handle


def connect_sandbox(ls: LedgerSync, org_id: str, sandbox: SandboxHandle, config: dict[str, str] | None = None) -> str:
    """Connect through the platform's real consent flow, as a person would, and finish it from the callback."""
    start = ls.connect(org_id, sandbox.provider, {**sandbox.config, **(config or {})})
    if start.authorization_url is None:
        raise ValueError(f"{sandbox.provider} does not connect through a consent page")
    callback = consent_callback(start.authorization_url, choose={sandbox.tenant_field: sandbox.tenant_id})
    return ls.complete_callback(callback)


def connect_xero(ls: LedgerSync, org_id: str, sandbox: SandboxHandle) -> str:
    return connect_sandbox(ls, org_id, sandbox)


@dataclass
class DemoResult:
    org_id: str
    connection_id: str
    first: CycleReport
    second: CycleReport
    check: CheckReport
    sandbox_calls: int
    resolved: list[str] = field(default_factory=list)
    qbo_connection_id: str | None = None
    qbo_check: CheckReport | None = None
    myob_connection_id: str | None = None
    myob_check: CheckReport | None = None
    dear_connection_id: str | None = None
    dear_check: CheckReport | None = None
    # QuickBooks Desktop through the Web Connector (issue 10): the connection and its record counts per state.
    qbd_connection_id: str | None = None
    qbd_counts: dict[str, dict[str, int]] = field(default_factory=dict)


def run_demo(
    workdir: Path,
    *,
    contacts: int = 40,
    invoices: int = 200,
    on_step: Callable[[str], None] = lambda _msg: None,
    progress: Callable[[str, int, int | None], None] | None = None,
    with_qbo: bool = True,
    with_myob: bool = True,
    with_qbd: bool = True,
    hold: Callable[[LedgerSync, DemoResult], None] | None = None,
    with_dear: bool = True,
) -> DemoResult:
    """The whole job on local sandboxes. `hold`, when given, runs while the sandboxes are still up (the CLI
    serves the dashboard from it until Ctrl-C)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    ls = LedgerSync(f"sqlite:///{workdir / 'ledgersync.db'}", key_file=workdir / "secret.key")
    with (
        xero_sandbox() as sandbox,
        qbo_sandbox("Demo Company (AU) Pty Ltd") as qbo,
        myob_sandbox("Demo Workshop Pty Ltd") as myob,
        dear_sandbox(config=DEAR_DEMO_SANDBOX) as dear,
    ):
        on_step(f"Xero sandbox running at {sandbox.url} (organisation 'Demo Company (AU)')")
        org = ls.create_organisation("Demo Workshop")
        biz = sample_business(contacts, invoices)
        ls.upsert_many(org, biz.records())
        on_step(
            f"Sample business: {len(biz.contacts)} customers, {len(biz.invoices) + len(biz.taxed)} invoices, "
            f"{len(biz.payments)} payments, {len(biz.suppliers)} supplier and {len(biz.purchase_orders)} purchase "
            f"order in {workdir / 'ledgersync.db'}"
        )
        conn = connect_xero(ls, org, sandbox)
        on_step("Connected to Xero through the OAuth consent flow (state checked, tokens encrypted)")
        combined = _xero_combined_rate(sandbox)
        ls.update_settings(conn, {"tax_codes": json.dumps({**XERO_TAX_CODES, COMBINED_TAX: combined})})
        on_step(f"Xero has a combined tax rate (GST and a levy, {combined}); the app's {COMBINED_TAX} maps to it")
        first = ls.sync(conn, progress=progress)
        on_step(
            f"First sync: pushed {sum(first.pushed.values())} records in {first.seconds:.1f}s "
            f"using {first.calls} API calls"
        )
        _credit_note_steps(ls, org, conn, "Xero", on_step)
        # Changes on both sides.
        sandbox.as_user(
            "Contacts",
            {"Contacts": [{"Name": "Walk-in Customer (added in Xero)", "EmailAddress": "walkin@example.com"}]},
            method="PUT",
        )
        paid_ids = {a.invoice_id for p in biz.payments for a in p.allocations}
        unpaid = [i for i in biz.invoices if i.id not in paid_ids and i.subtotal > 0]
        link = ls.get(org, Entity.INVOICE, unpaid[0].id, conn)
        assert link is not None and link.remote_id
        due = link.record.amount_due  # type: ignore[attr-defined]
        sandbox.as_user(
            "Payments",
            {
                "Payments": [
                    {
                        "Invoice": {"InvoiceID": link.remote_id},
                        "Account": {"Code": "090"},
                        "Date": dt.date.today().isoformat(),
                        "Amount": str(due),
                        "Reference": "Paid by card in Xero",
                    }
                ]
            },
            method="PUT",
        )
        edited = unpaid[1]
        ls.upsert_invoice(
            org,
            edited.model_copy(
                update={
                    "lines": [
                        *edited.lines,
                        InvoiceLine(
                            description="Wiper blades",
                            quantity=Decimal(1),
                            unit_amount=Decimal("39.00"),
                            account_code="200",
                            tax_type="OUTPUT",
                        ),
                    ]
                }
            ),
        )
        ls.upsert_contact(org, Contact(id="cust-new-1", name="Zoe Carter (added in the app)", email="zoe@example.com"))
        on_step(
            "Changed both sides: in Xero a contact added and a payment recorded; in the app an invoice "
            "edited and a customer added"
        )
        # The purchase order is finished in the app: marked billed, it becomes a bill linked to it.
        ls.upsert(org, biz.purchase_orders[0].model_copy(update={"status": PurchaseOrderStatus.BILLED}))
        time.sleep(1.1)  # Xero's If-Modified-Since has one-second precision
        second = ls.sync(conn, progress=progress)
        bill = ls.get(org, Entity.BILL, f"{biz.purchase_orders[0].id}-bill", conn)
        if bill is not None:
            on_step(f"Purchase order PO-0001 marked billed: bill {bill.record.number} made from it, {bill.state}")  # type: ignore[attr-defined]
        on_step(
            f"Second sync: pulled {sum(second.pulled.values())}, created in app "
            f"{sum(second.created_in_app.values())}, pushed {sum(second.pushed.values())}"
        )
        resolved = _failures_and_fixes(ls, org, conn, biz, unpaid, on_step, progress)
        report = check_connection(ls, conn)
        calls = int(sandbox.counters().get("total_calls", 0))
        result = DemoResult(org, conn, first, second, report, calls, resolved)
        if with_qbo:
            result.qbo_connection_id, result.qbo_check = _quickbooks(ls, org, qbo, on_step, progress)
        if with_myob:
            result.myob_connection_id, result.myob_check = _myob(ls, org, myob, on_step, progress)
        if with_dear:
            result.dear_connection_id, result.dear_check = _dear(ls, org, dear, on_step, progress)
        if with_qbd:
            result.qbd_connection_id, result.qbd_counts = _quickbooks_desktop(ls, org, on_step)
        if hold is not None:
            hold(ls, result)
        return result


def _quickbooks_desktop(
    ls: LedgerSync, org: str, on_step: Callable[[str], None]
) -> tuple[str, dict[str, dict[str, int]]]:
    """The same business synced with an emulated QuickBooks Desktop company file: our /qbwc service on a
    loopback port, polled by the sandbox's Web Connector ("Update Selected", twice: the second run carries a
    payment a person recorded in QuickBooks back to the app)."""
    from fastapi import FastAPI

    from ledgersync.providers.qbd.asgi import mount
    from ledgersync.sandbox.qbd import start_qbd_sandbox
    from ledgersync.sandbox.server import serve_in_thread

    app = FastAPI()
    mount(app, ls)
    with serve_in_thread(app) as server:
        # The app's Xero-style codes -> this company file's sales tax codes and accounts (decision 5).
        codes = {
            "tax_codes": json.dumps({"OUTPUT": "Tax", "NONE": "Non"}),
            "account_codes": json.dumps({"090": "Undeposited Funds", "200": "Sales"}),
        }
        start = ls.connect(org, "qbd", {"app_url": f"{server.url}/qbwc", "run_every_minutes": "30", **codes})
        assert start.file is not None and start.password
        _exclude_combined_rate(ls, start.connection_id, "QuickBooks Desktop", on_step)
        _exclude_credit_notes(ls, start.connection_id, "QuickBooks Desktop", on_step)
        with start_qbd_sandbox(
            f"{server.url}/qbwc", qwc=start.file.content, password=start.password, noop_wait_seconds=0.2
        ) as wc:
            on_step(f"QuickBooks Desktop: {start.file.name} added to the emulated Web Connector (password shown once)")
            first = wc.run_now(timeout=600)
            on_step(f"Web Connector run: {first.get('outcome')}, {first.get('requests')} qbXML requests")
            dump = wc.dump()
            open_invoices = [i for i in dump.get("Invoice", []) if i.get("IsPaid") == "false" and i.get("TxnID")]
            if open_invoices:
                inv = open_invoices[0]
                due = inv.get("BalanceRemaining", "0")
                wc.as_user(
                    "payment",
                    {
                        "customer": inv["CustomerRef"]["ListID"],
                        "total": due,
                        "applied": [{"TxnID": inv["TxnID"], "amount": due}],
                        "ref": "Paid at the counter",
                    },
                )
            second = wc.run_now(timeout=600)
            on_step(
                f"Second Web Connector run: {second.get('outcome')}, {second.get('requests')} requests "
                "(a payment recorded in QuickBooks came back)"
            )
    health = ls.health(start.connection_id)
    on_step(health.last_sync_phrase())
    return start.connection_id, health.counts


# The Xero connection's tax map: the app keeps Xero's own codes, and its combined code maps to the rate made below.
XERO_TAX_CODES = {"OUTPUT": "OUTPUT", "INPUT": "INPUT", "NONE": "NONE"}


def _xero_combined_rate(sandbox: SandboxHandle) -> str:
    """A combined rate in the Xero organisation (GST and a levy as two components), as a person sets one up."""
    body = {
        "TaxRates": [
            {
                "Name": "GST and fuel levy",
                "ReportTaxType": "OUTPUT",
                "TaxComponents": [
                    {"Name": "GST", "Rate": "10.0000", "IsCompound": False},
                    {"Name": "Fuel levy", "Rate": "2.0000", "IsCompound": False},
                ],
            }
        ]
    }
    return str(sandbox.as_user("TaxRates", body, method="PUT")["TaxRates"][0]["TaxType"])


def _credit_note_steps(ls: LedgerSync, org: str, conn: str, platform: str, on_step: Callable[[str], None]) -> None:
    """Say what the platform made of the credit notes: the allocated one's invoice, the refunded one's credit."""
    allocated = ls.get(org, Entity.CREDIT_NOTE, ALLOCATED_NOTE, conn)
    refunded = ls.get(org, Entity.CREDIT_NOTE, REFUNDED_NOTE, conn)
    refund = ls.get(org, Entity.REFUND, REFUND, conn)
    applied = allocated.record.allocations if allocated is not None else []  # type: ignore[attr-defined]
    invoice = ls.get(org, Entity.INVOICE, applied[0].invoice_id, conn) if applied else None
    if allocated is not None and invoice is not None:
        on_step(
            f"{platform}: credit note WS-CN-0001 ({allocated.state}) applied 50.00 to {invoice.record.number}, "  # type: ignore[attr-defined]
            f"which owes {invoice.record.amount_due}"  # type: ignore[attr-defined]
        )
    if refunded is not None and refund is not None:
        on_step(
            f"{platform}: credit note WS-CN-0002 refunded ({refund.state}); its remaining credit there is "
            f"{refunded.record.remaining_credit}"  # type: ignore[attr-defined]
        )


def check_connection(ls: LedgerSync, conn_id: str) -> CheckReport:
    """Run the agreement checker on one connection through its own provider."""
    return ls.check(conn_id)


def _quickbooks(
    ls: LedgerSync,
    org: str,
    qbo: SandboxHandle,
    on_step: Callable[[str], None],
    progress: Callable[[str, int, int | None], None] | None,
) -> tuple[str, CheckReport]:
    """The same business synced with QuickBooks Online (an Australian company, so its home currency is AUD)."""
    qbo.control.put(f"/_sandbox/tenants/{qbo.tenant_id}/preferences", json={"home_currency": "AUD"}).raise_for_status()
    on_step(f"QuickBooks Online sandbox running at {qbo.url} (company 'Demo Company (AU) Pty Ltd')")
    # The app keeps Xero's codes; this connection maps them to the QuickBooks company's accounts and tax codes.
    # The combined code is QuickBooks' group code (state and district rates in one TaxCode).
    group = next(str(t["Id"]) for t in qbo.records("TaxCode") if t.get("TaxGroup"))
    codes = {
        # bank -> Checking, sales -> Services income, purchases -> Cost of Goods Sold
        "account_codes": json.dumps({"090": "3", "200": "6", "300": "7"}),
        "tax_codes": json.dumps({"OUTPUT": "TAX", "NONE": "NON", "INPUT": "NON", COMBINED_TAX: group}),
    }
    conn = connect_sandbox(ls, org, qbo, codes)
    report = ls.sync(conn, progress=progress)
    on_step(f"QuickBooks Online: pushed {sum(report.pushed.values())} records using {report.calls} API calls")
    _credit_note_steps(ls, org, conn, "QuickBooks Online", on_step)
    qbo.as_user("customer", {"DisplayName": "Counter Sale (added in QuickBooks)"})
    time.sleep(1.1)  # modified-since reads have one-second precision
    again = ls.sync(conn, progress=progress)
    on_step(
        f"QuickBooks Online again: created in app {sum(again.created_in_app.values())}, "
        f"pushed {sum(again.pushed.values())}"
    )
    return conn, check_connection(ls, conn)


def _myob(
    ls: LedgerSync,
    org: str,
    myob: SandboxHandle,
    on_step: Callable[[str], None],
    progress: Callable[[str, int, int | None], None] | None,
) -> tuple[str, CheckReport]:
    """The same business synced with MYOB (an AccountRight company file), at MYOB's pace of 8 calls a second."""
    on_step(f"MYOB sandbox running at {myob.url} (business 'Demo Workshop Pty Ltd')")
    # The app keeps Xero's codes; this connection maps them to the company file's account numbers and tax codes.
    codes = {
        # bank, service income, purchases (General Expenses: the purchase order and its bill)
        "account_codes": json.dumps({"090": "1-1110", "200": "4-2000", "300": "6-1000"}),
        "tax_codes": json.dumps({"OUTPUT": "GST", "NONE": "FRE"}),
    }
    conn = connect_sandbox(ls, org, myob, codes)
    on_step("Connected to MYOB: an administrator chose the business on MYOB's consent page (businessId)")
    _exclude_combined_rate(ls, conn, "MYOB", on_step)
    report = ls.sync(conn, progress=progress)
    on_step(
        f"MYOB: pushed {sum(report.pushed.values())} records one call each using {report.calls} API calls "
        f"in {report.seconds:.1f}s (8 a second per API key)"
    )
    myob.as_user("Contact/Customer", {"CompanyName": "Cash Sale (added in MYOB)", "IsIndividual": False})
    again = ls.sync(conn, progress=progress)
    on_step(
        f"MYOB again: created in app {sum(again.created_in_app.values())}, pushed {sum(again.pushed.values())}; "
        "it syncs hourly by itself (MYOB has no webhooks), and Sync now at any time"
    )
    return conn, check_connection(ls, conn)


def _exclude_combined_rate(ls: LedgerSync, conn: str, platform: str, on_step: Callable[[str], None]) -> None:
    """A platform without combined tax rates (capabilities: tax_groups) cannot carry the invoice taxed at one: a
    person excludes it from that connection, so it shows Excluded with the reason instead of failing."""
    from ledgersync import ActionCentre, Actor, Entity, Role

    ActionCentre(ls).exclude(Actor("demo-admin", Role.ADMIN), conn, Entity.INVOICE, COMBINED_INVOICE)
    on_step(f"{platform} has no combined tax rates here: the invoice taxed at one is excluded from it (Excluded)")


def _exclude_credit_notes(ls: LedgerSync, conn: str, platform: str, on_step: Callable[[str], None]) -> None:
    """A platform whose credit notes are not applied to invoices or refunded by ledgersync (capabilities:
    credit_note_allocations, refund entities) cannot carry the demo's credit notes as the app has them: a person
    excludes them from that connection, so they show Excluded with the reason instead of disagreeing."""
    from ledgersync import ActionCentre, Actor, Entity, Role

    admin = Actor("demo-admin", Role.ADMIN)
    for note in (ALLOCATED_NOTE, REFUNDED_NOTE):
        ActionCentre(ls).exclude(admin, conn, Entity.CREDIT_NOTE, note)
    on_step(f"{platform}: credit notes applied to invoices or refunded stay in the app here (Excluded)")


def _failures_and_fixes(
    ls: LedgerSync,
    org: str,
    conn: str,
    biz: SampleBusiness,
    unpaid: list[Invoice],
    on_step: Callable[[str], None],
    progress: Callable[[str, int, int | None], None] | None,
) -> list[str]:
    """The failures people meet most (duplicate name, paid invoice edited, overpayment), and their fixes."""
    from ledgersync import ActionCentre, Actor, Role

    ac = ActionCentre(ls)
    admin = Actor("demo-admin", Role.ADMIN)
    # 1. A new customer in the app whose name Xero already has.
    ls.upsert_contact(org, Contact(id="cust-dup", name="Walk-in Customer (added in Xero)", email="walkin@example.com"))
    # 2. A paid invoice edited in the app.
    paid_id = biz.payments[0].allocations[0].invoice_id
    paid = next(i for i in biz.invoices if i.id == paid_id)
    ls.upsert_invoice(org, paid.model_copy(update={"reference": f"{paid.reference} (edited after payment)"}))
    # 3. A payment larger than what the invoice owes.
    over = unpaid[2]
    view = ls.get(org, Entity.INVOICE, over.id)
    due = view.record.amount_due if view else None  # type: ignore[attr-defined]
    assert due is not None
    ls.upsert_payment(
        org,
        Payment(
            id="pay-over-1",
            contact_id=over.contact_id,
            date=dt.date.today(),
            amount=due + Decimal("25.00"),
            reference="Card (rounded up)",
            account_code="090",
            allocations=[Allocation(invoice_id=over.id, amount=due + Decimal("25.00"))],
        ),
    )
    ls.sync(conn, progress=progress)
    done: list[str] = []
    for err in ac.errors(conn):
        on_step(
            f"Failed {err.entity.value} {err.doc_number or err.app_id}: {err.message} Fixes: {', '.join(err.actions)}"
        )
    for err in ac.errors(conn):
        if err.code == "duplicate_name":
            rid = ac.merge(admin, conn, err.app_id)
            done.append(f"duplicate name: {err.app_id} merged into the existing Xero contact {rid}")
            # The app hears contact.merged and merges on its side: the other customer record goes.
            for event in ls.store.app_events(org, limit=10_000):
                if event.type == "contact.merged" and event.payload.get("target") == err.app_id:
                    ls.delete(org, Entity.CONTACT, str(event.payload["source"]))
        elif err.code == "document_locked":
            ac.skip(admin, conn, err.entity, err.app_id)
            done.append(f"paid invoice {err.doc_number} edited in the app: skipped (app copy kept, Xero untouched)")
    credit = ls.get(org, Entity.CREDIT, "pay-over-1-credit", conn)
    if credit is not None and credit.state == "synced":
        done.append(f"overpayment on {over.number}: invoice paid in full, 25.00 recorded as customer credit in Xero")
    for line in done:
        on_step(f"Resolved: {line}")
    ls.sync(conn, progress=progress)
    return done


# -- DEAR / Cin7 Core (issue 12) -----------------------------------------------------------------------------------
@contextmanager
def dear_sandbox(
    company_name: str = "Demo Company (AU) Pty Ltd",
    config: dict[str, Any] | None = None,
    extra_config: dict[str, str] | None = None,
) -> Iterator[SandboxHandle]:
    """A DEAR / Cin7 Core sandbox on loopback with one company and one API application. The handle's
    client_id / client_secret are the company's Account ID and the application's key."""
    from ledgersync.sandbox.dear import create_app
    from ledgersync.sandbox.server import serve_in_thread

    server = serve_in_thread(create_app())
    try:
        control = httpx.Client(base_url=server.url, timeout=30)
        if config:
            control.put("/_sandbox/config", json=config).raise_for_status()
        made = control.post("/_sandbox/accounts", json={"name": company_name}).json()
        yield SandboxHandle(
            "dear",
            server.url,
            str(made["account_id"]),
            str(made["account_id"]),
            str(made["application_key"]),
            "",
            control,
            tenant_field="account_id",
            extra_config=dict(extra_config or {}),
        )
        control.close()
    finally:
        server.stop()


def connect_dear(ls: LedgerSync, org_id: str, sandbox: SandboxHandle, config: dict[str, str] | None = None) -> str:
    """Connect with the API key, as a person would on the Integrations page: start, then submit the Account ID
    and Application Key (checked with DEAR's /me before anything is saved)."""
    start = ls.connect(org_id, "dear", {"base_url": sandbox.url, **sandbox.extra_config, **(config or {})})
    return ls.submit_credentials(
        start.connection_id, {"account_id": sandbox.client_id, "application_key": sandbox.client_secret}
    )


# DEAR allows 60 calls a minute; the demo's sandbox and connection allow 100 a second so the demo takes seconds
# (the pacing itself is shown by tests/providers/dear on the sandbox's clock).
DEAR_DEMO_SANDBOX = {"rate_limits": {"per_minute": 6000}}
DEAR_DEMO_CONFIG = {
    "per_minute": "6000",
    "tax_codes": json.dumps({"OUTPUT": "GST on Income", "NONE": "GST Free Income"}),
    # The business's purchases account (Xero's 300) is DEAR's 400 Purchases; DEAR refuses a code its chart lacks.
    "account_codes": json.dumps({"300": "400"}),
}


def _dear(
    ls: LedgerSync,
    org: str,
    dear: SandboxHandle,
    on_step: Callable[[str], None],
    progress: Callable[[str, int, int | None], None] | None,
) -> tuple[str, CheckReport]:
    """The same business synced with DEAR / Cin7 Core: API key, sales with their invoices and payments."""
    on_step(f"DEAR / Cin7 Core sandbox running at {dear.url} (company 'Demo Company (AU) Pty Ltd')")
    conn = connect_dear(ls, org, dear, DEAR_DEMO_CONFIG)
    on_step("Connected to DEAR with an Account ID and Application Key (checked with /me, stored encrypted)")
    _exclude_combined_rate(ls, conn, "DEAR / Cin7 Core", on_step)
    _exclude_credit_notes(ls, conn, "DEAR / Cin7 Core", on_step)
    report = ls.sync(conn, progress=progress)
    on_step(f"DEAR: pushed {sum(report.pushed.values())} records using {report.calls} API calls")
    dear.control.post(
        f"/_sandbox/accounts/{dear.tenant_id}/as-user/customer", json={"Name": "Counter Sale (added in DEAR)"}
    ).raise_for_status()
    again = ls.sync(conn, progress=progress)
    on_step(f"DEAR again: created in app {sum(again.created_in_app.values())}, pushed {sum(again.pushed.values())}")
    return conn, check_connection(ls, conn)
