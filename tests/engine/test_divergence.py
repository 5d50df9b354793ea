"""Nothing diverges silently (issue 15), over the in-memory platform: platform-side edits of invoices and payments
reach the app under the conflict policy, unsettled edits become `conflict`, and verify marks drift."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledgersync import (
    ActionCentre,
    Actor,
    Allocation,
    Contact,
    EngineSettings,
    Entity,
    Invoice,
    InvoiceLine,
    LedgerSync,
    Payment,
    Role,
)
from ledgersync.engine.actions import PermissionDenied
from ledgersync.store.tables import Link
from ledgersync.testing import MemoryPlatform, MemorySpec, connect_memory

DAY = dt.date(2026, 11, 2)
ADMIN = Actor("ada", Role.ADMIN)
MEMBER = Actor("max", Role.MEMBER)


@dataclass
class App:
    ls: LedgerSync
    org: str
    conn: str
    platform: MemoryPlatform

    def remote(self, entity: Entity, app_id: str) -> str:
        view = self.ls.get(self.org, entity, app_id, self.conn)
        assert view is not None and view.remote_id
        return view.remote_id

    def state(self, entity: Entity, app_id: str) -> str:
        view = self.ls.get(self.org, entity, app_id, self.conn)
        assert view is not None
        return view.state

    def record(self, entity: Entity, app_id: str) -> Any:
        view = self.ls.get(self.org, entity, app_id)
        assert view is not None
        return view.record


Make = Callable[..., App]


def agree(app: App) -> None:
    report = app.ls.check(app.conn)
    assert report.agree, [str(d) for d in report.differences]


@pytest.fixture
def make(tmp_path: Path, secret_key: str) -> Make:
    def build(policy: str = "newest", **capabilities: Any) -> App:
        platform = MemoryPlatform.with_capabilities(**capabilities)
        ls = LedgerSync(
            f"sqlite:///{tmp_path / 'app.db'}",
            secret_keys=[secret_key],
            settings=EngineSettings(retry_base_seconds=0, conflict_policy=policy),  # type: ignore[arg-type]
            providers={"memory": MemorySpec(platform)},
        )
        org = ls.create_organisation("Memory Workshop")
        return App(ls, org, connect_memory(ls, org, "memory", None), platform)

    return build


def invoice(i: int, amount: str = "100.00", reference: str | None = None) -> Invoice:
    return Invoice(
        id=f"i{i}",
        contact_id="c1",
        number=f"M-{i:04d}",
        date=DAY,
        reference=reference,
        lines=[InvoiceLine(description="Service", unit_amount=Decimal(amount))],
    )


def synced_invoice(app: App, reference: str | None = None) -> str:
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_invoice(app.org, invoice(1, reference=reference))
    app.ls.sync(app.conn)
    return app.remote(Entity.INVOICE, "i1")


def test_an_invoice_edited_on_the_platform_reaches_the_app_lines_and_all(make: Make) -> None:
    app = make()
    rid = synced_invoice(app)
    lines = [InvoiceLine(description="Service", unit_amount=Decimal("100")), InvoiceLine(description="Parts")]
    app.platform.edit(Entity.INVOICE, rid, lines=lines, reference="PO-7", due_date=DAY + dt.timedelta(days=30))
    app.ls.sync(app.conn)
    inv = app.record(Entity.INVOICE, "i1")
    assert [line.description for line in inv.lines] == ["Service", "Parts"]
    assert inv.reference == "PO-7" and inv.due_date == DAY + dt.timedelta(days=30)
    assert app.state(Entity.INVOICE, "i1") == "synced"
    agree(app)


@pytest.mark.parametrize(("policy", "kept"), [("app_wins", "APP"), ("platform_wins", "PLATFORM")])
def test_an_edit_on_both_sides_goes_by_the_policy(make: Make, policy: str, kept: str) -> None:
    app = make(policy)
    rid = synced_invoice(app)
    app.platform.edit(Entity.INVOICE, rid, reference="PLATFORM")
    app.ls.upsert_invoice(app.org, invoice(1, reference="APP"))
    app.ls.sync(app.conn)
    app.ls.sync(app.conn)
    assert app.record(Entity.INVOICE, "i1").reference == kept
    remote = app.platform.get(Entity.INVOICE, rid)
    assert remote is not None and remote.record.reference == kept  # type: ignore[attr-defined]
    assert app.state(Entity.INVOICE, "i1") == "synced"
    agree(app)


def test_an_edit_on_both_sides_the_policy_cannot_settle_is_a_conflict_with_both_versions(make: Make) -> None:
    app = make("ask")
    rid = synced_invoice(app)
    app.platform.edit(Entity.INVOICE, rid, reference="PLATFORM")
    app.ls.upsert_invoice(app.org, invoice(1, amount="120.00", reference="APP"))
    app.ls.sync(app.conn)
    assert app.state(Entity.INVOICE, "i1") == "conflict"
    ac = ActionCentre(app.ls)
    (err,) = ac.errors(app.conn)
    assert err.code == "edit_conflict" and err.actions == ["keep_app", "keep_platform", "skip"]
    view = ac.divergence(app.conn, Entity.INVOICE, "i1")
    assert view is not None and view.kind == "conflict"
    assert view.app_version["reference"] == "APP" and view.platform_version is not None
    assert view.platform_version["reference"] == "PLATFORM"
    assert {f["field"] for f in view.fields} == {"lines", "reference"}
    # Nothing is sent while it is held, and the platform keeps its edit.
    app.ls.sync(app.conn)
    remote = app.platform.get(Entity.INVOICE, rid)
    assert remote is not None and remote.record.reference == "PLATFORM"  # type: ignore[attr-defined]
    with pytest.raises(PermissionDenied):
        ac.keep_app(MEMBER, app.conn, Entity.INVOICE, "i1")
    ac.keep_app(ADMIN, app.conn, Entity.INVOICE, "i1", now=True)
    remote = app.platform.get(Entity.INVOICE, rid)
    assert remote is not None and remote.record.reference == "APP"  # type: ignore[attr-defined]
    assert app.state(Entity.INVOICE, "i1") == "synced"
    agree(app)
    assert ac.divergence(app.conn, Entity.INVOICE, "i1") is None


def test_keep_the_platforms_version_takes_it_into_the_app(make: Make) -> None:
    app = make("ask")
    rid = synced_invoice(app)
    app.platform.edit(Entity.INVOICE, rid, reference="PLATFORM")
    app.ls.upsert_invoice(app.org, invoice(1, reference="APP"))
    app.ls.sync(app.conn)
    ActionCentre(app.ls).keep_platform(ADMIN, app.conn, Entity.INVOICE, "i1")
    assert app.record(Entity.INVOICE, "i1").reference == "PLATFORM"
    assert app.state(Entity.INVOICE, "i1") == "synced"
    report = app.ls.sync(app.conn)
    assert report.pushed == {}
    agree(app)


def test_a_payment_moved_to_another_invoice_on_the_platform_follows(make: Make) -> None:
    app = make(payments_editable=True)
    app.ls.upsert_contact(app.org, Contact(id="c1", name="Ann Lee"))
    app.ls.upsert_many(app.org, [invoice(1), invoice(2)])
    app.ls.upsert_payment(
        app.org,
        Payment(
            id="p1", date=DAY, amount=Decimal("60"), allocations=[Allocation(invoice_id="i1", amount=Decimal("60"))]
        ),
    )
    app.ls.sync(app.conn)
    pid, i2 = app.remote(Entity.PAYMENT, "p1"), app.remote(Entity.INVOICE, "i2")
    app.platform.edit(Entity.PAYMENT, pid, allocations=[Allocation(invoice_id=i2, amount=Decimal("60"))])
    app.ls.sync(app.conn)
    pay = app.record(Entity.PAYMENT, "p1")
    assert [a.invoice_id for a in pay.allocations] == ["i2"]
    assert app.record(Entity.INVOICE, "i1").amount_due == Decimal("100")
    assert app.record(Entity.INVOICE, "i2").amount_due == Decimal("40")
    assert app.state(Entity.PAYMENT, "p1") == "synced"
    agree(app)


def _miss_the_next_platform_change(app: App, entity: Entity, app_id: str) -> None:
    """What went wrong before issue 15: a platform change the pull treats as already seen."""
    rid = app.remote(entity, app_id)
    remote = app.platform.get(entity, rid)
    assert remote is not None
    with app.ls.store.session() as s:
        link = s.query(Link).filter_by(connection_id=app.conn, entity=entity.value, app_id=app_id).one()
        link.remote_version = remote.version


def test_verify_marks_a_record_that_differs_drifted_with_the_fixes(make: Make) -> None:
    app = make()
    rid = synced_invoice(app, "ORIGINAL")
    app.platform.edit(Entity.INVOICE, rid, reference="CHANGED")
    _miss_the_next_platform_change(app, Entity.INVOICE, "i1")
    app.ls.sync(app.conn)
    assert app.state(Entity.INVOICE, "i1") == "synced"  # the sync alone does not see it
    report = app.ls.verify(app.conn)
    assert report.drifted == {("invoice", "i1"): ["reference"]} and not report.agree
    assert app.state(Entity.INVOICE, "i1") == "drifted"
    ac = ActionCentre(app.ls)
    (err,) = ac.errors(app.conn)
    assert err.code == "drifted" and err.actions == ["keep_app", "keep_platform", "skip"]
    view = ac.divergence(app.conn, Entity.INVOICE, "i1")
    assert view is not None and view.fields == [{"field": "reference", "app": "ORIGINAL", "platform": "CHANGED"}]
    ac.keep_app(ADMIN, app.conn, Entity.INVOICE, "i1")
    app.ls.sync(app.conn)
    remote = app.platform.get(Entity.INVOICE, rid)
    assert remote is not None and remote.record.reference == "ORIGINAL"  # type: ignore[attr-defined]
    assert app.ls.verify(app.conn).agree and app.state(Entity.INVOICE, "i1") == "synced"


def test_a_sampled_verify_keeps_to_its_call_budget_and_take_the_platforms_fixes_drift(make: Make) -> None:
    app = make()
    rid = synced_invoice(app, "ORIGINAL")
    app.platform.edit(Entity.INVOICE, rid, reference="CHANGED")
    _miss_the_next_platform_change(app, Entity.INVOICE, "i1")
    report = app.ls.verify(app.conn, sample=10, call_budget=5)
    assert report.sampled and report.calls <= 5 and ("invoice", "i1") in report.drifted
    ActionCentre(app.ls).keep_platform(ADMIN, app.conn, Entity.INVOICE, "i1")
    assert app.record(Entity.INVOICE, "i1").reference == "CHANGED"
    assert app.ls.verify(app.conn).agree
    assert app.ls.verify(app.conn, sample=10, call_budget=0).budget_spent
