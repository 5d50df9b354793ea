"""credentials encrypted at rest: secrets move out of connections.config into connections.credentials

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The secret settings the platforms had before this revision (fixed here: a migration never imports the
# current provider models, which may have changed since).
SECRET_KEYS = ("client_secret", "webhook_key", "webhook_verifier", "verifier_token")

connections = sa.table(
    "connections",
    sa.column("id", sa.String),
    sa.column("config", sa.JSON),
    sa.column("credentials", sa.LargeBinary),
)


def _box() -> Any:
    box = context.config.attributes.get("secret_box")
    if box is None:
        raise RuntimeError(
            "revision 0007 encrypts the secrets stored in connection settings and needs the store's keys: "
            "run it by opening the store (LedgerSync / ledgersync commands), with LEDGERSYNC_SECRET_KEY or the "
            "key file beside the database"
        )
    return box


def _loads(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value or {})


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("credentials", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(connections.c.id, connections.c.config)).all()
    box = None
    for conn_id, raw in rows:
        config = _loads(raw)
        secrets = {k: str(config.pop(k)) for k in SECRET_KEYS if k in config}
        if not secrets:
            continue
        box = box or _box()
        blob = box.encrypt(json.dumps(secrets, sort_keys=True).encode())
        bind.execute(
            sa.update(connections).where(connections.c.id == conn_id).values(config=config, credentials=blob)
        )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(connections.c.id, connections.c.config, connections.c.credentials).where(
            connections.c.credentials.is_not(None)
        )
    ).all()
    box = _box() if rows else None
    for conn_id, raw, blob in rows:
        secrets = json.loads(box.decrypt(blob)) if box is not None else {}
        config = {**_loads(raw), **{k: v for k, v in secrets.items() if k in SECRET_KEYS}}
        bind.execute(sa.update(connections).where(connections.c.id == conn_id).values(config=config))
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("credentials")
