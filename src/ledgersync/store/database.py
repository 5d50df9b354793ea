"""Opening the store: engine creation for SQLite or PostgreSQL, owner-only files, and Alembic migrations."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic_core
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:  # crypto reads this module's paths, so the import only serves the annotation
    from ledgersync.store.crypto import SecretBox

DEFAULT_DIR = Path(".ledgersync")
MIGRATIONS = Path(__file__).parent / "migrations"


def default_url() -> str:
    url = os.environ.get("LEDGERSYNC_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{DEFAULT_DIR / 'ledgersync.db'}"


def sqlite_path(url: str | None) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL and in-memory SQLite)."""
    parsed = make_url(url or default_url())
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def state_dir(url: str | None) -> Path:
    """Where the deployment's generated secrets live (secret.key, session.key, admin.token): beside a SQLite
    file, so `--db /abs/path` from any folder finds the same keys; else `.ledgersync/` here."""
    path = sqlite_path(url)
    return path.resolve().parent if path is not None else DEFAULT_DIR.resolve()


def private_dir(path: Path) -> None:
    """Create a folder for the store's files as owner-only (0700). An existing folder is tightened only when
    it is the store's own `.ledgersync/`: a folder the operator chose (say /srv/data) keeps its mode."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    elif path.name == DEFAULT_DIR.name and stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Create the SQLite file owner-only (0600) before SQLite opens it, and tighten an older, wider one.
    SQLite gives its -wal and -shm files the main file's mode, so they follow."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    # WAL lets readers (the dashboard) run while a sync writes; busy_timeout makes writers queue, not fail.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _json_text(value: Any) -> str:
    """JSON columns' serializer: pydantic-core's (Rust) encoder, several times faster than json.dumps on the
    rows an export writes (records, events, outbox payloads, platform figures). The text is compact UTF-8;
    every reader parses it, none compares it as text (hashes are taken from the records, never from here)."""
    return pydantic_core.to_json(value).decode()


def make_engine(url: str | None = None) -> Engine:
    url = url or default_url()
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            private_dir(path.parent)
            private_file(path)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=_json_text,
            json_deserializer=pydantic_core.from_json,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # One pool per process (a Celery worker's child opens its own after the fork); LEDGERSYNC_DB_POOL_SIZE sizes
    # it, so many worker processes stay within the server's max_connections.
    pool = int(os.environ.get("LEDGERSYNC_DB_POOL_SIZE") or 10)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool,
        max_overflow=pool,
        json_serializer=_json_text,
        json_deserializer=pydantic_core.from_json,
    )


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, box: SecretBox | None = None) -> None:
    """Bring the schema to the latest revision (idempotent; safe on every start). `box` is the store's
    encryption, for revisions that encrypt what was stored in the clear."""
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        cfg.attributes["secret_box"] = box
        command.upgrade(cfg, "head")


class SchemaBehind(RuntimeError):
    """The database's schema is not the one this code needs, and this process was told not to migrate it."""


def head_revision(engine: Engine) -> str | None:
    """The newest migration this code ships (Alembic's head)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Raise SchemaBehind unless the database is at this code's head revision: a worker opened without
    migrating (migrations run once, `ledgersync db upgrade`) refuses to work on an older or newer schema."""
    have, want = current_revision(engine), head_revision(engine)
    if have != want:
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaBehind(
            f"the database {where} is at schema revision {have or 'none'}, this code needs {want}: "
            "run `ledgersync db upgrade` once (workers do not migrate)"
        )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# Columns that hold ciphertext under the deployment's keys: a database with a value in any of them cannot be
# given a new key without losing what they hold.
SECRET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("connections", "token"),
    ("connections", "credentials"),
    ("webhook_endpoints", "secret"),
)


def holds_secrets(url: str | None) -> bool:
    """Whether the database already holds values encrypted with some key. Never creates a SQLite file, and
    an unreachable database counts as empty (opening the store reports that failure itself)."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    url = url or default_url()
    path = sqlite_path(url)
    if url.startswith("sqlite") and (path is None or not path.exists() or path.stat().st_size == 0):
        return False
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = set(inspector.get_table_names())
            for table, column in SECRET_COLUMNS:
                # An older schema may not have the column yet (the credentials revision adds one).
                if table in tables and column in {c["name"] for c in inspector.get_columns(table)}:
                    found = conn.execute(text(f"SELECT 1 FROM {table} WHERE {column} IS NOT NULL LIMIT 1")).first()
                    if found is not None:
                        return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()
    return False
