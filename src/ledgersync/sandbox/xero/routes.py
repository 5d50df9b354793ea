"""The Xero sandbox's routing table: every /api.xro/2.0 operation it serves, its handler, and what it leaves out."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import attachments, batch, records, reports, settings, transactions
from .fields import FIELDS
from .records import Ctx, ElementError, render
from .state import ID_FIELDS, INDEXED, Tenant
from .util import dumps, loads, ms_date, now_ms, parse_http_datetime_ms
from .where import QueryError, evaluate, index_lookups, parse_order, parse_where, sort_key

if TYPE_CHECKING:
    from . import Runtime

Result = tuple[int, bytes, dict[str, str]]
Writer = Callable[[Ctx, dict[str, Any], str, str | None], dict[str, Any]]

PAGE_SIZE = 100
# Paged by `page`, but their envelopes (schemas Quotes, LinkedTransactions) carry no pagination object.
UNPAGINATED_ENVELOPES = {"Quotes", "LinkedTransactions"}
JOURNALS_PER_CALL = 100
NUMBER_FIELDS = {
    "Contacts": "ContactNumber",
    "Invoices": "InvoiceNumber",
    "PurchaseOrders": "PurchaseOrderNumber",
    "CreditNotes": "CreditNoteNumber",
    "Items": "Code",
    "Quotes": "QuoteNumber",
}
# paymentsOnly=true (sandbox guesses): the journals of money actually moving, not a cash-basis recast.
_PAYMENT_SOURCES = {
    "ACCRECPAYMENT",
    "ACCPAYPAYMENT",
    "ARCREDITPAYMENT",
    "APCREDITPAYMENT",
    "CASHREC",
    "CASHPAID",
    "TRANSFER",
    "AROVERPAYMENT",
    "APOVERPAYMENT",
    "ARPREPAYMENT",
    "APPREPAYMENT",
}


@dataclass
class Req:
    """One API (or as-user) request, as handlers see it."""

    rt: Runtime
    tenant: Tenant
    method: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    raw: bytes
    provider: str
    args: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[Req], Result]
    # Further spec paths of the same shape this route answers, e.g. /Journals/{JournalNumber}.
    also: tuple[str, ...] = ()
    note: str = ""

    @property
    def parts(self) -> list[str]:
        return [p for p in self.path.split("/") if p]

    def match(self, method: str, segs: list[str]) -> list[str] | None:
        parts = self.parts
        if method != self.method or len(parts) != len(segs):
            return None
        args: list[str] = []
        for part, seg in zip(parts, segs, strict=True):
            if part.startswith("{"):
                args.append(seg)
            elif part.lower() != seg.lower():
                return None
        return args


# ---- responses ------------------------------------------------------------------------------------
def envelope(
    provider: str, key: str, items: list[dict[str, Any]], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": provider,
        "DateTimeUTC": ms_date(now_ms()),
    }
    if extra:
        out.update(extra)
    out[key] = items
    return out


def ok(req: Req, key: str, items: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Result:
    return 200, dumps(envelope(req.provider, key, items, extra)), {}


def validation_error(elements: list[dict[str, Any]]) -> bytes:
    return dumps(
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": elements,
        }
    )


def not_found() -> Result:
    return (
        404,
        dumps({"Title": "NotFound", "Status": 404, "Detail": "The resource you're looking for cannot be found"}),
        {},
    )


def query_error(msg: str) -> Result:
    return 400, dumps({"ErrorNumber": 16, "Type": "QueryParseException", "Message": msg}), {}


def element_error(messages: list[str]) -> Result:
    return 400, validation_error([{"ValidationErrors": [{"Message": m} for m in messages]}]), {}


def post_data_invalid(message: str) -> Result:
    return 400, dumps({"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}), {}


def csv_param(params: Mapping[str, str], name: str) -> list[str] | None:
    low = name.lower()
    for k, v in params.items():
        if k.lower() == low:
            return [s.strip().strip('"') for s in v.split(",") if s.strip()]
    return None


def param(params: Mapping[str, str], name: str) -> str | None:
    low = name.lower()
    return next((v for k, v in params.items() if k.lower() == low), None)


# ---- reads ----------------------------------------------------------------------------------------
def _visible(coll: str, r: dict[str, Any], params: Mapping[str, str]) -> bool:
    """Records a plain GET leaves out (archived contacts, deleted groups and transfers)."""
    if (param(params, "includeArchived") or "").lower() == "true":
        return True
    if coll == "Contacts":
        return r.get("ContactStatus") != "ARCHIVED"
    if coll == "TrackingCategories":
        return r.get("Status") != "ARCHIVED"
    if coll == "ContactGroups":
        return r.get("Status") != "DELETED"
    if coll == "BankTransfers":
        return r.get("Status") != "DELETED" or (param(params, "includeDeleted") or "").lower() == "true"
    return True


_FILTERS: dict[str, tuple[str, ...]] = {
    # query parameter -> record field, compared case-insensitively (GET /Quotes, /LinkedTransactions)
    "Quotes": ("QuoteNumber", "Status"),
    "LinkedTransactions": ("LinkedTransactionID", "SourceTransactionID", "ContactID", "Status", "TargetTransactionID"),
}


def select(req: Req, coll: str) -> tuple[list[dict[str, Any]], Result | None]:
    """The records a GET on `coll` answers with, after where/IDs/filters/If-Modified-Since/order."""
    tenant, params = req.tenant, req.params
    recs = tenant.data[coll]
    candidates: Any = recs.values()
    indexed = False
    node = None
    where = param(params, "where")
    if where:
        try:
            node = parse_where(where)
        except QueryError as exc:
            return [], query_error(str(exc))
        lookups = index_lookups(node, set(INDEXED.get(coll, ())))
        if lookups is not None:
            ids: dict[str, None] = {}
            for fld, val in lookups:
                for i in tenant.idx[coll][fld].get(val, ()):
                    ids[i] = None
            # Keep creation order, as a full scan would.
            candidates = sorted((recs[i] for i in ids if i in recs), key=lambda r: int(r.get("_n", 0)))
            indexed = True
    ims = req.headers.get("if-modified-since")
    since = parse_http_datetime_ms(ims) if ims else None
    if since is not None and not indexed:
        # What changed since: found through the tenant's stamp index (creation order kept), not a scan.
        candidates = tenant.modified_since(coll, since)
    ids_filter = csv_param(params, "IDs")
    id_set = {i.lower() for i in ids_filter} if ids_filter else None
    numbers = csv_param(params, "InvoiceNumbers") if coll in ("Invoices", "Prepayments") else None
    num_set = {n.casefold() for n in numbers} if numbers else None
    contact_ids = csv_param(params, "ContactIDs") or csv_param(params, "ContactID")
    cid_set = {c.lower() for c in contact_ids} if contact_ids else None
    statuses = csv_param(params, "Statuses")
    st_set = {s.upper() for s in statuses} if statuses else None
    exact = {f: str(v).casefold() for f in _FILTERS.get(coll, ()) if (v := param(params, f))}
    idf = ID_FIELDS[coll]
    out: list[dict[str, Any]] = []
    for r in candidates:
        if since is not None and r.get("_updated_ms", 0) <= since:
            continue
        if id_set is not None and str(r[idf]).lower() not in id_set:
            continue
        if num_set is not None and str(r.get("InvoiceNumber", "")).casefold() not in num_set:
            continue
        if cid_set is not None:
            cid = r.get("ContactID") or (r.get("Contact") or {}).get("ContactID", "")
            if str(cid).lower() not in cid_set:
                continue
        if st_set is not None and str(r.get("Status", "")).upper() not in st_set:
            continue
        if any(str(r.get(f, "")).casefold() != v for f, v in exact.items() if f != "ContactID"):
            continue
        if not _visible(coll, r, params):
            continue
        if node is not None and not evaluate(node, r):
            continue
        out.append(r)
    order = param(params, "order")
    if order:
        try:
            for fld, desc in reversed(parse_order(order)):
                out.sort(key=sort_key(fld), reverse=desc)
        except QueryError as exc:
            return [], query_error(str(exc))
    return out, None


def list_handler(coll: str, paged: bool = False) -> Callable[[Req], Result]:
    def handler(req: Req) -> Result:
        if coll == "LinkedTransactions":
            _refresh_links(req)
        out, err = select(req, coll)
        if err is not None:
            return err
        extra: dict[str, Any] | None = None
        page_s = param(req.params, "page")
        if paged and page_s is not None:
            try:
                page = max(1, int(page_s))
                size = int(param(req.params, "pageSize") or PAGE_SIZE)
            except ValueError:
                return query_error("page and pageSize must be integers")
            size = min(max(size, 1), 1000)
            total = len(out)
            if coll not in UNPAGINATED_ENVELOPES:
                extra = {
                    "pagination": {
                        "page": page,
                        "pageSize": size,
                        "pageCount": (total + size - 1) // size,
                        "itemCount": total,
                    }
                }
            out = out[(page - 1) * size : page * size]
        ctx = Ctx(req.tenant)
        items = [_view(ctx, coll, r, single=False) for r in out]
        return ok(req, coll, items, extra)

    return handler


def _view(ctx: Ctx, coll: str, rec: dict[str, Any], single: bool) -> dict[str, Any]:
    if coll == "BatchPayments":
        return render(coll, batch.with_payments(ctx, rec))
    if coll == "ContactGroups":
        return render(coll, settings.group_view(ctx, rec, with_contacts=single))
    return render(coll, rec)


def get_handler(coll: str) -> Callable[[Req], Result]:
    def handler(req: Req) -> Result:
        rid = req.args[0]
        tenant = req.tenant
        if coll == "LinkedTransactions":
            _refresh_links(req)
        rec = tenant.get(coll, rid)
        if rec is None and coll in NUMBER_FIELDS:
            found = tenant.lookup(coll, NUMBER_FIELDS[coll], rid)
            rec = found[0] if found else None
        if rec is None:
            return not_found()
        return ok(req, coll, [_view(Ctx(tenant), coll, rec, single=True)])

    return handler


def _refresh_links(req: Req) -> None:
    """A linked transaction's Status follows its bill and its target invoice."""
    ctx = Ctx(req.tenant)
    for rec in list(req.tenant.data["LinkedTransactions"].values()):
        status = transactions.link_status(ctx, rec)
        if status != rec["Status"]:
            req.tenant.put("LinkedTransactions", {**rec, "Status": status})
            req.rt.sb.dirty = True


