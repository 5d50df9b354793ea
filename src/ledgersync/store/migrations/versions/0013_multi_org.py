"""multi_org: the organisations a consent reached, kept while the person chooses the one to connect; and what
each connection's platform computed for a record (platform_fields), beside the one shared app record

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        # [{"id": ..., "name": ...}] while the connection is `choose_organisation`; NULL otherwise.
        batch_op.add_column(sa.Column("pending_tenants", sa.JSON(), nullable=True))
    op.create_table(
        "platform_fields",
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("app_id", sa.String(length=128), nullable=False),
        sa.Column("remote_id", sa.String(length=128), nullable=False),
        sa.Column("remote_version", sa.String(length=64), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name=op.f("fk_platform_fields_connection_id_connections")
        ),
        sa.PrimaryKeyConstraint("connection_id", "entity", "app_id", name=op.f("pk_platform_fields")),
    )


def downgrade() -> None:
    op.drop_table("platform_fields")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("pending_tenants")
