"""multi_org: the organisations a consent reached, kept while the person chooses the one to connect

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        # [{"id": ..., "name": ...}] while the connection is `choose_organisation`; NULL otherwise.
        batch_op.add_column(sa.Column("pending_tenants", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("pending_tenants")
