"""The OData subset the MYOB Business API reads ($filter, $orderby, $top, $skip), over stored JSON records.

MYOB documents four query options (developer.myob.com/api/accountright/api-overview/retrieving-data). The
$filter grammar here is OData v3's as pymyob and the .NET SDK write it: comparisons (eq ne gt ge lt le) on field
paths (`Customer/UID`), literals `'text'`, `datetime'2024-01-02T03:04:05'`, `guid'...'`, numbers, true, false,
null, joined by and / or / not with parentheses, plus substringof('x', Field), startswith(Field, 'x')."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]


class ODataError(ValueError):
    """A query MYOB would refuse (400)."""


_TOKEN = re.compile(
    r"\s*(?:(?P<lit>(?:datetime|guid)?'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>\(|\)|,)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_/]*))"
)


def parse_datetime(text: str) -> dt.datetime:
    """MYOB's datetimes carry no offset (pymyob DATETIME_FORMATS); a trailing Z is accepted and dropped."""
    value = text.strip().rstrip("Z")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ODataError(f"'{text}' is not a valid datetime") from None
    return parsed.replace(tzinfo=None)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ODataError(f"The query option $filter could not be parsed near '{text[pos : pos + 20]}'")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def field_value(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _literal(kind: str, text: str) -> Any:
    if kind == "num":
        return Decimal(text)
    if text.startswith("datetime'"):
        return parse_datetime(text[9:-1].replace("''", "'"))
    if text.startswith("guid'"):
        return text[5:-1].lower()
    return text[1:-1].replace("''", "'")


def _coerce(stored: Any, literal: Any) -> tuple[Any, Any]:
    if isinstance(literal, dt.datetime):
        if stored in (None, ""):
            return None, literal
        return parse_datetime(str(stored)), literal
    if isinstance(literal, Decimal):
        if stored is None or isinstance(stored, bool):
            return stored, literal
        try:
            return Decimal(str(stored)), literal
        except InvalidOperation:
            return stored, literal
    if isinstance(literal, str) and isinstance(stored, str):
        # OData string comparison in MYOB is case-insensitive for eq (SQL Server collation; UNVERIFIED).
        return stored.lower(), literal.lower()
    return stored, literal


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        if op == "le":
            return bool(a <= b)
    except TypeError:
        return False
    raise ODataError(f"Unknown operator '{op}'")


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ODataError("The query option $filter ended unexpectedly")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        _, text = self.take()
        if text != value:
            raise ODataError(f"Expected '{value}' in $filter, found '{text}'")

    def parse(self) -> Predicate:
        pred = self.disjunction()
        if self.peek() is not None:
            raise ODataError(f"Unexpected '{self.peek()[1]}' in $filter")  # type: ignore[index]
        return pred

    def disjunction(self) -> Predicate:
        left = self.conjunction()
        while (tok := self.peek()) and tok[1].lower() == "or":
            self.take()
            right = self.conjunction()
            left = (lambda lf, rf: lambda r: lf(r) or rf(r))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.unary()
        while (tok := self.peek()) and tok[1].lower() == "and":
            self.take()
            right = self.unary()
            left = (lambda lf, rf: lambda r: lf(r) and rf(r))(left, right)
        return left

    def unary(self) -> Predicate:
        tok = self.peek()
        if tok and tok[1].lower() == "not":
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        if tok and tok[1] == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        return self.comparison()

    def operand(self) -> Callable[[dict[str, Any]], Any]:
        kind, text = self.take()
        if kind in ("lit", "num"):
            value = _literal(kind, text)
            return lambda r: value
        if kind == "word":
            lower = text.lower()
            if lower in ("true", "false"):
                flag = lower == "true"
                return lambda r: flag
            if lower == "null":
                return lambda r: None
            return lambda r: field_value(r, text)
        raise ODataError(f"Unexpected '{text}' in $filter")

    def comparison(self) -> Predicate:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].lower() in ("substringof", "startswith"):
            name = self.take()[1].lower()
            self.expect("(")
            first = self.operand()
            self.expect(",")
            second = self.operand()
            self.expect(")")
            if name == "substringof":
                return lambda r: str(first(r) or "").lower() in str(second(r) or "").lower()
            return lambda r: str(first(r) or "").lower().startswith(str(second(r) or "").lower())
        left_tok = self.peek()
        left = self.operand()
        op_kind, op = self.take()
        if op_kind != "word" or op.lower() not in ("eq", "ne", "gt", "ge", "lt", "le"):
            raise ODataError(f"Expected a comparison after '{left_tok[1] if left_tok else ''}', found '{op}'")
        right_tok = self.peek()
        right = self.operand()
        literal_right = right_tok is not None and right_tok[0] in ("lit", "num")
        o = op.lower()

        def pred(record: dict[str, Any]) -> bool:
            a, b = left(record), right(record)
            if literal_right:
                a, b = _coerce(a, b)
            return _compare(o, a, b)

        return pred


def compile_filter(text: str | None) -> Predicate:
    if not text or not text.strip():
        return lambda r: True
    return _Parser(text).parse()


def sort_key_for(orderby: str | None) -> tuple[list[tuple[str, bool]], Callable[[dict[str, Any]], Any]]:
    """($orderby terms, a key function). MYOB's default order is not documented; the sandbox lists in the
    order records were created (a guess) when no $orderby is given."""
    terms: list[tuple[str, bool]] = []
    for part in (orderby or "").split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ODataError(f"The query option $orderby could not be parsed near '{part.strip()}'")
        terms.append((words[0], len(words) == 2 and words[1].lower() == "desc"))

    def key(record: dict[str, Any]) -> Any:
        return record.get("_seq", 0)

    return terms, key


def order(records: list[dict[str, Any]], orderby: str | None) -> list[dict[str, Any]]:
    terms, default = sort_key_for(orderby)
    out = sorted(records, key=default)
    for path, desc in reversed(terms):

        def k(r: dict[str, Any], p: str = path) -> tuple[int, Any]:
            v = field_value(r, p)
            if v is None:
                return (0, "")
            if p.split("/")[-1] in ("LastModified", "Created", "Date"):
                return (1, parse_datetime(str(v)))
            if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
                return (1, Decimal(v))
            return (1, str(v).lower())

        out.sort(key=k, reverse=desc)
    return out
