"""cursor_text: a pull position may be longer than 128 characters (issue 14's PullWindow: the newest stamp and
up to four look-back windows as JSON), which PostgreSQL refused ("value too long for type character
varying(128)"); SQLite never checked the length

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 19:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cursors", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.String(length=128), type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("cursors", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.Text(), type_=sa.String(length=128), existing_nullable=True)
