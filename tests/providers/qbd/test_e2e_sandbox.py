"""End to end against the sandbox's Web Connector (real SOAP over loopback): the two findings of the throwaway
runs. A stale EditSequence on an app edit of a contact takes the conflict policy and the edit goes through on
the fresh EditSequence, keeping the person's change at the desk; a Web Connector that lost its connection
mid-session does not block the next session, and what the cut session left `syncing` is reconciled, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledgersync import Contact, Entity, Invoice

from .conftest import Env
from .test_service import _state, seed

CONTRACTS = Path(__file__).resolve().parents[3].parent / "shared" / "contracts" / "qbd"


def _sandbox(env: Env) -> Any:
    if not (CONTRACTS / "qbxmlops130.xsd").exists():
        pytest.skip(f"the qbXML 13.0 schema is not at {CONTRACTS} (../shared/contracts/qbd)")
    from ledgersync.sandbox.qbd import start_qbd_sandbox

    return start_qbd_sandbox(env.url, qwc=env.qwc, password=env.password, noop_wait_seconds=0.05, schema_dir=CONTRACTS)


def _customer(qbd: Any, name: str) -> dict[str, Any]:
    [row] = [c for c in qbd.dump()["Customer"] if c["Name"] == name]
    return dict(row)


def test_a_stale_edit_sequence_keeps_the_desk_edit_and_sends_the_app_edit_again(env: Env) -> None:
    seed(env)
    with _sandbox(env) as qbd:
        first = qbd.run_now()
        assert first["outcome"] == "done" and _state(env, Entity.CONTACT, "c-parent") == "synced"
        # A person saves the customer at the desk (Notes, which ledgersync does not carry) just before our Mod.
        qbd.faults(stale_edit_sequence={"count": 1, "fields": {"Notes": "desk"}})
        env.ls.upsert(env.org, Contact(id="c-parent", name="Harbour Holdings", email="new@harbour.example"))
        stale = qbd.run_now()
        assert stale["outcome"] == "done"
        assert qbd.counters()["statuses"].get("3200") == 1
        assert _state(env, Entity.CONTACT, "c-parent") in ("pending", "synced")  # never failed
        if _state(env, Entity.CONTACT, "c-parent") == "pending":
            again = qbd.run_now()
            assert again["outcome"] == "done"
        assert _state(env, Entity.CONTACT, "c-parent") == "synced"
        cust = _customer(qbd, "Harbour Holdings")
        assert cust.get("Email") == "new@harbour.example"
        assert cust.get("Notes") == "desk"
        mine = [r for r in env.ls.records(env.org, Entity.CONTACT) if r.app_id == "c-parent"][0]
        assert getattr(mine.record, "email", None) == "new@harbour.example"
        assert len([c for c in qbd.dump()["Customer"] if c["Name"] == "Harbour Holdings"]) == 1
        # Nothing left to do: a further session writes nothing.
        quiet = qbd.run_now()
        assert quiet["outcome"] == "done" and "0 written" in str(quiet["close_message"])


def test_a_stale_edit_sequence_on_an_invoice_is_sent_again_on_the_fresh_one(env: Env) -> None:
    seed(env)
    with _sandbox(env) as qbd:
        assert qbd.run_now()["outcome"] == "done"
        [inv] = [r for r in env.ls.records(env.org, Entity.INVOICE) if r.app_id == "inv-1"]
        assert isinstance(inv.record, Invoice)
        qbd.faults(stale_edit_sequence={"count": 1, "fields": {"Memo": "desk"}})
        env.ls.upsert(env.org, inv.record.model_copy(update={"due_date": inv.record.date}))
        assert qbd.run_now()["outcome"] == "done"
        assert qbd.counters()["statuses"].get("3200") == 1
        assert _state(env, Entity.INVOICE, "inv-1") == "synced"
        [row] = [t for t in qbd.dump()["Invoice"] if t.get("RefNumber") == "INV-1001"]
        assert row.get("DueDate") == str(inv.record.date)
