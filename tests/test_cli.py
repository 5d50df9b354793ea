"""The real CLI, end to end: `ledgersync demo --once`, then `status` and `sync` on the database it left."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def ledgersync(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("ledgersync") or str(Path(sys.executable).parent / "ledgersync")
    return subprocess.run(
        [exe, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160", "PYTHONWARNINGS": "ignore", **(env or {})},
    )


def test_demo_once_syncs_both_ways_and_exits_zero(tmp_path: Path) -> None:
    result = ledgersync("demo", "--once", "--contacts", "12", "--invoices", "40", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Connected to Xero through the OAuth consent flow" in out
    assert "Both sides agree record for record" in out
    assert out.count("Resolved:") == 3
    # The demo now syncs five platforms, so the Xero line may read a minute or two ago by the summary.
    assert re.search(r"Last sync with Xero performed (less than a minute|\d+ minutes?) ago", out), out
    # QuickBooks Desktop through the emulated Web Connector (issue 10)
    assert "QuickBooks Desktop: every record synced through the Web Connector" in out
    assert (tmp_path / "ledgersync-demo" / "ledgersync.db").exists()

    db = f"sqlite:///{tmp_path / 'ledgersync-demo' / 'ledgersync.db'}"
    key = (tmp_path / "ledgersync-demo" / "secret.key").read_text()
    status = ledgersync("status", "--db", db, cwd=tmp_path, env={"LEDGERSYNC_SECRET_KEY": key})
    assert status.returncode == 0, status.stderr
    assert "Demo Company (AU)" in status.stdout and "invoice" in status.stdout
    log = ledgersync("log", "--db", db, "--outcome", "failed", cwd=tmp_path, env={"LEDGERSYNC_SECRET_KEY": key})
    assert log.returncode == 0 and "paid in Xero" in log.stdout and "WS-" in log.stdout
    errors = ledgersync("errors", "--db", db, cwd=tmp_path, env={"LEDGERSYNC_SECRET_KEY": key})
    assert errors.returncode == 0 and "No sync errors with Xero" in errors.stdout
    assert "No sync errors with QuickBooks Online" in errors.stdout
    from ledgersync.engine import LedgerSync

    xero = next(c.id for c in LedgerSync(db, secret_keys=[key]).connections() if c.provider == "xero")
    member = ledgersync(
        "resolve",
        "invoice:inv-00001",
        "--include",
        "--as",
        "member",
        "--db",
        db,
        "--connection",
        xero,
        cwd=tmp_path,
        env={"LEDGERSYNC_SECRET_KEY": key},
    )
    assert member.returncode == 1 and "only an owner or admin" in member.stdout
    admin = ledgersync(
        "resolve",
        "invoice:inv-00001",
        "--include",
        "--as",
        "admin",
        "--db",
        db,
        "--connection",
        xero,
        cwd=tmp_path,
        env={"LEDGERSYNC_SECRET_KEY": key},
    )
    assert admin.returncode == 0, admin.stdout + admin.stderr
    # The demo's sandbox is gone, so a sync now fails with a clear message and a non-zero exit, losing nothing.
    sync = ledgersync("sync", "--db", db, cwd=tmp_path, env={"LEDGERSYNC_SECRET_KEY": key})
    assert sync.returncode == 1
    assert "Traceback" not in sync.stdout + sync.stderr
    assert "Warning" not in sync.stderr


def test_sync_with_no_connections_says_so(tmp_path: Path) -> None:
    result = ledgersync("sync", "--db", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert result.returncode == 0 and "No connected connections" in result.stdout


# -- issue 9: the key file beside the database, and one clear line for every expected failure -------------------
def _store_with_a_connection(db_dir: Path) -> tuple[str, str]:
    """A database (key file beside it) with a connected Xero connection pointed at a closed loopback port."""
    import datetime as dt

    from ledgersync.engine import LedgerSync
    from ledgersync.providers.base import OAuthToken

    url = f"sqlite:///{db_dir / 'ledgersync.db'}"
    ls = LedgerSync(url)
    org = ls.create_organisation("Acme")
    conn = ls.store.create_connection(
        org,
        "xero",
        {
            "client_id": "x",
            "client_secret": "y",
            "redirect_uri": "http://127.0.0.1:9/cb",
            "base_url": "http://127.0.0.1:9",
        },
    )
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    ls.store.save_token(conn, OAuthToken(access_token="at", refresh_token="rt", expires_at=expires))
    ls.store.update_connection(conn, status="connected", tenant_id="t1", tenant_name="Acme Ltd")
    return url, conn


def _no_key_env() -> dict[str, str]:
    return {"LEDGERSYNC_SECRET_KEY": "", "LEDGERSYNC_DATABASE_URL": ""}


def test_sync_with_db_from_another_folder_finds_the_key_beside_the_database(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "elsewhere").mkdir()
    url, _ = _store_with_a_connection(tmp_path / "data")
    result = ledgersync("sync", "--db", url, cwd=tmp_path / "elsewhere", env=_no_key_env())
    out = result.stdout + result.stderr
    # The platform (a closed port) is unreachable: that failure, said plainly; the tokens themselves decrypt.
    assert result.returncode == 1, out
    assert "Traceback" not in out and "cannot be decrypted" not in out
    assert not (tmp_path / "elsewhere" / ".ledgersync").exists()


def test_a_missing_key_file_is_one_line_and_exit_2_never_a_new_key(tmp_path: Path) -> None:
    url, _ = _store_with_a_connection(tmp_path)
    (tmp_path / "secret.key").unlink()
    result = ledgersync("status", "--db", url, cwd=tmp_path, env=_no_key_env())
    out = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in out
    assert "holds encrypted tokens but its key file" in out
    assert not (tmp_path / "secret.key").exists()


def test_tokens_under_another_key_are_one_line_not_a_crash(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    url, _ = _store_with_a_connection(tmp_path)
    other = {**_no_key_env(), "LEDGERSYNC_SECRET_KEY": Fernet.generate_key().decode()}
    result = ledgersync("sync", "--db", url, cwd=tmp_path, env=other)
    out = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in out
    assert "stored tokens cannot be decrypted with LEDGERSYNC_SECRET_KEY" in out


def test_a_busy_connection_is_one_line_and_exit_3(tmp_path: Path) -> None:
    from ledgersync.engine import LedgerSync

    url, conn = _store_with_a_connection(tmp_path)
    holder = LedgerSync(url).store
    assert holder.acquire_lease(conn, 600) is not None  # this test process holds the lease
    for args in (("sync", "--connection", conn), ("sync-now", "--connection", conn)):
        result = ledgersync(*args, "--db", url, cwd=tmp_path, env=_no_key_env())
        out = result.stdout + result.stderr
        assert result.returncode == 3, out
        assert "being synced by another process" in out and "Traceback" not in out


def test_an_unknown_connection_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url, _ = _store_with_a_connection(tmp_path)
    result = ledgersync("sync", "--db", url, "--connection", "conn_nope", cwd=tmp_path, env=_no_key_env())
    out = result.stdout + result.stderr
    assert result.returncode == 2 and "no connection conn_nope" in out and "Traceback" not in out


def test_a_conflict_in_the_store_reads_as_one_line() -> None:
    import pytest
    from cryptography.fernet import Fernet
    from sqlalchemy.exc import IntegrityError

    from ledgersync.cli import EXIT_FAILED, expected_failure
    from ledgersync.engine import LedgerSync

    ls = LedgerSync("sqlite://", secret_keys=[Fernet.generate_key().decode()])
    ls.create_organisation("Acme", "org_1")
    with pytest.raises(IntegrityError) as caught:
        ls.create_organisation("Acme again", "org_1")
    message, code = expected_failure(caught.value) or ("", 0)
    assert code == EXIT_FAILED and message.startswith("that conflicts with a record already in the store")


BUSY_COMMANDS = {
    "sync": ["sync"],
    "sync-now": ["sync-now", "--record", "contact:c1"],
    "resolve --merge-into": ["resolve", "contact:c1", "--merge-into", "auto"],
    "verify": ["verify"],
}


@pytest.mark.parametrize("command", sorted(BUSY_COMMANDS))
def test_every_command_that_needs_the_lease_says_busy_in_exactly_one_line(tmp_path: Path, command: str) -> None:
    from ledgersync.engine import LedgerSync
    from ledgersync.model import Contact

    url, conn = _store_with_a_connection(tmp_path)
    ls = LedgerSync(url)
    ls.upsert_contact(ls.connection(conn).org_id, Contact(id="c1", name="Ann Lee"))
    assert ls.store.acquire_lease(conn, 600) is not None  # another worker is syncing it
    result = ledgersync(*BUSY_COMMANDS[command], "--db", url, "--connection", conn, cwd=tmp_path, env=_no_key_env())
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and "is being synced by another process right now" in lines[0], result.stdout
    assert result.stderr.strip() == ""
