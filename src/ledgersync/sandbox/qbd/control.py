"""The sandbox-only control API under /_sandbox/ (not part of QuickBooks): the company, a person at the desk,
faults, counters, and the Web Connector (load a .qwc, run now, schedule, session log)."""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..common.control import ControlHandlers, deep_merge, read_json_object
from . import qbxml as q
from .kinds import LISTS, TXNS
from .state import DEFAULT_FAULTS

if TYPE_CHECKING:
    from . import Runtime

JSON = "application/json"
_shared = ControlHandlers(JSON)
_j = _shared.respond


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


async def reset(request: Request) -> Response:
    _rt(request).sb.reset()
    return _j({"ok": True})


async def faults(request: Request) -> Response:
    sb = _rt(request).sb
    with sb.lock:
        if request.method == "DELETE":
            sb.faults = copy.deepcopy(DEFAULT_FAULTS)
        elif request.method == "PUT":
            deep_merge(sb.faults, await read_json_object(request))
        return _j(sb.faults)


async def config(request: Request) -> Response:
    sb = _rt(request).sb
    if request.method == "PUT":
        body = await read_json_object(request)
        with sb.lock:
            deep_merge(sb.config, body)
            if "utc_offset" in body:
                sb.company.tz = q.parse_offset(str(body["utc_offset"]))
            sb.dirty = True
    return _j(sb.config)


async def qbxml(request: Request) -> Response:
    """A request set handed straight to the company file, as QBWC hands it (counted; faults apply)."""
    sb = _rt(request).sb
    raw = (await request.body()).decode("utf-8")
    answer, hresult, message = await asyncio.to_thread(sb.process, raw, "direct")
    if hresult:
        return Response(f"{hresult}: {message}", status_code=400, media_type="text/plain")
    return Response(answer, media_type="text/xml")


async def company(request: Request) -> Response:
    c = _rt(request).sb.company
    return _j({"name": c.name, "file_path": c.file_path})


async def dump(request: Request) -> Response:
    sb = _rt(request).sb
    with sb.lock:
        c = sb.company
        out: dict[str, Any] = {}
        for t in LISTS:
            out[t] = [_as_json(c.render_list(t, r)) for r in c.lists[t].values()]
        for t in TXNS:
            out[t] = [_as_json(c.render_txn(t, r, {"IncludeLineItems": "true", "IncludeLinkedTxns": "true"}))
                      for r in c.txns[t].values()]
        out["deleted"] = {"lists": [{k: v for k, v in r.items() if not k.startswith("_")} for r in c.deleted_lists],
                          "txns": [{k: v for k, v in r.items() if not k.startswith("_")} for r in c.deleted_txns]}
    return _j(out)


def _as_json(el: etree._Element) -> Any:
    """A Ret as JSON: leaves as text, aggregates as objects, repeated children as lists."""
    if not len(el):
        return el.text or ""
    out: dict[str, Any] = {}
    for child in el:
        v = _as_json(child)
        if child.tag in out:
            if not isinstance(out[child.tag], list) or child.tag not in _LISTY:
                out[child.tag] = [out[child.tag]] if not isinstance(out[child.tag], list) else out[child.tag]
            out[child.tag].append(v)
        elif child.tag.endswith("LineRet") or child.tag in ("AppliedToTxnRet", "LinkedTxn"):
            out[child.tag] = [v]
        else:
            out[child.tag] = v
    return out


_LISTY = frozenset({"InvoiceLineRet", "CreditMemoLineRet", "PurchaseOrderLineRet", "ExpenseLineRet", "ItemLineRet",
                    "AppliedToTxnRet", "LinkedTxn"})


# ---- a QuickBooks user at the keyboard ---------------------------------------------------------------------------
def _set(body: str) -> str:
    return f'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">{body}' \
           "</QBXMLMsgsRq></QBXML>"


def _esc(v: Any) -> str:
    return str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ref(tag: str, v: str, listy: bool = True) -> str:
    key = "ListID" if listy and "-" in v and v.split("-")[-1].isdigit() and " " not in v else "FullName"
    return f"<{tag}><{key}>{_esc(v)}</{key}></{tag}>"


