"""QuickBooks Desktop's 3140 for an account or sales tax code the company file lacks is UNKNOWN_CODE naming it;
3140 for a customer or an item stays NOT_FOUND (sync what it refers to first). The texts are 3140's captured
wording (api-facts-wave2.md A.7) with the list QuickBooks names."""

from __future__ import annotations

from ledgersync.model import ErrorCode
from ledgersync.providers.qbd.errors import sync_error
from ledgersync.providers.qbd.qbxml import Response

TAIL = "  QuickBooks error message: Invalid argument.  The specified record does not exist in the list."


def _rs(kind: str, value: str, txn: str = "ReceivePayment") -> Response:
    text = f'There is an invalid reference to QuickBooks {kind} "{value}" in the {txn}.{TAIL}'
    return Response(f"{txn}AddRs", "1", 3140, "Error", text, [])


def test_an_account_the_file_lacks_is_an_unknown_code_named_by_its_full_name() -> None:
    error = sync_error(_rs("Account", "Bank:Petty Cash"))
    assert error.code is ErrorCode.UNKNOWN_CODE
    assert error.message == (
        "QuickBooks Desktop has no account Bank:Petty Cash; map it in the connection's account codes."
    )
    assert error.platform_code == "3140" and "Invalid argument" in (error.platform_message or "")


def test_a_sales_tax_code_the_file_lacks_is_an_unknown_tax_code() -> None:
    error = sync_error(_rs("Sales Tax Code", "GST", "Invoice"))
    assert error.code is ErrorCode.UNKNOWN_CODE
    assert error.message == "QuickBooks Desktop has no tax code GST; map it in the connection's tax codes."


def test_a_missing_customer_stays_not_found() -> None:
    assert sync_error(_rs("Customer", "Joe Smith", "SalesOrder")).code is ErrorCode.NOT_FOUND
