"""The sandbox-only control API under /_sandbox/ (not part of QuickBooks): setup, as-user writes, faults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..common.control import ControlHandlers, read_json_object
from .api import JSON, handle
from .entities import render
from .ledger import postings
from .oauth import revoke_grants
from .state import DEFAULT_FAULTS

if TYPE_CHECKING:
    from . import Runtime


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


# health, reset, config, faults, counters, tokens/expire and clock behave alike on several platforms.
_shared = ControlHandlers(JSON, DEFAULT_FAULTS, reseed_on_every_faults_call=True, reseed_on_reset=True)
_j = _shared.respond


def _tenant_json(t: Any) -> dict[str, Any]:
    return {"tenantId": t.id, "realmId": t.id, "name": t.name, "preferences": t.preferences}


async def tenants(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        return _j([_tenant_json(t) for t in rt.sb.tenants.values()])
    body = await read_json_object(request)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        return _j({"error": "name is required"}, 400)
    rid = body.get("tenantId") or body.get("realmId")
    t = rt.sb.add_tenant(name, str(rid) if rid else None, demo=bool(body.get("demo")))
    if isinstance(body.get("preferences"), dict):
        t.preferences.update(body["preferences"])
    return _j(_tenant_json(t), 201)


async def preferences(request: Request) -> Response:
    rt = _rt(request)
    t = rt.sb.tenants.get(request.path_params["tenant_id"])
    if t is None:
        return _j({"error": "unknown tenant"}, 404)
    if request.method == "PUT":
        t.preferences.update(await read_json_object(request))
        rt.sb.dirty = True
    return _j({k: v for k, v in t.preferences.items() if not k.startswith("_")})


async def apps(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        return _j([a.public() for a in rt.sb.apps.values()])
    body = await read_json_object(request)
    if not body.get("client_id") or not body.get("client_secret") or not isinstance(body.get("redirect_uris"), list):
        return _j({"error": "client_id, client_secret and redirect_uris are required"}, 400)
    fmt = body.get("webhook_format")
    if fmt is not None and fmt not in ("legacy", "cloudevents"):
        return _j({"error": "webhook_format must be legacy or cloudevents"}, 400)
    app = rt.sb.add_app(
        str(body["client_id"]),
        str(body["client_secret"]),
        [str(u) for u in body["redirect_uris"]],
        body.get("webhook_url"),
        body.get("webhook_verifier"),
        fmt,
        body.get("name"),
    )
    return _j(app.public(), 201)


async def app_webhook(request: Request) -> Response:
    rt = _rt(request)
    app = rt.sb.apps.get(request.path_params["client_id"])
    if app is None:
        return _j({"error": "unknown client_id"}, 404)
    body = await read_json_object(request)
    fmt = body.get("format", app.webhook_format)
    if fmt not in ("legacy", "cloudevents"):
        return _j({"error": "format must be legacy or cloudevents"}, 400)
    app.webhook_url = body.get("url")
    app.webhook_verifier = body.get("verifier")
    app.webhook_format = fmt
    rt.sb.dirty = True
    return _j(app.public())


async def as_user(request: Request) -> Response:
    """Act as a QuickBooks user: same bodies, rules, responses and webhooks; no auth, limits or faults."""
    rt = _rt(request)
    t = rt.sb.tenants.get(request.path_params["tenant_id"])
    if t is None:
        return _j({"error": "unknown tenant"}, 404)
    segs = [s for s in request.path_params["path"].split("/") if s]
    try:
        raw = await request.body()
    except ClientDisconnect:
        return Response(b"", status_code=499)
    status, body = handle(rt, t, request.method, segs, raw, request.query_params, user="Sandbox Accountant")
    return Response(body, status_code=status, media_type=JSON)


async def dump(request: Request) -> Response:
    rt = _rt(request)
    t = rt.sb.tenants.get(request.path_params["tenant_id"])
    if t is None:
        return _j({"error": "unknown tenant"}, 404)
    out: dict[str, Any] = {e: [render(rt.sb, t, e, r) for r in recs.values()] for e, recs in t.data.items()}
    out["deleted"] = {e: sorted(ts) for e, ts in t.tombstones.items() if ts}
    return _j(out)


async def ledger(request: Request) -> Response:
    """Every posting the company's transactions make (debits positive): what its reports add up."""
    rt = _rt(request)
    t = rt.sb.tenants.get(request.path_params["tenant_id"])
    if t is None:
        return _j({"error": "unknown tenant"}, 404)
    rows = [
        {"date": p.date, "account": p.account, "amount": p.amount, "entity": p.entity, "id": p.txn}
        for p in postings(t)
    ]
    return _j({"postings": rows})


async def tokens_revoke(request: Request) -> Response:
    rt = _rt(request)
    body = await read_json_object(request)
    cid, realm = body.get("client_id"), body.get("tenantId") or body.get("realmId")
    grants = {
        tok["grant"]
        for store in (rt.sb.access_tokens, rt.sb.refresh_tokens)
        for tok in store.values()
        if not tok["revoked"] and (not cid or tok["client_id"] == cid) and (not realm or tok["realm"] == realm)
    }
    return _j({"revoked": revoke_grants(rt, grants)})


async def deliveries(request: Request) -> Response:
    return _j({"deliveries": _rt(request).sb.deliveries})


ROUTES = [
    *_shared.routes(),
    Route("/_sandbox/tenants", tenants, methods=["GET", "POST"]),
    Route("/_sandbox/tenants/{tenant_id}/as-user/{path:path}", as_user, methods=["POST", "GET"]),
    Route("/_sandbox/tenants/{tenant_id}/dump", dump, methods=["GET"]),
    Route("/_sandbox/tenants/{tenant_id}/ledger", ledger, methods=["GET"]),
    Route("/_sandbox/tenants/{tenant_id}/preferences", preferences, methods=["GET", "PUT"]),
    Route("/_sandbox/apps", apps, methods=["GET", "POST"]),
    Route("/_sandbox/apps/{client_id}/webhook", app_webhook, methods=["PUT"]),
    Route("/_sandbox/tokens/revoke", tokens_revoke, methods=["POST"]),
    Route("/_sandbox/webhooks/deliveries", deliveries, methods=["GET"]),
]
