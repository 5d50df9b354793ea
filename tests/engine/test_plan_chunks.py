"""A plan loads and writes its candidates a chunk at a time (memory bounded by the chunk, issue 14) and still
fills every batch, numbers removals ahead of writes, and sends each record once (memory reference platform)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import ledgersync.engine.plan as plan_stage
from ledgersync import Contact, EngineSettings, Entity, LedgerSync
from ledgersync.engine.sync import Cycle
from ledgersync.testing import MemoryPlatform, MemorySpec, connect_memory

BATCH = 10


@pytest.mark.parametrize("chunk", [7, 10, 500])
def test_a_plan_in_chunks_fills_every_batch_and_puts_removals_first(
    chunk: int, tmp_path: Path, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = MemoryPlatform.with_capabilities()
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'app.db'}",
        secret_keys=[secret_key],
        settings=EngineSettings(retry_base_seconds=0),
        providers={"memory": MemorySpec(platform)},
    )
    org = ls.create_organisation("Chunk Workshop")
    conn = connect_memory(ls, org, "memory", {"batch_size": str(BATCH)})
    ls.upsert_many(org, [Contact(id=f"c{i:03d}", name=f"Chunk {i}") for i in range(30)])
    assert ls.sync(conn).status == "ok"
    monkeypatch.setattr(plan_stage, "PLAN_CHUNK", chunk)

    # 43 new contacts, 3 deleted ones (a removal each, one per call), interleaved in the candidates' order.
    for i in range(43):
        ls.upsert(org, Contact(id=f"n{i:03d}", name=f"New {i}"))
        if i % 15 == 0:
            assert ls.delete(org, Entity.CONTACT, f"c{(i // 15) * 10:03d}")
    # The plan alone, then its outbox read as the execute stage reads it.
    ctx = Cycle(ls.store, ls.spec("memory"), conn, ls.settings)
    planned = plan_stage.plan(ctx, Entity.CONTACT)
    rows = []
    while batch := ls.store.outbox.next_batch(conn, Entity.CONTACT):
        rows.append([(r.op, r.app_id) for r in batch])
        with ls.store.session() as s:
            ls.store.outbox.done(s, [r.id for r in batch])
    assert planned == 46 == sum(len(b) for b in rows)
    # Removals first, one per batch, then the writes in full batches (the last one holds the rest).
    assert [b[0][0] for b in rows[:3]] == ["remove"] * 3 and all(len(b) == 1 for b in rows[:3])
    writes = rows[3:]
    assert len(writes) == math.ceil(43 / BATCH)
    assert all(len(b) == BATCH for b in writes[:-1]) and all(op == "write" for b in writes for op, _ in b)
    sent = [app_id for b in writes for _, app_id in b]
    assert sent == sorted(sent) and len(set(sent)) == 43  # the candidates' order, each once
