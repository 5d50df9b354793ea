"""The payments' after-push derives invoices from the copies the record stage settled in the cycle, never over
an app edit made meanwhile: a copy whose stored version moved is read back instead of saved."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import ledgersync.engine.record as record_stage
from ledgersync import Allocation, Contact, EngineSettings, Entity, Invoice, InvoiceLine, LedgerSync, Payment
from ledgersync.testing import MemoryPlatform, MemorySpec, connect_memory

DAY = dt.date(2026, 11, 2)


def test_an_invoice_edited_before_its_derived_copy_is_saved_keeps_the_edit(
    tmp_path: Path, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = MemoryPlatform.with_capabilities(batch_size=50, page_size=1000)
    ls = LedgerSync(f"sqlite:///{tmp_path / 'copies.db'}", secret_keys=[secret_key],
                    settings=EngineSettings(retry_base_seconds=0), providers={"memory": MemorySpec(platform)})
    org = ls.create_organisation("Copies")
    conn = connect_memory(ls, org, "memory")
    records: list[Any] = [Contact(id="c0", name="Customer")]
    records += [Invoice(id=f"i{i}", contact_id="c0", number=f"S-{i}", date=DAY,
                        lines=[InvoiceLine(description="Service", unit_amount=Decimal("100.00"))]) for i in range(3)]
    records += [Payment(id=f"p{i}", date=DAY, amount=Decimal("40.00"), reference=f"R{i}",
                        allocations=[Allocation(invoice_id=f"i{i}", amount=Decimal("40.00"))]) for i in range(3)]
    ls.upsert_many(org, records)
    real = record_stage.settled
    seen: list[set[str]] = []

    def settled(ctx: Any, entity: Entity, derived: Any, based_on: Any = None) -> set[str]:
        # The app edits i1 after the record stage settled it and before its derived copy is saved.
        stored = ls.store.get_record(org, Entity.INVOICE, "i1")
        assert stored is not None and isinstance(stored.record, Invoice)
        ls.store.upsert_record(org, stored.record.model_copy(update={"reference": "edited meanwhile"}))
        stale = real(ctx, entity, derived, based_on)
        seen.append(stale)
        return stale

    monkeypatch.setattr(record_stage, "settled", settled)
    report = ls.sync(conn)
    assert report.status == "ok"
    assert seen == [{"i1"}]
    for i in range(3):
        stored = ls.store.get_record(org, Entity.INVOICE, f"i{i}")
        assert stored is not None and isinstance(stored.record, Invoice)
        assert stored.record.amount_due == Decimal("60.00")
        assert stored.record.amount_paid == Decimal("40.00")
    edited = ls.store.get_record(org, Entity.INVOICE, "i1")
    assert edited is not None and isinstance(edited.record, Invoice)
    assert edited.record.reference == "edited meanwhile"
