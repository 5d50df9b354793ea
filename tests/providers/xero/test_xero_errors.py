"""Xero's error texts and statuses become canonical errors with plain hints."""

from __future__ import annotations

import httpx
import pytest

from ledgersync.model import ErrorCode
from ledgersync.providers.xero.errors import classify_message, element_error, response_error

CASES = [
    (
        "The contact name Buzz Lightyear is already assigned to another contact. The contact name must be "
        "unique across all active contacts.",
        ErrorCode.DUPLICATE_NAME,
    ),
    ("Invoice not of valid status for modification", ErrorCode.DOCUMENT_LOCKED),
    (
        "This document cannot be edited as it has a reconciled payment or credit note allocated to it.",
        ErrorCode.DOCUMENT_LOCKED,
    ),
    ("Payment amount exceeds the amount outstanding on this document", ErrorCode.OVERPAYMENT),
    (
        "The contact with the specified contact details has been archived. The contact must be un-archived "
        "before creating new invoices or credit notes.",
        ErrorCode.ARCHIVED_CONTACT,
    ),
    ("Invoice # must be unique.", ErrorCode.DUPLICATE_NUMBER),
    ("Price List Item with Code ''abc'' already exists", ErrorCode.DUPLICATE_NUMBER),
    ("The document with the supplied id was not found for this endpoint.", ErrorCode.NOT_FOUND),
    # An account Xero does not have (issue 15): the engine names the code the record sent.
    ("Account must be valid.", ErrorCode.UNKNOWN_CODE),
    ("Account code '090' is not a valid code for this document.", ErrorCode.UNKNOWN_CODE),
]


@pytest.mark.parametrize(("message", "code"), CASES)
def test_each_documented_xero_message_maps_to_its_canonical_code(message: str, code: ErrorCode) -> None:
    error = classify_message(message)
    assert error.code is code
    assert error.platform_message == message
    assert error.hint


def test_a_duplicate_name_names_the_contact_and_offers_merge_or_link() -> None:
    error = classify_message(
        "The contact name Ann Lee is already assigned to another contact. Must be unique."
    )
    assert "Ann Lee" in error.message
    assert "merge" in error.hint and "link" in error.hint


def test_a_locked_invoice_says_how_to_fix_it() -> None:
    error = classify_message("Invoice not of valid status for modification")
    assert error.message == "This invoice is paid in Xero, so it can't be updated."
    assert error.hint == "Remove the payment in Xero and retry, or skip."


def test_an_element_without_validation_errors_succeeded() -> None:
    assert element_error({"ContactID": "x", "StatusAttributeString": "OK"}) is None
    assert element_error({"ContactID": "x", "StatusAttributeString": "WARNING", "Warnings": [{}]}) is None


def test_the_most_specific_of_several_element_messages_decides_the_code() -> None:
    error = element_error(
        {
            "HasErrors": True,
            "ValidationErrors": [
                {"Message": "Account must be valid."},
                {"Message": "Invoice # must be unique."},
            ],
        }
    )
    assert error is not None and error.code is ErrorCode.DUPLICATE_NUMBER
    assert "Account must be valid." in (error.platform_message or "")


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {}, request=httpx.Request("GET", "http://x"))


@pytest.mark.parametrize(
    ("status", "headers", "is_write", "code"),
    [
        (401, {}, False, ErrorCode.AUTH_EXPIRED),
        (403, {}, False, ErrorCode.AUTH_REVOKED),
        (404, {}, False, ErrorCode.NOT_FOUND),
        (429, {"Retry-After": "30", "X-Rate-Limit-Problem": "minute"}, False, ErrorCode.RATE_LIMITED),
        (429, {"Retry-After": "50000", "X-Rate-Limit-Problem": "day"}, False, ErrorCode.DAILY_LIMIT),
        (503, {}, True, ErrorCode.UNAVAILABLE),
        (500, {}, False, ErrorCode.UNAVAILABLE),
        (504, {}, True, ErrorCode.UNKNOWN_OUTCOME),
    ],
)
def test_http_statuses_map_to_canonical_codes(
    status: int, headers: dict[str, str], is_write: bool, code: ErrorCode
) -> None:
    assert response_error(response(status, headers), None, is_write=is_write).code is code


def test_a_daily_429_carries_retry_after() -> None:
    error = response_error(response(429, {"Retry-After": "66975", "X-Rate-Limit-Problem": "day"}))
    assert error.retry_after == 66975


def test_a_summarised_400_uses_its_first_element_error() -> None:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{"ValidationErrors": [{"Message": "Invoice # must be unique."}]}],
    }
    error = response_error(response(400), body)
    assert error.code is ErrorCode.DUPLICATE_NUMBER
    assert error.platform_code == "10"
