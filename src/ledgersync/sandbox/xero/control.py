"""The sandbox-only control API under /_sandbox/ (not part of Xero): setup, as-user writes, faults."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .api import COLLECTIONS, JSON, handle
from .oauth import revoke_matching
from .records import render
from .state import DEFAULT_FAULTS
from .util import dumps, loads

if TYPE_CHECKING:
    from . import Runtime


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _j(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status_code=status, media_type=JSON)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    obj = loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return obj


def _merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v


async def reset(request: Request) -> Response:
    rt = _rt(request)
    rt.sb.reset()
    rt.limiter.reset()
    return _j({"ok": True})


async def tenants(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        return _j([{"tenantId": t.id, "name": t.name} for t in rt.sb.tenants.values()])
    body = await _body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        return _j({"error": "name is required"}, 400)
    t = rt.sb.add_tenant(name, body.get("tenantId"))
    return _j({"tenantId": t.id, "name": t.name}, 201)


async def apps(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        return _j([a.public() for a in rt.sb.apps.values()])
    body = await _body(request)
    if (
        not body.get("client_id")
        or not body.get("client_secret")
        or not isinstance(body.get("redirect_uris"), list)
    ):
        return _j({"error": "client_id, client_secret and redirect_uris are required"}, 400)
    app = rt.sb.add_app(
        str(body["client_id"]),
        str(body["client_secret"]),
        [str(u) for u in body["redirect_uris"]],
        body.get("webhook_url"),
        body.get("webhook_key"),
        body.get("name"),
    )
    out = app.public()
    if app.webhook_url and app.webhook_key:
        out["intent_to_receive"] = await rt.webhooks.intent_to_receive(app)
    return _j(out, 201)


async def app_webhook(request: Request) -> Response:
    rt = _rt(request)
    app = rt.sb.apps.get(request.path_params["client_id"])
    if app is None:
        return _j({"error": "unknown client_id"}, 404)
    body = await _body(request)
    app.webhook_url = body.get("url")
    app.webhook_key = body.get("key")
    app.intent_to_receive = None
    rt.sb.dirty = True
    out = app.public()
    if app.webhook_url and app.webhook_key:
        out["intent_to_receive"] = await rt.webhooks.intent_to_receive(app)
    return _j(out)


async def config(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "PUT":
        _merge(rt.sb.config, await _body(request))
        rt.sb.dirty = True
    return _j(rt.sb.config)


async def faults(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "DELETE":
        rt.sb.faults = copy.deepcopy(DEFAULT_FAULTS)
    elif request.method == "PUT":
        _merge(rt.sb.faults, await _body(request))
        rt.reseed()
    return _j(rt.sb.faults)


async def as_user(request: Request) -> Response:
    rt = _rt(request)
    tenant = rt.sb.tenants.get(request.path_params["tenant_id"])
    if tenant is None:
        return _j({"error": "unknown tenant"}, 404)
    segs = [s for s in request.path_params["path"].split("/") if s]
    if not segs or segs[0].lower() not in COLLECTIONS:
        return _j({"error": "unknown collection"}, 404)
    raw = await request.body()
    status, body, headers = handle(
        rt, tenant, request.method, segs, raw, request.query_params, request.headers, "Xero sandbox user"
    )
    if status == 204:
        return Response(status_code=204)
    return Response(body, status_code=status, headers=headers, media_type=JSON)


async def dump(request: Request) -> Response:
    rt = _rt(request)
    tenant = rt.sb.tenants.get(request.path_params["tenant_id"])
    if tenant is None:
        return _j({"error": "unknown tenant"}, 404)
    return _j({coll: [render(coll, r) for r in recs.values()] for coll, recs in tenant.data.items()})


async def counters(request: Request) -> Response:
    return _j(_rt(request).sb.counters)


async def counters_reset(request: Request) -> Response:
    _rt(request).sb.reset_counters()
    return _j({"ok": True})


async def tokens_revoke(request: Request) -> Response:
    rt = _rt(request)
    body = await _body(request)
    n = revoke_matching(rt, client_id=body.get("client_id"), tenant_id=body.get("tenantId"))
    return _j({"revoked": n})


async def tokens_expire(request: Request) -> Response:
    rt = _rt(request)
    now = rt.sb.now()
    n = 0
    for tok in rt.sb.access_tokens.values():
        if tok["exp"] > now:
            tok["exp"] = now
            n += 1
    return _j({"expired": n})


async def clock(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "POST":
        body = await _body(request)
        rt.sb.clock_offset += float(body.get("advance_seconds", 0))
    return _j({"offset_seconds": rt.sb.clock_offset, "now": rt.sb.now()})


async def deliveries(request: Request) -> Response:
    rt = _rt(request)
    return _j(
        {
            "deliveries": rt.sb.deliveries,
            "intent_to_receive": {a.client_id: a.intent_to_receive for a in rt.sb.apps.values()},
        }
    )


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


ROUTES = [
    Route("/_sandbox/health", health, methods=["GET"]),
    Route("/_sandbox/reset", reset, methods=["POST"]),
    Route("/_sandbox/tenants", tenants, methods=["GET", "POST"]),
    Route(
        "/_sandbox/tenants/{tenant_id}/as-user/{path:path}", as_user, methods=["PUT", "POST", "DELETE", "GET"]
    ),
    Route("/_sandbox/tenants/{tenant_id}/dump", dump, methods=["GET"]),
    Route("/_sandbox/apps", apps, methods=["GET", "POST"]),
    Route("/_sandbox/apps/{client_id}/webhook", app_webhook, methods=["PUT"]),
    Route("/_sandbox/config", config, methods=["GET", "PUT"]),
    Route("/_sandbox/faults", faults, methods=["GET", "PUT", "DELETE"]),
    Route("/_sandbox/counters", counters, methods=["GET"]),
    Route("/_sandbox/counters/reset", counters_reset, methods=["POST"]),
    Route("/_sandbox/tokens/revoke", tokens_revoke, methods=["POST"]),
    Route("/_sandbox/tokens/expire", tokens_expire, methods=["POST"]),
    Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
    Route("/_sandbox/webhooks/deliveries", deliveries, methods=["GET"]),
]
