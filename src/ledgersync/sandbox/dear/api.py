"""The /ExternalApi/v2/ surface: header authentication, the per-application minute limit (503), faults, routing."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..common.codec import dumps, loads
from . import records as R
from .state import Account

if TYPE_CHECKING:
    from . import Runtime

JSON = "application/json; charset=utf-8"
PREFIX = "/ExternalApi/v2/"
# openapi.yaml info.description, status-code table.
AUTH_FAILED = "Method authentication failed"
RATE_LIMITED = "You reached 60 calls per minute API limit"


class RateLimiter:
    """60 calls in any 60 seconds per API application (account id + application key), on the sandbox clock."""

    def __init__(self) -> None:
        self.calls: dict[str, deque[float]] = {}

    def reset(self) -> None:
        self.calls.clear()

    def allow(self, key: str, now: float, limit: int, span: float = 60.0) -> bool:
        window = self.calls.setdefault(key, deque())
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True


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
        await send({"type": "http.response.body", "body": b'{"ID":"', "more_body": True})


def _error(status: int, message: str) -> Response:
    return Response(dumps(R.error_body(status, message)), status_code=status, media_type=JSON)


def _norm(path: str) -> str:
    # DEAR's paths are case-insensitive in practice (the intro writes externalapi/v2/); resources are matched so.
    return "/".join(s for s in path.strip("/").lower().split("/") if s)


# (method, path) -> handler(rt, acct, query, body, now) -> Result
def _route(
    rt: Runtime, acct: Account, method: str, path: str, query: Mapping[str, str], body: Any, now: float
) -> R.Result:
    per_type = int(rt.sb.config.get("webhooks_per_type", 5))
    if not isinstance(body, Mapping):
        body = {}
    table: dict[tuple[str, str], Any] = {
        ("GET", "me"): lambda: (200, R.me(acct), []),
        ("GET", "customer"): lambda: (200, R.list_parties(acct, "customer", query), []),
        ("POST", "customer"): lambda: R.write_party(acct, "customer", "POST", body, now),
        ("PUT", "customer"): lambda: R.write_party(acct, "customer", "PUT", body, now),
        ("GET", "supplier"): lambda: (200, R.list_parties(acct, "supplier", query), []),
        ("POST", "supplier"): lambda: R.write_party(acct, "supplier", "POST", body, now),
        ("PUT", "supplier"): lambda: R.write_party(acct, "supplier", "PUT", body, now),
        ("GET", "product"): lambda: (200, R.list_products(acct, query), []),
        ("POST", "product"): lambda: R.write_product(acct, "POST", body, now),
        ("PUT", "product"): lambda: R.write_product(acct, "PUT", body, now),
        ("GET", "ref/productavailability"): lambda: (200, R.availability(acct, query), []),
        ("GET", "sale"): lambda: (200, R.render_sale(R._sale(acct, query.get("ID") or "")), []),
        ("POST", "sale"): lambda: R.create_sale(acct, body, now),
        ("PUT", "sale"): lambda: R.update_sale(acct, body, now),
        ("DELETE", "sale"): lambda: R.void_sale(acct, query, now),
        ("GET", "salelist"): lambda: (200, R.list_sales(acct, query), []),
        ("GET", "sale/order"): lambda: (200, _order(acct, query), []),
        ("POST", "sale/order"): lambda: R.sale_order(acct, body, now),
        ("GET", "sale/invoice"): lambda: (200, R.get_invoices(acct, query), []),
        ("POST", "sale/invoice"): lambda: R.sale_invoice(acct, body, now),
        ("PUT", "sale/invoice"): lambda: R.sale_invoice(acct, body, now),
        ("DELETE", "sale/invoice"): lambda: R.void_invoice(acct, query, now),
        ("GET", "sale/payment"): lambda: (200, R.list_payments(acct, query), []),
        ("POST", "sale/payment"): lambda: R.add_payment(acct, body, now),
        ("PUT", "sale/payment"): lambda: R.update_payment(acct, body, now),
        ("DELETE", "sale/payment"): lambda: R.delete_payment(
            acct, query, now, touch=bool(rt.sb.config.get("payment_delete_touches_sale", True))
        ),
        ("GET", "sale/creditnote"): lambda: (200, R.get_credit_notes(acct, query), []),
        ("POST", "sale/creditnote"): lambda: R.sale_credit_note(acct, body, now),
        ("DELETE", "sale/creditnote"): lambda: R.void_credit_note(acct, query, now),
        ("GET", "purchase"): lambda: (200, _purchase(acct, query), []),
        ("POST", "purchase"): lambda: R.create_purchase(acct, body, now),
        ("PUT", "purchase"): lambda: R.create_purchase(acct, body, now, R._purchase(acct, R._str(body, "ID"))),
        ("DELETE", "purchase"): lambda: R.void_purchase(acct, query, now),
        ("GET", "purchaselist"): lambda: (200, R.list_purchases(acct, query), []),
        ("GET", "purchase/order"): lambda: (200, R.get_purchase_doc(acct, query, "Order"), []),
        ("POST", "purchase/order"): lambda: R.purchase_order(acct, body, now),
        ("GET", "purchase/invoice"): lambda: (200, R.get_purchase_doc(acct, query, "Invoice"), []),
        ("POST", "purchase/invoice"): lambda: R.purchase_invoice(acct, body, now),
        ("GET", "ref/tax"): lambda: (200, R.ref_list(acct, "tax", query), []),
        ("GET", "ref/account"): lambda: (200, R.ref_list(acct, "account", query), []),
        ("GET", "ref/paymentterm"): lambda: (200, R.ref_list(acct, "paymentterm", query), []),
        ("GET", "ref/location"): lambda: (200, R.ref_list(acct, "location", query), []),
        ("GET", "webhooks"): lambda: (200, {"Webhooks": list(acct.data["webhook"].values())}, []),
        ("POST", "webhooks"): lambda: R.write_webhook(acct, "POST", body, per_type),
        ("PUT", "webhooks"): lambda: R.write_webhook(acct, "PUT", body, per_type),
        ("DELETE", "webhooks"): lambda: R.delete_webhook(acct, query),
    }
    handler = table.get((method, path))
    if handler is None:
        if any(p == path for _, p in table):
            raise R.ApiError(405, "Not allowed")
        raise R.ApiError(404, "Endpoint does not exist")
    result: R.Result = handler()
    return result


def known(method: str, path: str) -> bool:
    return _norm(path) in _PATHS


_PATHS = {
    "me",
    "customer",
    "supplier",
    "product",
    "ref/productavailability",
    "sale",
    "salelist",
    "sale/order",
    "sale/invoice",
    "sale/payment",
    "sale/creditnote",
    "purchase",
    "purchaselist",
    "purchase/order",
    "purchase/invoice",
    "ref/tax",
    "ref/account",
    "ref/paymentterm",
    "ref/location",
    "webhooks",
}


def _order(acct: Account, query: Mapping[str, str]) -> dict[str, Any]:
    sale = R._sale(acct, query.get("SaleID") or "")
    if sale["Order"] is None:
        raise R.ApiError(400, "Sale has no order")
    return {"SaleID": sale["ID"], **sale["Order"]}


def _purchase(acct: Account, query: Mapping[str, str]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(R._purchase(acct, query.get("ID") or ""))


def handle(
    rt: Runtime, acct: Account, method: str, path: str, query: Mapping[str, str], raw: bytes
) -> tuple[int, bytes]:
    """Run one call's business rules (no auth, limits or faults): the control API's as-user calls use this too."""
    sb = rt.sb
    try:
        body = loads(raw) if raw.strip() else {}
    except ValueError:
        return 400, dumps(R.error_body(400, "The request body is not valid JSON"))
    try:
        status, out, events = _route(rt, acct, method, _norm(path), query, body, sb.now())
    except R.ApiError as exc:
        return exc.status, dumps(R.error_body(exc.status, exc.message))
    except (ValueError, KeyError, TypeError) as exc:
        return 400, dumps(R.error_body(400, f"The posted data failed a validation test: {exc}"))
    if method != "GET":
        sb.dirty = True
    for kind, payload in events:
        rt.webhooks.emit(acct, kind, payload)
    return status, dumps(no_nulls(out))


def no_nulls(value: Any) -> Any:
    """Empty text as "", never null: the contract types these fields as strings (most not nullable), and the
    document's examples show "" for what is unset."""
    if isinstance(value, dict):
        return {k: "" if v is None else no_nulls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_nulls(v) for v in value]
    return value


