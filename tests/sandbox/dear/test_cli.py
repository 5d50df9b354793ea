"""`ledgersync sandbox dear`: the flags pre-create a company with those keys, kept in --data across restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from ledgersync.sandbox.cli import sandbox_app
from ledgersync.sandbox.dear import DearSandbox


def test_the_flags_pre_create_a_company_that_the_data_file_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(kw))
    data = tmp_path / "dear.json"
    args = [
        "dear",
        "--port",
        "18401",
        "--data",
        str(data),
        "--account-id",
        "acct-1",
        "--application-key",
        "key-1",
        "--tenant",
        "Harbour Motors",
    ]
    result = CliRunner().invoke(sandbox_app, args)
    assert result.exit_code == 0, result.output
    assert "Account ID acct-1, Application Key key-1" in result.output and served[0]["port"] == 18401
    sb = DearSandbox.load(data)
    assert sb.authenticate("acct-1", "key-1") is not None and sb.accounts["acct-1"].name == "Harbour Motors"
    again = CliRunner().invoke(sandbox_app, ["dear", "--data", str(data), "--account-id", "acct-1"])
    assert again.exit_code == 0 and "Application Key key-1" in again.output
    assert len(DearSandbox.load(data).accounts["acct-1"].applications) == 1
    bad = CliRunner().invoke(sandbox_app, ["dear", "--application-key", "k"])
    assert bad.exit_code != 0


def test_with_data_every_confirmed_change_is_on_disk_before_the_answer(tmp_path: Path) -> None:
    import httpx

    from ledgersync.sandbox.dear import create_app
    from ledgersync.sandbox.server import serve_in_thread

    data = tmp_path / "dear.json"
    sb = DearSandbox.load(data)
    acct, key = sb.add_account("Durable Co")
    with serve_in_thread(create_app(sb)) as server:
        headers = {"api-auth-accountid": acct.id, "api-auth-applicationkey": key}
        made = httpx.post(f"{server.url}/ExternalApi/v2/customer", json={"Name": "Kept"}, headers=headers)
        assert made.status_code == 200
        # Read from the file while the server still runs: the write-through saved it before answering.
        on_disk = DearSandbox.load(data)
        assert [c["Name"] for c in on_disk.accounts[acct.id].data["customer"].values()] == ["Kept"]
