"""qbwc: QuickBooks Web Connector sessions and their qbXML request mailbox

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qbwc_sessions",
        sa.Column("ticket", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("company_file", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cycle_state", sa.String(length=16), nullable=False),
        sa.Column("cycles", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("worker_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("ticket", name=op.f("pk_qbwc_sessions")),
    )
    with op.batch_alter_table("qbwc_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qbwc_sessions_connection_id"), ["connection_id"], unique=False)
    op.create_table(
        "qbwc_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("is_write", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qbwc_requests")),
    )
    with op.batch_alter_table("qbwc_requests", schema=None) as batch_op:
        batch_op.create_index("ix_qbwc_requests_ticket_state", ["ticket", "state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("qbwc_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_qbwc_requests_ticket_state")
    op.drop_table("qbwc_requests")
    with op.batch_alter_table("qbwc_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qbwc_sessions_connection_id"))
    op.drop_table("qbwc_sessions")
