"""The sandbox-only control API under /_sandbox/ (not part of MYOB): setup, as-user calls, dump, faults, tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..common.control import ControlHandlers, read_json_object
from . import records
from .api import JSON, handle, respond
from .oauth import revoke_matching
from .state import DEFAULT_FAULTS

if TYPE_CHECKING:
    from . import Runtime


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


_shared = ControlHandlers(JSON, DEFAULT_FAULTS)
_j = _shared.respond


async def apps(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        return _j([a.public() for a in rt.sb.apps.values()])
    body = await read_json_object(request)
    if not body.get("client_id") or not body.get("client_secret") or not isinstance(body.get("redirect_uris"), list):
        return _j({"error": "client_id, client_secret and redirect_uris are required"}, 400)
    app = rt.sb.add_app(
        str(body["client_id"]), str(body["client_secret"]), [str(u) for u in body["redirect_uris"]], body.get("name")
    )
    return _j(app.public(), 201)


async def as_user(request: Request) -> Response:
    """A person's change in MYOB: the business rules apply; no token, limits or faults."""
    rt = _rt(request)
    cf = rt.sb.tenants.get(request.path_params["tenant_id"].lower())
    if cf is None:
        return _j({"error": "unknown tenant"}, 404)
    segs = [s for s in request.path_params["path"].split("/") if s]
    query = dict(request.query_params)
    query.setdefault("returnBody", "true")
    base = f"{request.url.scheme}://{request.url.netloc}"
    status, body, headers = handle(rt, cf, request.method, segs, await request.body(), query, base)
    return respond(status, body if body is not None else {}, headers)


async def dump(request: Request) -> Response:
    rt = _rt(request)
    cf = rt.sb.tenants.get(request.path_params["tenant_id"].lower())
    if cf is None:
        return _j({"error": "unknown tenant"}, 404)
    base = f"{request.url.scheme}://{request.url.netloc}/accountright/{cf.id}"
    return _j({res: [records.render(cf, res, r, base) for r in recs.values()] for res, recs in cf.data.items()})


async def tokens_revoke(request: Request) -> Response:
    rt = _rt(request)
    body = await read_json_object(request)
    return _j({"revoked": revoke_matching(rt, client_id=body.get("client_id"), business_id=body.get("tenantId"))})


ROUTES = [
    *_shared.routes(),
    Route("/_sandbox/tenants", _shared.tenants, methods=["GET", "POST"]),
    Route("/_sandbox/tenants/{tenant_id}/as-user/{path:path}", as_user, methods=["PUT", "POST", "DELETE", "GET"]),
    Route("/_sandbox/tenants/{tenant_id}/dump", dump, methods=["GET"]),
    Route("/_sandbox/apps", apps, methods=["GET", "POST"]),
    Route("/_sandbox/tokens/revoke", tokens_revoke, methods=["POST"]),
]
