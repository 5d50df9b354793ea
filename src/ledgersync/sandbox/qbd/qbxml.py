"""qbXML 13.0 wire helpers: parsing a request set, building response elements in schema order, status texts.

Element orders below are the sequences of qbxmlops130.xsd (Intuit's qbXML 13.0 schema), restricted to the fields
the emulated company keeps. Status texts quote captures listed in the research notes (api-facts-wave2.md A.7);
texts no source gave are marked GUESS where they are defined."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from lxml import etree

CENT = Decimal("0.01")

# HRESULTs the request processor (QBXMLRP2) returns instead of a response (Intuit WCWebService sample).
HR_PARSE = "0x80040400"
HR_PARSE_MSG = "QuickBooks found an error when parsing the provided XML text stream."
HR_NOT_RUNNING = "0x80040401"
HR_NOT_RUNNING_MSG = "Could not access QuickBooks."
# GUESS: the text QBXMLRP2 gives when a different company file is open than the one asked for.
HR_OTHER_FILE = "0x80040408"
HR_OTHER_FILE_MSG = (
    "The QuickBooks company data file is currently open in a mode other than the one specified by your application."
)


class ParseError(Exception):
    """The request set is not a qbXML document QuickBooks accepts: the whole set fails with HR_PARSE."""


class Status(Exception):
    """One request's non-zero status: statusCode, statusSeverity, statusMessage (and an optional Ret to return)."""

    def __init__(self, code: int, message: str, severity: str = "Error", ret: etree._Element | None = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.severity = severity
        self.ret = ret


STATUS_OK = "Status OK"
NO_MATCH = "A query request did not find a matching object in QuickBooks"


def name_in_use(name: str) -> Status:
    return Status(3100, f'The name "{name}" of the list element is already in use.')


def stale(edit_sequence: str, ret: etree._Element | None) -> Status:
    # Verbatim with its trailing space; the error Rs still carries the current Ret (captured fixture).
    return Status(3200, f'The provided edit sequence "{edit_sequence}" is out-of-date. ', ret=ret)


def not_found(ident: str) -> Status:
    # GUESS (paraphrased by consolibyte, exact text unverified).
    return Status(3120, f'Object "{ident}" specified in the request cannot be found.  QuickBooks error message: '
                  "Invalid argument.  The specified record does not exist in the list.")


def invalid_ref(kind: str, value: str, in_txn: str) -> Status:
    return Status(
        3140,
        f'There is an invalid reference to QuickBooks {kind} "{value}" in the {in_txn}.  QuickBooks error message: '
        "Invalid argument.  The specified record does not exist in the list.",
    )


def too_long(value: str, field: str) -> Status:
    # GUESS: code and text for a string over the field's maximum length.
    return Status(3070, f'The string "{value}" in the field "{field}" is too long.')


def overpaid(amount: Decimal) -> Status:
    # Verbatim capture (consolibyte Errors.php), where it came back with severity Info... and an Error code; we send
    # Error so a client that checks the severity sees a refusal.
    return Status(
        3210,
        f'The "AppliedToTxnAdd payment amount" field has an invalid value "{fmt_amt(amount)}".  '
        "QuickBooks error message: You cannot pay more than the amount due.",
    )


def bad_iterator(iterator_id: str) -> Status:
    return Status(3391, f'The iteratorID "{iterator_id}" is not valid.')


def invalid_value(field: str, value: str, why: str) -> Status:
    # GUESS: the shape of QuickBooks' "field has an invalid value" messages (as in the 3210 capture) for other fields.
    return Status(3000, f'The "{field}" field has an invalid value "{value}".  QuickBooks error message: {why}')


def lock_status(code: int, kind: str, name: str) -> Status:
    """Lock contention (transient): 3170 / 3175 / 3176 / 3180, after the captures in consolibyte's error lists."""
    if code == 3170:
        text = (f'There was an error when modifying a {kind} list, element "{name}".  QuickBooks error message: '
                "This list has been modified by another user.")
    elif code == 3175:
        # GUESS: consolibyte names "internals could not be locked" among the retryable texts.
        text = (f'There was an error when saving a {kind} list, element "{name}".  QuickBooks error message: '
                "The internals could not be locked.")
    elif code == 3176:
        # GUESS: consolibyte names "failed to acquire the lock" among the retryable texts.
        text = (f'There was an error when saving a {kind} list, element "{name}".  QuickBooks error message: '
                "Failed to acquire the lock.")
    else:
        text = (f'There was an error when saving a {kind} list, element "{name}".  QuickBooks error message: '
                "This list has been modified by another user.")
    return Status(code, text)


def in_use(kind: str, name: str) -> Status:
    # GUESS: code 3171 and its text; QuickBooks refuses to delete a list element a transaction uses.
    return Status(3171, f'There was an error when deleting {kind} list, element "{name}".  QuickBooks error message: '
                  "This list element is in use and cannot be deleted.")


# ---- values -------------------------------------------------------------------------------------------------------
def dec(value: str | None, field: str = "amount") -> Decimal:
    if value is None or value.strip() == "":
        return Decimal(0)
    try:
        return Decimal(value.strip())
    except InvalidOperation as exc:
        raise ParseError(f"{field}: not a number {value!r}") from exc


def fmt_amt(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def fmt_num(value: Decimal) -> str:
    """Quantities, rates and percentages: as few decimals as needed, at most 5 (PRICETYPE / QUANTYPE)."""
    q = value.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP).normalize()
    text = format(q, "f")
    return text


def parse_offset(text: str) -> timezone:
    sign = -1 if text.startswith("-") else 1
    hh, mm = text.lstrip("+-").split(":")
    return timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))


