"""The QBO connector against the QuickBooks Online sandbox over real loopback HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from ledgersync.model import (
    Allocation,
    Contact,
    ContactStatus,
    Entity,
    ErrorCode,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    ProviderError,
)
from ledgersync.providers.base import Write
from ledgersync.providers.qbo import QboOAuth, QboProvider

from ..fakes import MemoryTokenStore
from .sandbox import QboSandboxHandle, consent, qbo_sandbox

TODAY = dt.date.today()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[QboSandboxHandle]:
    with qbo_sandbox() as sb:
        yield sb


@pytest.fixture
def connected(sandbox: QboSandboxHandle) -> tuple[QboProvider, MemoryTokenStore]:
    flow = QboOAuth(sandbox.config)
    callback = consent(flow.authorization_url("st-1"), sandbox.realm_id)
    token = flow.exchange(callback)
    tenants = flow.tenants(token)
    assert [t.id for t in tenants] == [sandbox.realm_id]
    store = MemoryTokenStore(token)
    provider = QboProvider(sandbox.config, sandbox.realm_id, store)
    return provider, store


def w(key: str, record: object, remote_id: str | None = None, version: str | None = None) -> Write:
    return Write(
        key=key,
        record=record,
        idempotency_key=f"ls-{key}-{remote_id or 'new'}-{version or 0}",
        remote_id=remote_id,
        remote_version=version,
    )  # type: ignore[arg-type]


def push_ok(provider: QboProvider, entity: Entity, writes: list[Write]) -> list[str]:
    results = provider.push(entity, writes)
    assert all(r.ok for r in results), [r.error for r in results]
    return [r.remote.remote_id for r in results if r.remote]


def test_the_consent_flow_names_the_company_from_the_redirects_realm(sandbox: QboSandboxHandle) -> None:
    flow = QboOAuth(sandbox.config)
    callback = consent(flow.authorization_url("st-9"), sandbox.realm_id)
    assert "realmId=" in callback and "state=st-9" in callback
    tenants = flow.tenants(flow.exchange(callback))
    assert [t.id for t in tenants] == [sandbox.realm_id] and tenants[0].name


def test_customers_invoices_and_a_payment_to_two_invoices_round_trip(
    connected: tuple[QboProvider, MemoryTokenStore],
) -> None:
    provider, _ = connected
    parent, child = push_ok(
        provider,
        Entity.CONTACT,
        [
            w("c1", Contact(id="c1", name="Ava Nguyen RT", email="ava@example.com")),
            w("c2", Contact(id="c2", name="Bo Smith RT")),
        ],
    )
    [job] = push_ok(provider, Entity.CONTACT, [w("c3", Contact(id="c3", name="Ava's van RT", parent_id=parent))])
    lines = [InvoiceLine(description="Labour", quantity=Decimal(2), unit_amount=Decimal("60.25"))]
    inv1, inv2 = push_ok(
        provider,
        Entity.INVOICE,
        [
            w("i1", Invoice(id="i1", contact_id=parent, number="RT-1", date=TODAY, currency="USD", lines=lines)),
            w("i2", Invoice(id="i2", contact_id=parent, number="RT-2", date=TODAY, currency="USD", lines=lines)),
        ],
    )
    payment = Payment(
        id="p1",
        date=TODAY,
        amount=Decimal("250.00"),
        currency="USD",
        reference="EFT 1",
        allocations=[
            Allocation(invoice_id=inv1, amount=Decimal("120.50")),
            Allocation(invoice_id=inv2, amount=Decimal("100.00")),
        ],
    )
    [pay] = push_ok(provider, Entity.PAYMENT, [w("p1", payment)])

    fetched = {r.remote_id: r for r in provider.fetch(Entity.INVOICE, [inv1, inv2])}
    first, second = fetched[inv1].record, fetched[inv2].record
    assert isinstance(first, Invoice) and isinstance(second, Invoice)
    assert first.status is InvoiceStatus.PAID and first.amount_due == Decimal("0.00")
    assert second.amount_due == Decimal("20.50") and second.amount_paid == Decimal("100.00")
    [remote_pay] = provider.fetch(Entity.PAYMENT, [pay])
    assert remote_pay.record == payment.model_copy(
        update={"id": pay, "contact_id": parent, "account_code": remote_pay.record.account_code}
    )  # type: ignore[union-attr]
    assert remote_pay.doc_number == "RT-1"
    [sub] = provider.fetch(Entity.CONTACT, [job])
    assert sub.record.parent_id == parent  # type: ignore[union-attr]

    pages = list(provider.pull(Entity.PAYMENT, None))
    assert pay in {r.remote_id for p in pages for r in p.records}
    assert child


def test_a_duplicate_name_is_refused_per_item_with_a_plain_reason(
    connected: tuple[QboProvider, MemoryTokenStore],
) -> None:
    provider, _ = connected
    push_ok(provider, Entity.CONTACT, [w("d1", Contact(id="d1", name="Dup Name Co"))])
    results = provider.push(
        Entity.CONTACT, [w("d2", Contact(id="d2", name="Dup Name Co")), w("d3", Contact(id="d3", name="Fresh Name Co"))]
    )
    assert results[0].error is not None and results[0].error.code is ErrorCode.DUPLICATE_NAME
    assert results[0].error.platform_code == "6240"
    assert results[1].ok
    found = provider.find(Entity.CONTACT, [w("d2", Contact(id="d2", name="Dup Name Co"))])
    assert "d2" in found


def test_a_stale_sync_token_on_an_invoice_is_re_read_and_retried(
    connected: tuple[QboProvider, MemoryTokenStore], sandbox: QboSandboxHandle
) -> None:
    provider, _ = connected
    [cust] = push_ok(provider, Entity.CONTACT, [w("s1", Contact(id="s1", name="Stale Co"))])
    invoice = Invoice(
        id="x",
        contact_id=cust,
        number="ST-1",
        date=TODAY,
        currency="USD",
        lines=[InvoiceLine(description="a", unit_amount=Decimal(10))],
    )
    result = provider.push(Entity.INVOICE, [w("x", invoice)])[0]
    assert result.remote is not None
    remote_id, version = result.remote.remote_id, result.remote.version
    # Someone edits it in QuickBooks: the SyncToken we hold is now stale.
    sandbox.as_user("invoice", {"Id": remote_id, "SyncToken": version, "sparse": True, "CustomerMemo": {"value": "hi"}})
    edited = invoice.model_copy(update={"lines": [InvoiceLine(description="b", unit_amount=Decimal(12))]})
    again = provider.push(Entity.INVOICE, [w("x", edited, remote_id, version)])[0]
    assert again.ok, again.error
    assert again.remote is not None and int(again.remote.version) >= int(version) + 2


def test_a_stale_sync_token_on_a_customer_is_a_conflict_left_to_the_next_cycle(
    connected: tuple[QboProvider, MemoryTokenStore], sandbox: QboSandboxHandle
) -> None:
    provider, _ = connected
    result = provider.push(Entity.CONTACT, [w("k1", Contact(id="k1", name="Conflict Co"))])[0]
    assert result.remote is not None
    rid, version = result.remote.remote_id, result.remote.version
    sandbox.as_user("customer", {"Id": rid, "SyncToken": version, "sparse": True, "GivenName": "Edited"})
    again = provider.push(
        Entity.CONTACT, [w("k1", Contact(id="k1", name="Conflict Co", email="x@example.com"), rid, version)]
    )[0]
    assert again.error is not None and again.error.code is ErrorCode.CONFLICT


def test_remove_voids_an_invoice_deletes_a_payment_and_inactivates_a_customer(
    connected: tuple[QboProvider, MemoryTokenStore],
) -> None:
    provider, _ = connected
    [cust] = push_ok(provider, Entity.CONTACT, [w("r1", Contact(id="r1", name="Remove Co"))])
    line = [InvoiceLine(description="a", unit_amount=Decimal(10))]
    [inv, inv2] = push_ok(
        provider,
        Entity.INVOICE,
        [
            w("ri", Invoice(id="ri", contact_id=cust, number="RM-1", date=TODAY, currency="USD", lines=line)),
            w("ri2", Invoice(id="ri2", contact_id=cust, number="RM-2", date=TODAY, currency="USD", lines=line)),
        ],
    )
    pay = Payment(
        id="rp",
        date=TODAY,
        amount=Decimal(10),
        currency="USD",
        allocations=[Allocation(invoice_id=inv2, amount=Decimal(10))],
    )
    [pid] = push_ok(provider, Entity.PAYMENT, [w("rp", pay)])
    voided = provider.remove(Entity.INVOICE, w("ri", Invoice(id=inv, contact_id=cust, date=TODAY), inv))
    assert voided.ok and voided.remote is not None and voided.remote.deleted
    locked = provider.remove(Entity.INVOICE, w("ri2", Invoice(id=inv2, contact_id=cust, date=TODAY), inv2))
    assert locked.error is not None and locked.error.code is ErrorCode.DOCUMENT_LOCKED
    deleted = provider.remove(Entity.PAYMENT, w("rp", pay, pid))
    assert deleted.ok and deleted.remote is not None and deleted.remote.deleted
    # The deletion shows in the next pull through CDC.
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    pulled = [r for page in provider.pull(Entity.PAYMENT, since) for r in page.records]
    assert any(r.remote_id == pid and r.deleted for r in pulled)
    inactive = provider.remove(Entity.CONTACT, w("r1", Contact(id=cust, name="Remove Co"), cust))
    assert inactive.ok and inactive.remote is not None and inactive.remote.archived
    assert inactive.remote.record.status is ContactStatus.ARCHIVED  # type: ignore[union-attr]
    # Pulls include inactive customers; an invoice for one is refused as an archived contact.
    assert cust in {r.remote_id for p in provider.pull(Entity.CONTACT, None) for r in p.records}
    refused = provider.push(
        Entity.INVOICE, [w("ri3", Invoice(id="ri3", contact_id=cust, date=TODAY, currency="USD", lines=line))]
    )[0]
    assert refused.error is not None and refused.error.code is ErrorCode.ARCHIVED_CONTACT
    restored = provider.restore(Entity.CONTACT, w("r1", Contact(id=cust, name="Remove Co"), cust))
    assert restored.ok and restored.remote is not None and not restored.remote.archived


def test_an_expired_access_token_is_refreshed_once_and_a_revoked_one_asks_to_reconnect(
    connected: tuple[QboProvider, MemoryTokenStore], sandbox: QboSandboxHandle
) -> None:
    provider, store = connected
    sandbox.control.post("/_sandbox/tokens/expire").raise_for_status()
    assert provider.fetch(Entity.CONTACT, ["1"]) is not None
    assert store.refreshes == 1
    sandbox.control.post("/_sandbox/tokens/revoke", json={}).raise_for_status()
    with pytest.raises(ProviderError) as caught:
        provider.fetch(Entity.CONTACT, ["1"])
    assert caught.value.error.code in (ErrorCode.AUTH_REVOKED, ErrorCode.AUTH_EXPIRED)


def test_pull_pages_through_every_change_once_even_when_stamps_tie(
    connected: tuple[QboProvider, MemoryTokenStore], sandbox: QboSandboxHandle
) -> None:
    provider, store = connected
    ids = push_ok(provider, Entity.CONTACT, [w(f"pg{i}", Contact(id=f"pg{i}", name=f"Paged {i}")) for i in range(7)])
    small = QboProvider({**sandbox.config, "page_size": "2"}, sandbox.realm_id, store)
    pages = list(small.pull(Entity.CONTACT, None))
    seen = [r.remote_id for p in pages for r in p.records]
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))
    cursor = pages[-1].cursor
    assert cursor is not None
    # From the cursor, only what changed since (within the look-back) comes back.
    later = [r.remote_id for p in small.pull(Entity.CONTACT, cursor) for r in p.records]
    assert set(later) <= set(seen)


def test_a_replayed_write_with_the_same_requestid_creates_nothing_new(
    connected: tuple[QboProvider, MemoryTokenStore], sandbox: QboSandboxHandle
) -> None:
    provider, _ = connected
    write = w("rep", Contact(id="rep", name="Replay Co"))
    first = provider.push(Entity.CONTACT, [write])[0]
    second = provider.push(Entity.CONTACT, [write])[0]
    assert first.ok and second.ok and first.remote and second.remote
    assert first.remote.remote_id == second.remote.remote_id
    assert [c["DisplayName"] for c in sandbox.records("Customer")].count("Replay Co") == 1


def test_find_learns_whether_invoices_and_a_split_payment_landed(
    connected: tuple[QboProvider, MemoryTokenStore],
) -> None:
    provider, _ = connected
    [cust] = push_ok(provider, Entity.CONTACT, [w("f1", Contact(id="f1", name="Find Co"))])
    lines = [InvoiceLine(description="a", unit_amount=Decimal("50.00"))]
    invoices = [
        Invoice(id=f"fi{n}", contact_id=cust, number=f"FD-{n}", date=TODAY, currency="USD", lines=lines) for n in (1, 2)
    ]
    inv1, inv2 = push_ok(provider, Entity.INVOICE, [w(i.id, i) for i in invoices])
    payment = Payment(
        id="fp",
        date=TODAY,
        amount=Decimal("90.00"),
        currency="USD",
        reference="Cheque 7",
        allocations=[
            Allocation(invoice_id=inv1, amount=Decimal("50.00")),
            Allocation(invoice_id=inv2, amount=Decimal("40.00")),
        ],
    )
    [pid] = push_ok(provider, Entity.PAYMENT, [w("fp", payment)])
    found = provider.find(
        Entity.INVOICE, [w(i.id, i) for i in invoices] + [w("fx", invoices[0].model_copy(update={"number": "NOPE"}))]
    )
    assert {k: r.remote_id for k, r in found.items()} == {"fi1": inv1, "fi2": inv2}
    other = payment.model_copy(update={"reference": "Cheque 8"})
    paid = provider.find(Entity.PAYMENT, [w("fp", payment), w("other", other)])
    assert {k: r.remote_id for k, r in paid.items()} == {"fp": pid}