def organisation(req: Req) -> Result:
    return ok(req, "Organisations", [render("Organisations", req.tenant.organisation)])


def journals(req: Req) -> Result:
    """GET /Journals: the postings feed, 100 at a time, JournalNumber above `offset`, oldest first."""
    try:
        offset = int(param(req.params, "offset") or 0)
    except ValueError:
        return query_error("offset must be an integer")
    payments_only = (param(req.params, "paymentsOnly") or "").lower() == "true"
    ims = req.headers.get("if-modified-since")
    since = parse_http_datetime_ms(ims) if ims else None
    out = []
    for j in sorted(req.tenant.data["Journals"].values(), key=lambda j: int(j["JournalNumber"])):
        if int(j["JournalNumber"]) <= offset:
            continue
        if since is not None and int(j["_updated_ms"]) <= since:
            continue
        if payments_only and j["SourceType"] not in _PAYMENT_SOURCES:
            continue
        out.append(render("Journals", j))
        if len(out) == JOURNALS_PER_CALL:
            break
    return ok(req, "Journals", out)


def journal(req: Req) -> Result:
    key = req.args[0]
    rec = req.tenant.get("Journals", key)
    if rec is None and key.isdigit():
        rec = next((j for j in req.tenant.data["Journals"].values() if j["JournalNumber"] == int(key)), None)
    if rec is None:
        return not_found()
    return ok(req, "Journals", [render("Journals", rec)])


