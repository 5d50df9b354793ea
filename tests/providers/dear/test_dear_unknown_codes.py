"""A code DEAR's company lacks (an account of its chart, a tax rule) fails its record as UNKNOWN_CODE, named with
the app's own code where the connection's map turned it into DEAR's; the sandbox refuses such codes as DEAR's
validation does (its wording is a sandbox guess)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from ledgersync import Contact, Invoice, InvoiceLine, Payment
from ledgersync.demo import SandboxHandle, connect_dear, dear_sandbox
from ledgersync.engine.actions import ActionCentre
from ledgersync.model import Allocation, Entity, ErrorCode
from ledgersync.providers.dear.errors import classify

from .test_dear_provider import open_ls

# The minute limit is raised on both sides: these tests are about codes, not pacing.
FAST = {"rate_limit_wait_seconds": "0.2", "default_tax_rule": "GST Free Income", "per_minute": "1000000"}


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with dear_sandbox(config={"rate_limits": {"per_minute": 1_000_000}}) as sb:
        yield sb


TODAY = dt.date.today()


def _invoice(account: str | None = None, tax: str | None = None) -> Invoice:
    line = InvoiceLine(description="Job", unit_amount=Decimal("100"), account_code=account, tax_type=tax)
    return Invoice(id="i1", contact_id="c1", number="A-1", date=TODAY, lines=[line])


def test_the_sandbox_refuses_a_payment_to_an_account_it_lacks(sandbox: SandboxHandle) -> None:
    base = {"api-auth-accountid": sandbox.client_id, "api-auth-applicationkey": sandbox.client_secret}
    with httpx.Client(base_url=f"{sandbox.url}/ExternalApi/v2/", headers=base) as http:
        tax = http.post("product", json={"SKU": "X1", "Name": "X", "SaleTaxRule": "No Such Rule"})
        account = http.post("product", json={"SKU": "X2", "Name": "X", "RevenueAccount": "8989"})
    assert tax.status_code == 400 and "Tax rule 'No Such Rule' not found" in tax.text
    assert account.status_code == 400 and "Account '8989' not found" in account.text


def test_a_payment_to_an_account_dear_lacks_names_it_with_the_apps_code(
    tmp_path: Path,
    sandbox: SandboxHandle,
) -> None:
    ls, org = open_ls(tmp_path)
    conn = connect_dear(ls, org, sandbox, {**FAST, "account_codes": '{"090": "8989"}'})
    ls.upsert_contact(org, Contact(id="c1", name="Ann"))
    ls.upsert_invoice(org, _invoice())
    ls.upsert_payment(
        org,
        Payment(
            id="p1",
            date=TODAY,
            amount=Decimal("10"),
            account_code="090",
            allocations=[Allocation(invoice_id="i1", amount=Decimal("10"))],
        ),
    )
    ls.sync(conn)
    view = ls.get(org, Entity.PAYMENT, "p1", conn)
    assert view is not None and view.state == "failed"
    (err,) = ActionCentre(ls).errors(conn)
    assert err.code == ErrorCode.UNKNOWN_CODE.value and err.doc_number == "A-1"
    assert err.message == (
        "DEAR / Cin7 Core has no account 8989 (the app's account 090 is sent as 8989); map it in the "
        "connection's account codes."
    )
    assert "Chart of Accounts" in (err.hint or "")


def test_an_invoice_with_a_tax_rule_dear_lacks_names_it(tmp_path: Path, sandbox: SandboxHandle) -> None:
    ls, org = open_ls(tmp_path)
    conn = connect_dear(ls, org, sandbox, {**FAST, "tax_codes": '{"OUTPUT": "GST Mystery"}'})
    ls.upsert_contact(org, Contact(id="c1", name="Ann"))
    ls.upsert_invoice(org, _invoice(tax="OUTPUT"))
    ls.sync(conn)
    (err,) = ActionCentre(ls).errors(conn)
    assert err.code == ErrorCode.UNKNOWN_CODE.value
    assert err.message == (
        "DEAR / Cin7 Core has no tax rule GST Mystery (the app's tax code OUTPUT is sent as GST Mystery); map it in "
        "the connection's tax codes."
    )


def test_dears_words_for_codes_it_lacks() -> None:
    assert classify("Line 1: Account '4-100' not found").code is ErrorCode.UNKNOWN_CODE
    not_bank = classify("Account '200' is not enabled for payments")
    assert not_bank.code is ErrorCode.UNKNOWN_CODE and "takes payments" in not_bank.message
    assert classify("Line 1: product 'ZZ' not found").code is ErrorCode.NOT_FOUND
