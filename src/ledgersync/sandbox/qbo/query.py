"""QBO query language subset: SELECT * | COUNT(*) FROM E [WHERE ..] [ORDERBY ..] [STARTPOSITION n] [MAXRESULTS n]."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from . import faults as F
from .company import company_currencies, company_info, preferences
from .entities import Ctx, customer_balance, render
from .state import CUSTOMER_TXNS, DOC_NUMBERED, ENTITIES, LIST_ENTITIES, NAMED_LISTS, OPERATIONS, PEOPLE
from .util import parse_iso_ms

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*')
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),*])
      | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "in",
    "like",
    "orderby",
    "order",
    "by",
    "asc",
    "desc",
    "startposition",
    "maxresults",
    "count",
    "or",
}


# Entity names as the query reads them, whatever their case ("select * from invoice"); sandbox guesses:
# Intuit's page calls entity names case sensitive, its own examples and clients write them in any case.
QUERYABLE = {
    **{e.lower(): e for e in ENTITIES if "query" in OPERATIONS[e]},
    "preferences": "Preferences",
    "companyinfo": "CompanyInfo",
    "companycurrency": "CompanyCurrency",
}
# Property names are matched whatever their case (Intuit's examples write Metadata.LastUpdatedTime and
# metadata.lastupdatedtime); these are the ones the evaluator treats specially, so they get one spelling.
_CANON = {
    n.lower(): n
    for n in (
        "Id",
        "DisplayName",
        "Name",
        "FullyQualifiedName",
        "DocNumber",
        "CustomerRef",
        "Active",
        "Balance",
        "MetaData.LastUpdatedTime",
        "MetaData.CreateTime",
    )
}
# Intuit: "Null is represented as the string ' ' (a space within single quotes)".
NULL = " "


def canon(name: str) -> str:
    return _CANON.get(name.lower(), name)


@dataclass
class Cond:
    field: str
    op: str  # = < > <= >= IN LIKE
    values: list[Any]


@dataclass
class Query:
    entity: str
    count: bool = False
    where: list[Cond] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    start: int = 1
    max_results: int | None = None


@dataclass
class _Tok:
    kind: str
    text: str
    col: int


def _tokens(q: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(q):
        if q[pos:].strip() == "":
            break
        m = _TOKEN.match(q, pos)
        if m is None or m.end() == pos:
            ch = q[pos:].lstrip()[0]
            col = pos + (len(q[pos:]) - len(q[pos:].lstrip())) + 1
            raise F.query_parser(
                f'Invalid content. Lexical error at line 1, column {col}.  Encountered: "{ch}" ({ord(ch)}), after : ""'
            )
        kind = m.lastgroup or ""
        text = m.group(kind)
        out.append(_Tok(kind, text, m.start(kind) + 1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def fail(self, expecting: str) -> F.Fault:
        tok = self.peek()
        if tok is None:
            col = (self.toks[-1].col + len(self.toks[-1].text)) if self.toks else 0
            return F.query_parser(
                f'Encountered "<EOF>" at line {1 if self.toks else 0}, column {col}.\n'
                f"Was expecting:\n    {expecting} ..."
            )
        return F.query_parser(
            f'Encountered " <{tok.kind.upper()}> "{tok.text} "" at line 1, column {tok.col}.\n'
            f"Was expecting:\n    {expecting} ..."
        )

    def kw(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "ident" and tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def need_kw(self, word: str) -> None:
        if not self.kw(word):
            raise self.fail(f'"{word}"')

    def punct(self, ch: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == ch:
            self.i += 1
            return True
        return False

    def ident(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind != "ident" or tok.text.lower() in _KEYWORDS:
            raise self.fail("<IDENTIFIER>")
        self.i += 1
        return tok.text

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.fail("<STRING>")
        self.i += 1
        if tok.kind == "str":
            return re.sub(r"\\(.)", r"\1", tok.text[1:-1])
        if tok.kind == "num":
            return Decimal(tok.text)
        if tok.kind == "ident" and tok.text.lower() in ("true", "false"):
            return tok.text.lower() == "true"
        self.i -= 1
        raise self.fail("<STRING>")

    def integer(self) -> int:
        tok = self.peek()
        if tok is None or tok.kind != "num":
            raise self.fail("<INTEGER>")
        self.i += 1
        return int(Decimal(tok.text))

    def parse(self) -> Query:
        if not self.toks:
            raise F.query_parser('Encountered "<EOF>" at line 0, column 0.\nWas expecting:\n    "select" ...')
        self.need_kw("select")
        count = False
        if self.kw("count"):
            if not (self.punct("(") and self.punct("*") and self.punct(")")):
                raise self.fail('"("')
            count = True
        elif self.punct("*"):
            while self.punct(","):
                self.ident()
        else:
            self.ident()
            while self.punct(","):
                self.ident()
        self.need_kw("from")
        written = self.ident()
        entity = QUERYABLE.get(written.lower())
        if entity is None:
            raise F.query_parser(f"Invalid entity name: {written}")
        q = Query(entity, count)
        if self.kw("where"):
            while True:
                fld = canon(self.ident())
                tok = self.peek()
                if self.kw("in"):
                    if not self.punct("("):
                        raise self.fail('"("')
                    vals = [self.value()]
                    while self.punct(","):
                        vals.append(self.value())
                    if not self.punct(")"):
                        raise self.fail('")"')
                    q.where.append(Cond(fld, "IN", vals))
                elif self.kw("like"):
                    q.where.append(Cond(fld, "LIKE", [self.value()]))
                elif tok is not None and tok.kind == "op" and tok.text in ("=", "<", ">", "<=", ">="):
                    self.i += 1
                    q.where.append(Cond(fld, tok.text, [self.value()]))
                else:
                    raise self.fail('"="')
                if not self.kw("and"):
                    break
        if self.kw("orderby") or (self.kw("order") and (self.kw("by") or True)):
            while True:
                fld = canon(self.ident())
                desc = False
                if self.kw("desc"):
                    desc = True
                else:
                    self.kw("asc")
                q.order.append((fld, desc))
                if not self.punct(","):
                    break
        if self.kw("startposition"):
            q.start = max(1, self.integer())
        if self.kw("maxresults"):
            q.max_results = self.integer()
        if self.peek() is not None:
            raise self.fail("<EOF>")
        return q


def parse(text: str) -> Query:
    return _Parser(text.strip().rstrip(";")).parse()


# ---- evaluation ----------------------------------------------------------------------------------
def _field(ctx: Ctx, entity: str, rec: dict[str, Any], name: str) -> Any:
    if name in ("MetaData.LastUpdatedTime", "MetaData.CreateTime"):
        ms = int(rec["_updated" if name.endswith("LastUpdatedTime") else "_created"])
        return ms - ms % 1000  # QBO timestamps carry whole seconds
    if name == "Balance" and entity == "Customer":
        return customer_balance(ctx.company, str(rec["Id"]))
    cur: Any = rec
    for part in name.split("."):
        if not isinstance(cur, dict):
            return None
        if part in cur:
            cur = cur[part]
        else:
            low = part.lower()
            cur = next((v for k, v in cur.items() if k.lower() == low), None)
    if isinstance(cur, dict) and "value" in cur:
        cur = cur["value"]
    if name == "Active" and cur is None:
        return True
    return cur


def _coerce(ctx: Ctx, name: str, value: Any, sample: Any) -> Any:
    if name.startswith("MetaData.") and isinstance(value, str):
        try:
            return parse_iso_ms(value, ctx.sb.tz())
        except ValueError as exc:
            raise F.query_parser(f"Invalid date time literal {value!r}") from exc
    if isinstance(sample, Decimal | int) and not isinstance(sample, bool) and isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    if isinstance(sample, bool) and isinstance(value, str):
        return value.lower() == "true"
    if isinstance(sample, str) and isinstance(value, Decimal):
        return format(value, "f")
    return value


def _cmp(a: Any, op: str, b: Any) -> bool:
    if a is None:
        return False
    if isinstance(a, str) and isinstance(b, str):
        a, b = a.casefold(), b.casefold()
    try:
        if op == "=":
            return bool(a == b)
        if op == "<":
            return bool(a < b)
        if op == ">":
            return bool(a > b)
        if op == "<=":
            return bool(a <= b)
        if op == ">=":
            return bool(a >= b)
    except TypeError:
        return False
    return False


def _like(a: Any, pattern: str) -> bool:
    if not isinstance(a, str):
        return False
    rx = "^" + ".*".join(re.escape(p) for p in pattern.casefold().split("%")) + "$"
    return re.match(rx, a.casefold(), re.DOTALL) is not None


def _matches(ctx: Ctx, entity: str, rec: dict[str, Any], where: list[Cond]) -> bool:
    for cond in where:
        actual = _field(ctx, entity, rec, cond.field)
        if cond.op in ("=", "IN") and NULL in cond.values:
            if actual in (None, "") or any(_cmp(actual, "=", v) for v in cond.values if v != NULL):
                continue
            return False
        if cond.op == "IN":
            if not any(_cmp(actual, "=", _coerce(ctx, cond.field, v, actual)) for v in cond.values):
                return False
        elif cond.op == "LIKE":
            if not _like(actual, str(cond.values[0])):
                return False
        elif not _cmp(actual, cond.op, _coerce(ctx, cond.field, cond.values[0], actual)):
            return False
    return True


def _id_key(rec: dict[str, Any]) -> tuple[int, int, str]:
    rid = str(rec["Id"])
    return (0, int(rid), "") if rid.isdigit() else (1, 0, rid)


def _candidates(ctx: Ctx, q: Query) -> list[dict[str, Any]] | None:
    """Use an index for the most selective condition we can; None = full scan."""
    c = ctx.company
    data = c.data[q.entity]
    for cond in q.where:
        vals = [v for v in cond.values]
        if cond.op not in ("=", "IN") and not (cond.field == "MetaData.LastUpdatedTime" and cond.op in (">", ">=")):
            continue
        if cond.field == "Id":
            return [
                data[str(v if not isinstance(v, Decimal) else format(v, "f"))]
                for v in vals
                if str(v if not isinstance(v, Decimal) else format(v, "f")) in data
            ]
        if cond.field == "DisplayName" and q.entity in PEOPLE:
            out = []
            for v in vals:
                owner = c.people_names.get(str(v).casefold())
                if owner is not None and owner[0] == q.entity:
                    out.append(data[owner[1]])
            return out
        if cond.field in ("Name", "FullyQualifiedName") and q.entity in NAMED_LISTS:
            ids = [c.list_names[q.entity].get(str(v).casefold()) for v in vals]
            return [data[i] for i in ids if i is not None and i in data]
        if cond.field == "DocNumber" and q.entity in DOC_NUMBERED:
            ids2: set[str] = set()
            for v in vals:
                ids2 |= c.docnums[q.entity].get(str(v).casefold(), set())
            return [data[i] for i in ids2 if i in data]
        if cond.field == "CustomerRef" and q.entity in CUSTOMER_TXNS:
            ids3 = [i for v in vals for (e, i) in c.by_customer.get(str(v), set()) if e == q.entity]
            return [data[i] for i in ids3 if i in data]
        if cond.field == "MetaData.LastUpdatedTime" and isinstance(vals[0], str):
            ms = _coerce(ctx, cond.field, vals[0], None)
            floor = int(ms) - int(ms) % 1000
            since = floor + 999 if cond.op == ">" else floor - 1
            return [data[i] for _, i in c.changed_since(q.entity, since) if i in data]
    return None


def run(ctx: Ctx, q: Query) -> dict[str, Any]:
    if q.entity in ("Preferences", "CompanyInfo"):
        # One per company; WHERE, ORDERBY and paging have nothing to choose from.
        one = preferences(ctx.sb, ctx.company) if q.entity == "Preferences" else company_info(ctx.sb, ctx.company)
        return {"totalCount": 1} if q.count else {q.entity: [one], "startPosition": 1, "maxResults": 1}
    if q.entity == "CompanyCurrency":
        # A handful per company: WHERE, ORDERBY and paging are not applied (sandbox guess: nobody needs them).
        rows = company_currencies(ctx.sb, ctx.company)
        if q.count:
            return {"totalCount": len(rows)}
        return {q.entity: rows, "startPosition": 1, "maxResults": len(rows)} if rows else {}
    cand = _candidates(ctx, q)
    if cand is None:
        pool: list[dict[str, Any]] = list(ctx.company.data[q.entity].values())
        indexed = False
    else:
        pool = cand
        indexed = True
    mentions_active = any(cond.field == "Active" for cond in q.where)
    hidden = ctx.hidden or set()
    rows = [
        r
        for r in pool
        if (q.entity, str(r["Id"])) not in hidden
        and (mentions_active or q.entity not in LIST_ENTITIES or r.get("Active", True) is not False)
        and _matches(ctx, q.entity, r, q.where)
    ]
    if q.count:
        return {"totalCount": len(rows)}
    if indexed or q.order:
        rows.sort(key=_id_key)
    for fld, desc in reversed(q.order):
        present = [r for r in rows if _field(ctx, q.entity, r, fld) is not None]
        missing = [r for r in rows if _field(ctx, q.entity, r, fld) is None]
        vals = {id(r): _sort_val(_field(ctx, q.entity, r, fld)) for r in present}
        present.sort(key=lambda r: vals[id(r)], reverse=desc)
        rows = present + missing
    cap = int(ctx.sb.config.get("max_query_results", 1000))
    limit = min(q.max_results if q.max_results is not None else 100, cap)
    page = rows[q.start - 1 : q.start - 1 + max(limit, 0)]
    if not page:
        return {}
    return {
        q.entity: [render(ctx.sb, ctx.company, q.entity, r) for r in page],
        "startPosition": q.start,
        "maxResults": len(page),
    }


def _sort_val(v: Any) -> Any:
    if isinstance(v, str):
        return (1, v.casefold())
    if isinstance(v, bool):
        return (0, int(v))
    return (0, v)
