"""XeroProvider against the Xero sandbox over loopback HTTP: connect, push, pull, find, remove, tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from ledgersync.model import (
    Allocation,
    Contact,
    Entity,
    ErrorCode,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    ProviderError,
)
from ledgersync.providers.base import CallInfo, Write
from ledgersync.providers.registry import PROVIDERS
from ledgersync.providers.xero import XeroProvider, new_state, parse_callback

from ..fakes import MemoryTokenStore

sandbox_server = pytest.importorskip("ledgersync.sandbox.server")
sandbox_xero = pytest.importorskip("ledgersync.sandbox.xero")

REDIRECT = "http://127.0.0.1:9/callback"


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.fields.setdefault(str(a["name"]), []).append(a.get("value") or "")


@dataclass
class Live:
    url: str
    http: httpx.Client
    tenant_id: str
    config: dict[str, str]
    tokens: MemoryTokenStore
    provider: XeroProvider

    def control(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return self.http.request(method, f"{self.url}/_sandbox{path}", json=json)

    def dump(self) -> dict[str, Any]:
        return dict(self.control("GET", f"/tenants/{self.tenant_id}/dump").json())


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with sandbox_server.serve_in_thread(sandbox_xero.create_app()) as running:
        yield running


def connect(url: str, http: httpx.Client, config: dict[str, str]) -> tuple[str, MemoryTokenStore, list[str]]:
    """The consent flow as a person and the engine would run it, through the public OAuthFlow."""
    oauth = PROVIDERS["xero"].oauth(config)
    state = new_state()
    page = http.get(oauth.authorization_url(state))
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    form.fields["action"] = ["allow"]
    answer = http.post(f"{url}/identity/connect/authorize", data=form.fields, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    code, returned_state = parse_callback(answer.headers["location"])
    assert returned_state == state
    token = oauth.exchange(code)
    tenants = oauth.tenants(token)
    return tenants[0].id, MemoryTokenStore(token), [t.id for t in tenants]


@pytest.fixture
def live(server: Any) -> Iterator[Live]:
    with httpx.Client(timeout=10) as http:
        url = server.url
        assert http.post(f"{url}/_sandbox/reset").status_code == 200
        tenant = http.post(f"{url}/_sandbox/tenants", json={"name": "Demo Co"}).json()["tenantId"]
        app = {"client_id": "ls-app", "client_secret": "ls-secret", "redirect_uris": [REDIRECT]}
        assert http.post(f"{url}/_sandbox/apps", json=app).status_code == 201
        config = {
            "client_id": "ls-app",
            "client_secret": "ls-secret",
            "redirect_uri": REDIRECT,
            "base_url": url,
            "timeout": "3",
            "max_retry_seconds": "5",
        }
        tenant_id, tokens, _ = connect(url, http, config)
        assert tenant_id == tenant
        provider = XeroProvider(config, tenant_id, tokens)
        yield Live(url, http, tenant_id, config, tokens, provider)
        provider.close()


def contact(name: str, **kw: Any) -> Contact:
    return Contact(id="x", name=name, **kw)


def write(key: str, record: Any, remote_id: str | None = None) -> Write:
    return Write(
        key=key, record=record, idempotency_key=f"conn1:{key}:{remote_id or 'new'}", remote_id=remote_id
    )


def invoice(contact_id: str, number: str, status: InvoiceStatus = InvoiceStatus.AUTHORISED) -> Invoice:
    return Invoice(
        id="x",
        contact_id=contact_id,
        number=number,
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 30),
        status=status,
        reference="job 7",
        lines=[
            InvoiceLine(
                description="Brake pads",
                quantity=Decimal("2"),
                unit_amount=Decimal("45.50"),
                account_code="200",
            ),
            InvoiceLine(
                description="Labour", quantity=Decimal("1.5"), unit_amount=Decimal("90"), account_code="200"
            ),
        ],
    )


def payment(invoice_id: str, amount: str, reference: str = "EFT 1") -> Payment:
    value = Decimal(amount)
    return Payment(
        id="x",
        date=dt.date(2026, 11, 5),
        amount=value,
        reference=reference,
        allocations=[Allocation(invoice_id=invoice_id, amount=value)],
    )


def push_one(live: Live, entity: Entity, w: Write) -> Any:
    [result] = live.provider.push(entity, [w])
    assert result.ok, result.error
    assert result.remote is not None
    return result.remote


def test_the_connect_flow_yields_a_working_connection(live: Live) -> None:
    calls: list[CallInfo] = []
    live.provider.on_call = calls.append
    assert list(live.provider.pull(Entity.CONTACT, None))
    assert calls and calls[0].status == 200


def test_contacts_are_created_in_one_batch_and_carry_the_app_id(live: Live) -> None:
    results = live.provider.push(
        Entity.CONTACT,
        [write("app-1", contact("Ann Lee", email="ann@example.com")), write("app-2", contact("Bo"))],
    )
    assert [r.ok for r in results] == [True, True]
    assert results[0].remote is not None and results[0].remote.external_id == "app-1"
    stored = {c["Name"]: c for c in live.dump()["Contacts"]}
    assert stored["Ann Lee"]["ContactNumber"] == "app-1"


def test_a_duplicate_name_fails_only_its_own_element(live: Live) -> None:
    push_one(live, Entity.CONTACT, write("app-1", contact("Ann Lee")))
    results = live.provider.push(
        Entity.CONTACT, [write("app-2", contact("Cy")), write("app-3", contact("Ann Lee"))]
    )
    assert results[0].ok
    assert results[1].error is not None and results[1].error.code is ErrorCode.DUPLICATE_NAME
    assert results[1].error.platform_message and "already assigned" in results[1].error.platform_message


def test_pull_reads_everything_then_only_changes_since_the_cursor(live: Live) -> None:
    remote = push_one(live, Entity.CONTACT, write("app-1", contact("Ann Lee")))
    pages = list(live.provider.pull(Entity.CONTACT, None))
    names = {r.record.name for p in pages for r in p.records}  # type: ignore[attr-defined]
    assert "Ann Lee" in names
    cursor = pages[-1].cursor
    assert cursor is not None
    updated = push_one(live, Entity.CONTACT, write("app-1", contact("Ann Lee-Smith"), remote.remote_id))
    later = [r for p in live.provider.pull(Entity.CONTACT, cursor) for r in p.records]
    assert updated.remote_id in {r.remote_id for r in later}
    assert max(p.cursor or "" for p in live.provider.pull(Entity.CONTACT, cursor)) >= cursor


def test_a_malformed_cursor_raises_instead_of_a_full_sync(live: Live) -> None:
    with pytest.raises(ProviderError):
        list(live.provider.pull(Entity.CONTACT, "last tuesday"))


def test_pull_pages_through_with_a_small_page_size(live: Live) -> None:
    live.provider.page_size = 2
    live.provider.push(Entity.CONTACT, [write(f"app-{i}", contact(f"C{i}")) for i in range(5)])
    pages = list(live.provider.pull(Entity.CONTACT, None))
    ids = [r.remote_id for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) >= 5
    assert len(pages) >= 3


def test_find_locates_contacts_by_app_id_then_by_active_name(live: Live) -> None:
    a = push_one(live, Entity.CONTACT, write("app-1", contact("Ann Lee")))
    live.control(
        "PUT", f"/tenants/{live.tenant_id}/as-user/Contacts", {"Contacts": [{"Name": "Typed In Xero"}]}
    )
    found = live.provider.find(
        Entity.CONTACT,
        [
            write("app-1", contact("Renamed")),
            write("app-9", contact("Typed In Xero")),
            write("app-8", contact("Nope")),
        ],
    )
    assert found["app-1"].remote_id == a.remote_id
    assert found["app-9"].record.name == "Typed In Xero"  # type: ignore[attr-defined]
    assert "app-8" not in found


def test_an_invoice_round_trips_and_is_found_by_number(live: Live) -> None:
    c = push_one(live, Entity.CONTACT, write("app-c", contact("Ann Lee")))
    inv = push_one(live, Entity.INVOICE, write("app-i", invoice(c.remote_id, "INV-100")))
    assert (inv.record.total, inv.record.total_tax) == (Decimal("248.60"), Decimal("22.60"))  # 226 + 10% GST
    assert inv.doc_number == "INV-100"
    fetched = live.provider.fetch(Entity.INVOICE, [inv.remote_id])
    assert fetched[0].record.lines[1].quantity == Decimal("1.5")
    found = live.provider.find(Entity.INVOICE, [write("app-i", invoice(c.remote_id, "INV-100"))])
    assert found["app-i"].remote_id == inv.remote_id


def test_a_duplicate_invoice_number_is_a_per_element_error(live: Live) -> None:
    c = push_one(live, Entity.CONTACT, write("app-c", contact("Ann Lee")))
    push_one(live, Entity.INVOICE, write("app-i", invoice(c.remote_id, "INV-100")))
    [result] = live.provider.push(Entity.INVOICE, [write("app-j", invoice(c.remote_id, "INV-100"))])
    assert result.error is not None and result.error.code is ErrorCode.DUPLICATE_NUMBER


def test_payments_are_recorded_found_and_deleted(live: Live) -> None:
    c = push_one(live, Entity.CONTACT, write("app-c", contact("Ann Lee")))
    inv = push_one(live, Entity.INVOICE, write("app-i", invoice(c.remote_id, "INV-1")))
    pay = push_one(live, Entity.PAYMENT, write("app-p", payment(inv.remote_id, "100.00")))
    assert pay.doc_number == "INV-1"
    assert pay.record.amount == Decimal("100.00")
    found = live.provider.find(Entity.PAYMENT, [write("app-p", payment(inv.remote_id, "100.00"))])
    assert found["app-p"].remote_id == pay.remote_id
    assert live.provider.find(Entity.PAYMENT, [write("app-q", payment(inv.remote_id, "99.00"))]) == {}
    removed = live.provider.remove(Entity.PAYMENT, write("app-p", pay.record, pay.remote_id))
    assert removed.ok and removed.remote is not None and removed.remote.deleted


def test_an_overpayment_is_refused_with_its_own_code(live: Live) -> None:
    c = push_one(live, Entity.CONTACT, write("app-c", contact("Ann Lee")))
    inv = push_one(live, Entity.INVOICE, write("app-i", invoice(c.remote_id, "INV-1")))
    [result] = live.provider.push(Entity.PAYMENT, [write("app-p", payment(inv.remote_id, "999.00"))])
    assert result.error is not None and result.error.code is ErrorCode.OVERPAYMENT


def test_a_paid_invoice_is_locked_for_update_and_removal(live: Live) -> None:
    c = push_one(live, Entity.CONTACT, write("app-c", contact("Ann Lee")))
    inv = push_one(live, Entity.INVOICE, write("app-i", invoice(c.remote_id, "INV-1")))
    push_one(live, Entity.PAYMENT, write("app-p", payment(inv.remote_id, "248.60")))
    changed = invoice(c.remote_id, "INV-1").model_copy(update={"reference": "changed", "lines": []})
    [result] = live.provider.push(Entity.INVOICE, [write("app-i", changed, inv.remote_id)])
    assert result.error is not None and result.error.code is ErrorCode.DOCUMENT_LOCKED
    removed = live.provider.remove(Entity.INVOICE, write("app-i", changed, inv.remote_id))
    assert removed.error is not None and removed.error.code is ErrorCode.DOCUMENT_LOCKED


def test_removing_drafts_deletes_and_removing_authorised_invoices_voids(live: Live) -> None:
    c = push_one(live, Entity.CONTACT, write("app-c", contact("Ann Lee")))
    draft = push_one(live, Entity.INVOICE, write("d", invoice(c.remote_id, "INV-D", InvoiceStatus.DRAFT)))
    approved = push_one(live, Entity.INVOICE, write("a", invoice(c.remote_id, "INV-A")))
    r1 = live.provider.remove(Entity.INVOICE, write("d", draft.record, draft.remote_id))
    r2 = live.provider.remove(Entity.INVOICE, write("a", approved.record, approved.remote_id))
    assert r1.remote is not None and r1.remote.record.status is InvoiceStatus.DELETED  # type: ignore[attr-defined]
    assert r2.remote is not None and r2.remote.record.status is InvoiceStatus.VOIDED  # type: ignore[attr-defined]
    assert r1.remote.deleted and r2.remote.deleted


def test_removing_a_contact_archives_it(live: Live) -> None:
    c = push_one(live, Entity.CONTACT, write("app-c", contact("Ann Lee")))
    result = live.provider.remove(Entity.CONTACT, write("app-c", c.record, c.remote_id))
    assert result.remote is not None and result.remote.archived
    [again] = live.provider.fetch(Entity.CONTACT, [c.remote_id])
    assert again.archived


def test_an_expired_access_token_is_refreshed_once_and_the_call_succeeds(live: Live) -> None:
    live.control("POST", "/tokens/expire")
    assert list(live.provider.pull(Entity.CONTACT, None))
    assert live.tokens.refreshes == 1


def test_a_revoked_connection_is_marked_for_reconnect(live: Live) -> None:
    live.control("POST", "/tokens/revoke", {"client_id": "ls-app"})
    with pytest.raises(ProviderError) as caught:
        list(live.provider.pull(Entity.CONTACT, None))
    assert caught.value.error.code in (ErrorCode.AUTH_REVOKED, ErrorCode.AUTH_EXPIRED)
    assert live.tokens.reconnect_reason


def test_a_dropped_write_is_unknown_then_found_and_never_duplicated(live: Live) -> None:
    live.control("PUT", "/faults", {"drop_after_commit_rate": 1.0, "methods": ["PUT", "POST"]})
    w = write("app-1", contact("Ann Lee"))
    with pytest.raises(ProviderError) as caught:
        live.provider.push(Entity.CONTACT, [w])
    assert caught.value.error.code is ErrorCode.UNKNOWN_OUTCOME
    live.control("DELETE", "/faults")
    found = live.provider.find(Entity.CONTACT, [w])
    assert "app-1" in found
    [replayed] = live.provider.push(Entity.CONTACT, [w])
    assert replayed.ok and replayed.remote is not None
    assert replayed.remote.remote_id == found["app-1"].remote_id
    assert [c["Name"] for c in live.dump()["Contacts"]].count("Ann Lee") == 1
