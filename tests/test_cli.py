"""The real CLI, end to end: `ledgersync demo --once`, then `status` and `sync` on the database it left."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


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
    assert "Last sync with Xero performed less than a minute ago" in out
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
