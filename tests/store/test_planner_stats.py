"""PostgreSQL's planner statistics are refreshed after bulk writes (Store.analyze).

A store filled faster than autovacuum looks at it has tables without statistics, which PostgreSQL plans as if
they held one row: the push-candidates join then ran as a nested loop over every link for each record (17 s
for 10k contacts on the first cycle after an export, 0.02 s once analysed). `pg_class.reltuples` is -1 until a
table is first analysed, and ANALYZE sets it synchronously, so it shows whether the refresh ran."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ledgersync import Contact, LedgerSync
from ledgersync.store import Store
from ledgersync.testing import MemoryPlatform, MemorySpec, connect_memory


def _reltuples(ls: LedgerSync, table: str) -> float:
    with ls.store.engine.connect() as conn:
        return float(
            conn.execute(
                sa.text(
                    "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relname = :t AND n.nspname = current_schema()"
                ),
                {"t": table},
            ).scalar_one()
        )


def _ledgersync(url: str, key: str) -> tuple[LedgerSync, str, str]:
    platform = MemoryPlatform.with_capabilities(batch_size=50, page_size=1000)
    ls = LedgerSync(url, secret_keys=[key], providers={"memory": MemorySpec(platform)})
    org = ls.create_organisation("Stats")
    return ls, org, connect_memory(ls, org, "memory")


def test_bulk_upsert_and_export_refresh_statistics(
    pg_url: str, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Store, "ANALYZE_AFTER", 20)
    ls, org, conn = _ledgersync(pg_url, secret_key)
    assert _reltuples(ls, "records") < 0  # never analysed yet
    ls.upsert_many(org, [Contact(id=f"c{i}", name=f"Customer {i}") for i in range(30)])
    assert _reltuples(ls, "records") >= 30
    assert _reltuples(ls, "links") < 0
    report = ls.sync(conn)
    assert report.status == "ok" and sum(report.pushed.values()) == 30
    assert _reltuples(ls, "links") >= 30
    assert _reltuples(ls, "sync_states") >= 30


def test_small_writes_leave_statistics_to_autovacuum(pg_url: str, secret_key: str) -> None:
    ls, org, conn = _ledgersync(pg_url, secret_key)
    ls.upsert_many(org, [Contact(id=f"c{i}", name=f"Customer {i}") for i in range(30)])
    assert ls.sync(conn).status == "ok"
    assert _reltuples(ls, "records") < 0 and _reltuples(ls, "links") < 0


def test_analyze_names_only_ledgersync_tables(pg_url: str, secret_key: str) -> None:
    ls, _, _ = _ledgersync(pg_url, secret_key)
    with pytest.raises(ValueError, match="not a ledgersync table"):
        ls.store.analyze("records; DROP TABLE links")
    ls.store.analyze("records")
    assert _reltuples(ls, "records") == 0  # analysed, and empty
