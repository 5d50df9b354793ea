"""divergence: why a record is in conflict or drifted (both versions, the fields), and where a record came from

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "divergences",
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("app_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("app_version", sa.JSON(), nullable=False),
        sa.Column("platform_version", sa.JSON(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("remote_id", sa.String(length=128), nullable=True),
        sa.Column("remote_version", sa.String(length=64), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name=op.f("fk_divergences_connection_id_connections")
        ),
        sa.PrimaryKeyConstraint("connection_id", "entity", "app_id", name=op.f("pk_divergences")),
    )
    op.create_table(
        "record_origins",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("app_id", sa.String(length=128), nullable=False),
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_record_origins_org_id_organisations")),
        sa.PrimaryKeyConstraint("org_id", "entity", "app_id", name=op.f("pk_record_origins")),
    )


def downgrade() -> None:
    op.drop_table("record_origins")
    op.drop_table("divergences")
