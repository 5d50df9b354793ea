"""The /api.xro/2.0 surface: auth, tenant check, faults, rate limits, idempotency, reads and writes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .oauth import bearer, problem
from .records import HANDLERS, Ctx, ElementError, allocate, delete_item, render
from .state import ID_FIELDS, INDEXED, Tenant
from .util import dumps, loads, ms_date, now_ms, parse_http_datetime_ms
from .where import QueryError, evaluate, index_lookups, parse_order, parse_where, sort_key

if TYPE_CHECKING:
    from . import Runtime

COLLECTIONS = {c.lower(): c for c in ID_FIELDS}
PAGED = {
    "Contacts",
    "Invoices",
    "CreditNotes",
    "Payments",
    "PurchaseOrders",
    "Overpayments",
    "BankTransactions",
}
NUMBER_FIELDS = {
    "Contacts": "ContactNumber",
    "Invoices": "InvoiceNumber",
    "PurchaseOrders": "PurchaseOrderNumber",
    "CreditNotes": "CreditNoteNumber",
    "Items": "Code",
}
_ERROR_FLAG = {
    "Invoices": "HasErrors",
    "CreditNotes": "HasErrors",
    "BankTransactions": "HasErrors",
    "Overpayments": "HasErrors",
    "PurchaseOrders": "HasErrors",
}
JSON = "application/json; charset=utf-8"

Result = tuple[int, bytes, dict[str, str]]


class DroppedResponse(Response):
    """Announce a body then hang up without sending it, so the client sees a broken connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", b"100000")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"Id":"', "more_body": True})


def envelope(
    rt_name: str, coll: str, items: list[dict[str, Any]], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": rt_name,
        "DateTimeUTC": ms_date(now_ms()),
    }
    if extra:
        out.update(extra)
    out[coll] = items
    return out


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
        dumps(
            {"Title": "NotFound", "Status": 404, "Detail": "The resource you're looking for cannot be found"}
        ),
        {},
    )


def query_error(msg: str) -> Result:
    return 400, dumps({"ErrorNumber": 16, "Type": "QueryParseException", "Message": msg}), {}


def _csv(params: Mapping[str, str], name: str) -> list[str] | None:
    low = name.lower()
    for k, v in params.items():
        if k.lower() == low:
            return [s.strip().strip('"') for s in v.split(",") if s.strip()]
    return None


def _param(params: Mapping[str, str], name: str) -> str | None:
    low = name.lower()
    return next((v for k, v in params.items() if k.lower() == low), None)


