"""QuickBooks Online faults -> canonical errors with plain words, keeping Intuit's code and text."""

from __future__ import annotations

import httpx
import pytest

from ledgersync.model import ErrorCode
from ledgersync.providers.qbo.errors import fault_error, response_error


def fault(code: str, message: str, detail: str = "", element: str = "", kind: str = "ValidationFault") -> dict:
    return {"Error": [{"Message": message, "Detail": detail, "code": code, "element": element}], "type": kind}


@pytest.mark.parametrize(
    ("code", "message", "detail", "element", "expected"),
    [
        (
            "6240",
            "Duplicate Name Exists Error",
            "The name supplied already exists. : Another customer...",
            "",
            ErrorCode.DUPLICATE_NAME,
        ),
        ("5010", "Stale Object Error", "Stale Object Error : You and Ann were working on this", "", ErrorCode.CONFLICT),
        (
            "6140",
            "Duplicate Document Number Error",
            "You must specify a different number.",
            "DocNumber",
            ErrorCode.DUPLICATE_NUMBER,
        ),
        ("6210", "Duplicate Document Number Error", "", "", ErrorCode.DUPLICATE_NUMBER),
        (
            "2040",
            "Invalid String. The String may contain unsupported or illegal chars",
            "Element contains invalid characters. A:B",
            "DisplayName",
            ErrorCode.INVALID_CHARACTERS,
        ),
        (
            "610",
            "Object Not Found",
            "Object Not Found : Something you're trying to use has been made inactive.",
            "CustomerRef",
            ErrorCode.ARCHIVED_CONTACT,
        ),
        (
            "610",
            "Object Not Found",
            "Object Not Found : Something you're trying to use has been made inactive.",
            "ItemRef",
            ErrorCode.NOT_FOUND,
        ),
        ("2020", "Required param missing", "Required parameter Line is missing", "Line", ErrorCode.VALIDATION),
        (
            "6000",
            "A business validation error has occurred",
            "Business Validation Error: ...",
            "",
            ErrorCode.VALIDATION,
        ),
        ("6190", "Invalid Company Status", "The subscription period has expired.", "", ErrorCode.AUTH_REVOKED),
    ],
)
def test_each_documented_fault_maps_to_its_canonical_code(
    code: str, message: str, detail: str, element: str, expected: ErrorCode
) -> None:
    error = fault_error(fault(code, message, detail, element))
    assert error.code is expected
    assert error.platform_code == code
    assert message in (error.platform_message or "")
    assert error.message and error.hint


def test_a_duplicate_name_says_names_are_unique_across_customers_vendors_and_employees() -> None:
    error = fault_error(fault("6240", "Duplicate Name Exists Error"))
    assert "customer, vendor or employee" in error.message and "inactive" in error.message
    assert "merge" in error.hint and "link" in error.hint


def test_an_ended_subscription_says_so_and_how_to_fix_it() -> None:
    error = fault_error(fault("6190", "Invalid Company Status"))
    assert "subscription" in error.message and "reactivate" in error.hint


def test_an_authentication_fault_is_auth_expired() -> None:
    body = {
        "Fault": fault(
            "3200", "message=AuthenticationFailed; errorCode=003200; statusCode=401", kind="AuthenticationFault"
        )
    }
    response = httpx.Response(401, request=httpx.Request("GET", "http://q"))
    assert response_error(response, body).code is ErrorCode.AUTH_EXPIRED


def test_throttling_is_rate_limited_with_a_minute_to_wait() -> None:
    response = httpx.Response(429, request=httpx.Request("GET", "http://q"))
    error = response_error(response, {"Fault": fault("003001", "message=ThrottleExceeded", kind="ThrottleExceeded")})
    assert error.code is ErrorCode.RATE_LIMITED and error.retry_after == 60.0


def test_a_server_error_on_a_read_is_unavailable_and_on_a_write_an_unknown_outcome() -> None:
    response = httpx.Response(500, request=httpx.Request("GET", "http://q"))
    assert response_error(response, None).code is ErrorCode.UNAVAILABLE
    assert response_error(response, None, is_write=True).code is ErrorCode.UNKNOWN_OUTCOME
    assert (
        response_error(httpx.Response(503, request=response.request), None, is_write=True).code is ErrorCode.UNAVAILABLE
    )


def test_the_most_specific_of_several_errors_decides_and_every_message_is_kept() -> None:
    body = {
        "Error": [
            {"Message": "Required param missing", "code": "2020"},
            {"Message": "Duplicate Name Exists Error", "code": "6240"},
        ],
        "type": "ValidationFault",
    }
    error = fault_error(body)
    assert error.code is ErrorCode.DUPLICATE_NAME
    assert "Required param missing" in (error.platform_message or "")
