"""The /accountright/ surface: company files, headers, token and scope checks, rate limits, faults, resources."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..common.codec import dumps, loads
from . import records
from .oauth import allows
from .odata import ODataError, compile_filter, order
from .state import PARENTS, RESOURCES, CompanyFile

if TYPE_CHECKING:
    from . import Runtime

JSON = "application/json; charset=utf-8"
API_VERSION = "2026.1.1"


class RateLimiter:
    """Per API key: calls in the last second and in the last day. Only accepted calls count."""

    def __init__(self) -> None:
        self.second: dict[str, deque[float]] = {}
        self.day: dict[str, deque[float]] = {}

    def reset(self) -> None:
        self.second.clear()
        self.day.clear()

    def acquire(self, key: str, limits: Mapping[str, Any]) -> str | None:
        now = time.monotonic()
        sec = self.second.setdefault(key, deque())
        day = self.day.setdefault(key, deque())
        while sec and sec[0] <= now - 1.0:
            sec.popleft()
        while day and day[0] <= now - 86400.0:
            day.popleft()
        if len(day) >= int(limits.get("day", 1_000_000)):
            return "day"
        if len(sec) >= int(limits.get("second", 8)):
            return "second"
        sec.append(now)
        day.append(now)
        return None

    def wait(self, key: str, which: str) -> int:
        window = self.second.get(key) if which == "second" else self.day.get(key)
        span = 1.0 if which == "second" else 86400.0
        if not window:
            return 1
        return max(1, math.ceil(window[0] + span - time.monotonic()))


def respond(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    if body is None:
        return Response(status_code=status, headers=dict(headers or {}))
    return Response(dumps(body), status_code=status, headers=dict(headers or {}), media_type=JSON)


def refusal(status: int, name: str, message: str, details: str | None = None, code: int | None = None) -> Response:
    return respond(*records.error(status, name, message, details, code))


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
        await send({"type": "http.response.body", "body": b'{"UID":"', "more_body": True})


def company_file(cf: CompanyFile, base: str) -> dict[str, Any]:
    # .NET SDK Contracts/CompanyFile.cs; UIAccessFlags 3 = AccountRight and AccountRight Browser.
    return {
        "Id": cf.id,
        "Name": cf.name,
        "LibraryPath": cf.name,
        "ProductVersion": "2026.1",
        "ProductLevel": {"Code": 30, "Name": "Plus"},
        "CheckedOutDate": None,
        "CheckedOutBy": None,
        "Uri": f"{base}/accountright/{cf.id}",
        "Country": "AU",
        "LauncherId": None,
        "SerialNumber": None,
        "UIAccessFlags": 3,
        "Subscription": None,
    }


def split_path(segs: list[str]) -> tuple[str | None, str | None]:
    """(resource, uid) for a path under a company file; (None, None) when nothing is served there."""
    for n in (3, 2, 1):
        head = "/".join(segs[:n])
        canonical = next((r for r in (*RESOURCES, *PARENTS) if r.lower() == head.lower()), None)
        if canonical is not None:
            rest = segs[n:]
            if len(rest) > 1:
                return None, None
            return canonical, (rest[0].lower() if rest else None)
    return None, None


def listing(cf: CompanyFile, resource: str, query: Mapping[str, str], url: str, config: Mapping[str, Any]) -> Any:
    default_top = int(config.get("default_page_size", 400))
    max_top = int(config.get("max_page_size", 1000))
    try:
        top = int(query.get("$top", default_top))
        skip = int(query.get("$skip", 0))
    except ValueError:
        raise ODataError("The query options $top and $skip must be whole numbers") from None
    if top < 0 or skip < 0:
        raise ODataError("The query options $top and $skip must not be negative")
    # MYOB documents a maximum of 1000; whether it clamps or refuses a larger $top is UNVERIFIED (clamped here).
    top = min(top, max_top)
    predicate = compile_filter(query.get("$filter"))
    sources = PARENTS.get(resource, (resource,))
    rows = [(res, r) for res in sources for r in cf.data[res].values()]
    rendered = [records.render(cf, res, r, url) for res, r in rows]
    # Internal creation order, kept for the default order.
    for out, (_, r) in zip(rendered, rows, strict=True):
        out["_seq"] = r.get("_seq", 0)
    matched = order([r for r in rendered if predicate(r)], query.get("$orderby"))
    page = matched[skip : skip + top]
    for r in page:
        r.pop("_seq", None)
    next_link = None
    if skip + top < len(matched) and top > 0:
        params = {k: v for k, v in query.items() if k not in ("$skip", "$top")}
        params.update({"$top": str(top), "$skip": str(skip + top)})
        next_link = f"{url}/{resource}?{urlencode(params)}"
    return {"Items": page, "NextPageLink": next_link, "Count": len(matched)}


def handle(
    rt: Runtime, cf: CompanyFile, method: str, segs: list[str], raw: bytes, query: Mapping[str, str], base: str
) -> tuple[int, Any, dict[str, str]]:
    """One call on a company file's resources, the business rules applied (shared by the API and as-user)."""
    url = f"{base}/accountright/{cf.id}"
    if not segs:
        if method != "GET":
            return (
                *records.error(
                    405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'."
                ),
                {},
            )
        resources = [{"Name": r, "Key": r.replace("/", ""), "Href": f"{url}/{r}"} for r in RESOURCES]
        return 200, {"CompanyFile": company_file(cf, base), "Resources": resources}, {}
    resource, uid = split_path(segs)
    if resource is None:
        return (*records.error(404, "NotFound", "The requested resource could not be found", "/".join(segs)), {})
    wants_body = query.get("returnBody", "").lower() == "true"
    if method == "GET":
        if uid is None:
            try:
                return 200, listing(cf, resource, query, url, rt.sb.config), {}
            except ODataError as exc:
                return (*records.error(400, "BadRequest", str(exc), "$filter"), {})
        for res in PARENTS.get(resource, (resource,)):
            rec = cf.data[res].get(uid)
            if rec is not None:
                return 200, records.render(cf, res, rec, url), {}
        return (*records.error(404, "NotFound", "The requested resource could not be found", f"UID = {uid}", 150), {})
    if resource in PARENTS:
        return (
            *records.error(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'."),
            {},
        )
    body: Any = {}
    if method in ("POST", "PUT"):
        try:
            body = loads(raw) if raw.strip() else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return (
                *records.error(400, "SerializationError", "The request body could not be read as JSON", None, 50),
                {},
            )
    if method == "POST":
        if uid is not None:
            return (
                *records.error(405, "MethodNotAllowed", "The requested resource does not support http method 'POST'."),
                {},
            )
        status, out = records.create(cf, resource, body, url)
    elif method == "PUT":
        if uid is None:
            return (
                *records.error(405, "MethodNotAllowed", "The requested resource does not support http method 'PUT'."),
                {},
            )
        status, out = records.update(cf, resource, uid, body, url)
    elif method == "DELETE":
        if uid is None:
            return (
                *records.error(
                    405, "MethodNotAllowed", "The requested resource does not support http method 'DELETE'."
                ),
                {},
            )
        status, out = records.delete(cf, resource, uid)
        if status == 200:
            rt.sb.dirty = True
            return 200, None, {}
        return status, out, {}
    else:
        return (
            *records.error(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'."),
            {},
        )
    if status >= 400:
        return status, out, {}
    rt.sb.dirty = True
    # Insert and Update answer with the record's location (.NET SDK BaseRequestHandler reads Location); the
    # record itself only with returnBody=true.
    headers = {"Location": str(out["URI"])}
    return status, (out if wants_body else None), headers


def _count(rt: Runtime, method: str, segs: list[str]) -> None:
    c = rt.sb.counters
    c["total_calls"] += 1
    resource, uid = split_path(segs[1:]) if len(segs) > 1 else ("", None)
    key = f"{method} /{resource or ''}{'/{uid}' if uid else ''}"
    c["calls"][key] = c["calls"].get(key, 0) + 1


async def root(request: Request) -> Response:
    return await endpoint(request)


async def endpoint(request: Request) -> Response:
    rt: Runtime = request.app.state.rt
    sb = rt.sb
    method = request.method
    segs = [s for s in request.path_params.get("path", "").split("/") if s]
    _count(rt, method, segs)
    headers = request.headers
    # A call without x-myobapi-version is served as v1 by MYOB (which has no GUIDs; nango PR #7018 review).
    # This sandbox serves v2 only, and refuses such calls with a GUESSED text.
    if headers.get("x-myobapi-version", "").lower() != "v2":
        return refusal(
            400,
            "UnsupportedApiVersion",
            "This API key can only call version 2 of the API; send the header x-myobapi-version: v2",
            "Header: x-myobapi-version",
        )
    key = headers.get("x-myobapi-key", "")
    if key not in sb.apps:
        # 403 for a missing or inactive key (developer.myob.com error-messages); name and message as MYOB's
        # portal gives them, quoted by guide.pestregister.com ("MYOB AccountRight Live error messages").
        return refusal(403, "DeveloperInactive", "API key is missing or inactive")
    auth = headers.get("authorization", "")
    if not auth.strip():
        # The name is MYOB's (davidlumley/myob-api issue #28 quotes the body); the message is a GUESS.
        return refusal(
            401, "OAuthTokenIsMissing", "The supplied OAuth token (Bearer) is missing", "Header: Authorization"
        )
    token = sb.access_tokens.get(auth[7:].strip()) if auth.lower().startswith("bearer ") else None
    if token is None or token["exp"] <= sb.now() or token["client_id"] != key:
        # Name and message as integrators quote MYOB's 401 (UNVERIFIED against a MYOB page).
        return refusal(
            401, "OAuthTokenIsInvalid", "The supplied OAuth token (Bearer) is not valid", "Header: Authorization", 31001
        )
    limits = sb.config["rate_limits"]
    which = rt.limiter.acquire(key, limits)
    if which is not None:
        sb.counters["rate_limited"][which] += 1
        return _rate_limited(which, int(limits.get("status", 403)))
    granted = [s for s in token["scope"].replace(",", " ").split() if s]
    base = f"{request.url.scheme}://{request.url.netloc}"
    if not segs:
        # GET /accountright/: the company files this consent reached.
        if method != "GET":
            return refusal(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")
        files = [company_file(cf, base) for cf in sb.tenants.values() if cf.id == token["business_id"]]
        return respond(200, files)
    if segs[0].lower() == "info":
        return respond(200, [{"Name": r, "Version": API_VERSION} for r in RESOURCES])
    cf = sb.tenants.get(segs[0].lower())
    if cf is None or cf.id != token["business_id"]:
        return refusal(403, "AccessDenied", "Access denied: this business was not authorised", segs[0])  # GUESS
    resource, _ = split_path(segs[1:]) if len(segs) > 1 else ("", None)
    if resource is not None and not allows(granted, resource):
        return refusal(403, "AccessDenied", f"Access denied: the scope {resource} needs was not granted", resource)
    faults = sb.faults
    applies = method in faults.get("methods", [])
    if applies:
        for code, rate in sorted((faults.get("error_rates") or {}).items()):
            if rate and rt.rng.random() < float(rate):
                sb.counters["faults"][code] = sb.counters["faults"].get(code, 0) + 1
                return _fault(int(code), int(limits.get("status", 403)))
    if applies and faults.get("latency_ms"):
        await asyncio.sleep(float(faults["latency_ms"]) / 1000)
    try:
        raw = await request.body()
    except ClientDisconnect:
        return Response(b"", status_code=499)
    status, body, extra = handle(rt, cf, method, segs[1:], raw, request.query_params, base)
    if applies and status < 400 and method != "GET":
        if faults.get("timeout_after_commit_rate") and rt.rng.random() < float(faults["timeout_after_commit_rate"]):
            sb.counters["faults"]["timeout_after_commit"] += 1
            await asyncio.sleep(float(faults.get("hang_seconds", 30.0)))
        elif faults.get("drop_after_commit_rate") and rt.rng.random() < float(faults["drop_after_commit_rate"]):
            sb.counters["faults"]["drop_after_commit"] += 1
            return DroppedResponse()
    return respond(status, body, extra)


def _rate_limited(which: str, status: int) -> Response:
    if which == "day":
        # Verbatim from developer.myob.com/api/myob-business-api/api-overview/error-messages.
        message = "API key has exceeded the daily rate limit"
    else:
        # 403 as MYOB's error-messages page lists it; the text is from a 3rd-party compilation (UNVERIFIED).
        message = "API key has exceeded the per-second rate limit"
    return refusal(status, "RateLimitError", message, "Header: x-myobapi-key")


def _fault(code: int, limit_status: int) -> Response:
    if code == 429:
        return _rate_limited("second", limit_status)
    if code == 504:
        # Verbatim from MYOB's error-messages page.
        return refusal(504, "GatewayTimeout", "Connection to the API has timed out")
    if code == 503:
        return refusal(503, "ServiceUnavailable", "The service is temporarily unavailable")  # GUESS
    return refusal(code, "InternalServerError", "An unexpected error occurred")  # GUESS
