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
        mine = next(r for r in env.ls.records(env.org, Entity.CONTACT) if r.app_id == "c-parent")
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


def _payment_rows(qbd: Any) -> list[dict[str, Any]]:
    return [dict(t) for t in qbd.dump().get("ReceivePayment", [])]


# 12: an InvoiceQuery before the InvoiceAdd; 15: the look-up before the payment is added (its Add is left
# posted, never sent); 16: the ReceivePaymentAddRs itself (stored, its sender gone).
@pytest.mark.parametrize("nth", [3, 12, 15, 16])
def test_a_web_connector_that_lost_its_connection_does_not_block_the_next_session(env: Env, nth: int) -> None:
    """QBWC sent a receiveResponseXML and lost the connection before reading our answer, and never calls again
    in that session: the next session takes over promptly (not after the answer timeout), the cut session's
    cycle ends, and the new cycle reconciles what it left `syncing`: every record once in QuickBooks."""
    import time

    seed(env)
    with _sandbox(env) as qbd:
        qbd.faults(drop_http={"method": "receiveResponseXML", "nth": nth, "when": "after_send"})
        cut = qbd.run_now()
        assert cut["outcome"] == "dropped"
        # Longer than a live Web Connector leaves between two calls, far shorter than the answer timeout.
        time.sleep(env.service.settings.takeover_idle_seconds + 0.5)
        started = time.monotonic()
        outcomes = []
        for _ in range(3):
            s = qbd.run_now()
            outcomes.append(s["outcome"])
            if all(_state(env, e, a) == "synced" for e, a in _ALL):
                break
        assert outcomes[0] == "done", outcomes  # the very next session works (was: "none" until a timeout)
        assert time.monotonic() - started < env.service.settings.mailbox.answer_seconds
        for entity, app_id in _ALL:
            assert _state(env, entity, app_id) == "synced", (entity, app_id, outcomes)
        d = qbd.dump()
        assert sorted(c["Name"] for c in d["Customer"]) == ["Harbour Cafe", "Harbour Holdings"]
        assert [t.get("RefNumber") for t in d["Invoice"]] == ["INV-1001"]
        assert len(_payment_rows(qbd)) == 1
        # The cut session is closed in the store, with why.
        from sqlalchemy import select

        from ledgersync.store.tables import QbwcSession

        with env.ls.store.session() as s:
            rows = list(s.scalars(select(QbwcSession).where(QbwcSession.connection_id == env.conn)))
        assert rows and all(r.closed_at is not None for r in rows)
        [first] = [r for r in rows if r.created_at == min(x.created_at for x in rows)]
        assert first.cycle_state in ("done", "failed"), (first.cycle_state, first.message)  # its cycle ended
        quiet = qbd.run_now()
        assert quiet["outcome"] == "done" and "0 written" in str(quiet["close_message"])
        assert len(_payment_rows(qbd)) == 1


_ALL = ((Entity.CONTACT, "c-parent"), (Entity.CONTACT, "c-child"), (Entity.INVOICE, "inv-1"), (Entity.PAYMENT, "pay-1"))
