"""Secrets at rest on disk: an owner-only database and folder, the key file beside the database, and clear errors
(never a silent new key, never a traceback) when the keys do not fit what the store holds."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest

from ledgersync.engine import LedgerSync
from ledgersync.providers.base import OAuthToken
from ledgersync.store import MissingKeyFile, UndecryptableSecret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def with_token(ls: LedgerSync) -> str:
    org = ls.create_organisation("Acme")
    conn = ls.store.create_connection(org, "xero", {})
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    ls.store.save_token(conn, OAuthToken(access_token="at-1", refresh_token="rt-1", expires_at=expires))
    return conn


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGERSYNC_SECRET_KEY", raising=False)
    monkeypatch.delenv("LEDGERSYNC_DATABASE_URL", raising=False)


def test_the_default_database_is_owner_only_in_an_owner_only_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        ls = LedgerSync()
        with_token(ls)
    finally:
        os.umask(old)
    folder = tmp_path / ".ledgersync"
    assert mode(folder) == 0o700
    assert mode(folder / "ledgersync.db") == 0o600
    assert mode(folder / "secret.key") == 0o600
    for extra in ("ledgersync.db-wal", "ledgersync.db-shm"):
        if (folder / extra).exists():
            assert mode(folder / extra) & 0o077 == 0


def test_an_older_world_readable_database_and_folder_are_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    LedgerSync()
    folder = tmp_path / ".ledgersync"
    os.chmod(folder, 0o755)
    os.chmod(folder / "ledgersync.db", 0o644)
    LedgerSync()
    assert mode(folder) == 0o700 and mode(folder / "ledgersync.db") == 0o600


def test_a_folder_the_operator_chose_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "srv"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    LedgerSync(f"sqlite:///{shared / 'ls.db'}")
    assert mode(shared) == 0o755 and mode(shared / "ls.db") == 0o600


def test_the_key_file_lives_beside_the_database_wherever_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "data" / "ledgersync.db"
    url = f"sqlite:///{db}"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.chdir(tmp_path / "one")
    conn = with_token(LedgerSync(url))
    assert (db.parent / "secret.key").exists() and not (tmp_path / "one" / ".ledgersync").exists()
    monkeypatch.chdir(tmp_path / "two")
    token = LedgerSync(url).store.load_token(conn)
    assert token is not None and token.access_token == "at-1"
    assert not (tmp_path / "two" / ".ledgersync").exists()


def test_a_missing_key_file_next_to_a_database_with_secrets_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledgersync.db'}"
    with_token(LedgerSync(url))
    (tmp_path / "secret.key").unlink()
    with pytest.raises(MissingKeyFile) as caught:
        LedgerSync(url)
    message = str(caught.value)
    assert "holds encrypted tokens" in message and str(tmp_path / "secret.key") in message
    assert "LEDGERSYNC_SECRET_KEY" in message
    assert not (tmp_path / "secret.key").exists()


def test_a_database_without_secrets_may_get_its_first_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledgersync.db'}"
    LedgerSync(url).create_organisation("Acme")
    (tmp_path / "secret.key").unlink()
    LedgerSync(url)
    assert (tmp_path / "secret.key").exists()


def test_tokens_under_another_key_fail_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    url = f"sqlite:///{tmp_path / 'ledgersync.db'}"
    conn = with_token(LedgerSync(url))
    monkeypatch.setenv("LEDGERSYNC_SECRET_KEY", Fernet.generate_key().decode())
    with pytest.raises(UndecryptableSecret, match="cannot be decrypted with LEDGERSYNC_SECRET_KEY"):
        LedgerSync(url).store.load_token(conn)
    monkeypatch.delenv("LEDGERSYNC_SECRET_KEY")
    # Rotation: a new key first, the old one (from the file) after it, and the old tokens still open.
    old = (tmp_path / "secret.key").read_text()
    monkeypatch.setenv("LEDGERSYNC_SECRET_KEY", f"{Fernet.generate_key().decode()},{old}")
    assert LedgerSync(url).store.load_token(conn) is not None
