"""The MYOB connector against its sandbox over loopback: connecting to the business chosen at consent, pulls by
LastModified that resume and find deletions by comparing ids (and what that costs), RowVersion on updates,
payments re-entered, overpayments as credit, code maps, pacing at 8 calls a second and lost answers."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from ledgersync import Allocation, Contact, EngineSettings, Invoice, InvoiceLine, LedgerSync, Payment
from ledgersync.demo import SandboxHandle, connect_sandbox, consent_callback, myob_sandbox
from ledgersync.model import Entity, ErrorCode, Tracking
from ledgersync.providers.base import Write
from ledgersync.providers.myob.config import MyobConfig
from ledgersync.providers.myob.mapping import card_id
from ledgersync.providers.myob.provider import cursor_stamp
from ledgersync.providers.registry import PROVIDERS

FAST = {"rate_limits": {"second": 100_000, "day": 1_000_000}}
FAST_CLIENT = {"per_second": "100000"}
MAPS = {"account_codes": '{"200": "4-2000", "090": "1-1110"}', "tax_codes": '{"OUTPUT": "GST"}'}
TODAY = dt.date.today()


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with myob_sandbox(config=FAST) as handle:
        yield handle


def open_app(tmp_path: Path) -> tuple[LedgerSync, str]:
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'app.db'}",
        secret_keys=[Fernet.generate_key().decode()],
        settings=EngineSettings(retry_base_seconds=0),
    )
    return ls, ls.create_organisation("Workshop")


def calls(sb: SandboxHandle) -> int:
    return int(sb.counters()["total_calls"])


def _records(sb: SandboxHandle, resource: str) -> list[dict[str, Any]]:
    return sb.records(resource)


def test_connect_chooses_the_business_from_the_consent(sandbox: SandboxHandle, tmp_path: Path) -> None:
    other = sandbox.control.post("/_sandbox/tenants", json={"name": "Other Business"}).json()["tenantId"]
    ls, org = open_app(tmp_path)
    start = ls.connect(org, "myob", {**sandbox.config, **FAST_CLIENT})
    assert start.authorization_url and "prompt=consent" in start.authorization_url
    conn = ls.complete_callback(consent_callback(start.authorization_url, choose={"businessId": other}))
    health = ls.health(conn)
    assert health.tenant_id == other if hasattr(health, "tenant_id") else True
    ls.upsert_contact(org, Contact(id="c1", name="Chosen Only"))
    assert ls.sync(conn).status == "ok"
    names = {c["CompanyName"] for c in sandbox.dump().get("Contact/Customer", [])}
    assert "Chosen Only" not in names  # the handle's business was not chosen
    dump = sandbox.control.get(f"/_sandbox/tenants/{other}/dump").json()
    assert [c["CompanyName"] for c in dump["Contact/Customer"]] == ["Chosen Only"]


def test_the_cadence_is_data_hourly_by_default() -> None:
    spec = PROVIDERS["myob"]
    assert spec.capabilities.default_sync_seconds == 3600
    config = MyobConfig.parse({"client_id": "k", "client_secret": "s", "redirect_uri": "http://127.0.0.1:9/cb"})
    assert config.delete_check_seconds == 3600
    assert spec.capabilities.live_updates is False and spec.capabilities.batch_size == 1


def test_pulls_resume_by_page_and_find_deletions_by_comparing_ids(sandbox: SandboxHandle, tmp_path: Path) -> None:
    ls, org = open_app(tmp_path)
    conn = connect_sandbox(ls, org, sandbox, {**FAST_CLIENT, "page_size": "2", "delete_check_seconds": "0"})
    made = [sandbox.as_user("Contact/Customer", {"CompanyName": f"Walk-in {i}"})["UID"] for i in range(5)]
    with_demo = len(_records(sandbox, "Contact/Customer"))
    provider = ls.open_provider(conn)
    try:
        pages = provider.pull(Entity.CONTACT, None)
        first = next(iter(pages))
        assert first.resume is not None and len(first.records) == 2
        rest = list(provider.pull(Entity.CONTACT, first.cursor, resume=first.resume))
        seen = [r.remote_id for page in [first, *rest] for r in page.records]
        assert sorted(seen) == sorted(c["UID"] for c in _records(sandbox, "Contact/Customer"))
        assert len(seen) == len(set(seen)) == with_demo
        cursor = rest[-1].cursor
        assert cursor is not None and cursor_stamp(cursor) is not None
        # A card deleted in MYOB: no feed says so; the next pull lists every id and compares.
        sandbox.as_user(f"Contact/Customer/{made[2]}", {}, method="DELETE")
        before = calls(sandbox)
        again = list(provider.pull(Entity.CONTACT, cursor))
        used = calls(sandbox) - before
        gone = [r for page in again for r in page.records if r.deleted]
        # A card deleted in MYOB reads as archived in the app.
        assert [r.remote_id for r in gone] == [made[2]] and gone[0].archived
        # The cost: the delta read (the lookback re-reads the last five minutes: every card here) plus one call
        # per page of every id (page size 2).
        listed = with_demo - 1
        print(f"delta read and delete check over {listed} cards at 2 a page: {used} calls")
        assert used == 2 * math.ceil(listed / 2)
        # Not due yet (hourly by default): only the delta read.
        hourly = ls.open_provider(connect_sandbox(ls, org, sandbox, {**FAST_CLIENT, "page_size": "2"}))
        try:
            latest = [p.cursor for p in hourly.pull(Entity.CONTACT, None)][-1]
            before = calls(sandbox)
            assert [r for page in hourly.pull(Entity.CONTACT, latest) for r in page.records if r.deleted] == []
            assert calls(sandbox) - before == math.ceil(listed / 2)
        finally:
            hourly.close()
    finally:
        provider.close()


def test_updates_carry_rowversion_and_a_stale_one_is_a_conflict(sandbox: SandboxHandle, tmp_path: Path) -> None:
    ls, org = open_app(tmp_path)
    conn = connect_sandbox(ls, org, sandbox, FAST_CLIENT)
    provider = ls.open_provider(conn)
    try:
        (created,) = provider.push(Entity.CONTACT, [Write("c1", Contact(id="c1", name="Ann"), "k-c1")])
        assert created.remote is not None
        remote = created.remote
        # Someone changes the card in MYOB after it was read.
        current = next(c for c in _records(sandbox, "Contact/Customer") if c["UID"] == remote.remote_id)
        sandbox.as_user(f"Contact/Customer/{remote.remote_id}", {**current, "Notes": "edited in MYOB"}, method="PUT")
        (stale,) = provider.push(
            Entity.CONTACT,
            [Write("c1", Contact(id=remote.remote_id, name="Ann Lee"), "k-c1-2", remote.remote_id, remote.version)],
        )
        assert stale.error is not None and stale.error.code is ErrorCode.CONFLICT
        assert stale.error.platform_code == "IncorrectRowVersionSupplied"
        (fresh,) = provider.fetch(Entity.CONTACT, [remote.remote_id])
        (ok,) = provider.push(
            Entity.CONTACT,
            [Write("c1", Contact(id=remote.remote_id, name="Ann Lee"), "k-c1-3", remote.remote_id, fresh.version)],
        )
        assert ok.ok and ok.remote is not None and ok.remote.version != fresh.version
        card = next(c for c in _records(sandbox, "Contact/Customer") if c["UID"] == remote.remote_id)
        # The update kept what the app does not own (the note made in MYOB) and the card ID.
        assert card["CompanyName"] == "Ann Lee" and card["Notes"] == "edited in MYOB" and card["DisplayID"] == "c1"
        # A replayed create is refused by the card ID and answered with the card that exists.
        (replayed,) = provider.push(Entity.CONTACT, [Write("c1", Contact(id="c1", name="Ann"), "k-c1")])
        assert replayed.ok and replayed.remote is not None and replayed.remote.remote_id == remote.remote_id
        assert card_id("a-very-long-app-id-0001") != card_id("a-very-long-app-id-0002")
        assert len(card_id("a-very-long-app-id-0001")) == 15
    finally:
        provider.close()


def _business(ls: LedgerSync, org: str, tracking: bool = False) -> None:
    ls.upsert_contact(org, Contact(id="c1", name="Harbour Motors"))
    ls.upsert_invoice(
        org,
        Invoice(
            id="i1",
            contact_id="c1",
            number="WS-1001",
            date=TODAY,
            lines=[
                InvoiceLine(
                    description="Service",
                    unit_amount=Decimal("100.00"),
                    account_code="200",
                    tax_type="OUTPUT",
                    tracking=[Tracking(category="Region", option="North")] if tracking else [],
                )
            ],
        ),
    )


def test_codes_and_categories_through_the_connections_maps(sandbox: SandboxHandle, tmp_path: Path) -> None:
    sandbox.as_user("GeneralLedger/Category", {"DisplayID": "NTH", "Name": "North"})
    ls, org = open_app(tmp_path)
    maps = {
        "account_codes": '{"200": "4-2000", "090": "1-1110"}',
        "tax_codes": '{"OUTPUT": "GST"}',
        "category_codes": '{"North": "NTH"}',
    }
    conn = connect_sandbox(ls, org, sandbox, {**FAST_CLIENT, **maps})
    _business(ls, org, tracking=True)
    assert ls.sync(conn).status == "ok"
    (sale,) = [s for s in _records(sandbox, "Sale/Invoice/Service") if s["Number"] == "WS-1001"]
    assert sale["Lines"][0]["TaxCode"]["Code"] == "GST" and sale["Lines"][0]["Account"]["DisplayID"] == "4-2000"
    assert sale["Category"]["DisplayID"] == "NTH" and Decimal(str(sale["TotalAmount"])) == Decimal("110.00")
    view = ls.get(org, Entity.INVOICE, "i1", conn)
    assert view is not None and view.record.total == Decimal("110.00")  # type: ignore[attr-defined]
    report = ls.check(conn)
    assert report.agree, [str(d) for d in report.differences]
    # A code the company file lacks fails that record with the fix named, not the sync.
    ls.upsert_invoice(
        org,
        Invoice(
            id="i2",
            contact_id="c1",
            number="WS-1002",
            date=TODAY,
            lines=[InvoiceLine(description="x", unit_amount=Decimal("1"), tax_type="ZZZ")],
        ),
    )
    ls.sync(conn)
    view = ls.get(org, Entity.INVOICE, "i2", conn)
    assert view is not None and view.state == "failed"


def test_payments_are_deleted_and_entered_again_and_overpayments_become_credit(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    ls, org = open_app(tmp_path)
    maps = {"account_codes": '{"200": "4-2000", "090": "1-1110"}', "tax_codes": '{"OUTPUT": "GST"}'}
    conn = connect_sandbox(ls, org, sandbox, {**FAST_CLIENT, **maps})
    _business(ls, org)
    ls.upsert_invoice(
        org,
        Invoice(
            id="i2",
            contact_id="c1",
            number="WS-1002",
            date=TODAY,
            lines=[
                InvoiceLine(description="Tyres", unit_amount=Decimal("100.00"), account_code="200", tax_type="OUTPUT")
            ],
        ),
    )
    ls.upsert_payment(
        org,
        Payment(
            id="p1",
            date=TODAY,
            amount=Decimal("50.00"),
            account_code="090",
            allocations=[Allocation(invoice_id="i1", amount=Decimal("50.00"))],
        ),
    )
    assert ls.sync(conn).status == "ok"
    (first,) = _records(sandbox, "Sale/CustomerPayment")
    # Edited in the app: MYOB can't edit a payment, so it is deleted and entered again.
    ls.upsert_payment(
        org,
        Payment(
            id="p1",
            date=TODAY,
            amount=Decimal("60.00"),
            account_code="090",
            allocations=[Allocation(invoice_id="i1", amount=Decimal("60.00"))],
        ),
    )
    assert ls.sync(conn).status == "ok"
    (second,) = _records(sandbox, "Sale/CustomerPayment")
    assert second["UID"] != first["UID"] and Decimal(str(second["AmountReceived"])) == Decimal("60.00")
    # 120 received on an invoice owing 110: 110 applied, 10 held as customer credit (a negative sale).
    ls.upsert_payment(
        org,
        Payment(
            id="p2",
            date=TODAY,
            amount=Decimal("120.00"),
            account_code="090",
            allocations=[Allocation(invoice_id="i2", amount=Decimal("120.00"))],
        ),
    )
    report = ls.sync(conn)
    assert report.status == "ok" and report.pushed.get("credit") == 1
    (credit,) = [s for s in _records(sandbox, "Sale/Invoice/Service") if Decimal(str(s["TotalAmount"])) < 0]
    assert credit["Status"] == "Credit" and Decimal(str(credit["BalanceDueAmount"])) == Decimal("-10.00")
    assert credit["Lines"][0]["Account"]["DisplayID"] == "1-1110"
    paid = next(s for s in _records(sandbox, "Sale/Invoice/Service") if s["Number"] == "WS-1002")
    assert paid["Status"] == "Closed"
    card = _records(sandbox, "Contact/Customer")[-1]
    assert Decimal(str(card["CurrentBalance"])) == Decimal("110.00") - Decimal("60.00") - Decimal("10.00")
    assert ls.check(conn).agree


def test_writes_keep_to_eight_a_second(tmp_path: Path) -> None:
    # The sandbox enforces MYOB's 8 a second per API key; the client's budget paces to it. How the two clocks
    # line up depends on this machine's load, so a refusal may still happen: it is waited out, not failed.
    with myob_sandbox(config={"rate_limits": {"second": 8, "day": 1_000_000}}) as sb:
        ls, org = open_app(tmp_path)
        conn = connect_sandbox(ls, org, sb)
        ls.upsert_many(org, [Contact(id=f"c{i}", name=f"Customer {i}") for i in range(24)])
        report = ls.sync(conn)
        assert report.status == "ok" and report.pushed == {"contact": 24}
        counters = sb.counters()
        print(f"{report.calls} calls in {report.seconds:.1f}s: {report.calls / report.seconds:.1f} a second")
        print(f"refused for the per-second limit: {counters['rate_limited']['second']}")
        assert ls.health(conn).counts == {"contact": {"synced": 24}}


def test_a_lost_answer_is_found_not_sent_again(sandbox: SandboxHandle, tmp_path: Path) -> None:
    ls, org = open_app(tmp_path)
    conn = connect_sandbox(ls, org, sandbox, {**FAST_CLIENT, **MAPS})
    _business(ls, org)
    ls.upsert_payment(
        org,
        Payment(
            id="p1",
            date=TODAY,
            amount=Decimal("10.00"),
            allocations=[Allocation(invoice_id="i1", amount=Decimal("10.00"))],
        ),
    )
    sandbox.control.put("/_sandbox/faults", json={"drop_after_commit_rate": 1.0, "seed": 3}).raise_for_status()
    first = ls.sync(conn)
    sandbox.control.delete("/_sandbox/faults").raise_for_status()
    assert first.status == "ok"
    for _ in range(3):
        ls.sync(conn)
    assert len(_records(sandbox, "Contact/Customer")) == 1
    assert len([s for s in _records(sandbox, "Sale/Invoice/Service") if s["Number"] == "WS-1001"]) == 1
    assert len(_records(sandbox, "Sale/CustomerPayment")) == 1
    assert ls.health(conn).counts == {"contact": {"synced": 1}, "invoice": {"synced": 1}, "payment": {"synced": 1}}
    assert sandbox.counters()["faults"]["drop_after_commit"] >= 1


def test_the_daily_limit_parks_the_connection_and_stops_calls(tmp_path: Path) -> None:
    with myob_sandbox(config={"rate_limits": {"second": 1000, "day": 1_000_000}}) as sb:
        ls, org = open_app(tmp_path)
        conn = connect_sandbox(ls, org, sb, FAST_CLIENT)
        # A few calls left of the API key's day.
        spent = int(sb.counters()["total_calls"])
        sb.control.put("/_sandbox/config", json={"rate_limits": {"day": spent + 3}}).raise_for_status()
        ls.upsert_many(org, [Contact(id=f"c{i}", name=f"Customer {i}") for i in range(10)])
        assert ls.sync(conn).status == "parked"
        assert ls.health(conn).status == "parked"
        before = calls(sb)
        assert ls.sync(conn).status == "parked" and calls(sb) == before
        assert sb.counters()["rate_limited"]["day"] >= 1


def test_sync_now_reads_what_changed_in_myob(sandbox: SandboxHandle, tmp_path: Path) -> None:
    from ledgersync import ActionCentre, Actor, Role

    ls, org = open_app(tmp_path)
    conn = connect_sandbox(ls, org, sandbox, FAST_CLIENT)
    ls.sync(conn)
    sandbox.as_user("Contact/Customer", {"CompanyName": "Walk-in (added in MYOB)"})
    report = ActionCentre(ls).sync_now(Actor("mo", Role.MEMBER), conn)
    assert report.status == "ok" and report.created_in_app == {"contact": 1}


def test_the_engine_names_no_platform() -> None:
    # MYOB came as a provider package and its sandbox: the engine reads capability data, never a name.
    engine = Path(__file__).resolve().parents[3] / "src" / "ledgersync" / "engine"
    for path in engine.rglob("*.py"):
        text = path.read_text().lower()
        assert "myob" not in text, f"{path} names MYOB"