def report_handler(name: str) -> Callable[[Req], Result]:
    def handler(req: Req) -> Result:
        try:
            body = reports.BUILDERS[name](req.tenant, req.params)
        except reports.ReportError as exc:
            return 400, dumps({"ErrorNumber": 10, "Type": "ValidationException", "Message": str(exc)}), {}
        return ok(req, "Reports", [body])

    return handler


# ---- writes ---------------------------------------------------------------------------------------
def _elements(body: Any, key: str) -> list[dict[str, Any]] | None:
    if isinstance(body, dict):
        inner = next((v for k, v in body.items() if k.lower() == key.lower()), None)
        if isinstance(inner, list):
            return [e for e in inner if isinstance(e, dict)] if all(isinstance(e, dict) for e in inner) else None
        return [body]
    if isinstance(body, list) and all(isinstance(e, dict) for e in body):
        return body
    return None


def _error_flag(coll: str) -> str | None:
    fields = FIELDS.get(coll, frozenset())
    return "HasErrors" if "HasErrors" in fields else "HasValidationErrors" if "HasValidationErrors" in fields else None


def write_elements(
    req: Req,
    key: str,
    fn: Callable[[Ctx, dict[str, Any]], dict[str, Any]],
    summarize_default: bool = True,
) -> Result:
    """Run `fn` on each element of the body; Xero's summarised (400) or per-element (200) error reporting."""
    try:
        body = loads(req.raw) if req.raw.strip() else None
    except ValueError:
        return post_data_invalid("JSON for the request body could not be parsed.")
    elements = _elements(body, key)
    if not elements:
        return post_data_invalid("The request body is empty or not in the expected format.")
    summarize = (param(req.params, "summarizeErrors") or str(summarize_default)).lower() != "false"
    results: list[tuple[dict[str, Any], list[str] | None]] = []
    names = {n.lower(): n for n in FIELDS.get(key, ())}
    for el in elements:
        ctx = Ctx(req.tenant)
        # Xero reads field names whatever their case ("Lineitems", "name"): sandbox guesses, from its SDKs'
        # and the spec's examples being written that way.
        el = {names.get(k.lower(), k): v for k, v in el.items()}
        try:
            results.append((fn(ctx, el), None))
        except ElementError as exc:
            results.append((el, exc.messages))
        req.rt.webhooks.enqueue(req.tenant.id, ctx.events)
    req.rt.sb.dirty = True
    # The summarised 400's Elements echo the element with the flag Xero sets for its kind.
    flag = _error_flag(key) or ("HasErrors" if key in ("BankTransactions", "Overpayments") else "HasValidationErrors")
    failed = [(el, msgs) for el, msgs in results if msgs]
    if summarize and failed:
        elems = [{**el, flag: True, "ValidationErrors": [{"Message": m} for m in msgs or []]} for el, msgs in failed]
        return 400, validation_error(elems), {}
    allowed = FIELDS.get(key)
    items: list[dict[str, Any]] = []
    for el, msgs in results:
        if msgs:
            echo = {k: v for k, v in el.items() if allowed is None or k in allowed}
            if _error_flag(key):
                echo[flag] = True
            items.append({**echo, "StatusAttributeString": "ERROR", "ValidationErrors": [{"Message": m} for m in msgs]})
        elif not summarize and allowed is not None and "StatusAttributeString" in allowed:
            items.append({**el, "StatusAttributeString": "OK"})
        else:
            items.append(el)
    return 200, dumps(envelope(req.provider, key, items)), {}


