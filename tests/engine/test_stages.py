"""The stages and their seams: a process killed exactly between plan and execute, between claiming a batch and
calling the platform, and between the platform's answer and recording it, loses and duplicates nothing; pulls
resume page by page from their checkpoint; the stages hold no per-entity branches."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine import check
from ledgersync.engine import pull as pull_stage
from ledgersync.engine.sync import Cycle
from ledgersync.model import Contact, Entity

from .conftest import Env, make_env
from .test_crash_safety import corpus

ENGINE = Path(__file__).resolve().parents[2] / "src" / "ledgersync" / "engine"

RUNNER = """
import sys
from ledgersync.engine import LedgerSync
ls = LedgerSync(sys.argv[1], secret_keys=[sys.argv[3]])
ls.sync(sys.argv[2])
"""


def sync_in_child(env: Env, kill_at: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, env.db_url, env.conn, env.secret_key],
        env={**os.environ, "PYTHONWARNINGS": "ignore", "LEDGERSYNC_KILL_AT": kill_at},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=300,
    )
    return proc.returncode


def assert_converged(env: Env, sandbox: XeroSandboxHandle, invoices: int) -> None:
    for _ in range(3):
        report = env.ls.sync(env.conn, wait=30)
        assert report.status == "ok", report.message
        if not report.pushed and not report.failed:
            break
    counts = env.ls.health(env.conn).counts
    assert counts == {"contact": {"synced": 10}, "invoice": {"synced": invoices}, "payment": {"synced": invoices}}
    dump = sandbox.dump()
    numbers = Counter(i["InvoiceNumber"] for i in dump["Invoices"] if i["Status"] not in ("DELETED", "VOIDED"))
    assert len(numbers) == invoices and max(numbers.values()) == 1, numbers.most_common(3)
    assert len([p for p in dump["Payments"] if p["Status"] != "DELETED"]) == invoices
    assert Counter(c["Name"] for c in dump["Contacts"]).most_common(1)[0][1] == 1
    assert env.ls.store.outbox.pending(env.conn) == 0
    report_check = check(env.ls.store, env.provider(), env.conn)
    assert report_check.agree, [str(d) for d in report_check.differences[:10]]


@pytest.mark.parametrize(
    "kill_at",
    # planned:<n> counts every entity's plan in push order (contacts, suppliers, items, invoices, ...): the 4th
    # is the invoices'.
    ["planned:1", "planned:4", "claimed:1", "claimed:4", "executed:1", "executed:2", "executed:5"],
)
def test_a_kill_between_any_two_stages_loses_and_duplicates_nothing(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str, kill_at: str
) -> None:
    env = make_env(sandbox, f"sqlite:///{tmp_path / 'app.db'}", secret_key, client={"batch_size": "10"})
    env.ls.upsert_many(env.org, [Contact(id=f"c{i:03d}", name=f"Customer {i:03d}") for i in range(10)])
    env.ls.upsert_many(env.org, corpus(0, 40, contacts=10))
    assert sync_in_child(env, kill_at) == -9, "the child should have died at the boundary"
    if kill_at.startswith("planned"):
        # What was planned is in the outbox, nothing of it was sent.
        assert env.ls.store.outbox.pending(env.conn) > 0
    if kill_at.startswith("executed"):
        # The platform answered but nothing was recorded: the records wait, syncing, for a lookup.
        assert env.ls.store.states(env.conn, state="syncing")
    env.ls.upsert_many(env.org, corpus(40, 10, contacts=10))
    assert_converged(env, sandbox, invoices=50)
    if kill_at.startswith("executed"):
        assert env.ls.store.events(connection_id=env.conn, kind="reconcile", limit=1000)


def test_a_pull_does_one_page_per_step_and_resumes_from_its_checkpoint_after_a_restart(
    sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str
) -> None:
    env = make_env(sandbox, f"sqlite:///{tmp_path / 'app.db'}", secret_key, client={"page_size": "10"})
    for i in range(25):
        env.sandbox.as_user("Contacts", {"Contacts": [{"Name": f"Platform {i:02d}"}]}, method="PUT")
    spec = env.ls.spec("xero")

    def fresh_cycle() -> Cycle:  # a new process would build exactly this
        return Cycle(env.ls.store, spec, env.conn, env.ls.settings)

    first = fresh_cycle()
    assert pull_stage.pull_step(first, Entity.CONTACT) is True
    assert first.report.pulled == {"contact": 10}
    assert first.calls == 1
    cursor, resume = env.ls.store.get_checkpoint(env.conn, Entity.CONTACT)
    assert resume is not None and cursor is not None
    first.provider.close()

    second = fresh_cycle()
    steps = 1
    while pull_stage.pull_step(second, Entity.CONTACT):
        steps += 1
    second.provider.close()
    assert steps == 2 and second.report.pulled == {"contact": 15}
    assert env.ls.store.get_checkpoint(env.conn, Entity.CONTACT)[1] is None
    names = [c.record.name for c in env.ls.store.records(env.org, Entity.CONTACT)]  # type: ignore[attr-defined]
    assert len(names) == 25 and len(set(names)) == 25


STAGES = ("plan.py", "execute.py", "record.py", "reconcile.py", "pull.py", "sync.py", "attachments.py")
MODEL_CLASSES = {"Contact", "Invoice", "Payment", "Item", "CustomerCredit", "CreditNote"}


@pytest.mark.parametrize("module", STAGES)
def test_the_stages_never_branch_on_an_entity(module: str) -> None:
    """What differs per entity lives in engine/entities; the stages name no entity and test no record type."""
    tree = ast.parse((ENGINE / module).read_text())
    offending: list[str] = []
    for node in ast.walk(tree):
        named = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Entity"
        if named and node.attr != "push_order":  # type: ignore[attr-defined]
            offending.append(f"Entity.{node.attr} at line {node.lineno}")  # type: ignore[attr-defined]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
            kinds = node.args[1]
            names = {n.id for n in ast.walk(kinds) if isinstance(n, ast.Name)}
            if names & MODEL_CLASSES:
                offending.append(f"isinstance(..., {sorted(names & MODEL_CLASSES)}) at line {node.lineno}")
    assert not offending, offending


def test_every_entity_has_its_rules() -> None:
    from ledgersync.engine.entities import RULES

    assert set(RULES) == set(Entity)
