"""A scripted Web Connector for the provider's tests: a zeep client built from the published WSDL (the
Web Connector's own interface), pointed at our /qbwc, carrying each request to a FakeCompany and back."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fakeqb import FakeCompany

CONTRACTS = Path(__file__).resolve().parents[3].parent / "shared" / "contracts" / "qbd"
WSDL = CONTRACTS / "QBWebConnectorSvc.wsdl"
BINDING = "{http://developer.intuit.com/}TroubleshootWebServiceFSSoap"
HCP = (
    '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><HostQueryRs statusCode="0" statusSeverity="Info" '
    'statusMessage="Status OK"/></QBXMLMsgsRs></QBXML>'
)


def soap_client(url: str, *, close_connections: bool = False) -> Any:
    """`close_connections`: a new TCP connection per call (the server may be restarted between two calls)."""
    import pytest

    if not WSDL.exists():
        pytest.skip(f"the Web Connector WSDL is not at {WSDL} (../shared/contracts/qbd)")
    import requests
    from zeep import Client
    from zeep.transports import Transport

    session = requests.Session()
    if close_connections:
        session.headers["Connection"] = "close"
    client = Client(str(WSDL), transport=Transport(session=session, timeout=60, operation_timeout=60))
    return client.create_service(BINDING, url)


def strings(result: Any) -> list[str]:
    """authenticate's ArrayOfString as zeep gives it."""
    if result is None:
        return []
    if isinstance(result, list):
        return [s or "" for s in result]
    return [s or "" for s in (getattr(result, "string", None) or [])]


@dataclass
class SessionLog:
    status: str = ""
    ticket: str = ""
    calls: list[str] = field(default_factory=list)
    percents: list[int] = field(default_factory=list)
    last_error: str | None = None
    close: str | None = None
    noops: int = 0


def run_session(
    svc: Any,
    user: str,
    password: str,
    company: FakeCompany,
    *,
    company_file: str = r"C:\Books\Sample.qbw",
    noop_pause: float = 0.05,
    between: Callable[[str, Any], None] | None = None,
    max_calls: int = 2000,
    calls: list[str] | None = None,
) -> SessionLog:
    """One Web Connector run, the way QBWC drives it. `between(call_name, answer)` runs after each SOAP call (the
    kill test stops the server there)."""
    log = SessionLog()
    if calls is not None:
        log.calls = calls

    def call(name: str, *args: Any) -> Any:
        log.calls.append(name)
        out = getattr(svc, name)(*args)
        if between is not None:
            between(name, out)
        return out

    call("serverVersion")
    call("clientVersion", "2.3.0.215")
    auth = strings(call("authenticate", user, password))
    log.ticket, log.status = auth[0], auth[1] if len(auth) > 1 else ""
    if log.status in ("none", "nvu"):
        return log
    first = True
    while len(log.calls) < max_calls:
        request = call("sendRequestXML", log.ticket, HCP if first else "", company_file, "US", 13, 0)
        first = False
        if not request:
            err = call("getLastError", log.ticket)
            if err == "NoOp":
                log.noops += 1
                time.sleep(noop_pause)
                continue
            log.last_error = err
            break
        response = company.handle(request)
        pct = int(call("receiveResponseXML", log.ticket, response, "", ""))
        log.percents.append(pct)
        if pct < 0:
            log.last_error = call("getLastError", log.ticket)
            break
        if pct >= 100:
            break
    log.close = call("closeConnection", log.ticket)
    company.end_session()
    return log