def fmt_time(ts: float, tz: timezone) -> str:
    """DATETIMETYPE as QuickBooks sends it: local time with its offset, seconds, never a Z suffix."""
    dt = datetime.fromtimestamp(int(ts), tz=UTC).astimezone(tz)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + dt.strftime("%z")[:3] + ":" + dt.strftime("%z")[3:]


def parse_time(text: str, tz: timezone, end_of_day: bool = False) -> float:
    """A DATETIMETYPE (YYYY-M-D[Thh[:mm[:ss[+hh:mm]]]]) as a Unix time; without an offset it is the company's local
    time. A bare date is the start of that day (the end of it for a To bound)."""
    t = text.strip()
    try:
        if "T" not in t:
            d = date.fromisoformat(_pad_date(t))
            dt = datetime(d.year, d.month, d.day, tzinfo=tz)
            return (dt + timedelta(days=1)).timestamp() - 1 if end_of_day else dt.timestamp()
        dpart, tpart = t.split("T", 1)
        off = None
        for sign in ("+", "-"):
            if sign in tpart:
                tpart, o = tpart.split(sign, 1)
                off = parse_offset(sign + o)
        bits = [int(b) for b in tpart.split(":") if b]
        while len(bits) < 3:
            bits.append(0)
        d = date.fromisoformat(_pad_date(dpart))
        dt = datetime(d.year, d.month, d.day, bits[0], bits[1], bits[2], tzinfo=off or tz)
        return dt.timestamp()
    except ValueError as exc:
        raise ParseError(f"not a date/time: {text!r}") from exc


def _pad_date(t: str) -> str:
    y, m, d = t.split("-")
    return f"{int(y):04d}-{int(m):02d}-{int(d):02d}"


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(_pad_date(text.strip()))
    except ValueError as exc:
        raise ParseError(f"not a date: {text!r}") from exc


# ---- XML <-> records ----------------------------------------------------------------------------------------------
# Repeat only as direct children of a query (ListID*, FullName*, TxnID*, RefNumber*, ListDelType+ ...).
TOP_LEVEL_ONLY = frozenset({"ListID", "FullName", "TxnID", "RefNumber", "ListDelType", "TxnDelType"})


def to_record(el: etree._Element, repeated: frozenset[str] = frozenset(), top: bool = True) -> dict[str, Any]:
    """An aggregate as a dict in document order: leaves as text, aggregates as dicts, `repeated` names as lists
    (the names in TOP_LEVEL_ONLY only directly under `el`)."""
    out: dict[str, Any] = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        tag = child.tag
        value: Any = to_record(child, repeated, False) if len(child) else (child.text or "")
        if tag in repeated and (top or tag not in TOP_LEVEL_ONLY):
            out.setdefault(tag, []).append(value)
        else:
            out[tag] = value
    return out


def sub(parent: etree._Element, tag: str, value: Any) -> None:
    """Append `value` under `tag`: text for a leaf, nested children (insertion order) for a dict, one per item
    for a list."""
    if value is None:
        return
    if isinstance(value, list):
        for v in value:
            sub(parent, tag, v)
        return
    el = etree.SubElement(parent, tag)
    if isinstance(value, dict):
        for k, v in value.items():
            sub(el, k, v)
    else:
        el.text = str(value)


def build(tag: str, rec: dict[str, Any], order: tuple[str, ...]) -> etree._Element:
    """A Ret element holding `rec`'s fields in schema `order` (fields not in `order` are not part of the Ret)."""
    el = etree.Element(tag)
    for name in order:
        if name in rec:
            sub(el, name, rec[name])
    return el


def ordered(rec: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    return {k: rec[k] for k in order if k in rec}


def text_of(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    if found is None:
        return None
    return found.text or ""


def parse_request_set(raw: str | bytes) -> etree._Element:
    """The QBXMLMsgsRq element of a request set (its XML declaration and <?qbxml version?> allowed)."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)
    try:
        root = etree.fromstring(data.strip(), parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not well-formed: {exc}") from exc
    if root.tag != "QBXML":
        raise ParseError("the root element is not QBXML")
    msgs = root.find("QBXMLMsgsRq")
    if msgs is None:
        raise ParseError("no QBXMLMsgsRq")
    if msgs.get("onError") not in ("continueOnError", "rollbackOnError", "stopOnError"):
        raise ParseError("QBXMLMsgsRq needs onError")
    return msgs


def response_set(responses: list[etree._Element]) -> str:
    root = etree.Element("QBXML")
    rs = etree.SubElement(root, "QBXMLMsgsRs")
    for r in responses:
        rs.append(r)
    body = etree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" ?>\n{body}\n'