def _user_answer(sb: Any, body: str) -> dict[str, Any]:
    answer, hresult, message = sb.process(_set(body), "as-user", as_user=True)
    if hresult:
        return {"statusCode": None, "hresult": hresult, "statusMessage": message}
    rs = etree.fromstring(answer.encode())[0][0]
    ret = rs[0] if len(rs) else None
    out: dict[str, Any] = {"statusCode": int(rs.get("statusCode", "0")), "statusSeverity": rs.get("statusSeverity"),
                           "statusMessage": rs.get("statusMessage")}
    if ret is not None:
        out["ret"] = _as_json(ret) if ret.tag.endswith("Ret") else {c.tag: c.text for c in rs}
    return out


def _fields_xml(fields: dict[str, Any]) -> str:
    parts = []
    for k, v in fields.items():
        if isinstance(v, dict):
            parts.append(f"<{k}>{_fields_xml(v)}</{k}>")
        else:
            parts.append(f"<{k}>{_esc(v)}</{k}>")
    return "".join(parts)


async def as_user(request: Request) -> Response:
    sb = _rt(request).sb
    action = request.path_params["action"]
    if action == "qbxml":
        raw = (await request.body()).decode("utf-8")
        answer, hresult, message = await asyncio.to_thread(sb.process, raw, "as-user", True)
        if hresult:
            return Response(f"{hresult}: {message}", status_code=400, media_type="text/plain")
        return Response(answer, media_type="text/xml")
    body = await read_json_object(request)
    try:
        xml = _user_request(sb, action, body)
    except (KeyError, ValueError) as exc:
        return _j({"error": str(exc)}, 400)
    if xml is None:
        return _j({"error": f"unknown action {action!r}"}, 404)
    return _j(await asyncio.to_thread(_user_answer, sb, xml))


def _user_request(sb: Any, action: str, body: dict[str, Any]) -> str | None:
    c = sb.company
    if action in ("customer-edit", "list-edit"):
        t = str(body.get("type", "Customer"))
        if t not in LISTS:
            raise ValueError(f"type must be one of {sorted(LISTS)}")
        with sb.lock:
            rec = c.find_list((t,), {"ListID": body["ListID"]} if body.get("ListID") else
                              {"FullName": str(body["FullName"])})
        if rec is None:
            raise ValueError(f"no {t} {body.get('ListID') or body.get('FullName')!r}")
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            raise ValueError("fields must be an object")
        order = LISTS[t].order
        ordered = {k: fields[k] for k in order if k in fields}
        unknown = sorted(set(fields) - set(ordered))
        if unknown:
            raise ValueError(f"fields not kept on a {t}: {unknown}")
        return (f"<{t}ModRq><{t}Mod><ListID>{rec['ListID']}</ListID><EditSequence>{rec['EditSequence']}"
                f"</EditSequence>{_fields_xml(ordered)}</{t}Mod></{t}ModRq>")
    if action == "payment":
        applied = "".join(
            f"<AppliedToTxnAdd><TxnID>{_esc(a['TxnID'])}</TxnID>"
            + (f"<PaymentAmount>{_esc(a['amount'])}</PaymentAmount>" if a.get("amount") is not None else "")
            + "</AppliedToTxnAdd>" for a in body.get("applied") or [])
        head = _ref("CustomerRef", str(body["customer"]))
        if body.get("date"):
            head += f"<TxnDate>{_esc(body['date'])}</TxnDate>"
        if body.get("ref"):
            head += f"<RefNumber>{_esc(body['ref'])}</RefNumber>"
        if body.get("total") is not None:
            head += f"<TotalAmount>{_esc(body['total'])}</TotalAmount>"
        if body.get("memo"):
            head += f"<Memo>{_esc(body['memo'])}</Memo>"
        tail = applied or "<IsAutoApply>true</IsAutoApply>"
        return f"<ReceivePaymentAddRq><ReceivePaymentAdd>{head}{tail}</ReceivePaymentAdd></ReceivePaymentAddRq>"
    if action == "void":
        return (f"<TxnVoidRq><TxnVoidType>{_esc(body.get('type', 'Invoice'))}</TxnVoidType>"
                f"<TxnID>{_esc(body['TxnID'])}</TxnID></TxnVoidRq>")
    if action == "delete":
        t = str(body["type"])
        if t in TXNS or (t not in LISTS and "TxnID" in body):
            return f"<TxnDelRq><TxnDelType>{_esc(t)}</TxnDelType><TxnID>{_esc(body.get('id') or body['TxnID'])}" \
                   "</TxnID></TxnDelRq>"
        return f"<ListDelRq><ListDelType>{_esc(t)}</ListDelType><ListID>{_esc(body.get('id') or body['ListID'])}" \
               "</ListID></ListDelRq>"
    return None