def _count(rt: Runtime, acct_id: str | None, method: str, path: str) -> None:
    c = rt.sb.counters
    key = f"{method} /{_norm(path)}"
    c["total_calls"] += 1
    c["calls"][key] = c["calls"].get(key, 0) + 1
    if acct_id:
        per = c["by_account"].setdefault(acct_id, {"total_calls": 0})
        per["total_calls"] += 1


async def endpoint(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    sb = rt.sb
    method = request.method
    path = request.path_params.get("path", "")
    account_id = request.headers.get("api-auth-accountid")
    key = request.headers.get("api-auth-applicationkey")
    acct = sb.authenticate(account_id, key)
    _count(rt, acct.id if acct else None, method, path)
    if acct is None:
        sb.counters["auth_failed"] += 1
        return _error(403, AUTH_FAILED)
    if not known(method, path):
        return _error(404, "Endpoint does not exist")
    if method in ("POST", "PUT"):
        ctype = request.headers.get("content-type", "")
        if "json" not in ctype.lower():
            # "Only JSON is accepted" (openapi.yaml info.description).
            return _error(400, "Only JSON is accepted: send Content-Type: application/json")
    if not rt.limiter.allow(f"{acct.id}:{key}", sb.now(), int(sb.config["rate_limits"]["per_minute"])):
        sb.counters["rate_limited"] += 1
        return _error(503, RATE_LIMITED)
    faults = sb.faults
    applies = method in faults.get("methods", [])
    if applies:
        for code, rate in sorted((faults.get("error_rates") or {}).items()):
            if rate and rt.rng.random() < float(rate):
                sb.counters["faults"][code] = sb.counters["faults"].get(code, 0) + 1
                if code == "rate_limit":
                    return _error(503, RATE_LIMITED)
                return _error(int(code), "An unexpected error occurred")
        if faults.get("latency_ms"):
            await asyncio.sleep(float(faults["latency_ms"]) / 1000)
    try:
        raw = await request.body()
    except ClientDisconnect:
        return Response(b"", status_code=499)
    status, body = handle(rt, acct, method, path, request.query_params, raw)
    if applies and status == 200 and method != "GET":
        if faults.get("timeout_after_commit_rate") and rt.rng.random() < float(faults["timeout_after_commit_rate"]):
            sb.counters["faults"]["timeout_after_commit"] += 1
            await asyncio.sleep(float(faults.get("hang_seconds", 30.0)))
        elif faults.get("drop_after_commit_rate") and rt.rng.random() < float(faults["drop_after_commit_rate"]):
            sb.counters["faults"]["drop_after_commit"] += 1
            return DroppedResponse()
    return Response(body, status_code=status, media_type=JSON)
