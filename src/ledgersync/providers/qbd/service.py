"""The QuickBooks Web Connector's SOAP 1.1 service (namespace http://developer.intuit.com/), over the store.

The Web Connector on the customer's Windows machine is the SOAP client; it calls, in order: serverVersion,
clientVersion, authenticate, then sendRequestXML / receiveResponseXML until we say we are done, and
closeConnection (getLastError after an empty sendRequestXML or a negative receiveResponseXML; connectionError
when it could not reach QuickBooks). authenticate starts an ordinary engine cycle in a worker thread (under
the connection's fenced lease); every provider call of that cycle waits in the mailbox (`mailbox.py`) for the
Web Connector to carry it to QuickBooks and back. Session state lives in the store, so any process may
answer any call, and a cycle whose process died is started again by whichever process the next call reaches.

Envelopes are parsed and built with lxml. An unknown or expired ticket is answered so that the Web Connector
ends cleanly (no SOAP fault: a fault makes it retry forever)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from ledgersync.providers.qbd.mailbox import Mailbox, MailboxSettings, Sessions, register_local
from ledgersync.store.lease import new_owner

if TYPE_CHECKING:
    from ledgersync.engine.app import LedgerSync

log = logging.getLogger(__name__)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
TNS = "http://developer.intuit.com/"
OPERATIONS = (
    "serverVersion",
    "clientVersion",
    "authenticate",
    "sendRequestXML",
    "receiveResponseXML",
    "connectionError",
    "getLastError",
    "closeConnection",
)
SERVER_VERSION = "ledgersync QuickBooks Web Connector service 1.0"
# Web Connector 2.1 is the oldest that knows NoOp and the 2.x callbacks; older ones are refused.
MIN_CLIENT = (2, 1)
RECOMMENDED_CLIENT = (2, 2)
NOOP = "NoOp"


class SoapFault(Exception):
    """A request that is not a Web Connector call at all (bad envelope, unknown operation)."""


@dataclass(frozen=True)
class ServiceSettings:
    # How long sendRequestXML waits for the cycle to post its next request before answering NoOp.
    send_wait_seconds: float = 2.0
    # How long receiveResponseXML waits for the cycle to post its next request or finish, so that the
    # percentage it answers is right (100 only when the cycle is truly done).
    settle_seconds: float = 2.0
    # How long a new cycle waits for the connection's lease (an old worker's, if its process died elsewhere).
    lease_wait_seconds: float = 60.0
    # Seconds the Web Connector is asked to wait when the connection is parked or busy (authenticate [2]).
    postpone_seconds: int = 300
    # A session of the same connection nobody has called for this long (nothing of it out at QuickBooks) is
    # over when a new one authenticates: its Web Connector went away without closeConnection. Above what a
    # live Web Connector ever leaves between two calls: settle or send wait, plus the 5 s it waits after NoOp.
    takeover_idle_seconds: float = 15.0
    mailbox: MailboxSettings = field(default_factory=MailboxSettings)


def _version(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in text.strip().split("."):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


class WebConnectorService:
    """The SOAP endpoint: `handle(body)` answers one POST (status, XML); `wsdl(url)` describes it."""

    def __init__(
        self,
        ls: LedgerSync,
        settings: ServiceSettings | None = None,
        *,
        provider_factory: Callable[[Any, Mailbox], Any] | None = None,
    ) -> None:
        self.ls = ls
        self.settings = settings or ServiceSettings()
        self.sessions = Sessions(ls.store, self.settings.mailbox)
        self._provider_factory = provider_factory
        self.cycles_started = 0
        # Every qbXML request handed to the Web Connector by this process (tests validate them).
        self.sent: list[str] = []

    # -- SOAP plumbing ---------------------------------------------------------------------------------------
    def handle(self, body: bytes) -> tuple[int, str]:
        try:
            op, params, soap_ns = self._parse(body)
        except SoapFault as exc:
            return 500, self._fault(str(exc), SOAP_ENV)
        try:
            result = getattr(self, "_op_" + op)(**params)
        except Exception:  # the Web Connector must get an answer; the detail goes to our log
            log.exception("Web Connector call %s failed", op)
            return 500, self._fault("the service failed to answer; see its log", soap_ns)
        return 200, self._envelope(op, result, soap_ns)

    def _parse(self, body: bytes) -> tuple[str, dict[str, str], str]:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        try:
            root = etree.fromstring(body, parser=parser)
        except etree.XMLSyntaxError as exc:
            raise SoapFault(f"not well-formed XML: {exc}") from None
        q = etree.QName(root)
        if q.localname != "Envelope" or q.namespace not in (SOAP_ENV, SOAP12_ENV):
            raise SoapFault("not a SOAP envelope")
        env_ns = q.namespace or SOAP_ENV
        found = root.find(f"{{{env_ns}}}Body")
        call = next((c for c in found if isinstance(c.tag, str)), None) if found is not None else None
        if call is None:
            raise SoapFault("the SOAP body is empty")
        op = etree.QName(call).localname
        if op not in OPERATIONS:
            raise SoapFault(f"unknown operation {op}")
        params = {etree.QName(c).localname: c.text or "" for c in call if isinstance(c.tag, str)}
        known = {
            "serverVersion": ("strVersion",),
            "clientVersion": ("strVersion",),
            "authenticate": ("strUserName", "strPassword"),
            "sendRequestXML": (
                "ticket",
                "strHCPResponse",
                "strCompanyFileName",
                "qbXMLCountry",
                "qbXMLMajorVers",
                "qbXMLMinorVers",
            ),
            "receiveResponseXML": ("ticket", "response", "hresult", "message"),
            "connectionError": ("ticket", "hresult", "message"),
            "getLastError": ("ticket",),
            "closeConnection": ("ticket",),
        }[op]
        return op, {k: params.get(k, "") for k in known}, env_ns

    def _envelope(self, op: str, result: str | int | list[str], env_ns: str) -> str:
        env = etree.Element(f"{{{env_ns}}}Envelope", nsmap={"soap": env_ns})
        body = etree.SubElement(env, f"{{{env_ns}}}Body")
        resp = etree.SubElement(body, f"{{{TNS}}}{op}Response", nsmap={None: TNS})
        res = etree.SubElement(resp, f"{{{TNS}}}{op}Result")
        if isinstance(result, list):
            for item in result:
                etree.SubElement(res, f"{{{TNS}}}string").text = item
        else:
            res.text = str(result)
        return '<?xml version="1.0" encoding="utf-8"?>' + str(etree.tostring(env, encoding="unicode"))

    def _fault(self, message: str, env_ns: str) -> str:
        env = etree.Element(f"{{{env_ns}}}Envelope", nsmap={"soap": env_ns})
        body = etree.SubElement(env, f"{{{env_ns}}}Body")
        fault = etree.SubElement(body, f"{{{env_ns}}}Fault")
        etree.SubElement(fault, "faultcode").text = "soap:Client"
        etree.SubElement(fault, "faultstring").text = message
        return '<?xml version="1.0" encoding="utf-8"?>' + str(etree.tostring(env, encoding="unicode"))

    # -- the callbacks ---------------------------------------------------------------------------------------
    def _op_serverVersion(self, strVersion: str = "") -> str:
        return SERVER_VERSION

    def _op_clientVersion(self, strVersion: str) -> str:
        v = _version(strVersion)
        if not v:
            return ""
        if v < MIN_CLIENT:
            return "E:This service needs QuickBooks Web Connector 2.1 or newer. Please upgrade the Web Connector."
        if v < RECOMMENDED_CLIENT:
            return "W:A newer QuickBooks Web Connector is recommended; you may continue."
        return ""

    def _op_authenticate(self, strUserName: str, strPassword: str) -> list[str]:
        import secrets

        conn_id = self.ls.authenticate_web_connector(strUserName.strip(), strPassword)
        if conn_id is None:
            return ["{" + secrets.token_hex(16) + "}", "nvu"]
        conn = self.ls.connection(conn_id)
        parked = conn.parked_until
        if parked is not None:
            from ledgersync.store.tables import utcnow

            wait = int((parked - utcnow()).total_seconds())
            if wait > 0:
                return ["{" + secrets.token_hex(16) + "}", "none", str(wait)]
        gone = self.sessions.end_gone(conn_id, self.settings.takeover_idle_seconds)
        if gone:
            log.info("Web Connector sessions of %s ended without closeConnection; taken over: %s", conn_id, gone)
        busy = self._busy_elsewhere(conn_id)
        if busy:
            return ["{" + secrets.token_hex(16) + "}", "none", str(self.settings.postpone_seconds)]
        ticket = self.sessions.open(conn_id, None)
        self.sessions.due_now(conn_id)
        self._start_cycle(ticket, conn_id)
        # "" = the company file QuickBooks has open.
        return [ticket, ""]

    def _busy_elsewhere(self, conn_id: str) -> bool:
        """Another session of this connection still has a live cycle (two Web Connectors on one file)."""
        from sqlalchemy import select

        from ledgersync.store.tables import QbwcSession

        with self.sessions.store.session() as s:
            rows = list(
                s.scalars(
                    select(QbwcSession).where(
                        QbwcSession.connection_id == conn_id,
                        QbwcSession.closed_at.is_(None),
                        QbwcSession.cycle_state == "running",
                    )
                )
            )
        return any(self.sessions.cycle_running(r.ticket) for r in rows)

    def _op_sendRequestXML(
        self,
        ticket: str,
        strHCPResponse: str = "",
        strCompanyFileName: str = "",
        qbXMLCountry: str = "",
        qbXMLMajorVers: str = "",
        qbXMLMinorVers: str = "",
    ) -> str:
        session = self.sessions.get(ticket)
        if session is None:
            return ""  # unknown or expired ticket: getLastError explains, closeConnection ends it
        if strCompanyFileName and session.company_file != strCompanyFileName:
            self._note_company_file(ticket, session.connection_id, strCompanyFileName)
        deadline = time.monotonic() + self.settings.send_wait_seconds
        while True:
            req = self.sessions.next_request(ticket)
            if req is not None:
                self.sessions.set_error(ticket, None)
                self.sent.append(req.body)
                return req.body
            running = self.sessions.cycle_running(ticket)
            if running is False:
                self.sessions.set_error(ticket, None)
                return ""  # done: getLastError, then closeConnection
            if running is None:
                self._start_cycle(ticket, session.connection_id)
            if time.monotonic() >= deadline:
                # Still planning (or waiting for the lease): "" now, and getLastError says NoOp, so the Web
                # Connector waits five seconds and asks again.
                self.sessions.set_error(ticket, NOOP)
                return ""
            time.sleep(self.settings.mailbox.poll_seconds)

    def _note_company_file(self, ticket: str, conn_id: str, name: str) -> None:
        from ledgersync.store.tables import QbwcSession

        with self.sessions.store.session() as s:
            row = s.get(QbwcSession, ticket)
            if row is not None:
                row.company_file = name
        conn = self.ls.connection(conn_id)
        if conn.tenant_name != name:
            self.ls.store.update_connection(conn_id, tenant_name=name)

    def _op_receiveResponseXML(self, ticket: str, response: str, hresult: str, message: str) -> int:
        session = self.sessions.get(ticket)
        if session is None:
            return 100  # nothing of ours is waiting: let the Web Connector close
        if hresult:
            error = f"{hresult}: {message}".strip(": ")
            self.sessions.answer(ticket, None, error)
            self.sessions.set_error(ticket, f"QuickBooks could not process the request ({error}).")
            return -101
        self.sessions.answer(ticket, response, None)
        deadline = time.monotonic() + self.settings.settle_seconds
        while True:
            answered, waiting = self.sessions.counts(ticket)
            running = self.sessions.cycle_running(ticket)
            if waiting:
                return min(99, int(100 * answered / (answered + waiting + 5)))
            if running is False:
                return 100
            if running is None:
                self._start_cycle(ticket, session.connection_id)
            if time.monotonic() >= deadline:
                return min(99, int(100 * answered / (answered + 5)))
            time.sleep(self.settings.mailbox.poll_seconds)

    def _op_connectionError(self, ticket: str, hresult: str, message: str) -> str:
        if self.sessions.peek(ticket) is not None:
            text = f"The Web Connector could not reach QuickBooks ({hresult} {message}).".replace("  ", " ")
            self.sessions.set_error(ticket, text)
            self.sessions.close(ticket, text)
        return "done"

    def _op_getLastError(self, ticket: str) -> str:
        row = self.sessions.peek(ticket)
        if row is None:
            return "This Web Connector session has ended; the next scheduled run starts a new one."
        if row.last_error:
            return row.last_error
        if row.cycle_state == "failed":
            return row.message or "The sync failed; see the connection's log."
        return row.message or "Sync complete."

    def _op_closeConnection(self, ticket: str) -> str:
        row = self.sessions.peek(ticket)
        if row is None:
            return "OK"
        self.sessions.close(ticket)
        return row.message or ("OK" if row.cycle_state != "failed" else "Sync finished with problems")

    # -- the cycle's worker ----------------------------------------------------------------------------------
    def _start_cycle(self, ticket: str, conn_id: str) -> bool:
        worker = new_owner()
        if not self.sessions.claim_cycle(ticket, worker):
            return False
        thread = threading.Thread(
            target=self._run_cycle, args=(ticket, conn_id, worker), name=f"qbwc-{ticket[1:9]}", daemon=True
        )
        register_local(ticket, thread)
        self.cycles_started += 1
        thread.start()
        return True

    def _provider(self, conn_id: str, mailbox: Mailbox) -> Any:
        from ledgersync.engine.connections import load_config
        from ledgersync.providers.qbd.provider import QbdProvider

        conn = self.ls.connection(conn_id)
        config = load_config(self.ls.store, self.ls.spec(conn.provider), conn)
        if self._provider_factory is not None:
            return self._provider_factory(config, mailbox)
        return QbdProvider(config, mailbox)

    def _run_cycle(self, ticket: str, conn_id: str, worker: str) -> None:
        mailbox = Mailbox(self.sessions, ticket, conn_id, worker)
        state, message = "failed", "the sync did not finish"
        try:
            provider = self._provider(conn_id, mailbox)
            report = self.ls.sync(conn_id, provider=provider, wait=self.settings.lease_wait_seconds)
            ok = getattr(report, "status", "") in ("ok", "success", "partial", "completed")
            state = "done" if ok else "failed"
            message = _summary(report)
        except Exception as exc:  # the session must learn how its cycle ended, whatever happened
            log.exception("Web Connector cycle of %s failed", conn_id)
            message = f"The sync failed: {exc}"
        finally:
            self.sessions.finish_cycle(ticket, worker, state, message)

    # -- WSDL ------------------------------------------------------------------------------------------------
    def wsdl(self, url: str) -> str:
        return wsdl_document(url)


def _summary(report: Any) -> str:
    status = getattr(report, "status", "")
    msg = getattr(report, "message", None)
    pushed = getattr(report, "pushed", None)
    pulled = getattr(report, "pulled", None)
    parts = [f"Sync {status}"]
    if pulled is not None or pushed is not None:
        parts.append(f"{_count(pulled)} read, {_count(pushed)} written")
    if msg:
        parts.append(str(msg))
    return "; ".join(parts)[:1000]


def _count(value: Any) -> int:
    if isinstance(value, dict):
        return sum(int(v) for v in value.values() if isinstance(v, int))
    return int(value or 0)


def wsdl_document(url: str) -> str:
    """Our description of the service: the Web Connector's own interface (QBWebConnectorSvc, document/literal,
    SOAP 1.1), with its address at `url`."""
    s = "http://www.w3.org/2001/XMLSchema"
    w = "http://schemas.xmlsoap.org/wsdl/"
    soap = "http://schemas.xmlsoap.org/wsdl/soap/"
    root = etree.Element(
        f"{{{w}}}definitions", nsmap={"wsdl": w, "s": s, "soap": soap, "tns": TNS}, targetNamespace=TNS
    )
    types = etree.SubElement(root, f"{{{w}}}types")
    schema = etree.SubElement(types, f"{{{s}}}schema", elementFormDefault="qualified", targetNamespace=TNS)
    ins: dict[str, list[tuple[str, str]]] = {
        "serverVersion": [],
        "clientVersion": [("strVersion", "s:string")],
        "authenticate": [("strUserName", "s:string"), ("strPassword", "s:string")],
        "sendRequestXML": [
            ("ticket", "s:string"),
            ("strHCPResponse", "s:string"),
            ("strCompanyFileName", "s:string"),
            ("qbXMLCountry", "s:string"),
            ("qbXMLMajorVers", "s:int"),
            ("qbXMLMinorVers", "s:int"),
        ],
        "receiveResponseXML": [
            ("ticket", "s:string"),
            ("response", "s:string"),
            ("hresult", "s:string"),
            ("message", "s:string"),
        ],
        "connectionError": [("ticket", "s:string"), ("hresult", "s:string"), ("message", "s:string")],
        "getLastError": [("ticket", "s:string")],
        "closeConnection": [("ticket", "s:string")],
    }
    outs = {op: "s:string" for op in OPERATIONS}
    outs["authenticate"] = "tns:ArrayOfString"
    outs["receiveResponseXML"] = "s:int"

    def element(name: str, fields: list[tuple[str, str]]) -> None:
        e = etree.SubElement(schema, f"{{{s}}}element", name=name)
        ct = etree.SubElement(e, f"{{{s}}}complexType")
        if fields:
            seq = etree.SubElement(ct, f"{{{s}}}sequence")
            for fname, ftype in fields:
                etree.SubElement(
                    seq,
                    f"{{{s}}}element",
                    minOccurs="1" if ftype == "s:int" else "0",
                    maxOccurs="1",
                    name=fname,
                    type=ftype,
                )

    for op in OPERATIONS:
        element(op, ins[op])
        element(op + "Response", [(op + "Result", outs[op])])
    arr = etree.SubElement(schema, f"{{{s}}}complexType", name="ArrayOfString")
    seq = etree.SubElement(arr, f"{{{s}}}sequence")
    etree.SubElement(
        seq, f"{{{s}}}element", minOccurs="0", maxOccurs="unbounded", name="string", nillable="true", type="s:string"
    )
    for op in OPERATIONS:
        for suffix, part in (("SoapIn", op), ("SoapOut", op + "Response")):
            msg = etree.SubElement(root, f"{{{w}}}message", name=op + suffix)
            etree.SubElement(msg, f"{{{w}}}part", name="parameters", element="tns:" + part)
    pt = etree.SubElement(root, f"{{{w}}}portType", name="QBWebConnectorSvcSoap")
    for op in OPERATIONS:
        o = etree.SubElement(pt, f"{{{w}}}operation", name=op)
        etree.SubElement(o, f"{{{w}}}input", message=f"tns:{op}SoapIn")
        etree.SubElement(o, f"{{{w}}}output", message=f"tns:{op}SoapOut")
    binding = etree.SubElement(root, f"{{{w}}}binding", name="QBWebConnectorSvcSoap", type="tns:QBWebConnectorSvcSoap")
    etree.SubElement(binding, f"{{{soap}}}binding", transport="http://schemas.xmlsoap.org/soap/http")
    for op in OPERATIONS:
        o = etree.SubElement(binding, f"{{{w}}}operation", name=op)
        etree.SubElement(o, f"{{{soap}}}operation", soapAction=TNS + op, style="document")
        for io in ("input", "output"):
            b = etree.SubElement(o, f"{{{w}}}{io}")
            etree.SubElement(b, f"{{{soap}}}body", use="literal")
    svc = etree.SubElement(root, f"{{{w}}}service", name="QBWebConnectorSvc")
    port = etree.SubElement(svc, f"{{{w}}}port", name="QBWebConnectorSvcSoap", binding="tns:QBWebConnectorSvcSoap")
    etree.SubElement(port, f"{{{soap}}}address", location=url)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + str(etree.tostring(root, encoding="unicode", pretty_print=True))


__all__ = ["OPERATIONS", "SERVER_VERSION", "ServiceSettings", "SoapFault", "WebConnectorService", "wsdl_document"]
