"""A code MYOB's company file does not have fails its record as UNKNOWN_CODE, naming the code (and the app's own
where the connection's map turned it into that one): found in the company file's lists before sending, or refused
by MYOB (NotFound on the UID) when the account went after the lists were read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ledgersync import Allocation, Payment
from ledgersync.demo import SandboxHandle, connect_sandbox, myob_sandbox
from ledgersync.engine.actions import ActionCentre
from ledgersync.model import Entity, ErrorCode
from ledgersync.providers.base import Write
from ledgersync.providers.myob.errors import classify

from .test_myob_provider import FAST, FAST_CLIENT, _business, open_app

MAPPED = {**FAST_CLIENT, "account_codes": '{"200": "4-2000"}', "tax_codes": '{"OUTPUT": "GST"}'}

TODAY = dt.date.today()


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with myob_sandbox(config=FAST) as handle:
        yield handle


def _payment(account: str) -> Payment:
    return Payment(
        id="p1",
        date=TODAY,
        amount=Decimal("50.00"),
        account_code=account,
        allocations=[Allocation(invoice_id="i1", amount=Decimal("50.00"))],
    )


def test_an_account_the_company_file_lacks_is_named_with_the_apps_code(sandbox: SandboxHandle, tmp_path: Path) -> None:
    ls, org = open_app(tmp_path)
    maps = {"account_codes": '{"200": "4-2000", "090": "1-9999"}', "tax_codes": '{"OUTPUT": "GST"}'}
    conn = connect_sandbox(ls, org, sandbox, {**FAST_CLIENT, **maps})
    _business(ls, org)
    ls.upsert_payment(org, _payment("090"))
    ls.sync(conn)
    view = ls.get(org, Entity.PAYMENT, "p1", conn)
    assert view is not None and view.state == "failed"
    (err,) = ActionCentre(ls).errors(conn)
    assert err.code == ErrorCode.UNKNOWN_CODE.value
    assert err.message == (
        "MYOB has no account 1-9999 (the app's account 090 is sent as 1-9999); map it in the connection's "
        "account codes."
    )
    assert "Accounts List" in (err.hint or "") and err.doc_number == "WS-1001"
    assert "edit" in err.actions


def test_a_tax_code_the_company_file_lacks_is_named_with_the_apps_code(sandbox: SandboxHandle, tmp_path: Path) -> None:
    ls, org = open_app(tmp_path)
    maps = {"account_codes": '{"200": "4-2000"}', "tax_codes": '{"OUTPUT": "GSTX"}'}
    conn = connect_sandbox(ls, org, sandbox, {**FAST_CLIENT, **maps})
    _business(ls, org)
    ls.sync(conn)
    (err,) = ActionCentre(ls).errors(conn)
    assert err.code == ErrorCode.UNKNOWN_CODE.value
    assert err.message == (
        "MYOB has no tax code GSTX (the app's tax code OUTPUT is sent as GSTX); map it in the connection's tax codes."
    )


def test_an_account_deleted_in_myob_after_the_lists_were_read_is_named(sandbox: SandboxHandle, tmp_path: Path) -> None:
    ls, org = open_app(tmp_path)
    conn = connect_sandbox(ls, org, sandbox, MAPPED)
    _business(ls, org)
    ls.sync(conn)
    invoice = ls.get(org, Entity.INVOICE, "i1", conn)
    assert invoice is not None and invoice.remote_id
    provider = ls.open_provider(conn)
    try:
        provider.refs()  # type: ignore[attr-defined]
        (funds,) = [a for a in sandbox.records("GeneralLedger/Account") if a["DisplayID"] == "1-1120"]
        sandbox.as_user(f"GeneralLedger/Account/{funds['UID']}", {}, method="DELETE")
        payment = _payment("1-1120").model_copy(
            update={"allocations": [Allocation(invoice_id=invoice.remote_id, amount=Decimal("50.00"))]}
        )
        (result,) = provider.push(Entity.PAYMENT, [Write("p1", payment, "k-p1")])
    finally:
        provider.close()
    assert result.error is not None and result.error.code is ErrorCode.UNKNOWN_CODE
    assert result.error.message == "MYOB has no account 1-1120; map it in the connection's account codes."
    # MYOB's own words are kept beside the plain message.
    assert result.error.platform_code == "NotFound" and funds["UID"].lower() in (result.error.platform_message or "")


def test_myobs_not_found_on_a_tax_code_uid_is_an_unknown_code() -> None:
    error = classify("NotFound", "The TaxCode specified could not be found Lines[0].TaxCode.UID = "
                     "0c4f1a52-1d7e-4a6b-9a9e-3f5d2c1b0a99")
    assert error.code is ErrorCode.UNKNOWN_CODE and "tax code" in error.message
    other = classify("NotFound", "The Customer specified could not be found Customer.UID = "
                     "0c4f1a52-1d7e-4a6b-9a9e-3f5d2c1b0a99")
    assert other.code is ErrorCode.NOT_FOUND
