"""The public surface: `ledgersync` exports the facade, the model and the Provider protocol, loads them on
first use, and the REST API, dashboard and CLI go through it rather than the engine's internals."""

from __future__ import annotations

import ast
import subprocess
import sys

import ledgersync

from .conftest import REPO

PACKAGE = REPO / "src" / "ledgersync"
# What only the engine itself may build: the cycle, the token store, the run function.
INTERNALS = {"Cycle", "run_cycle", "StoreTokenStore", "open_provider"}


def test_every_exported_name_resolves_to_the_object_its_module_defines() -> None:
    from ledgersync.engine.actions import ActionCentre
    from ledgersync.engine.app import LedgerSync
    from ledgersync.model import Contact
    from ledgersync.providers.base import Provider

    assert ledgersync.LedgerSync is LedgerSync and ledgersync.ActionCentre is ActionCentre
    assert ledgersync.Contact is Contact and ledgersync.Provider is Provider
    for name in ledgersync.__all__:
        assert getattr(ledgersync, name) is not None, name


def test_importing_ledgersync_loads_no_engine_store_or_platform_code() -> None:
    probe = (
        "import sys, ledgersync; "
        "print(sorted(m for m in sys.modules if m.startswith(('ledgersync.engine', 'ledgersync.store', "
        "'ledgersync.providers', 'sqlalchemy', 'httpx'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_api_dashboard_and_cli_never_reach_into_the_engines_internals() -> None:
    files = [*(PACKAGE / "api").glob("*.py"), *(PACKAGE / "web").glob("*.py"), PACKAGE / "cli.py"]
    offences = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "ledgersync.engine.sync" or node.module == "ledgersync.engine.connections":
                    offences.append(f"{path.name}: from {node.module}")
                offences += [f"{path.name}: {a.name}" for a in node.names if a.name in INTERNALS]
            elif isinstance(node, ast.Name) and node.id in INTERNALS:
                offences.append(f"{path.name}: {node.id}")
    assert offences == []
