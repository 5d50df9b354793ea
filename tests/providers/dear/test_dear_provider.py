"""The DEAR provider against its sandbox over loopback HTTP: the API-key connection, products with prices and
stock on hand, credit notes, the vendor side (suppliers, purchase orders, bills), and pacing under DEAR's 60 calls
a minute with its 503 treated as the rate limit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from ledgersync import Contact, EngineSettings, Entity, Invoice, InvoiceLine, Item, LedgerSync, ProviderError
from ledgersync.demo import SandboxHandle, connect_dear, dear_sandbox
from ledgersync.model import Allocation, Bill, CreditNote, PurchaseOrder, Supplier
from ledgersync.model.records import PurchaseOrderStatus
from ledgersync.providers.base import Write
from ledgersync.providers.budget import InMemoryBudgetBackend
from ledgersync.providers.dear.provider import DearProvider
from ledgersync.store.tables import Connection

FAST = {"rate_limit_wait_seconds": "0.2", "default_tax_rule": "GST Free Income"}


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with dear_sandbox() as sb:
        yield sb


def open_ls(tmp_path: Path) -> tuple[LedgerSync, str]:
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'app.db'}",
        secret_keys=[Fernet.generate_key().decode()],
        settings=EngineSettings(retry_base_seconds=0),
    )
    return ls, ls.create_organisation("Dear Workshop")


def provider(sb: SandboxHandle, **config: Any) -> DearProvider:
    return DearProvider(
        {"base_url": sb.url, "account_id": sb.client_id, "application_key": sb.client_secret, **FAST, **config}
    )


def user(sb: SandboxHandle, path: str, body: Any = None, method: str = "POST") -> Any:
    r = sb.control.request(method, f"/_sandbox/accounts/{sb.tenant_id}/as-user/{path}", json=body)
    r.raise_for_status()
    return r.json()


def test_the_api_key_is_checked_with_me_before_it_is_saved_and_kept_encrypted(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    ls, org = open_ls(tmp_path)
    start = ls.connect(org, "dear", {"base_url": sandbox.url})
    assert start.kind == "credentials" and [f.name for f in start.fields] == ["account_id", "application_key"]
    with pytest.raises(ProviderError) as refused:
        ls.submit_credentials(start.connection_id, {"account_id": sandbox.client_id, "application_key": "wrong"})
    assert refused.value.error.platform_message == "Method authentication failed"
    assert ls.connection(start.connection_id).status != "connected"
    assert "application_key" not in ls.store.credentials(start.connection_id)
    ls.submit_credentials(
        start.connection_id, {"account_id": sandbox.client_id, "application_key": sandbox.client_secret}
    )
    conn = ls.connection(start.connection_id)
    assert conn.status == "connected" and conn.tenant_name == "Demo Company (AU) Pty Ltd"
    with ls.store.session() as s:
        row = s.scalar(select(Connection).where(Connection.id == conn.id))
        assert row is not None
        raw = str(row.credentials)
    assert sandbox.client_secret not in raw and sandbox.client_secret not in str(conn.config)
    assert sandbox.counters()["calls"]["GET /me"] == 2
    # Disconnecting drops the submitted key and our webhook token.
    ls.disconnect(conn.id)
    assert {"application_key", "webhook_token"}.isdisjoint(ls.store.credentials(conn.id))


def test_products_flow_both_ways_with_prices_and_stock_on_hand_is_read(tmp_path: Path, sandbox: SandboxHandle) -> None:
    ls, org = open_ls(tmp_path)
    conn = connect_dear(ls, org, sandbox, FAST)
    ls.upsert_many(
        org, [Item(id="it1", code="OIL-5W30", name="Engine oil 5W-30", unit_price=Decimal("59.95"), is_purchased=True)]
    )
    made = user(sandbox, "product", {"SKU": "WIPER", "Name": "Wiper blade", "Type": "Stock", "PriceTier1": 24.5})
    report = ls.sync(conn)
    assert report.status == "ok" and report.pushed == {"item": 1}
    products = {p["SKU"]: p for p in sandbox.records("product")}
    assert products["OIL-5W30"]["PriceTier1"] == 59.95 and products["OIL-5W30"]["Type"] == "Stock"
    pulled = {r.record.code: r.record for r in ls.records(org, Entity.ITEM)}  # type: ignore[attr-defined]
    assert pulled["WIPER"].unit_price == Decimal("24.50")
    sandbox.control.post(
        f"/_sandbox/accounts/{sandbox.tenant_id}/stock",
        json={"product_id": made["Products"][0]["ID"], "location": "Main Warehouse", "on_hand": 12},
    )
    sandbox.control.post(
        f"/_sandbox/accounts/{sandbox.tenant_id}/stock",
        json={"product_id": made["Products"][0]["ID"], "location": "Shop", "on_hand": 3},
    )
    p = provider(sandbox)
    try:
        assert p.stock_on_hand(["WIPER", "OIL-5W30"]) == {"WIPER": Decimal(15)}
    finally:
        p.close()
    ls.check(conn)


def test_credit_notes_sit_on_their_sale(sandbox: SandboxHandle) -> None:
    p = provider(sandbox)
    try:
        (c,) = p.push(Entity.CONTACT, [Write("c1", Contact(id="c1", name="Credit Co"), "k-c1")])
        assert c.remote is not None
        inv = Invoice(
            id="i1",
            contact_id=c.remote.remote_id,
            number="CN-TEST",
            date=dt.date.today(),
            lines=[InvoiceLine(description="Job", unit_amount=Decimal("80"))],
        )
        (i,) = p.push(Entity.INVOICE, [Write("i1", inv, "k-i1")])
        assert i.remote is not None and i.remote.record.total == Decimal("80.00")  # type: ignore[attr-defined]
        note = CreditNote(
            id="n1",
            contact_id=c.remote.remote_id,
            date=dt.date.today(),
            lines=[InvoiceLine(description="Refund part", unit_amount=Decimal("30"))],
            allocations=[Allocation(invoice_id=i.remote.remote_id, amount=Decimal("30"))],
        )
        (n,) = p.push(Entity.CREDIT_NOTE, [Write("n1", note, "k-n1")])
        assert n.ok and n.remote is not None and n.remote.record.total == Decimal("30.00")  # type: ignore[attr-defined]
        pulled = [r for page in p.pull(Entity.CREDIT_NOTE, None) for r in page.records]
        assert [r.remote_id for r in pulled] == [n.remote.remote_id] and pulled[0].doc_number == "CR-00001"
        removed = p.remove(Entity.CREDIT_NOTE, Write("n1", note, "k-n1-rm", n.remote.remote_id))
        assert removed.error is None
        assert [r.deleted for page in p.pull(Entity.CREDIT_NOTE, None) for r in page.records] == [True]
        unallocated = note.model_copy(update={"allocations": []})
        (bad,) = p.push(Entity.CREDIT_NOTE, [Write("n2", unallocated, "k-n2")])
        assert bad.error is not None and "allocate it to the invoice" in bad.error.message
    finally:
        p.close()


def test_suppliers_purchase_orders_and_bills(sandbox: SandboxHandle) -> None:
    p = provider(sandbox)
    try:
        (s,) = p.push(
            Entity.SUPPLIER, [Write("s1", Supplier(id="s1", name="Parts Wholesale", email="a@p.example"), "k")]
        )
        assert s.ok and s.remote is not None
        user(sandbox, "supplier", {"Name": "Made In DEAR"})
        names = {r.record.name for page in p.pull(Entity.SUPPLIER, None) for r in page.records}  # type: ignore[attr-defined]
        assert names == {"Parts Wholesale", "Made In DEAR"}
        line = InvoiceLine(description="Brake pads", quantity=Decimal(4), unit_amount=Decimal("25"))
        po = PurchaseOrder(id="po1", supplier_id=s.remote.remote_id, date=dt.date.today(), lines=[line])
        (o,) = p.push(Entity.PURCHASE_ORDER, [Write("po1", po, "k-po1")])
        assert o.ok and o.remote is not None
        # Purchase lines take the purchase tax rule (GST on Expenses, 10%).
        assert (o.remote.record.total, o.remote.record.total_tax) == (Decimal("110.00"), Decimal("10.00"))  # type: ignore[attr-defined]
        bill = Bill(
            id="b1",
            supplier_id=s.remote.remote_id,
            number="SUP-881",
            date=dt.date.today(),
            lines=[line],
            purchase_order_id=o.remote.remote_id,
        )
        (b,) = p.push(Entity.BILL, [Write("b1", bill, "k-b1")])
        assert b.ok and b.remote is not None and b.remote.remote_id == o.remote.remote_id
        assert b.remote.record.number == "SUP-881" and b.remote.record.purchase_order_id == o.remote.remote_id  # type: ignore[attr-defined]
        orders = [r for page in p.pull(Entity.PURCHASE_ORDER, None) for r in page.records]
        assert [r.record.status for r in orders] == [PurchaseOrderStatus.BILLED]  # type: ignore[attr-defined]
        (alone,) = p.push(
            Entity.BILL, [Write("b2", bill.model_copy(update={"purchase_order_id": None, "number": "SUP-882"}), "k-b2")]
        )
        assert alone.ok and alone.remote is not None and alone.remote.record.purchase_order_id is None  # type: ignore[attr-defined]
        assert p.remove(Entity.BILL, Write("b2", bill, "k-b2-rm", alone.remote.remote_id)).error is None
        bills = {r.remote_id: r for page in p.pull(Entity.BILL, None) for r in page.records}
        assert bills[alone.remote.remote_id].deleted and not bills[b.remote.remote_id].deleted
    finally:
        p.close()


class SandboxTime:
    """A clock for the client's budget that is the sandbox's own: sleeping advances the sandbox's clock, so a
    run of minutes takes a moment and both sides count the same minutes."""

    def __init__(self, sb: SandboxHandle) -> None:
        self.sb = sb
        self.now = 1000.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.now += seconds
        self.slept += seconds
        self.sb.control.post("/_sandbox/clock", json={"advance_seconds": seconds}).raise_for_status()


def test_calls_are_paced_under_sixty_a_minute_and_never_meet_the_503(sandbox: SandboxHandle) -> None:
    t = SandboxTime(sandbox)
    backend = InMemoryBudgetBackend(clock=t.clock)
    p = DearProvider(
        {"base_url": sandbox.url, "account_id": sandbox.client_id, "application_key": sandbox.client_secret},
        budget=backend,
        sleep=t.sleep,
    )
    try:
        for _ in range(130):
            p.client.get("me")
    finally:
        p.close()
    counters = sandbox.counters()
    assert counters["rate_limited"] == 0 and counters["calls"]["GET /me"] == 130
    # 130 calls at 60 a minute need more than two minutes of the sandbox's clock.
    assert t.slept >= 120
    print(f"130 calls paced over {t.slept:.0f} s of sandbox time, 0 answered 503")


def test_a_503_is_the_rate_limit_every_call_waits_then_goes_again(sandbox: SandboxHandle) -> None:
    sandbox.control.put("/_sandbox/config", json={"rate_limits": {"per_minute": 3}}).raise_for_status()
    t = SandboxTime(sandbox)
    # The client believes it may make 1000 a minute (another installation shares the application): DEAR's 503
    # holds every call for DEAR's minute, and the call goes again.
    p = DearProvider(
        {
            "base_url": sandbox.url,
            "account_id": sandbox.client_id,
            "application_key": sandbox.client_secret,
            "per_minute": 1000,
            "max_attempts": 3,
        },
        budget=InMemoryBudgetBackend(clock=t.clock),
        sleep=t.sleep,
    )
    try:
        for _ in range(5):
            assert p.client.get("me")["Company"]
    finally:
        p.close()
    assert sandbox.counters()["rate_limited"] >= 1 and t.slept >= 60


def test_a_write_whose_answer_is_lost_is_not_sent_twice(sandbox: SandboxHandle) -> None:
    sandbox.control.put("/_sandbox/faults", json={"drop_after_commit_rate": 1.0, "methods": ["POST"]})
    p = provider(sandbox)
    try:
        with pytest.raises(ProviderError) as lost:
            p.push(Entity.CONTACT, [Write("c1", Contact(id="c1", name="Once Only"), "k1")])
        assert lost.value.error.code.value == "unknown_outcome"
        sandbox.control.delete("/_sandbox/faults")
        # DEAR has no idempotency key: the write is found by name, not sent again.
        found = p.find(Entity.CONTACT, [Write("c1", Contact(id="c1", name="Once Only"), "k1")])
        assert set(found) == {"c1"}
        assert [c["Name"] for c in sandbox.records("customer")] == ["Once Only"]
        assert sandbox.counters()["calls"]["POST /customer"] == 1
    finally:
        p.close()


def test_bad_settings_are_named(tmp_path: Path, sandbox: SandboxHandle) -> None:
    ls, org = open_ls(tmp_path)
    with pytest.raises(ValueError, match="page_size"):
        ls.connect(org, "dear", {"base_url": sandbox.url, "page_size": "5000"})
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{sandbox.url}/nothing-here").raise_for_status()


def test_a_key_dear_no_longer_accepts_asks_for_reconnection_and_stops_calls(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    ls, org = open_ls(tmp_path)
    conn = connect_dear(ls, org, sandbox, FAST)
    ls.upsert_contact(org, Contact(id="c1", name="Fay"))
    assert ls.sync(conn).status == "ok"
    # The application is deleted in DEAR (its key no longer works): the same as this connection holding a bad key.
    ls.update_settings(conn, {"application_key": "revoked-key"})
    ls.upsert_contact(org, Contact(id="c2", name="Gus"))
    assert ls.sync(conn).status == "needs_reconnect"
    assert ls.health(conn).status == "needs_reconnect"
    calls = sandbox.counters()["total_calls"]
    assert ls.sync(conn).status == "needs_reconnect"
    assert sandbox.counters()["total_calls"] == calls


def test_a_credit_note_from_the_app_lands_on_its_sale_and_both_sides_agree(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    ls, org = open_ls(tmp_path)
    conn = connect_dear(ls, org, sandbox, FAST)
    ls.upsert_contact(org, Contact(id="c1", name="Ann"))
    ls.upsert_invoice(
        org,
        Invoice(
            id="i1",
            contact_id="c1",
            number="A-1",
            date=dt.date.today(),
            lines=[InvoiceLine(description="Job", unit_amount=Decimal("100"))],
        ),
    )
    note = CreditNote(
        id="n1",
        contact_id="c1",
        number="CN-1",
        date=dt.date.today(),
        lines=[InvoiceLine(description="Back", unit_amount=Decimal("20"))],
        allocations=[Allocation(invoice_id="i1", amount=Decimal("20"))],
    )
    ls.upsert_many(org, [note])
    report = ls.sync(conn)
    assert report.status == "ok" and report.pushed == {"contact": 1, "invoice": 1, "credit_note": 1}
    (sale,) = sandbox.records("sale")
    assert sale["CustomerReference"] == "A-1" and [n["Memo"] for n in sale["CreditNotes"]] == ["CN-1"]
    assert sale["CreditNotes"][0]["Total"] == 20
    assert ls.sync(conn).pushed == {}
    assert ls.check(conn).agree
