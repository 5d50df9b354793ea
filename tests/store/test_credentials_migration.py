"""The credentials revision moves the secrets older rows kept in the plain config column into the encrypted one."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from ledgersync.store import SecretBox, Store, make_engine
from ledgersync.store.database import alembic_config, migrate

OLD_XERO = {
    "client_id": "app-1",
    "client_secret": "old-secret-4b",
    "redirect_uri": "http://h/cb",
    "webhook_key": "wk-9",
}
OLD_QBO = {"client_id": "app-2", "client_secret": "qbo-secret-7d", "verifier_token": "vt-1", "base_url": "http://h"}


def before_credentials() -> str:
    """The revision just before the one that encrypts credentials (found by file, so renumbering keeps it)."""
    scripts = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    rev = next(r for r in scripts.walk_revisions() if r.path.endswith("_credentials.py"))
    assert isinstance(rev.down_revision, str)
    return rev.down_revision


def before_upgrade(url: str) -> None:
    """A store as the release before the credentials revision left it, with connections holding secrets in
    the clear."""
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, before_credentials())
        conn.execute(
            sa.text("INSERT INTO organisations (id, name, settings, created_at) VALUES ('o', 'O', '{}', :t)"),
            {"t": "2026-11-01"},
        )
        for cid, provider, config in (
            ("c1", "xero", OLD_XERO),
            ("c2", "qbo", OLD_QBO),
            ("c3", "xero", {"client_id": "x"}),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO connections (id, org_id, provider, config, status, calls, created_at) "
                    "VALUES (:id, 'o', :p, :c, 'connected', 0, :t)"
                ),
                {"id": cid, "p": provider, "c": json.dumps(config), "t": "2026-11-01"},
            )
    engine.dispose()


def test_secrets_in_old_rows_move_to_the_encrypted_column(db_url: str, secret_key: str) -> None:
    before_upgrade(db_url)
    store = Store.open(db_url, SecretBox([secret_key]))
    assert store.get_connection("c1").config == {"client_id": "app-1", "redirect_uri": "http://h/cb"}
    assert store.credentials("c1") == {"client_secret": "old-secret-4b", "webhook_key": "wk-9"}
    assert store.get_connection("c2").config == {"client_id": "app-2", "base_url": "http://h"}
    assert store.credentials("c2") == {"client_secret": "qbo-secret-7d", "verifier_token": "vt-1"}
    assert store.credentials("c3") == {} and store.get_connection("c3").config == {"client_id": "x"}
    with store.engine.connect() as conn:
        blobs = conn.execute(sa.text("SELECT credentials FROM connections WHERE id = 'c1'")).scalar_one()
    assert b"old-secret-4b" not in bytes(blobs)


def test_the_migration_refuses_to_run_without_the_stores_keys(sqlite_url: str) -> None:
    before_upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with pytest.raises(RuntimeError, match="needs the store's keys"):
        migrate(engine)
    with engine.connect() as conn:
        config = conn.execute(sa.text("SELECT config FROM connections WHERE id = 'c1'")).scalar_one()
    assert json.loads(config)["client_secret"] == "old-secret-4b"  # nothing half-done


def test_downgrading_puts_the_secrets_back_where_the_old_release_reads_them(sqlite_url: str, secret_key: str) -> None:
    before_upgrade(sqlite_url)
    box = SecretBox([secret_key])
    Store.open(sqlite_url, box)
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        cfg.attributes["secret_box"] = box
        command.downgrade(cfg, before_credentials())
    with engine.connect() as conn:
        config = json.loads(conn.execute(sa.text("SELECT config FROM connections WHERE id = 'c1'")).scalar_one())
    assert config == OLD_XERO
