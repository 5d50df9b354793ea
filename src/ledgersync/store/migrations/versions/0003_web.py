"""dashboard users and their roles per organisation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_users")),
        sa.UniqueConstraint("email", name=op.f("uq_web_users_email")),
    )
    op.create_table(
        "web_memberships",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_web_memberships_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["web_users.id"], name=op.f("fk_web_memberships_user_id_web_users")),
        sa.PrimaryKeyConstraint("user_id", "org_id", name=op.f("pk_web_memberships")),
    )
    with op.batch_alter_table("web_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_memberships_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_memberships_org_id"))
    op.drop_table("web_memberships")
    op.drop_table("web_users")
