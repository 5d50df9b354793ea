"""QBO fault shapes and the exact error texts the sandbox returns (sources in README.md)."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from .util import iso, now_ms

INACTIVE_HINT = (
    "Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)


class Fault(Exception):
    """One QBO Error element; raised by rules, rendered as {"Fault":{"Error":[...],"type":...}}."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        element: str = "",
        status: int = 400,
        ftype: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.ftype = ftype

    def error(self) -> dict[str, Any]:
        return {"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}

    def fault(self) -> dict[str, Any]:
        return {"Error": [self.error()], "type": self.ftype}


def fault_body(f: Fault, tz: timezone) -> dict[str, Any]:
    return {"Fault": f.fault(), "time": iso(now_ms(), tz, millis=True)}


def not_found(element: str = "") -> Fault:
    return Fault("610", "Object Not Found", f"Object Not Found : {INACTIVE_HINT}", element)


def invalid_ref(element: str) -> Fault:
    return Fault("2500", "Invalid Reference Id", f"Invalid Reference Id : {INACTIVE_HINT}", element)


def stale(user: str) -> Fault:
    return Fault(
        "5010",
        "Stale Object Error",
        f"Stale Object Error : You and {user} were working on this at the same time. "
        f"{user} finished before you did, so your work was not saved.",
    )


def duplicate_name(kind: str = "customer, vendor or employee") -> Fault:
    return Fault(
        "6240",
        "Duplicate Name Exists Error",
        f"The name supplied already exists. : Another {kind} is already using this name. Please use a different name.",
    )


def duplicate_docnumber() -> Fault:
    return Fault(
        "6140",
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. This number has already been used.",
        "DocNumber",
    )


def invalid_string(value: str, element: str) -> Fault:
    return Fault(
        "2040",
        "Invalid String. The String may contain unsupported or illegal chars",
        f"Element contains invalid characters. {value}",
        element,
    )


def required(param: str) -> Fault:
    return Fault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {param} is missing in the request",
        param,
    )


def invalid_number(param: str, value: Any) -> Fault:
    return Fault("2010", "Request has invalid or unsupported property", f"Property Name:{param} ({value!r})", param)


def business(detail: str, element: str = "") -> Fault:
    return Fault(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element,
    )


def cannot_link(detail: str) -> Fault:
    return Fault("620", "TxnID Cannot Be Linked", f"TxnID Cannot Be Linked : {detail}", "LinkedTxn")


def unsupported(path: str) -> Fault:
    return Fault(
        "500",
        "Unsupported Operation",
        f"Operation Could not find resource for relative : {path} is not supported.",
    )


def request_id_too_long(value: str, limit: int) -> Fault:
    return business(
        f"You cannot enter more than {limit} characters in the request_id field. "
        f"You tried entering {value[:10]}..., which is {len(value)} characters."
    )


def query_parser(detail: str) -> Fault:
    return Fault("4000", "Error parsing query", f"QueryParserError: {detail}")


def query_validation(detail: str) -> Fault:
    return Fault("4001", "Invalid query", f"QueryValidationError: {detail}")
