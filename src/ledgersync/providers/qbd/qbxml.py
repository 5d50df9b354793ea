"""qbXML 13.0 documents: requests built with lxml in the schema's element order, responses read per request.

Every builder here places children in the order qbxmlops130.xsd / qbxml130.xsd give them (a sequence, not a
set); `tests/providers/qbd` validates each request against the published schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree

QBXML_VERSION = "13.0"
# A requestID longer than 50 characters is refused with status 1060 (api-facts.md §3).
MAX_REQUEST_ID = 50

Node = Any  # an lxml element (lxml's own stubs are not installed)


def el(parent: Node, tag: str, text: object = None, **attrs: str) -> Node:
    node = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        node.text = text if isinstance(text, str) else str(text)
    return node


def opt(parent: Node, tag: str, value: object) -> None:
    """A child only when there is something to put in it."""
    if value is None or value == "":
        return
    el(parent, tag, value)


def ref(parent: Node, tag: str, list_id: str | None = None, full_name: str | None = None) -> None:
    """A *Ref: ListID, FullName, or both (in that order)."""
    if not list_id and not full_name:
        return
    node = el(parent, tag)
    opt(node, "ListID", list_id)
    opt(node, "FullName", full_name)


def amount(value: Decimal | int | str) -> str:
    """AMTTYPE: exactly two decimals."""
    return format(Decimal(value).quantize(Decimal("0.01")), "f")


def price(value: Decimal | int | str) -> str:
    """PRICETYPE / QUANTYPE: up to five decimals, trailing zeros dropped."""
    d = Decimal(value).quantize(Decimal("0.00001")).normalize()
    text = format(d, "f")
    return text if text not in ("-0",) else "0"


def date(value: dt.date) -> str:
    return value.isoformat()


def datetime(value: dt.datetime) -> str:
    """DATETIMETYPE: no Z suffix; an explicit offset."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def parse_datetime(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def parse_date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def new_request(tag: str, request_id: str, **attrs: str) -> Node:
    """A detached `<XxxRq requestID=...>`; `document` wraps one or more of them."""
    if len(request_id) > MAX_REQUEST_ID:
        raise ValueError(f"requestID {request_id!r} is longer than {MAX_REQUEST_ID} characters")
    node = etree.Element(tag, requestID=request_id)
    for k, v in attrs.items():
        node.set(k, v)
    return node


def document(requests: Sequence[Node], on_error: str = "continueOnError") -> str:
    """The whole qbXML request document the Web Connector hands to QuickBooks."""
    root = etree.Element("QBXML")
    msgs = etree.SubElement(root, "QBXMLMsgsRq", onError=on_error)
    for rq in requests:
        msgs.append(rq)
    body = etree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{QBXML_VERSION}"?>\n{body}'


@dataclass(frozen=True)
class Response:
    """One *Rs of a response document: status, the iterator's state and its *Ret elements."""

    tag: str
    request_id: str | None
    code: int
    severity: str
    message: str
    rets: list[Node]
    iterator_id: str | None = None
    remaining: int | None = None

    @property
    def ok(self) -> bool:
        # 1 "no matching object" is Info: an empty answer, not an error; 5xx are warnings with a Ret.
        return self.code in (0, 1) or 500 <= self.code < 1000

    @property
    def ret(self) -> Node | None:
        return self.rets[0] if self.rets else None


class MalformedResponse(ValueError):
    """The Web Connector brought something that is not a qbXML response document."""


def parse_response(text: str) -> list[Response]:
    """Every *Rs of a qbXML response document, in order."""
    raw = text.strip()
    if raw.startswith("<?xml"):
        # Responses may declare windows-1252; lxml refuses an encoding declaration on a str.
        raw = raw[raw.index("?>") + 2 :]
    try:
        root = etree.fromstring(raw.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise MalformedResponse(f"the response is not well-formed XML: {exc}") from None
    msgs = root.find("QBXMLMsgsRs") if root.tag == "QBXML" else None
    if msgs is None:
        raise MalformedResponse("the response has no QBXMLMsgsRs")
    out: list[Response] = []
    for rs in msgs:
        if not isinstance(rs.tag, str) or not rs.tag.endswith("Rs"):
            continue
        remaining = rs.get("iteratorRemainingCount")
        out.append(
            Response(
                tag=rs.tag,
                request_id=rs.get("requestID"),
                code=int(rs.get("statusCode", "0")),
                severity=rs.get("statusSeverity", ""),
                message=rs.get("statusMessage", ""),
                rets=[c for c in rs if isinstance(c.tag, str) and c.tag.endswith("Ret")],
                iterator_id=rs.get("iteratorID"),
                remaining=int(remaining) if remaining not in (None, "") else None,
            )
        )
    return out


def text(node: Node | None, path: str) -> str | None:
    if node is None:
        return None
    found = node.find(path)
    if found is None or found.text is None:
        return None
    value: str = found.text
    return value


def texts(node: Node, path: str) -> list[str]:
    return [n.text for n in node.findall(path) if n.text]


def decimal(node: Node | None, path: str) -> Decimal | None:
    value = text(node, path)
    return Decimal(value) if value not in (None, "") else None


def boolean(node: Node | None, path: str) -> bool | None:
    value = text(node, path)
    return None if value in (None, "") else value == "true"


def children(node: Node, tags: Iterable[str]) -> list[Node]:
    wanted = set(tags)
    return [c for c in node if isinstance(c.tag, str) and c.tag in wanted]


__all__ = [
    "MAX_REQUEST_ID",
    "QBXML_VERSION",
    "MalformedResponse",
    "Node",
    "Response",
    "amount",
    "boolean",
    "children",
    "date",
    "datetime",
    "decimal",
    "document",
    "el",
    "etree",
    "new_request",
    "opt",
    "parse_date",
    "parse_datetime",
    "parse_response",
    "price",
    "ref",
    "text",
    "texts",
]
