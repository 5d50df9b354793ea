"""Parser/evaluator for the subset of Xero's `where` and `order` query syntax a connector uses."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .util import parse_date


class QueryError(ValueError):
    """Raised for a `where`/`order` Xero would reject (it answers 400 QueryParseException)."""


_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|>=|<=|>|<|&&|\|\||\(|\)|,|!)
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


@dataclass
class Cmp:
    field: str
    op: str
    value: Any


@dataclass
class Call:
    field: str
    method: str
    value: str


@dataclass
class BoolOp:
    op: str  # AND | OR
    left: Node
    right: Node


@dataclass
class Not:
    inner: Node


Node = Cmp | Call | BoolOp | Not


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"Unable to parse where clause near '{text[pos : pos + 20]}'")
        pos = m.end()
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise QueryError("Unexpected end of where clause")
        self.i += 1
        return tok

    def expect(self, val: str) -> None:
        tok = self.take()
        if tok[1] != val:
            raise QueryError(f"Expected '{val}' but found '{tok[1]}'")

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise QueryError(f"Unexpected '{self.peek()[1]}' in where clause")  # type: ignore[index]
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while (t := self.peek()) and (t[1] == "||" or (t[0] == "ident" and t[1].upper() == "OR")):
            self.take()
            node = BoolOp("OR", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.unary()
        while (t := self.peek()) and (t[1] == "&&" or (t[0] == "ident" and t[1].upper() == "AND")):
            self.take()
            node = BoolOp("AND", node, self.unary())
        return node

    def unary(self) -> Node:
        t = self.peek()
        if t and (t[1] == "!" or (t[0] == "ident" and t[1].upper() == "NOT")):
            self.take()
            return Not(self.unary())
        if t and t[1] == "(":
            self.take()
            node = self.or_expr()
            self.expect(")")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        kind, ident = self.take()
        if kind != "ident":
            raise QueryError(f"Expected a field name but found '{ident}'")
        for method in ("Contains", "StartsWith", "EndsWith", "ToLower", "ToUpper"):
            suffix = "." + method
            if ident.endswith(suffix) and method in ("Contains", "StartsWith", "EndsWith"):
                self.expect("(")
                k, v = self.take()
                if k != "str":
                    raise QueryError(f"{method} expects a string")
                self.expect(")")
                return Call(ident[: -len(suffix)], method, _unquote(v))
        t = self.peek()
        if t is None or t[0] != "op" or t[1] not in ("==", "!=", ">", "<", ">=", "<="):
            # A bare boolean field, e.g. `IsCustomer`.
            return Cmp(ident, "==", True)
        op = self.take()[1]
        return Cmp(ident, op, self.value())

    def value(self) -> Any:
        kind, tok = self.take()
        if kind == "str":
            return _unquote(tok)
        if kind == "num":
            return Decimal(tok)
        if kind == "ident":
            up = tok.upper()
            if up == "TRUE":
                return True
            if up == "FALSE":
                return False
            if up == "NULL":
                return None
            if tok in ("Guid", "GUID"):
                self.expect("(")
                k, v = self.take()
                self.expect(")")
                return _unquote(v) if k == "str" else v
            if tok == "DateTime":
                self.expect("(")
                parts: list[int] = []
                while True:
                    k, v = self.take()
                    if k != "num":
                        raise QueryError("DateTime expects numbers")
                    parts.append(int(v))
                    if self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                        self.take()
                        continue
                    break
                self.expect(")")
                y, mo, d = [*parts, 1, 1][:3]
                return f"{y:04d}-{mo:02d}-{d:02d}"
        raise QueryError(f"Unexpected value '{tok}'")


def _unquote(tok: str) -> str:
    return tok[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def parse_where(text: str) -> Node:
    return _Parser(_tokenize(text)).parse()


def _get(record: dict[str, Any], path: str) -> Any:
    cur: Any = record
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        # Xero field names in `where` are case-insensitive.
        if part in cur:
            cur = cur[part]
            continue
        low = part.lower()
        cur = next((v for k, v in cur.items() if k.lower() == low), None)
    return cur


_DATE_FIELDS = {"Date", "DueDate", "UpdatedDateUTC", "FullyPaidOnDate", "DeliveryDate", "ExpectedArrivalDate"}


def _norm(v: Any, field: str) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, Decimal | int):
        return Decimal(v)
    if isinstance(v, str):
        leaf = field.rsplit(".", 1)[-1]
        if leaf in _DATE_FIELDS:
            try:
                return parse_date(v).isoformat()
            except ValueError:
                return v
        return v.casefold()
    return v


def evaluate(node: Node, record: dict[str, Any]) -> bool:
    if isinstance(node, BoolOp):
        if node.op == "AND":
            return evaluate(node.left, record) and evaluate(node.right, record)
        return evaluate(node.left, record) or evaluate(node.right, record)
    if isinstance(node, Not):
        return not evaluate(node.inner, record)
    if isinstance(node, Call):
        actual = _get(record, node.field)
        if not isinstance(actual, str):
            return False
        a, v = actual.casefold(), node.value.casefold()
        if node.method == "Contains":
            return v in a
        if node.method == "StartsWith":
            return a.startswith(v)
        return a.endswith(v)
    actual = _norm(_get(record, node.field), node.field)
    want = _norm(node.value, node.field)
    if node.op == "==":
        return bool(actual == want)
    if node.op == "!=":
        return bool(actual != want)
    if actual is None or want is None:
        return False
    try:
        if node.op == ">":
            return bool(actual > want)
        if node.op == "<":
            return bool(actual < want)
        if node.op == ">=":
            return bool(actual >= want)
        return bool(actual <= want)
    except TypeError:
        return False


def index_lookups(node: Node, indexed: set[str]) -> list[tuple[str, str]] | None:
    """Equality lookups that bound the result set, so callers can use an index instead of a scan."""
    if isinstance(node, Cmp) and node.op == "==" and isinstance(node.value, str) and node.field in indexed:
        return [(node.field, node.value.casefold())]
    if isinstance(node, BoolOp):
        left = index_lookups(node.left, indexed)
        right = index_lookups(node.right, indexed)
        if node.op == "OR":
            return left + right if left is not None and right is not None else None
        return left if left is not None else right
    return None


def parse_order(text: str) -> list[tuple[str, bool]]:
    """`order=Name ASC, UpdatedDateUTC DESC` -> [(field, descending)]."""
    out: list[tuple[str, bool]] = []
    for part in text.split(","):
        bits = part.split()
        if not bits:
            continue
        if len(bits) > 2 or (len(bits) == 2 and bits[1].upper() not in ("ASC", "DESC")):
            raise QueryError(f"Invalid order clause '{part.strip()}'")
        out.append((bits[0], len(bits) == 2 and bits[1].upper() == "DESC"))
    return out


def sort_key(field: str) -> Callable[[dict[str, Any]], Any]:
    if field.rsplit(".", 1)[-1] == "UpdatedDateUTC":
        return lambda r: r.get("_updated_ms", 0)

    def key(r: dict[str, Any]) -> Any:
        v = _norm(_get(r, field), field)
        # Nones sort first, and mixed types never compare.
        return (v is not None, str(type(v)), v if v is not None else 0)

    return key
