"""`ledgersync export products|customers`: the one-time export from the command line, against the Xero sandbox
over loopback, with a summary line and exit code 0 when everything synced."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ledgersync.demo import connect_sandbox, xero_sandbox
from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.model import Contact, Item

from .test_cli import _no_key_env, ledgersync


def test_export_customers_and_products_prints_a_summary(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledgersync.db'}"
    ls = LedgerSync(url, settings=EngineSettings(contacts="with_transactions"))
    org = ls.create_organisation("Export Co")
    with xero_sandbox() as sandbox:
        conn = connect_sandbox(ls, org, sandbox)
        for i in range(3):
            ls.upsert_contact(org, Contact(id=f"c{i}", name=f"CLI Customer {i}"))
            ls.upsert_item(org, Item(id=f"p{i}", code=f"CLI-{i}", name=f"CLI product {i}", unit_price=Decimal(5)))
        result = ledgersync("export", "customers", "--db", url, "--connection", conn, cwd=tmp_path, env=_no_key_env())
        out = result.stdout + result.stderr
        assert result.returncode == 0, out
        assert f"{conn}: Exported customers: 3 of 3 synced (3 sent now), 0 failed" in out
        names = {c["Name"] for c in sandbox.records("Contacts")}
        assert {f"CLI Customer {i}" for i in range(3)} <= names
        result = ledgersync("export", "products", "--db", url, cwd=tmp_path, env=_no_key_env())
        assert result.returncode == 0 and "Exported products: 3 of 3 synced" in result.stdout, result.stdout
        bad = ledgersync("export", "invoices", "--db", url, cwd=tmp_path, env=_no_key_env())
        assert bad.returncode != 0 and "one of products, customers, suppliers" in bad.stdout + bad.stderr