def write_handler(coll: str, writer: Writer, key: str | None = None) -> Callable[[Req], Result]:
    """PUT (create) / POST (update or create) on a collection, or POST on one record (its id in the path)."""

    def handler(req: Req) -> Result:
        target = req.args[0] if req.args else None
        mode = "PUT" if req.method == "PUT" else "POST"

        def run(ctx: Ctx, el: dict[str, Any]) -> dict[str, Any]:
            return render(coll, writer(ctx, el, mode, target))

        return write_elements(req, key or coll, run)

    return handler


def allocation_handler(coll: str) -> Callable[[Req], Result]:
    def handler(req: Req) -> Result:
        def run(ctx: Ctx, el: dict[str, Any]) -> dict[str, Any]:
            return records.allocate(ctx, coll, req.args[0], el)

        return write_elements(req, "Allocations", run)

    return handler


def delete_allocation_handler(coll: str) -> Callable[[Req], Result]:
    def handler(req: Req) -> Result:
        ctx = Ctx(req.tenant)
        try:
            alloc = records.delete_allocation(ctx, coll, req.args[0], req.args[1])
        except ElementError as exc:
            return element_error(exc.messages) if req.tenant.get(coll, req.args[0]) else not_found()
        req.rt.webhooks.enqueue(req.tenant.id, ctx.events)
        req.rt.sb.dirty = True
        return 200, dumps(alloc), {}

    return handler


def delete_item(req: Req) -> Result:
    done = records.delete_item(Ctx(req.tenant), req.args[0])
    req.rt.sb.dirty = True
    return (204, b"", {}) if done else not_found()


def group_add_contacts(req: Req) -> Result:
    if req.tenant.get("ContactGroups", req.args[0]) is None:
        return not_found()

    def run(ctx: Ctx, el: dict[str, Any]) -> dict[str, Any]:
        return render("Contacts", settings.add_members(ctx, req.args[0], el))

    return write_elements(req, "Contacts", run)


