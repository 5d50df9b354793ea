"""A payment a person deletes in DEAR (deleted outright; DEAR lists no deletions) is removed in the app on the next
sync, never left Synced: a changed sale's payments are listed whole and compared with the payments linked to it,
and a bounded periodic check reads again sales seen with payments, for when deleting a payment does not mark its
sale as changed (DEAR does not say whether it does: the sandbox can be told either way)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ledgersync import Contact, Invoice, InvoiceLine, LedgerSync, Payment
from ledgersync.demo import SandboxHandle, connect_dear, dear_sandbox
from ledgersync.model import Allocation, Entity
from ledgersync.providers.dear.provider import PaidSeen, cursor_stamp

from .test_dear_provider import open_ls, user

# The minute limit is raised on both sides: these tests are about payments, not pacing.
FAST = {"rate_limit_wait_seconds": "0.2", "default_tax_rule": "GST Free Income", "per_minute": "1000000"}


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with dear_sandbox(config={"rate_limits": {"per_minute": 1_000_000}}) as sb:
        yield sb


TODAY = dt.date.today()


def _paid(ls: LedgerSync, org: str, n: int = 1) -> None:
    ls.upsert_contact(org, Contact(id="c1", name="Ann"))
    for i in range(1, n + 1):
        ls.upsert_invoice(
            org,
            Invoice(
                id=f"i{i}",
                contact_id="c1",
                number=f"A-{i}",
                date=TODAY,
                lines=[InvoiceLine(description="Job", unit_amount=Decimal("100"))],
            ),
        )
        ls.upsert_payment(
            org,
            Payment(
                id=f"p{i}",
                date=TODAY,
                amount=Decimal("40"),
                reference=f"R{i}",
                allocations=[Allocation(invoice_id=f"i{i}", amount=Decimal("40"))],
            ),
        )


def _delete_in_dear(ls: LedgerSync, org: str, conn: str, sb: SandboxHandle, app_id: str) -> None:
    view = ls.get(org, Entity.PAYMENT, app_id, conn)
    assert view is not None and view.remote_id and view.state == "synced"
    user(sb, f"sale/payment?ID={view.remote_id}", method="DELETE")


def _removed(ls: LedgerSync, org: str, conn: str, app_id: str) -> bool:
    view = ls.get(org, Entity.PAYMENT, app_id, conn)
    assert view is not None
    return view.record.status.value == "deleted"  # type: ignore[attr-defined]


def test_a_payment_deleted_in_dear_right_after_it_was_sent_is_removed_in_the_app(
    tmp_path: Path,
    sandbox: SandboxHandle,
) -> None:
    ls, org = open_ls(tmp_path)
    conn = connect_dear(ls, org, sandbox, FAST)
    _paid(ls, org)
    ls.sync(conn)
    _delete_in_dear(ls, org, conn, sandbox, "p1")  # before any pull read the payment back
    ls.sync(conn)
    assert _removed(ls, org, conn, "p1")
    invoice = ls.get(org, Entity.INVOICE, "i1", conn)
    assert invoice is not None and invoice.record.amount_due == Decimal("100.00")  # type: ignore[attr-defined]
    assert ls.sync(conn).pushed == {} and ls.check(conn).agree


def test_when_the_sale_does_not_read_as_changed_the_periodic_check_finds_it(
    tmp_path: Path,
    sandbox: SandboxHandle,
) -> None:
    sandbox.control.put("/_sandbox/config", json={"payment_delete_touches_sale": False}).raise_for_status()
    ls, org = open_ls(tmp_path)
    # The check reads at most 2 sales a pull, so 3 sales with payments take two pulls to go round.
    # No lookback behind the cursor: a sale is read again only when it changed after the last pull.
    config = {**FAST, "lookback_seconds": "0", "payment_check_seconds": "3600", "payment_check_sales": "2"}
    conn = connect_dear(ls, org, sandbox, config)
    _paid(ls, org, 3)
    ls.sync(conn)
    ls.sync(conn)  # reads the payments back: the sales are known to have payments
    # A minute on, a person takes another payment on the third sale; the next pull moves the cursor past the
    # first two sales (DEAR's UpdatedSince is read to the second, so sales changed in the cursor's second are
    # read again until then).
    sandbox.control.post("/_sandbox/clock", json={"advance_seconds": 60}).raise_for_status()
    third = ls.get(org, Entity.INVOICE, "i3", conn)
    assert third is not None
    (task,) = [i["TaskID"] for s in sandbox.records("sale") if s["ID"] == third.remote_id for i in s["Invoices"]]
    user(sandbox, "sale/payment", {"TaskID": task, "Amount": "5", "Account": "090", "Reference": "In DEAR"})
    ls.sync(conn)
    _delete_in_dear(ls, org, conn, sandbox, "p1")
    ls.sync(conn)  # the check's first round ran in the sync before: not due yet, and the sale reads as unchanged
    assert not _removed(ls, org, conn, "p1")
    # An hour on (the check is due again): two pulls go round the three sales.
    _age_payment_check(ls, conn, 3601)
    ls.sync(conn)
    ls.sync(conn)
    assert _removed(ls, org, conn, "p1") and not _removed(ls, org, conn, "p3")
    invoice = ls.get(org, Entity.INVOICE, "i1", conn)
    assert invoice is not None and invoice.record.amount_due == Decimal("100.00")  # type: ignore[attr-defined]


def _age_payment_check(ls: LedgerSync, conn: str, seconds: float) -> None:
    """Move the payments' cursor's last full round of the check `seconds` into the past."""
    cursor, resume = ls.store.get_checkpoint(conn, Entity.PAYMENT)
    paid = PaidSeen.decode(cursor)
    assert paid.checked is not None and paid.sales
    paid.checked -= seconds
    with ls.store.session() as s:
        ls.store.set_cursor(s, conn, Entity.PAYMENT, paid.encode(paid.at), resume)


def test_the_payments_cursor_reads_a_plain_stamp_from_before() -> None:
    assert PaidSeen.decode("2026-01-02T03:04:05.678").at == "2026-01-02T03:04:05.678"
    paid = PaidSeen("2026-01-02T03:04:05.678", {"s1"}, 10.0, None)
    encoded = paid.encode(paid.at)
    assert encoded is not None and cursor_stamp(encoded) == "2026-01-02T03:04:05.678"
    assert PaidSeen.decode(encoded) == paid
    assert PaidSeen(None).encode("2026-01-02T00:00:00") == "2026-01-02T00:00:00"
