"""The /api.xro/2.0 surface: auth, tenant check, faults, rate limits, idempotency, reads and writes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .oauth import bearer, problem
from .routes import Result, handle
from .state import ID_FIELDS, Tenant
from .util import dumps

if TYPE_CHECKING:
    from . import Runtime

COLLECTIONS = {c.lower(): c for c in ID_FIELDS}
JSON = "application/json; charset=utf-8"


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