# ---- reads --------------------------------------------------------------------------------------
def list_records(
    tenant: Tenant, coll: str, params: Mapping[str, str], headers: Mapping[str, str], provider: str
) -> Result:
    recs = tenant.data[coll]
    candidates: Any = recs.values()
    node = None
    where = _param(params, "where")
    if where:
        try:
            node = parse_where(where)
        except QueryError as exc:
            return query_error(str(exc))
        lookups = index_lookups(node, set(INDEXED.get(coll, ())))
        if lookups is not None:
            ids: dict[str, None] = {}
            for fld, val in lookups:
                for i in tenant.idx[coll][fld].get(val, ()):
                    ids[i] = None
            # Keep creation order, as a full scan would.
            candidates = sorted((recs[i] for i in ids if i in recs), key=lambda r: int(r.get("_n", 0)))
    ids_filter = _csv(params, "IDs")
    id_set = {i.lower() for i in ids_filter} if ids_filter else None
    numbers = _csv(params, "InvoiceNumbers") if coll == "Invoices" else None
    num_set = {n.casefold() for n in numbers} if numbers else None
    contact_ids = _csv(params, "ContactIDs")
    cid_set = {c.lower() for c in contact_ids} if contact_ids else None
    statuses = _csv(params, "Statuses")
    st_set = {s.upper() for s in statuses} if statuses else None
    include_archived = (_param(params, "includeArchived") or "").lower() == "true"
    ims = headers.get("if-modified-since")
    since = parse_http_datetime_ms(ims) if ims else None
    idf = ID_FIELDS[coll]
    out: list[dict[str, Any]] = []
    for r in candidates:
        if since is not None and r.get("_updated_ms", 0) <= since:
            continue
        if id_set is not None and str(r[idf]).lower() not in id_set:
            continue
        if num_set is not None and str(r.get("InvoiceNumber", "")).casefold() not in num_set:
            continue
        if cid_set is not None and str((r.get("Contact") or {}).get("ContactID", "")).lower() not in cid_set:
            continue
        if st_set is not None and str(r.get("Status", "")).upper() not in st_set:
            continue
        if not include_archived:
            if coll == "Contacts" and r.get("ContactStatus") == "ARCHIVED":
                continue
            if coll == "TrackingCategories" and r.get("Status") == "ARCHIVED":
                continue
        if node is not None and not evaluate(node, r):
            continue
        out.append(r)
    order = _param(params, "order")
    if order:
        try:
            for fld, desc in reversed(parse_order(order)):
                out.sort(key=sort_key(fld), reverse=desc)
        except QueryError as exc:
            return query_error(str(exc))
    extra: dict[str, Any] | None = None
    page_s = _param(params, "page")
    if coll in PAGED and page_s is not None:
        try:
            page = max(1, int(page_s))
            size = int(_param(params, "pageSize") or 100)
        except ValueError:
            return query_error("page and pageSize must be integers")
        size = min(max(size, 1), 1000)
        total = len(out)
        extra = {
            "pagination": {
                "page": page,
                "pageSize": size,
                "pageCount": (total + size - 1) // size,
                "itemCount": total,
            }
        }
        out = out[(page - 1) * size : page * size]
    return 200, dumps(envelope(provider, coll, [render(coll, r) for r in out], extra)), {}


def get_one(tenant: Tenant, coll: str, rid: str, provider: str) -> Result:
    rec = tenant.get(coll, rid)
    if rec is None and coll in NUMBER_FIELDS:
        found = tenant.lookup(coll, NUMBER_FIELDS[coll], rid)
        rec = found[0] if found else None
    if rec is None:
        return not_found()
    return 200, dumps(envelope(provider, coll, [render(coll, rec)])), {}


# ---- writes -------------------------------------------------------------------------------------
def _elements(body: Any, key: str) -> list[dict[str, Any]] | None:
    if isinstance(body, dict):
        inner = next((v for k, v in body.items() if k.lower() == key.lower()), None)
        if isinstance(inner, list):
            return (
                [e for e in inner if isinstance(e, dict)] if all(isinstance(e, dict) for e in inner) else None
            )
        return [body]
    if isinstance(body, list) and all(isinstance(e, dict) for e in body):
        return body
    return None


