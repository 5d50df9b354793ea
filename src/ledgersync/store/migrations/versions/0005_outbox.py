"""the outbox of planned platform writes, and resumable pull checkpoints

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("app_id", sa.String(length=128), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=96), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("app_hash", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=128), nullable=True),
        sa.Column("remote_version", sa.String(length=128), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name=op.f("fk_outbox_connection_id_connections"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_conn_batch", "outbox", ["connection_id", "status", "batch"])
    with op.batch_alter_table("cursors") as batch:
        batch.add_column(sa.Column("resume", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cursors") as batch:
        batch.drop_column("resume")
    op.drop_index("ix_outbox_conn_batch", table_name="outbox")
    op.drop_table("outbox")
