"""engine_gaps: each connection's own split of an overpaid payment (payment_splits), so pushing to one platform
never rewrites the app payment another connection has synced

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_splits",
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=128), nullable=False),
        sa.Column("credit_id", sa.String(length=128), nullable=True),
        sa.Column("split", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name=op.f("fk_payment_splits_connection_id_connections")
        ),
        sa.PrimaryKeyConstraint("connection_id", "payment_id", name=op.f("pk_payment_splits")),
    )
    with op.batch_alter_table("payment_splits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_splits_credit_id"), ["credit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payment_splits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_splits_credit_id"))
    op.drop_table("payment_splits")
