"""schedule: each connection's own sync cadence and when it is next due (the scale-out scheduler's)

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        # NULL: the platform's default (Capabilities.default_sync_seconds); 0: never scheduled.
        batch_op.add_column(sa.Column("sync_every_seconds", sa.Integer(), nullable=True))
        # When the scheduler next enqueues a cycle (NULL: as soon as it looks); moved on when it enqueues one.
        batch_op.add_column(sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("next_sync_at")
        batch_op.drop_column("sync_every_seconds")