def group_remove_contacts(req: Req) -> Result:
    if req.tenant.get("ContactGroups", req.args[0]) is None:
        return not_found()
    try:
        settings.remove_members(Ctx(req.tenant), req.args[0], req.args[1] if len(req.args) > 1 else None)
    except ElementError as exc:
        return element_error(exc.messages)
    req.rt.sb.dirty = True
    return 204, b"", {}


def delete_linked_transaction(req: Req) -> Result:
    if req.tenant.get("LinkedTransactions", req.args[0]) is None:
        return not_found()
    try:
        transactions.delete_linked_transaction(Ctx(req.tenant), req.args[0])
    except ElementError as exc:
        return element_error(exc.messages)
    req.rt.sb.dirty = True
    return 204, b"", {}


def _collection(
    coll: str,
    writer: Writer | None,
    *,
    paged: bool = False,
    put: bool = True,
    post: bool = True,
    post_one: bool = True,
    get_also: tuple[str, ...] = (),
) -> list[Route]:
    """The usual five: GET list, GET one, PUT create, POST update-or-create, POST one."""
    one = f"/{coll}/{{{ID_FIELDS[coll]}}}"
    out = [Route("GET", f"/{coll}", list_handler(coll, paged)), Route("GET", one, get_handler(coll), also=get_also)]
    if writer is not None:
        if put:
            out.append(Route("PUT", f"/{coll}", write_handler(coll, writer)))
        if post:
            out.append(Route("POST", f"/{coll}", write_handler(coll, writer)))
        if post_one:
            out.append(Route("POST", one, write_handler(coll, writer)))
    return out


ROUTES: list[Route] = [
    Route("GET", "/Organisation", organisation),
    *_collection("Accounts", records.upsert_account, post=False),
    *_collection("BankTransactions", records.upsert_bank_transaction, paged=True),
    *_collection("BankTransfers", transactions.create_bank_transfer),
    Route("GET", "/BrandingThemes", list_handler("BrandingThemes")),
    Route("GET", "/BrandingThemes/{BrandingThemeID}", get_handler("BrandingThemes")),
    *_collection("Contacts", records.upsert_contact, paged=True, get_also=("/Contacts/{ContactNumber}",)),
    *_collection("ContactGroups", settings.upsert_contact_group, post=False),
    Route("PUT", "/ContactGroups/{ContactGroupID}/Contacts", group_add_contacts),
    Route("DELETE", "/ContactGroups/{ContactGroupID}/Contacts", group_remove_contacts),
    Route("DELETE", "/ContactGroups/{ContactGroupID}/Contacts/{ContactID}", group_remove_contacts),
    *_collection("CreditNotes", records.upsert_credit_note, paged=True),
    Route("PUT", "/CreditNotes/{CreditNoteID}/Allocations", allocation_handler("CreditNotes")),
    Route("DELETE", "/CreditNotes/{CreditNoteID}/Allocations/{AllocationID}", delete_allocation_handler("CreditNotes")),
    Route("GET", "/Currencies", list_handler("Currencies")),
    Route("PUT", "/Currencies", write_handler("Currencies", settings.create_currency)),
    *_collection("Invoices", records.upsert_invoice, paged=True),
    *_collection("Items", records.upsert_item),
    Route("DELETE", "/Items/{ItemID}", delete_item),
    Route("GET", "/Invoices/{InvoiceID}/Attachments", attachments.list_attachments),
    Route(
        "GET",
        "/Invoices/{InvoiceID}/Attachments/{FileName}",
        attachments.get_content,
        also=("/Invoices/{InvoiceID}/Attachments/{AttachmentID}",),
    ),
    Route("PUT", "/Invoices/{InvoiceID}/Attachments/{FileName}", attachments.put_attachment),
    Route("POST", "/Invoices/{InvoiceID}/Attachments/{FileName}", attachments.put_attachment),
    Route("GET", "/Journals", journals),
    Route("GET", "/Journals/{JournalID}", journal, also=("/Journals/{JournalNumber}",)),
    *_collection("LinkedTransactions", transactions.upsert_linked_transaction, paged=True, post=False),
    Route("DELETE", "/LinkedTransactions/{LinkedTransactionID}", delete_linked_transaction),
    *_collection("ManualJournals", transactions.upsert_manual_journal, paged=True),
    *_collection("Overpayments", None, paged=True),
    Route("PUT", "/Overpayments/{OverpaymentID}/Allocations", allocation_handler("Overpayments")),
    Route(
        "DELETE",
        "/Overpayments/{OverpaymentID}/Allocations/{AllocationID}",
        delete_allocation_handler("Overpayments"),
    ),
    *_collection("Payments", records.upsert_payment, paged=True),
    *_collection("BatchPayments", batch.upsert_batch_payment),
    *_collection("Prepayments", None, paged=True),
    Route("PUT", "/Prepayments/{PrepaymentID}/Allocations", allocation_handler("Prepayments")),
    Route(
        "DELETE",
        "/Prepayments/{PrepaymentID}/Allocations/{AllocationID}",
        delete_allocation_handler("Prepayments"),
    ),
    *_collection(
        "PurchaseOrders",
        records.upsert_purchase_order,
        paged=True,
        get_also=("/PurchaseOrders/{PurchaseOrderNumber}",),
    ),
    *_collection("Quotes", transactions.upsert_quote, paged=True),
    *_collection("RepeatingInvoices", transactions.upsert_repeating_invoice),
    *[Route("GET", f"/Reports/{name}", report_handler(name)) for name in reports.REPORTS],
    Route("GET", "/TaxRates", list_handler("TaxRates")),
    Route("GET", "/TaxRates/{TaxType}", get_handler("TaxRates")),
    Route("PUT", "/TaxRates", write_handler("TaxRates", records.upsert_tax_rate)),
    Route("POST", "/TaxRates", write_handler("TaxRates", records.upsert_tax_rate)),
    *_collection("TrackingCategories", records.upsert_tracking, post=False),
    Route("GET", "/Users", list_handler("Users")),
    Route("GET", "/Users/{UserID}", get_handler("Users")),
]

