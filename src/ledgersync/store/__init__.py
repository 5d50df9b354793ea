"""Store: SQLAlchemy 2 tables, Alembic migrations and the repository (SQLite by default, PostgreSQL at scale)."""

from ledgersync.store.crypto import (
    MissingKeyFile,
    SecretBox,
    SecretKeyError,
    UndecryptableSecret,
    load_keys,
    open_box,
)
from ledgersync.store.database import SchemaBehind, default_url, make_engine, migrate
from ledgersync.store.lease import Lease, LeaseLost
from ledgersync.store.repo import LinkChange, LinkRow, StateChange, StateRow, Store, StoredRecord, new_id
from ledgersync.store.tokens import StoreTokenStore

__all__ = [
    "Lease",
    "LeaseLost",
    "LinkChange",
    "LinkRow",
    "MissingKeyFile",
    "SchemaBehind",
    "SecretBox",
    "SecretKeyError",
    "StateChange",
    "StateRow",
    "Store",
    "StoreTokenStore",
    "StoredRecord",
    "UndecryptableSecret",
    "default_url",
    "load_keys",
    "make_engine",
    "migrate",
    "new_id",
    "open_box",
]