# ---- the Web Connector --------------------------------------------------------------------------------------------
async def wc_status(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "PUT":
        body = await read_json_object(request)
        allowed = {"run_every_minutes", "seconds_per_minute", "auto_run", "noop_wait_seconds", "client_version",
                   "on_warning", "max_noops", "connection_retries", "http_timeout"}
        bad = sorted(set(body) - allowed)
        if bad:
            return _j({"error": f"unknown settings {bad}; allowed: {sorted(allowed)}"}, 400)
        with rt.sb.lock:
            rt.sb.config.update(body)
            rt.sb.dirty = True
        rt.wc.schedule()
    return _j(rt.wc.status())


async def wc_qwc(request: Request) -> Response:
    rt = _rt(request)
    body = await read_json_object(request)
    if not isinstance(body.get("qwc"), str) or not isinstance(body.get("password"), str):
        return _j({"error": "qwc (the .qwc file's text) and password are required"}, 400)
    try:
        parsed = rt.wc.load(body["qwc"], body["password"], body.get("app_url"))
    except ValueError as exc:
        return _j({"error": str(exc)}, 400)
    return _j({"loaded": True, "qwc": parsed.public()})


async def wc_run(request: Request) -> Response:
    rt = _rt(request)
    body = await read_json_object(request)
    if rt.wc.qwc() is None or rt.sb.password is None:
        return _j({"error": "no application is loaded: PUT /_sandbox/webconnector/qwc first"}, 409)
    if body.get("wait", True) is False:
        asyncio.get_running_loop().run_in_executor(None, rt.wc.run_now)
        return _j({"started": True}, 202)
    timeout = float(body.get("timeout", 120))
    try:
        summary = await asyncio.wait_for(asyncio.to_thread(rt.wc.run_now), timeout)
    except TimeoutError:
        return _j({"error": f"the session did not end within {timeout:g} s"}, 504)
    return _j(summary)


async def wc_sessions(request: Request) -> Response:
    return _j(_rt(request).sb.sessions)


async def wc_log(request: Request) -> Response:
    sb = _rt(request).sb
    sid = request.query_params.get("session")
    with sb.lock:
        rows = [e for e in sb.log if sid is None or str(e.get("session")) == sid]
    return _j(rows)


ROUTES = [
    Route("/_sandbox/health", _shared.health, methods=["GET"]),
    Route("/_sandbox/reset", reset, methods=["POST"]),
    Route("/_sandbox/config", config, methods=["GET", "PUT"]),
    Route("/_sandbox/faults", faults, methods=["GET", "PUT", "DELETE"]),
    Route("/_sandbox/counters", _shared.counters, methods=["GET"]),
    Route("/_sandbox/counters/reset", _shared.counters_reset, methods=["POST"]),
    Route("/_sandbox/clock", _shared.clock, methods=["GET", "POST"]),
    Route("/_sandbox/qbxml", qbxml, methods=["POST"]),
    Route("/_sandbox/company", company, methods=["GET"]),
    Route("/_sandbox/company/dump", dump, methods=["GET"]),
    Route("/_sandbox/as-user/{action}", as_user, methods=["POST"]),
    Route("/_sandbox/webconnector", wc_status, methods=["GET", "PUT"]),
    Route("/_sandbox/webconnector/qwc", wc_qwc, methods=["PUT"]),
    Route("/_sandbox/webconnector/run", wc_run, methods=["POST"]),
    Route("/_sandbox/webconnector/sessions", wc_sessions, methods=["GET"]),
    Route("/_sandbox/webconnector/log", wc_log, methods=["GET"]),
]