# What the contract has and the sandbox does not serve (they answer 404), as patterns over "METHOD /path";
# a test checks that every operation of the spec is either served or matched here, so the README stays true.
NOT_SERVED: list[tuple[str, str]] = [
    (r"^\w+ /(?!Invoices/)\w+/\{\w+\}/Attachments", "attachments are kept on invoices and bills only"),
    (r"/History$", "no history or notes"),
    (r"/(pdf|OnlineInvoice|Email)$", "no documents are rendered or sent"),
    (r"^\w+ /(ExpenseClaims|Receipts)", "expense claims (retired by Xero) are not modelled"),
    (r"^\w+ /Budgets", "no budgets"),
    (r"PaymentServices", "no payment services"),
    (
        r"^GET /Reports(/\{ReportID\}|/TenNinetyNine|/AgedPayablesByContact|/BankSummary|/BudgetSummary"
        r"|/ExecutiveSummary)?$",
        "only the four reports above are computed",
    ),
    (r"^\w+ /(Setup|InvoiceReminders/Settings|Organisation/Actions)$|CISSettings", "settings not modelled"),
    (r"^DELETE /Accounts/|^DELETE /TrackingCategories/|/Options", "accounts are archived, tracking edited whole"),
]


def _specificity(route: Route) -> int:
    return sum(1 for p in route.parts if not p.startswith("{"))


_BY_SPECIFICITY = sorted(ROUTES, key=_specificity, reverse=True)


def find(method: str, segs: list[str]) -> tuple[Route, list[str]] | None:
    for route in _BY_SPECIFICITY:
        args = route.match(method, segs)
        if args is not None:
            return route, args
    return None


def handle(
    rt: Runtime,
    tenant: Tenant,
    method: str,
    segs: list[str],
    raw: bytes,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    provider: str,
) -> Result:
    found = find(method, segs)
    if found is None:
        return not_found()
    route, args = found
    return route.handler(Req(rt, tenant, method, params, headers, raw, provider, args))


def served_markdown() -> str:
    """The README's table of served operations, generated from ROUTES so that it stays true."""
    lines = ["| Method | Path | Also answers |", "|---|---|---|"]
    for r in sorted(ROUTES, key=lambda r: (r.path.lower(), ("GET", "PUT", "POST", "DELETE").index(r.method))):
        lines.append(f"| {r.method} | `/api.xro/2.0{r.path}` | {', '.join(f'`{a}`' for a in r.also)} |")
    lines += ["", "Not served (404), by pattern over `METHOD /path` of the spec's operations:", ""]
    lines += [f"- `{pattern}`: {why}" for pattern, why in NOT_SERVED]
    return "\n".join(lines) + "\n"
