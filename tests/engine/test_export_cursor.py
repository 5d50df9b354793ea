"""An export leaves a pull cursor past its own writes (issue 14), on Xero and QuickBooks Online sandboxes.

A person edits, during the export, a contact the export had already written (a newer UpdatedDateUTC / SyncToken on
a record whose link holds our write's) and adds one of their own: both reach the app, while the export's own
writes come back from the closing read unapplied (same id, same version as the write's answer). The first cycle
after the export then makes one delta read per pulled entity, one page each, not one page per `page_size` of
the corpus."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledgersync import Contact, EngineSettings, Entity, Invoice, InvoiceLine, LedgerSync
from ledgersync.demo import SandboxHandle, connect_sandbox
from ledgersync.providers.base import Write, WriteResult
from tests.engine.test_minimum_calls import calls, platform

PAGE = 25  # records per page read, so the export below spans several pages of each entity
CONTACTS, INVOICES = 60, 20


def corpus(xero: bool) -> list[Any]:
    line = InvoiceLine(description="Service", unit_amount=Decimal("100.00"))
    if xero:
        line = line.model_copy(update={"account_code": "200", "tax_type": "OUTPUT"})
    currency = "AUD" if xero else "USD"
    records: list[Any] = [Contact(id=f"c{i}", name=f"Cursor {i}") for i in range(CONTACTS)]
    records += [
        Invoice(id=f"i{i}", contact_id=f"c{i}", number=f"CUR-{i}", date="2026-11-02", currency=currency, lines=[line])
        for i in range(INVOICES)
    ]
    return records


def edit_contact(sb: SandboxHandle, xero: bool, remote_id: str, email: str) -> None:
    """A person changes a contact's email in the platform (the sandbox's as-user API applies its rules)."""
    if xero:
        sb.as_user(f"Contacts/{remote_id}", {"Contacts": [{"ContactID": remote_id, "EmailAddress": email}]})
    else:
        (current,) = [c for c in sb.records("Customer") if str(c["Id"]) == remote_id]
        sb.as_user(
            "customer",
            {
                "Id": remote_id,
                "SyncToken": current["SyncToken"],
                "sparse": True,
                "PrimaryEmailAddr": {"Address": email},
            },
        )


def add_contact(sb: SandboxHandle, xero: bool, name: str) -> None:
    if xero:
        sb.as_user("Contacts", {"Contacts": [{"Name": name}]}, method="PUT")
    else:
        sb.as_user("customer", {"DisplayName": name})


def gets(made: dict[str, int]) -> int:
    return sum(v for k, v in made.items() if k.startswith("GET "))


@pytest.mark.parametrize("name", ["xero", "qbo"])
def test_an_edit_made_during_the_export_is_applied_and_the_next_cycle_reads_one_page_per_entity(
    name: str, tmp_path: Path, secret_key: str
) -> None:
    xero = name == "xero"
    with platform(name) as (sb, client):
        ls = LedgerSync(
            f"sqlite:///{tmp_path / 'app.db'}", secret_keys=[secret_key], settings=EngineSettings(retry_base_seconds=0)
        )
        org = ls.create_organisation("Cursor Workshop")
        conn = connect_sandbox(ls, org, sb, {**client, "page_size": str(PAGE)})
        records = corpus(xero)
        ls.upsert_many(org, records)
        provider = ls.open_provider(conn)
        assert provider.capabilities.page_size == PAGE
        landed: dict[str, str] = {}
        push = provider.push

        def push_and_edit(entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
            """The export's writes, with a person at work in the platform once the first invoices landed."""
            results = push(entity, writes)
            if entity is Entity.CONTACT:
                landed.update({r.key: r.remote.remote_id for r in results if r.remote is not None})
            return results

        def edit_then_push(entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
            if entity is Entity.INVOICE and "edited" not in landed:
                # A second on, so the contacts the export wrote are older than the platform's newest second.
                time.sleep(1.1)
                landed["edited"] = "yes"
                edit_contact(sb, xero, landed["c0"], "person@during.example")
                add_contact(sb, xero, "Added By A Person During The Export")
            return push_and_edit(entity, writes)

        provider.push = edit_then_push  # type: ignore[method-assign]
        export = ls.sync(conn, provider=provider)
        assert export.status == "ok" and not export.failed, export
        assert landed.get("edited"), "the person's edits were not made during the export"
        assert export.pushed.get("contact") == CONTACTS and export.pushed.get("invoice") == INVOICES

        # The person's edit of a record the export wrote (a newer stamp / version) is in the app ...
        c0 = ls.get(org, Entity.CONTACT, "c0", conn)
        assert c0 is not None and isinstance(c0.record, Contact)
        assert c0.record.email == "person@during.example", c0.record
        # ... and so is the contact they added; the export's own writes came back without being applied.
        names = {getattr(r.record, "name", None) for r in ls.records(org, Entity.CONTACT)}
        assert "Added By A Person During The Export" in names
        updated = [e for e in ls.store.app_events(org, limit=10_000) if e.type == "contact.updated"]
        assert [e.app_id for e in updated] == ["c0"], [(e.app_id, e.type) for e in updated]

        # The first cycle after the export: one delta read per pulled entity, one page each (the export's
        # contacts span math.ceil(60 / 25) = 3 pages), and the edit a person makes now is applied.
        assert math.ceil(CONTACTS / PAGE) > 1
        edit_contact(sb, xero, landed["c1"], "person@after.example")
        before = calls(sb)
        second = ls.open_provider(conn)
        queries: list[str] = []
        if not xero:
            query = second.client.query  # type: ignore[attr-defined]

            def logged(text: str, *args: Any, **kwargs: Any) -> Any:
                queries.append(text)
                return query(text, *args, **kwargs)

            second.client.query = logged  # type: ignore[attr-defined]
        after = ls.sync(conn, provider=second)
        assert after.status == "ok" and not after.failed and not after.pushed, after
        made = {k: v - before.get(k, 0) for k, v in calls(sb).items() if v != before.get(k, 0)}
        caps = provider.capabilities
        pulls = len(caps.pull_entities)
        if xero:
            # One GET per pulled entity, and the payments' pull reading BatchPayments beside /Payments.
            assert gets(made) == pulls + 1, sorted(made.items())
        else:
            # One delta query per pulled entity (one page each), beside the provider's one-time set-up reads
            # (home currency, accounts, the default item: not record reads); CDC asked once for deletions of
            # each entity it can delete.
            deltas = [q for q in queries if "MetaData.LastUpdatedTime >=" in q]
            assert len(deltas) == pulls and all("STARTPOSITION 1 " in q for q in deltas), deltas
            assert len(queries) - len(deltas) <= 4, queries
            assert made.get("GET /query", 0) == len(queries), sorted(made.items())
            assert gets(made) - made.get("GET /query", 0) == made.get("GET /cdc", 0), sorted(made.items())
        assert after.pulled.get("contact", 0) < PAGE, after.pulled
        c1 = ls.get(org, Entity.CONTACT, "c1", conn)
        assert c1 is not None and isinstance(c1.record, Contact) and c1.record.email == "person@after.example"


def test_a_reread_of_our_own_writes_maps_none_of_them(
    tmp_path: Path, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Xero's pages map on read (MappedOnRead): a whole re-read of what the export wrote (same ids, same versions
    as the links hold) is skipped by id and version before any record is mapped, and changes nothing."""
    import ledgersync.providers.xero.provider as xero_provider

    with platform("xero") as (sb, client):
        ls = LedgerSync(
            f"sqlite:///{tmp_path / 'app.db'}", secret_keys=[secret_key], settings=EngineSettings(retry_base_seconds=0)
        )
        org = ls.create_organisation("Reread Workshop")
        conn = connect_sandbox(ls, org, sb, {**client, "page_size": str(PAGE)})
        ls.upsert_many(org, corpus(True))
        export = ls.sync(conn)
        assert export.status == "ok" and not export.failed, export
        events = len(ls.store.app_events(org, limit=10_000))

        mapped: list[str] = []
        real = xero_provider.from_xero

        def counted(entity: Entity, data: Any) -> Any:
            mapped.append(entity.value)
            return real(entity, data)

        monkeypatch.setattr(xero_provider, "from_xero", counted)
        ls.store.reset_cursors(conn)  # read everything again: every record is one of our writes
        again = ls.sync(conn)
        assert again.status == "ok" and not again.failed and not again.pushed, again
        assert again.pulled.get("contact") == CONTACTS and again.pulled.get("invoice") == INVOICES, again.pulled
        assert mapped == [], mapped
        assert len(ls.store.app_events(org, limit=10_000)) == events
