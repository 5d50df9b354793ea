"""The sandbox-only control API under /_sandbox/ (not part of Xero): setup, as-user writes, faults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..common.control import ControlHandlers, read_json_object
from .api import JSON
from .oauth import revoke_matching
from .records import render
from .routes import find, handle
from .state import DEFAULT_FAULTS

if TYPE_CHECKING:
    from . import Runtime


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


# health, reset, config, faults, counters, tokens/expire, clock and tenants behave alike on several platforms.
_shared = ControlHandlers(JSON, DEFAULT_FAULTS)
_j = _shared.respond


async def apps(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        return _j([a.public() for a in rt.sb.apps.values()])
    body = await read_json_object(request)
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
    body = await read_json_object(request)
    app.webhook_url = body.get("url")
    app.webhook_key = body.get("key")
    app.intent_to_receive = None
    rt.sb.dirty = True
    out = app.public()
    if app.webhook_url and app.webhook_key:
        out["intent_to_receive"] = await rt.webhooks.intent_to_receive(app)
    return _j(out)


async def as_user(request: Request) -> Response:
    rt = _rt(request)
    tenant = rt.sb.tenants.get(request.path_params["tenant_id"])
    if tenant is None:
        return _j({"error": "unknown tenant"}, 404)
    segs = [s for s in request.path_params["path"].split("/") if s]
    if find(request.method, segs) is None:
        return _j({"error": "unknown collection"}, 404)
    raw = await request.body()
    status, body, headers = handle(
        rt, tenant, request.method, segs, raw, request.query_params, request.headers, "Xero sandbox user"
    )
    if status == 204:
        return Response(status_code=204)
    return Response(body, status_code=status, headers=headers, media_type=JSON)


async def day_rates(request: Request) -> Response:
    """The rates of the day (XE.com's, in Xero) the sandbox takes for a foreign-currency document sent without
    a CurrencyRate: {"EUR": "0.6"} (units of the currency per unit of the base currency). Sandbox-only."""
    rt = _rt(request)
    tenant = rt.sb.tenants.get(request.path_params["tenant_id"])
    if tenant is None:
        return _j({"error": "unknown tenant"}, 404)
    rates = tenant.organisation.setdefault("_day_rates", {})
    if request.method == "PUT":
        body = await read_json_object(request)
        rates.update({str(k).upper(): str(v) for k, v in body.items()})
        rt.sb.dirty = True
    return _j(rates)


async def dump(request: Request) -> Response:
    rt = _rt(request)
    tenant = rt.sb.tenants.get(request.path_params["tenant_id"])
    if tenant is None:
        return _j({"error": "unknown tenant"}, 404)
    out = {coll: [render(coll, r) for r in recs.values()] for coll, recs in tenant.data.items()}
    out["Organisations"] = [render("Organisations", tenant.organisation)]
    return _j(out)


async def tokens_revoke(request: Request) -> Response:
    rt = _rt(request)
    body = await read_json_object(request)
    n = revoke_matching(rt, client_id=body.get("client_id"), tenant_id=body.get("tenantId"))
    return _j({"revoked": n})


async def deliveries(request: Request) -> Response:
    rt = _rt(request)
    return _j(
        {
            "deliveries": rt.sb.deliveries,
            "intent_to_receive": {a.client_id: a.intent_to_receive for a in rt.sb.apps.values()},
        }
    )


ROUTES = [
    *_shared.routes(),
    Route("/_sandbox/tenants", _shared.tenants, methods=["GET", "POST"]),
    Route(
        "/_sandbox/tenants/{tenant_id}/as-user/{path:path}", as_user, methods=["PUT", "POST", "DELETE", "GET"]
    ),
    Route("/_sandbox/tenants/{tenant_id}/dump", dump, methods=["GET"]),
    Route("/_sandbox/tenants/{tenant_id}/day-rates", day_rates, methods=["GET", "PUT"]),
    Route("/_sandbox/apps", apps, methods=["GET", "POST"]),
    Route("/_sandbox/apps/{client_id}/webhook", app_webhook, methods=["PUT"]),
    Route("/_sandbox/tokens/revoke", tokens_revoke, methods=["POST"]),
    Route("/_sandbox/webhooks/deliveries", deliveries, methods=["GET"]),
]
