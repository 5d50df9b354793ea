"""The attachments stage on the Xero sandbox: the platform's own refusal (a document already holding Xero's 10
files, added there by people) shows as Failed with Xero's words and the fix; Retry sends again with a new key; a
file waits for its invoice; Sync now on one invoice sends only its files."""

from __future__ import annotations

from ledgersync.model import Contact, Entity

from .conftest import Env

PDF = b"%PDF-1.4\n" + b"engine test\n" * 100


def _invoice(env: Env, app_id: str, number: str) -> None:
    from .test_stages import corpus

    (inv,) = [r for r in corpus(0, 1, contacts=1) if r.entity is Entity.INVOICE]
    env.ls.upsert_invoice(env.org, inv.model_copy(update={"id": app_id, "number": number, "contact_id": "c000"}))


def _states(env: Env, app_id: str) -> list[tuple[str, str | None, str | None]]:
    (view,) = env.ls.attachments(env.org, Entity.INVOICE, app_id)
    return [(s.state, s.error, s.platform_message) for s in view.states]


def test_the_platforms_refusal_shows_with_its_words_and_retry_sends_again(env: Env) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c000", name="Customer 000"))
    _invoice(env, "i1", "ATT-1")
    assert env.ls.sync(env.conn).status == "ok"
    remote = env.ls.get(env.org, Entity.INVOICE, "i1", env.conn).remote_id  # type: ignore[union-attr]
    for n in range(10):  # a person filled the invoice's ten places in Xero
        r = env.sandbox.control.put(
            f"/_sandbox/tenants/{env.sandbox.tenant_id}/as-user/Invoices/{remote}/Attachments/scan{n}.pdf",
            content=b"%PDF scan",
            headers={"Content-Type": "application/pdf"},
        )
        assert r.status_code == 200, r.text
    env.ls.attach(env.org, Entity.INVOICE, "i1", "ATT-1.pdf", "application/pdf", PDF)
    assert env.ls.sync(env.conn).status == "ok"
    ((state, error, said),) = _states(env, "i1")
    assert state == "failed" and error
    assert said is not None and "maximum of 10 attachments" in said
    (failed,) = [e for e in env.ls.store.events(connection_id=env.conn, kind="attachment") if e.outcome == "failed"]
    assert failed.doc_number == "ATT-1"
    assert env.ls.sync(env.conn).status == "ok"  # a data error stays: nothing is sent again by itself
    assert _states(env, "i1")[0][0] == "failed"
    assert env.ls.retry_attachment(env.conn, Entity.INVOICE, "i1", "ATT-1.pdf") is True
    assert env.ls.retry_attachment(env.conn, Entity.INVOICE, "i1", "nope.pdf") is False
    env.ls.sync(env.conn)
    # Sent again with a new key (the platform would replay the first refusal to the old one): refused again.
    assert _states(env, "i1")[0][0] == "failed"
    attempts = [e for e in env.ls.store.events(connection_id=env.conn, kind="attachment") if e.outcome == "failed"]
    assert len(attempts) == 2


def test_a_file_waits_for_its_invoice_and_sync_now_sends_only_that_invoices_files(env: Env) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c000", name="Customer 000"))
    _invoice(env, "i1", "ATT-1")
    _invoice(env, "i2", "ATT-2")
    env.ls.attach(env.org, Entity.INVOICE, "i1", "ATT-1.pdf", "application/pdf", PDF)
    env.ls.attach(env.org, Entity.INVOICE, "i2", "ATT-2.pdf", "application/pdf", PDF)
    assert _states(env, "i1") == []  # not looked at before a sync
    env.ls.sync(env.conn, only={Entity.INVOICE: {"i1"}, Entity.CONTACT: {"c000"}})
    assert [s[0] for s in _states(env, "i1")] == ["synced"]
    assert _states(env, "i2") == []  # neither the invoice nor its file went
    env.ls.sync(env.conn)
    assert [s[0] for s in _states(env, "i2")] == ["synced"]


def test_showing_a_file_online_is_a_change_that_goes_to_the_platform(env: Env) -> None:
    env.ls.upsert_contact(env.org, Contact(id="c000", name="Customer 000"))
    _invoice(env, "i1", "ATT-1")
    env.ls.attach(env.org, Entity.INVOICE, "i1", "ATT-1.pdf", "application/pdf", PDF)
    assert env.ls.sync(env.conn).status == "ok"
    remote = env.ls.get(env.org, Entity.INVOICE, "i1", env.conn).remote_id  # type: ignore[union-attr]
    base = f"/_sandbox/tenants/{env.sandbox.tenant_id}/as-user/Invoices/{remote}/Attachments"
    assert [a["IncludeOnline"] for a in env.sandbox.control.get(base).json()["Attachments"]] == [False]
    env.ls.attach(env.org, Entity.INVOICE, "i1", "ATT-1.pdf", "application/pdf", PDF, include_online=True)
    (view,) = env.ls.attachments(env.org, Entity.INVOICE, "i1")
    assert [(s.state, s.current) for s in view.states] == [("synced", False)]
    assert env.ls.sync(env.conn).status == "ok"
    assert [a["IncludeOnline"] for a in env.sandbox.control.get(base).json()["Attachments"]] == [True]
    (view,) = env.ls.attachments(env.org, Entity.INVOICE, "i1")
    assert [(s.state, s.current) for s in view.states] == [("synced", True)]
