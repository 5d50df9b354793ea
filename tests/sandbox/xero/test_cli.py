"""The Typer sub-app exposes `xero` with the documented options."""

from __future__ import annotations

from typer.testing import CliRunner

from ledgersync.sandbox.cli import sandbox_app


def test_cli_help_lists_options() -> None:
    result = CliRunner().invoke(sandbox_app, ["xero", "--help"])
    assert result.exit_code == 0, result.output
    for opt in ("--host", "--port", "--data", "--client-id", "--client-secret", "--redirect-uri", "--tenant"):
        assert opt in result.output
