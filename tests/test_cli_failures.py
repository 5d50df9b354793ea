"""The new commands' failure paths (verify, export, schedule, db, worker): a person gets one plain line with
the fix and an exit code, never a traceback, for bad input, an unknown or disconnected connection, a platform
that is down, a database URL nothing can open, or a connection another process holds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from ledgersync.cli import EXIT_BUSY, EXIT_FAILED, EXIT_SETUP, app
from ledgersync.demo import connect_sandbox, xero_sandbox
from ledgersync.engine import LedgerSync
from ledgersync.model import Contact

FAST = {"rate_limits": {"concurrent": 5, "minute": 100_000, "day": 1_000_000, "app_minute": 1_000_000}}


@pytest.fixture
def connected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LedgerSync, str, str, object]]:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("LEDGERSYNC_SECRET_KEY", key)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ls = LedgerSync(url, secret_keys=[key])
    org = ls.create_organisation("CLI Co")
    cm = xero_sandbox(config=FAST)
    sandbox = cm.__enter__()
    try:
        yield ls, url, connect_sandbox(ls, org, sandbox), cm
    finally:
        cm.__exit__(None, None, None)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"a traceback reached the person: {result.exception!r}\n{result.output}")
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def test_bad_input_is_refused_before_anything_runs(connected: tuple[LedgerSync, str, str, object]) -> None:
    _, url, conn, _ = connected
    code, out = run("verify", "--db", url, "--connection", conn, "--sample", "-3")
    assert code == 2 and "--sample" in out and "greater than or equal to 1" in out
    code, out = run("verify", "--db", url, "--connection", conn, "--sample", "2", "--call-budget", "0")
    assert code == 2 and "--call-budget" in out
    code, out = run("schedule", "--db", url, "--connection", conn, "--every", "-5")
    assert code == 2 and "--every" in out and "greater than or equal to 0" in out
    code, out = run("schedule", "--db", url, "--connection", conn, "--every", "60", "--default")
    assert code == 2 and "give --every or --default, not both" in out
    code, out = run("export", "invoices", "--db", url, "--connection", conn)
    assert code == EXIT_FAILED and "one of products, customers, suppliers" in out


def test_an_unknown_connection_is_named(connected: tuple[LedgerSync, str, str, object]) -> None:
    _, url, _, _ = connected
    for args in (("verify",), ("export", "customers"), ("schedule", "--every", "60"), ("sync-now",)):
        code, out = run(*args, "--db", url, "--connection", "conn_nope")
        assert code == EXIT_SETUP and "error: no connection conn_nope" in out, (args, out)


def test_a_database_url_nothing_can_open_says_what_one_looks_like(tmp_path: Path) -> None:
    for command in (("db", "current"), ("db", "upgrade"), ("verify",), ("schedule",)):
        code, out = run(*command, "--db", "postgres-ish://nowhere/x")
        assert code == EXIT_SETUP and "the database URL cannot be used" in out, (command, out)
        assert "postgresql+psycopg://user@host:5432/name" in out
    code, out = run("db", "current", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert code == EXIT_SETUP and "the database cannot be used" in out


def test_the_worker_refuses_a_database_it_cannot_use(tmp_path: Path) -> None:
    # A worker is a process of its own, whose settings are read when it starts (another test of this session
    # may have imported the worker's settings already): run it as one.
    cmd = [sys.executable, "-c", "from ledgersync.cli import app; app()", "worker"]
    cmd += ["--db", "postgresql+psycopg://nobody@127.0.0.1:1/x", "--broker", "memory://"]
    env = {k: v for k, v in os.environ.items() if k != "LEDGERSYNC_DATABASE_URL"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == EXIT_SETUP and "the database cannot be used" in out, out
    assert "Traceback" not in out


def test_a_platform_that_is_down_and_a_disconnected_connection(connected: tuple[LedgerSync, str, str, object]) -> None:
    ls, url, conn, cm = connected
    ls.upsert_contact(ls.connections()[0].org_id, Contact(id="c1", name="Waiting Customer"))
    cm.__exit__(None, None, None)  # type: ignore[attr-defined]
    code, out = run("verify", "--db", url, "--connection", conn)
    assert code == EXIT_FAILED and "error: Xero could not be reached. This retries by itself" in out
    code, out = run("export", "customers", "--db", url, "--connection", conn)
    assert code == EXIT_FAILED and "0 of 1 synced" in out and "1 still waiting (Xero could not be reached" in out
    ls.disconnect(conn)
    code, out = run("verify", "--db", url, "--connection", conn)
    assert code == EXIT_FAILED and "error:" in out and "reconnect" in out.lower()


def test_a_connection_another_process_holds_says_try_again(connected: tuple[LedgerSync, str, str, object]) -> None:
    ls, url, conn, _ = connected
    lease = ls.store.acquire_lease(conn, 300)
    assert lease is not None
    try:
        code, out = run("verify", "--db", url, "--connection", conn)
        assert code == EXIT_BUSY and "being synced by another process right now; try again shortly" in out
        ls.upsert_contact(ls.connections()[0].org_id, Contact(id="c1", name="Held Customer"))
        code, out = run("export", "customers", "--db", url, "--connection", conn)
        assert code == EXIT_BUSY and "try again shortly" in out
    finally:
        ls.store.release_lease(lease)