def write(
    rt: Runtime,
    tenant: Tenant,
    method: str,
    segs: list[str],
    raw: bytes,
    params: Mapping[str, str],
    provider: str,
) -> Result:
    coll = COLLECTIONS[segs[0].lower()]
    if method == "DELETE":
        if coll == "Items" and len(segs) == 2:
            ok = delete_item(Ctx(tenant), segs[1])
            rt.sb.dirty = True
            return (204, b"", {}) if ok else not_found()
        return not_found()
    try:
        body = loads(raw) if raw.strip() else None
    except ValueError:
        return (
            400,
            dumps(
                {
                    "ErrorNumber": 14,
                    "Type": "PostDataInvalidException",
                    "Message": "JSON for the request body could not be parsed.",
                }
            ),
            {},
        )
    summarize = (_param(params, "summarizeErrors") or "true").lower() != "false"
    allocations = (
        len(segs) == 3 and segs[2].lower() == "allocations" and coll in ("Overpayments", "CreditNotes")
    )
    key = "Allocations" if allocations else coll
    elements = _elements(body, key)
    if not elements:
        return (
            400,
            dumps(
                {
                    "ErrorNumber": 14,
                    "Type": "PostDataInvalidException",
                    "Message": "The request body is empty or not in the expected format.",
                }
            ),
            {},
        )
    if allocations:
        handler = None
    elif len(segs) == 1 or (len(segs) == 2 and method == "POST"):
        handler = HANDLERS.get(coll)
        if handler is None:
            return not_found()
    else:
        return not_found()
    target = segs[1] if len(segs) >= 2 else None
    results: list[tuple[dict[str, Any], list[str] | None]] = []
    for el in elements:
        ctx = Ctx(tenant)
        try:
            if allocations:
                assert target is not None
                rec = allocate(ctx, coll, target, el)
            else:
                assert handler is not None
                rec = render(coll, handler(ctx, el, "PUT" if method == "PUT" else "POST", target))
            results.append((rec, None))
        except ElementError as exc:
            results.append((el, exc.messages))
        rt.webhooks.enqueue(tenant.id, ctx.events)
    rt.sb.dirty = True
    flag = _ERROR_FLAG.get(coll, "HasValidationErrors")
    failed = [(el, msgs) for el, msgs in results if msgs]
    if summarize and failed:
        elems = [
            {**el, flag: True, "ValidationErrors": [{"Message": m} for m in msgs or []]}
            for el, msgs in failed
        ]
        return 400, validation_error(elems), {}
    items: list[dict[str, Any]] = []
    for el, msgs in results:
        if msgs:
            items.append(
                {
                    **el,
                    flag: True,
                    "StatusAttributeString": "ERROR",
                    "ValidationErrors": [{"Message": m} for m in msgs],
                }
            )
        else:
            items.append({**el, "StatusAttributeString": "OK"} if not summarize else el)
    return 200, dumps(envelope(provider, key, items)), {}


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
    if not segs or segs[0].lower() not in COLLECTIONS:
        return not_found()
    coll = COLLECTIONS[segs[0].lower()]
    if method == "GET":
        if len(segs) == 1:
            return list_records(tenant, coll, params, headers, provider)
        if len(segs) == 2:
            return get_one(tenant, coll, segs[1], provider)
        return not_found()
    return write(rt, tenant, method, segs, raw, params, provider)


def call_key(method: str, segs: list[str]) -> str:
    parts = [COLLECTIONS.get(segs[0].lower(), segs[0]) if segs else ""]
    if len(segs) > 1:
        parts.append("{id}")
    parts.extend(segs[2:])
    return f"{method} /" + "/".join(parts)


def _count(rt: Runtime, tenant_id: str | None, key: str) -> None:
    c = rt.sb.counters
    c["total_calls"] += 1
    c["calls"][key] = c["calls"].get(key, 0) + 1
    if tenant_id:
        bt = c["by_tenant"].setdefault(tenant_id, {"total_calls": 0, "calls": {}})
        bt["total_calls"] += 1
        bt["calls"][key] = bt["calls"].get(key, 0) + 1


def _json(status: int, body: bytes, headers: dict[str, str]) -> Response:
    if status == 204:
        return Response(status_code=204, headers=headers)
    return Response(body, status_code=status, headers=headers, media_type=JSON)


