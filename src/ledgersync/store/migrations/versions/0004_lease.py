"""the fenced sync lease: one row per connection with its holder, expiry and fencing token

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00

The lease leaves `connections` for a table of its own: every fenced commit touches the lease row, which must not
queue behind the connection row's token-refresh lock nor rewrite the wide connection row each time. The old
`lock_owner` / `lock_until` columns go: a lease held in them was never fenced and is simply dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_leases",
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=160), nullable=True),
        sa.Column("token", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name=op.f("fk_sync_leases_connection_id_connections")
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_sync_leases")),
    )
    # Native DROP COLUMN (PostgreSQL, SQLite 3.35+): a batch rebuild of `connections` would drop a table that
    # other tables' foreign keys point at. An older SQLite keeps the two columns, unused and nullable.
    if op.get_bind().dialect.name != "sqlite" or sqlite3.sqlite_version_info >= (3, 35):
        op.drop_column("connections", "lock_owner")
        op.drop_column("connections", "lock_until")


def downgrade() -> None:
    op.add_column("connections", sa.Column("lock_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("connections", sa.Column("lock_owner", sa.String(length=128), nullable=True))
    op.drop_table("sync_leases")
