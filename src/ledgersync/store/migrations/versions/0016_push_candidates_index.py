"""push_candidates_index: covering indexes for the push candidates query (issue 14). The query joins an entity's
records to their links on the connection and compares hashes; with these indexes both sides are read from their
indexes only (SQLite no longer reads every record's JSON data, and needs no sort for the order: the records'
index is in `updated_at, app_id` order), which made an incremental cycle's plan grow with the corpus

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 21:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_records_push", "records", ["org_id", "entity", "updated_at", "app_id", "hash", "deleted"], unique=False
    )
    op.create_index(
        "ix_links_push", "links", ["connection_id", "entity", "app_id", "app_hash", "removed"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_links_push", table_name="links")
    op.drop_index("ix_records_push", table_name="records")