async def endpoint(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    sb = rt.sb
    method = request.method
    segs = [s for s in request.path_params.get("path", "").split("/") if s]
    tenant_id = request.headers.get("xero-tenant-id", "").strip().lower() or None
    tenant = sb.tenants.get(tenant_id) if tenant_id else None
    _count(rt, tenant.id if tenant else None, call_key(method, segs))
    tok, err = bearer(rt, request)
    if tok is None:
        return problem(401, "Unauthorized", err or "AuthenticationUnsuccessful")
    if tenant is None or tenant.id not in sb.granted_tenants(tok):
        return problem(403, "Forbidden", "AuthenticationUnsuccessful")
    faults = sb.faults
    applies = method in faults.get("methods", [])
    if applies:
        for code, rate in sorted((faults.get("error_rates") or {}).items()):
            if rate and rt.rng.random() < float(rate):
                sb.counters["faults"][code] = sb.counters["faults"].get(code, 0) + 1
                return _fault_response(int(code))
    limits = sb.config["rate_limits"]
    decision = rt.limiter.acquire(tok["client_id"], tenant.id, limits)
    if decision.problem:
        sb.counters["rate_limited"][decision.problem] += 1
        hdrs = {
            **decision.headers,
            "Retry-After": str(decision.retry_after),
            "X-Rate-Limit-Problem": decision.problem,
        }
        return Response(b"", status_code=429, headers=hdrs)
    try:
        if applies and faults.get("latency_ms"):
            await asyncio.sleep(float(faults["latency_ms"]) / 1000)
        provider = sb.apps[tok["client_id"]].name if tok["client_id"] in sb.apps else "ledgersync sandbox"
        try:
            raw = await request.body()
        except ClientDisconnect:
            # The caller went away before sending its body (e.g. its process was killed): nothing to do.
            return Response(b"", status_code=499)
        idem = request.headers.get("idempotency-key")
        extra: dict[str, str]
        if idem is not None and method in ("PUT", "POST"):
            if len(idem) > 128:
                status, body, extra = (
                    400,
                    dumps(
                        {
                            "ErrorNumber": 10,
                            "Type": "ValidationException",
                            "Message": "Idempotency-Key must be 128 characters or fewer",
                        }
                    ),
                    {},
                )
            else:
                status, body, extra = await _idempotent(
                    rt, tenant, idem, method, segs, raw, request, provider
                )
        else:
            status, body, extra = handle(
                rt, tenant, method, segs, raw, request.query_params, request.headers, provider
            )
        headers = {**decision.headers, **extra}
        if applies:
            if faults.get("timeout_after_commit_rate") and rt.rng.random() < float(
                faults["timeout_after_commit_rate"]
            ):
                sb.counters["faults"]["timeout_after_commit"] += 1
                await asyncio.sleep(float(faults.get("hang_seconds", 30.0)))
            elif faults.get("drop_after_commit_rate") and rt.rng.random() < float(
                faults["drop_after_commit_rate"]
            ):
                sb.counters["faults"]["drop_after_commit"] += 1
                return DroppedResponse()
        return _json(status, body, headers)
    finally:
        rt.limiter.release(tok["client_id"], tenant.id)


async def _idempotent(
    rt: Runtime,
    tenant: Tenant,
    key: str,
    method: str,
    segs: list[str],
    raw: bytes,
    request: Request,
    provider: str,
) -> Result:
    while True:
        entry = tenant.idempotency.get(key)
        if entry is None:
            break
        if isinstance(entry, asyncio.Event):
            await entry.wait()
            continue
        status, hdrs, body = entry
        return status, body, dict(hdrs)
    event = asyncio.Event()
    tenant.idempotency[key] = event
    try:
        status, body, extra = handle(
            rt, tenant, method, segs, raw, request.query_params, request.headers, provider
        )
        tenant.idempotency[key] = (status, list(extra.items()), body)
    except BaseException:
        tenant.idempotency.pop(key, None)
        raise
    finally:
        event.set()
    return status, body, extra


def _fault_response(code: int) -> Response:
    if code == 429:
        return Response(b"", status_code=429, headers={"Retry-After": "1", "X-Rate-Limit-Problem": "minute"})
    if code == 503:
        return Response(
            dumps(
                {
                    "Title": "Service Unavailable",
                    "Status": 503,
                    "Detail": "The Xero API is temporarily unavailable",
                }
            ),
            status_code=503,
            media_type=JSON,
        )
    return Response(
        dumps(
            {
                "ErrorNumber": 500,
                "Type": "UnknownErrorException",
                "Message": "An error occurred in Xero. Check the API Status page "
                "http://status.developer.xero.com for current service status.",
            }
        ),
        status_code=code,
        media_type=JSON,
    )
