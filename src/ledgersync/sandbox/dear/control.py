"""The sandbox-only control API under /_sandbox/ (not part of DEAR): accounts, as-user calls, faults, clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..common.control import ControlHandlers, read_json_object
from .api import JSON, handle, known
from .state import DEFAULT_FAULTS

if TYPE_CHECKING:
    from . import Runtime


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


_shared = ControlHandlers(JSON, DEFAULT_FAULTS, reseed_on_every_faults_call=True)
_j = _shared.respond


async def accounts(request: Request) -> Response:
    """GET: the companies; POST {name, account_id?, application_key?, currency?}: a company with an API
    application (its Account ID and Application Key are what a person copies from DEAR's API page)."""
    rt = _rt(request)
    if request.method == "GET":
        return _j([{"account_id": a.id, "name": a.name} for a in rt.sb.accounts.values()])
    body = await read_json_object(request)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        return _j({"error": "name is required"}, 400)
    acct, key = rt.sb.add_account(
        name, body.get("account_id"), body.get("application_key"), body.get("currency") or "AUD"
    )
    return _j({"account_id": acct.id, "application_key": key, "name": acct.name}, 201)


async def tenants(request: Request) -> Response:
    # The other sandboxes' spelling: a tenant is a DEAR company (account).
    rt = _rt(request)
    if request.method == "GET":
        return _j([{"tenantId": a.id, "name": a.name} for a in rt.sb.accounts.values()])
    body = await read_json_object(request)
    acct, key = rt.sb.add_account(str(body.get("name") or "Demo Company"), body.get("tenantId"))
    return _j({"tenantId": acct.id, "name": acct.name, "application_key": key}, 201)


async def as_user(request: Request) -> Response:
    """A change made by a person in DEAR: the business rules apply (and webhooks fire); no auth, limit or fault."""
    rt = _rt(request)
    acct = rt.sb.accounts.get(request.path_params["account_id"])
    if acct is None:
        return _j({"error": "unknown account"}, 404)
    path = request.path_params["path"]
    if not known(request.method, path):
        return _j({"error": "unknown resource"}, 404)
    status, body = handle(rt, acct, request.method, path, request.query_params, await request.body())
    return Response(body, status_code=status, media_type=JSON)


async def dump(request: Request) -> Response:
    rt = _rt(request)
    acct = rt.sb.accounts.get(request.path_params["account_id"])
    if acct is None:
        return _j({"error": "unknown account"}, 404)
    out = {coll: list(recs.values()) for coll, recs in acct.data.items()}
    out["stock"] = [{"ProductID": k, "Locations": v} for k, v in acct.stock.items()]
    return _j(out)


async def stock(request: Request) -> Response:
    """Set stock on hand: {product_id, location, on_hand} (what a stocktake would do in DEAR)."""
    rt = _rt(request)
    acct = rt.sb.accounts.get(request.path_params["account_id"])
    if acct is None:
        return _j({"error": "unknown account"}, 404)
    body = await read_json_object(request)
    if body.get("product_id") not in acct.data["product"]:
        return _j({"error": "unknown product"}, 404)
    acct.stock.setdefault(str(body["product_id"]), {})[str(body.get("location") or "Main Warehouse")] = body.get(
        "on_hand", 0
    )
    rt.sb.dirty = True
    rt.webhooks.emit(acct, "Stock/AvailableStockLevelChanged", {"ProductID": body["product_id"]})
    return _j({"ok": True})


async def clock(request: Request) -> Response:
    response = await _shared.clock(request)
    _rt(request).webhooks.clock_moved()
    return response


async def deliveries(request: Request) -> Response:
    return _j({"deliveries": _rt(request).sb.deliveries})


ROUTES = [
    *_shared.routes(clock=clock, tokens=False),
    Route("/_sandbox/accounts", accounts, methods=["GET", "POST"]),
    Route("/_sandbox/tenants", tenants, methods=["GET", "POST"]),
    Route("/_sandbox/accounts/{account_id}/as-user/{path:path}", as_user, methods=["GET", "POST", "PUT", "DELETE"]),
    Route("/_sandbox/tenants/{account_id}/as-user/{path:path}", as_user, methods=["GET", "POST", "PUT", "DELETE"]),
    Route("/_sandbox/accounts/{account_id}/dump", dump, methods=["GET"]),
    Route("/_sandbox/tenants/{account_id}/dump", dump, methods=["GET"]),
    Route("/_sandbox/accounts/{account_id}/stock", stock, methods=["POST"]),
    Route("/_sandbox/webhooks/deliveries", deliveries, methods=["GET"]),
]
