"""The /v3/company/{realmId}/ surface: auth, throttles, faults, requestid, entities, query, cdc and batch."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import attachables as A
from . import entities as E
from . import faults as F
from .company import company_info, preferences
from .faults import Fault, fault_body
from .oauth import bearer, gateway_fault
from .query import parse as parse_query
from .query import run as run_query
from .reports import run_report
from .state import ENTITIES, NOT_IN_CDC, URL_NAMES, Company
from .util import dumps, iso, loads, now_ms, parse_iso_ms

if TYPE_CHECKING:
    from . import Runtime

JSON = "application/json;charset=UTF-8"
Result = tuple[int, bytes]


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
        await send({"type": "http.response.body", "body": b'{"Customer":{"Id":"', "more_body": True})


def _time(rt: Runtime) -> str:
    return iso(now_ms(), rt.sb.tz(), millis=True)


def _fault(rt: Runtime, f: Fault) -> Result:
    return f.status, dumps(fault_body(f, rt.sb.tz()))


def throttle_body(rt: Runtime) -> bytes:
    f = Fault(
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.  Try again later",
        ftype="SERVICE",
        status=429,
    )
    return dumps(fault_body(f, rt.sb.tz()))


def _system_fault(rt: Runtime, status: int) -> Response:
    f = Fault(
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving your data. "
        "Please wait a few minutes and try again. If the problem persists, contact customer support.",
        ftype="SystemFault",
        status=status,
    )
    return Response(dumps(fault_body(f, rt.sb.tz())), status_code=status, media_type=JSON)


# ---- handlers ------------------------------------------------------------------------------------
def _query_text(method: str, raw: bytes, params: Mapping[str, str]) -> str:
    if method == "GET" or params.get("query"):
        return str(params.get("query", ""))
    return raw.decode("utf-8", errors="replace")


def _do_query(rt: Runtime, ctx: E.Ctx, text: str) -> dict[str, Any]:
    return run_query(ctx, parse_query(text))


def _cdc(rt: Runtime, company: Company, params: Mapping[str, str]) -> dict[str, Any]:
    sb = rt.sb
    names = [s.strip() for s in str(params.get("entities", "")).split(",") if s.strip()]
    if not names:
        raise F.required("entities")
    since_s = params.get("changedSince")
    if not since_s:
        raise F.required("changedSince")
    try:
        since = parse_iso_ms(since_s, sb.tz())
    except ValueError as exc:
        raise F.invalid_number("changedSince", since_s) from exc
    now = int(sb.now() * 1000)
    if now - since > int(sb.config.get("cdc_max_days", 30)) * 86_400_000:
        raise Fault(
            "6000",
            "A business validation error has occurred while processing your request",
            f"Operation cdc with changedSince date {since_s} which is older than fixed days is not supported.",
            "changedSince",
        )
    entities: list[str] = []
    for n in names:
        ent = URL_NAMES.get(n.lower())
        if ent is None or ent in NOT_IN_CDC:
            raise F.query_validation(f"Unsupported entity for cdc: {n}")
        if ent not in entities:
            entities.append(ent)
    changes = [(ms, ent, rid) for ent in entities for ms, rid in company.changed_since(ent, since - 1)]
    changes.sort(key=lambda t: t[0])
    changes = changes[: int(sb.config.get("cdc_max_objects", 1000))]
    per: dict[str, list[dict[str, Any]]] = {e: [] for e in entities}
    tz = sb.tz()
    for ms, ent, rid in changes:
        rec = company.data[ent].get(rid)
        if rec is None:
            per[ent].append(
                {"domain": "QBO", "status": "Deleted", "Id": rid, "MetaData": {"LastUpdatedTime": iso(ms, tz)}}
            )
        else:
            per[ent].append(E.render(sb, company, ent, rec))
    responses: list[dict[str, Any]] = []
    for ent in entities:
        objs = per[ent]
        if objs:
            responses.append({ent: objs, "startPosition": 1, "maxResults": len(objs), "totalCount": len(objs)})
        else:
            responses.append({})
    return {"CDCResponse": [{"QueryResponse": responses}], "time": _time(rt)}


def _entity_op(
    rt: Runtime, ctx: E.Ctx, entity: str, method: str, rid: str | None, body: Any, params: Mapping[str, str], path: str
) -> dict[str, Any]:
    if method == "GET":
        if rid is None:
            raise F.unsupported(path)
        return E.read(ctx, entity, rid)
    if rid is not None:
        raise F.unsupported(path)
    if not isinstance(body, dict):
        raise Fault("2010", "Request has invalid or unsupported property", "Request body must be a JSON object")
    op = str(params.get("operation", "")).lower()
    include = {s.strip().lower() for s in str(params.get("include", "")).split(",")}
    if op == "delete":
        return E.delete(ctx, entity, body, path)
    if op == "void" or (op == "update" and "void" in include):
        return E.void(ctx, entity, body)
    return E.save(ctx, entity, body, path)


def _batch(rt: Runtime, company: Company, body: Any, params: Mapping[str, str]) -> tuple[dict[str, Any], list[Any]]:
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise F.required("BatchItemRequest")
    limit = int(rt.sb.config.get("max_batch_items", 30))
    if len(items) > limit:
        raise F.business(f"The batch request contains {len(items)} items; the maximum is {limit}.")
    hidden: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    events: list[Any] = []
    with_rid = params.get("requestid") is not None
    for item in items:
        bid = str(item.get("bId", "")) if isinstance(item, dict) else ""
        ctx = E.Ctx(rt.sb, company, params={}, hidden=set(hidden))
        try:
            if not isinstance(item, dict) or not bid:
                raise F.required("bId")
            if with_rid and len(bid) > 10:
                raise F.business(f"You cannot enter more than 10 characters in the bId field. You tried {bid}.")
            if "Query" in item:
                res: dict[str, Any] = {"bId": bid, "QueryResponse": _do_query(rt, ctx, str(item["Query"]))}
            else:
                entity = next((k for k in item if k in ENTITIES), None)
                if entity is None:
                    raise F.required("operation entity")
                op = str(item.get("operation", "create")).lower()
                options = str(item.get("optionsData", "")).lower()
                obj = item[entity]
                ctx.params = {"include": options} if options else {}
                if op == "delete":
                    payload = E.delete(ctx, entity, obj, f"/v3/company/{company.id}/{entity.lower()}")
                elif op == "update" and options == "void":
                    payload = E.void(ctx, entity, obj)
                elif op in ("create", "update"):
                    if op == "create" and isinstance(obj, dict) and obj.get("Id") not in (None, "", 0, "0"):
                        raise F.business("Id must not be supplied on create.")
                    if op == "update" and (not isinstance(obj, dict) or obj.get("Id") in (None, "")):
                        raise F.required("Id")
                    payload = E.save(ctx, entity, obj, f"/v3/company/{company.id}/{entity.lower()}")
                else:
                    raise F.Fault("2010", "Request has invalid or unsupported property", f"operation {op}")
                res = {"bId": bid, entity: payload}
            out.append(res)
        except Fault as f:
            out.append({"bId": bid, "Fault": f.fault()})
        hidden.update(ctx.created)
        events.extend(ctx.events)
    return {"BatchItemResponse": out, "time": _time(rt)}, events


def handle(
    rt: Runtime,
    company: Company,
    method: str,
    segs: list[str],
    raw: bytes,
    params: Mapping[str, str],
    user: str = "Sandbox User",
    content_type: str = "",
) -> Result:
    """Route one request (API or as-user). Webhook events are queued; returns (status, body)."""
    path = f"/v3/company/{company.id}/" + "/".join(segs)
    ctx = E.Ctx(rt.sb, company, params=params, user=user)
    try:
        if not segs:
            raise F.unsupported(path)
        head = segs[0].lower()
        if head == "query":
            text = _query_text(method, raw, params)
            if A.is_query(text):
                return 200, dumps({"QueryResponse": A.query(ctx, text, rt.base_url), "time": _time(rt)})
            return 200, dumps({"QueryResponse": _do_query(rt, ctx, text), "time": _time(rt)})
        if head == "upload" and method == "POST" and len(segs) == 1:
            out = A.upload(ctx, content_type, raw, rt.base_url)
            rt.sb.dirty = True
            return 200, dumps(out)
        if head == "download" and method == "GET" and len(segs) == 2:
            # Intuit answers the temporary download URL as text/plain (the endpoint sets that type).
            return 200, A.read(ctx, segs[1], rt.base_url)["TempDownloadUri"].encode()
        if head == "attachable" and len(segs) <= 2:
            if method == "GET" and len(segs) == 2:
                return 200, dumps({"Attachable": A.read(ctx, segs[1], rt.base_url), "time": _time(rt)})
            if method == "POST" and len(segs) == 1:
                try:
                    doc = loads(raw) if raw.strip() else None
                except ValueError:
                    raise Fault(
                        "2010", "Request has invalid or unsupported property", "Request body is not valid JSON"
                    ) from None
                saved = A.save(ctx, doc, params, rt.base_url)
                rt.sb.dirty = True
                return 200, dumps({"Attachable": saved, "time": _time(rt)})
            raise F.unsupported(path)
        if head == "cdc" and method == "GET":
            return 200, dumps(_cdc(rt, company, params))
        if head == "companyinfo" and method == "GET" and len(segs) == 2:
            if segs[1] != company.id:
                raise F.not_found("CompanyInfo")
            return 200, dumps({"CompanyInfo": company_info(rt.sb, company), "time": _time(rt)})
        if head == "preferences" and method == "GET" and len(segs) == 1:
            return 200, dumps({"Preferences": preferences(rt.sb, company), "time": _time(rt)})
        if head == "reports" and method == "GET" and len(segs) == 2:
            return 200, dumps(run_report(rt.sb, company, segs[1], params))
        body: Any = None
        if method == "POST":
            try:
                body = loads(raw) if raw.strip() else None
            except ValueError:
                raise Fault(
                    "2010", "Request has invalid or unsupported property", "Request body is not valid JSON"
                ) from None
        if head == "batch" and method == "POST":
            result, events = _batch(rt, company, body, params)
            rt.webhooks.enqueue(company.id, events)
            rt.sb.dirty = True
            return 200, dumps(result)
        entity = URL_NAMES.get(head)
        if entity is None or len(segs) > 2:
            raise F.unsupported(path)
        rid = segs[1] if len(segs) == 2 else None
        obj = _entity_op(rt, ctx, entity, method, rid, body, params, path)
        if method == "POST":
            rt.sb.dirty = True
        return 200, dumps({entity: obj, "time": _time(rt)})
    except Fault as f:
        return _fault(rt, f)
    finally:
        rt.webhooks.enqueue(company.id, ctx.events)


def call_key(method: str, segs: list[str], params: Mapping[str, str]) -> str:
    parts = [segs[0].lower()] if segs else [""]
    if len(segs) > 1:
        parts.append("{id}")
    key = f"{method} /" + "/".join(parts)
    op = params.get("operation")
    if op:
        key += f"?operation={op}"
    return key


def _count(rt: Runtime, realm: str, key: str) -> None:
    c = rt.sb.counters
    c["total_calls"] += 1
    c["calls"][key] = c["calls"].get(key, 0) + 1
    bt = c["by_tenant"].setdefault(realm, {"total_calls": 0, "calls": {}})
    bt["total_calls"] += 1
    bt["calls"][key] = bt["calls"].get(key, 0) + 1


async def endpoint(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    sb = rt.sb
    method = request.method
    realm = request.path_params["realm"]
    segs = [s for s in request.path_params.get("path", "").split("/") if s]
    params = request.query_params
    _count(rt, realm, call_key(method, segs, params))
    tok, detail = bearer(rt, request)
    if tok is None:
        return gateway_fault(401, "AuthenticationFailed", "3200", detail, "AUTHENTICATION", now_ms())
    company = sb.tenants.get(realm)
    if company is None or tok["realm"] != realm or not sb.connected(tok["client_id"], realm):
        return gateway_fault(403, "AuthorizationFailed", "3100", None, "SERVICE", now_ms())
    faults = sb.faults
    applies = method in faults.get("methods", [])
    if applies:
        for code, rate in sorted((faults.get("error_rates") or {}).items()):
            if rate and rt.rng.random() < float(rate):
                sb.counters["faults"][code] = sb.counters["faults"].get(code, 0) + 1
                if int(code) == 429:
                    return Response(throttle_body(rt), status_code=429, media_type=JSON)
                return _system_fault(rt, int(code))
    is_batch = bool(segs) and segs[0].lower() == "batch"
    problem = rt.limiter.acquire(tok["client_id"], realm, sb.config["rate_limits"], is_batch)
    if problem:
        sb.counters["rate_limited"][problem] += 1
        return Response(throttle_body(rt), status_code=429, media_type=JSON)
    try:
        if applies and faults.get("latency_ms"):
            await asyncio.sleep(float(faults["latency_ms"]) / 1000)
        try:
            raw = await request.body()
        except ClientDisconnect:
            # The caller went away (e.g. its process was killed): nothing to answer.
            return Response(b"", status_code=499)
        rt.base_url = str(request.base_url)
        ctype = request.headers.get("content-type", "")
        rid = params.get("requestid")
        if rid is not None:
            limit = 36 if is_batch else 50
            if len(rid) > limit:
                status, body = _fault(rt, F.request_id_too_long(rid, limit))
            else:
                status, body = await _idempotent(rt, company, rid, method, segs, raw, params, ctype)
        else:
            status, body = handle(rt, company, method, segs, raw, params, content_type=ctype)
        if applies:
            if faults.get("timeout_after_commit_rate") and rt.rng.random() < float(faults["timeout_after_commit_rate"]):
                sb.counters["faults"]["timeout_after_commit"] += 1
                await asyncio.sleep(float(faults.get("hang_seconds", 30.0)))
            elif faults.get("drop_after_commit_rate") and rt.rng.random() < float(faults["drop_after_commit_rate"]):
                sb.counters["faults"]["drop_after_commit"] += 1
                return DroppedResponse()
        if status == 200 and method == "GET" and segs and segs[0].lower() == "download":
            return Response(body, status_code=200, media_type="text/plain")
        return Response(body, status_code=status, media_type=JSON)
    finally:
        rt.limiter.release(realm)


async def _idempotent(
    rt: Runtime,
    company: Company,
    rid: str,
    method: str,
    segs: list[str],
    raw: bytes,
    params: Mapping[str, str],
    content_type: str = "",
) -> Result:
    """A repeated requestid returns the original response and never re-executes (whatever its body)."""
    while True:
        entry = company.requestids.get(rid)
        if entry is None:
            break
        if isinstance(entry, asyncio.Event):
            await entry.wait()
            continue
        return entry
    event = asyncio.Event()
    company.requestids[rid] = event
    try:
        result = handle(rt, company, method, segs, raw, params, content_type=content_type)
        company.requestids[rid] = result
    except BaseException:
        company.requestids.pop(rid, None)
        raise
    finally:
        event.set()
    return result
