"""An emulated QuickBooks Web Connector (QBWC): the SOAP 1.1 client of QBWebConnectorSvc.wsdl.

It reads a .qwc file, is given the password, and runs sessions the way QBWC does (api-facts-wave2.md A.3):
serverVersion, clientVersion, authenticate, then sendRequestXML / receiveResponseXML until the service has no
more work, getLastError where QBWC calls it, connectionError when QuickBooks cannot be reached, closeConnection.
It runs on the .qwc's schedule (RunEveryNMinutes, scaled by the config's seconds_per_minute) or at once on
"Update Selected" (`run_now`)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from lxml import etree

from . import qbxml as q
from .state import QbdSandbox

NS = "http://developer.intuit.com/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
HCP_REQUEST = ('<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="continueOnError">'
               "<HostQueryRq/><CompanyQueryRq/></QBXMLMsgsRq></QBXML>")


@dataclass
class Qwc:
    app_name: str
    app_url: str
    app_support: str
    user_name: str
    owner_id: str
    file_id: str
    qb_type: str
    run_every_minutes: float | None

    def public(self) -> dict[str, Any]:
        return {"AppName": self.app_name, "AppURL": self.app_url, "AppSupport": self.app_support,
                "UserName": self.user_name, "OwnerID": self.owner_id, "FileID": self.file_id, "QBType": self.qb_type,
                "RunEveryNMinutes": self.run_every_minutes}


def parse_qwc(text: str | bytes) -> Qwc:
    """A .qwc file (root QBWCXML). Raises ValueError naming what is missing or wrong."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        root = etree.fromstring(data.strip(), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"the .qwc file is not well-formed XML: {exc}") from exc
    if root.tag != "QBWCXML":
        raise ValueError("the .qwc file's root element must be QBWCXML")

    def get(tag: str, required: bool = True) -> str:
        v = (root.findtext(tag) or "").strip()
        if required and not v:
            raise ValueError(f"the .qwc file has no {tag}")
        return v

    minutes: float | None = None
    sched = root.find("Scheduler")
    if sched is not None:
        if (sched.findtext("RunEveryNMinutes") or "").strip():
            minutes = float(sched.findtext("RunEveryNMinutes") or 0)
        elif (sched.findtext("RunEveryNSeconds") or "").strip():
            minutes = float(sched.findtext("RunEveryNSeconds") or 0) / 60
    qwc = Qwc(get("AppName"), get("AppURL"), get("AppSupport", False), get("UserName"), get("OwnerID"),
              get("FileID"), get("QBType"), minutes)
    if qwc.qb_type not in ("QBFS", "QBPOS"):
        raise ValueError("QBType must be QBFS or QBPOS")
    if qwc.qb_type != "QBFS":
        raise ValueError("this sandbox emulates QuickBooks Financial Software (QBType QBFS) only")
    url = urlsplit(qwc.app_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("AppURL must be an http(s) URL")
    if url.scheme == "http" and url.hostname not in ("localhost", "127.0.0.1", "::1"):
        # QBWC: "HTTP is only permitted for localhost" (api-facts-wave2 A.1)
        raise ValueError("AppURL must use HTTPS unless the host is localhost")
    return qwc


class SoapFault(Exception):
    pass


class Dropped(Exception):
    """The HTTP connection to the web service was lost."""


def envelope(method: str, params: list[tuple[str, str]]) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "xsi":
                        "http://www.w3.org/2001/XMLSchema-instance", "xsd": "http://www.w3.org/2001/XMLSchema"})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    call = etree.SubElement(body, f"{{{NS}}}{method}", nsmap={None: NS})
    for name, value in params:
        etree.SubElement(call, f"{{{NS}}}{name}").text = value
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def parse_result(method: str, raw: bytes) -> Any:
    """The `<method>Result` of a SOAP response: a string, or a list for an ArrayOfString."""
    try:
        root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"the response is not well-formed XML: {exc}") from exc
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or not len(body):
        raise SoapFault("the response is not a SOAP 1.1 envelope with a body")
    first = body[0]
    if first.tag == f"{{{SOAP_ENV}}}Fault":
        raise SoapFault(first.findtext("faultstring") or "SOAP fault")
    if first.tag != f"{{{NS}}}{method}Response":
        raise SoapFault(f"expected {method}Response, got {first.tag}")
    res = first.find(f"{{{NS}}}{method}Result")
    if res is None:
        return None
    strings = res.findall(f"{{{NS}}}string")
    if strings or method == "authenticate":
        return [s.text or "" for s in strings]
    return res.text or ""


class Session:
    """One run of the Web Connector against the application's service."""

    def __init__(self, wc: WebConnector, qwc: Qwc, password: str, url: str, trigger: str) -> None:
        self.wc, self.sb, self.qwc, self.password, self.url = wc, wc.sb, qwc, password, url
        self.id = len(self.sb.sessions) + 1
        self.key = f"qbwc-{self.id}-{uuid.uuid4().hex[:8]}"
        self.calls = 0
        self.requests = 0
        self.seq = 0
        self.summary: dict[str, Any] = {"id": self.id, "trigger": trigger, "started": time.time(), "outcome": None,
                                        "error": None, "calls": 0, "requests": 0, "close_message": None,
                                        "server_version": None, "postpone_seconds": None}
        self.drop = wc.sb.faults.get("drop_http")
        self.method_calls: dict[str, int] = {}

    # ---- one SOAP call -------------------------------------------------------------------------------------------
    def call(self, method: str, params: list[tuple[str, str]]) -> Any:
        self.calls += 1
        self.seq += 1
        self.method_calls[method] = self.method_calls.get(method, 0) + 1
        with self.sb.lock:
            self.sb.count("soap_calls", method)
        shown = [(k, "***" if k == "strPassword" else v) for k, v in params]
        entry: dict[str, Any] = {"session": self.id, "seq": self.seq, "method": method, "params": dict(shown),
                                 "at": time.time()}
        self._log(entry)
        body = envelope(method, params)
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}{method}"'}
        drop = self.drop
        try:
            if isinstance(drop, dict) and drop.get("method", "receiveResponseXML") == method and \
                    int(drop.get("nth", 1)) == self.method_calls[method]:
                with self.sb.lock:
                    self.sb.faults["drop_http"] = None  # one-shot
                self.drop = None
                self._drop(body, headers, str(drop.get("when", "after_send")))
            try:
                r = self.wc.http.post(self.url, content=body, headers=headers, timeout=self.wc.timeout())
            except httpx.HTTPError as exc:
                raise Dropped(str(exc) or type(exc).__name__) from exc
            if r.status_code >= 400 and b"Fault" not in r.content:
                raise SoapFault(f"HTTP {r.status_code} from the web service")
            result = parse_result(method, r.content)
        except (Dropped, SoapFault) as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            raise
        entry["result"] = result
        return result

    def _drop(self, body: bytes, headers: dict[str, str], when: str) -> None:
        """Lose the connection: before the request goes out, or after it was sent and before any answer is read
        (the service may have acted on it)."""
        if when == "after_send":
            u = urlsplit(self.url)
            if u.scheme == "http" and u.hostname:
                path = u.path or "/"
                if u.query:
                    path += "?" + u.query
                head = (f"POST {path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: {len(body)}\r\n"
                        + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "Connection: close\r\n\r\n")
                with socket.create_connection((u.hostname, u.port or 80), timeout=5) as s:
                    s.sendall(head.encode("latin-1") + body)
                    time.sleep(0.2)  # the request is on the wire; the answer is never read
        raise Dropped("The underlying connection was closed: An unexpected error occurred on a receive.")

    def _log(self, entry: dict[str, Any]) -> None:
        with self.sb.lock:
            self.sb.log.append(entry)
            limit = int(self.sb.config.get("log_limit", 5000))
            if len(self.sb.log) > limit:
                del self.sb.log[: len(self.sb.log) - limit]

    def note(self, text: str) -> None:
        """A line of QBWC's own log (not a SOAP call)."""
        self._log({"session": self.id, "seq": self.seq, "method": None, "note": text, "at": time.time()})

    def finish(self, outcome: str, error: str | None = None) -> dict[str, Any]:
        self.summary.update(outcome=outcome, error=error, calls=self.calls, requests=self.requests,
                            ended=time.time())
        with self.sb.lock:
            self.sb.count("sessions", outcome)
            gone = self.sb.company.end_session(self.key)
            if gone:
                self.note(f"{gone} iterator(s) ended with the session")
            self.sb.dirty = True
        return self.summary

    # ---- the protocol --------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        sb, cfg = self.sb, self.sb.config
        with sb.lock:
            sb.count("sessions", "started")
            sb.sessions.append(self.summary)
        try:
            return self._run(cfg)
        except Dropped as exc:
            # QBWC reports the lost connection and ends the session; it cannot tell the service (GUESS: QBWC1013
            # is the code it shows for a lost connection during an update).
            msg = f"QBWC1013: Error connecting to {self.url}. {exc}"
            self.note(msg)
            return self.finish("dropped", msg)
        except SoapFault as exc:
            msg = f"QBWC1042: {exc}"
            self.note(msg)
            return self.finish("error", msg)

    def _run(self, cfg: dict[str, Any]) -> dict[str, Any]:
        self.summary["server_version"] = self.call("serverVersion", [])
        cv = self.call("clientVersion", [("strVersion", str(cfg.get("client_version", "2.3.0.215")))]) or ""
        if cv.startswith("E:") or cv.startswith("O:") or (cv.startswith("W:") and cfg.get("on_warning") == "stop"):
            self.note(f"clientVersion refused this Web Connector: {cv}")
            return self.finish("version_refused", cv)
        if cv.startswith("W:"):
            self.note(f"clientVersion warning (the user chose to continue): {cv[2:]}")
        auth = self.call("authenticate", [("strUserName", self.qwc.user_name), ("strPassword", self.password)])
        if not isinstance(auth, list) or len(auth) < 2 or len(auth) > 4:
            # Five strings made QBWC fail with "Index Out Of Range" (api-facts-wave2 A.3)
            msg = "QBWC1012: Authentication failed due to following error message. Index was outside the bounds of " \
                  "the array."
            self.note(msg)
            return self.finish("error", msg)
        ticket, status = auth[0], auth[1]
        self._postpone(auth)
        # GUESS: after "nvu" and "none" QBWC ends the session without calling closeConnection.
        if status == "nvu" or not ticket:
            msg = "QBWC1012: Authentication failed due to following error message. Not a valid user name or password."
            self.note(msg)
            return self.finish("nvu", msg)
        if status in ("none", "busy"):
            self.note("QBWC1016: the web service has no work for this update" if status == "none"
                      else "the web service is busy")
            return self.finish(status)
        company_file = self.sb.company.file_path
        wanted = status
        for _ in range(int(cfg.get("connection_retries", 3)) + 1):
            hr, msg = self._open(wanted)
            if not hr:
                break
            ans = self.call("connectionError", [("ticket", ticket), ("hresult", hr), ("message", msg)]) or ""
            if ans == "done":
                close = self.call("closeConnection", [("ticket", ticket)])
                self.summary["close_message"] = close
                return self.finish("connection_error", f"{hr}: {msg}")
            wanted = ans
        else:
            close = self.call("closeConnection", [("ticket", ticket)])
            self.summary["close_message"] = close
            return self.finish("connection_error", f"{hr}: {msg}")
        return self._exchange(ticket, company_file, cfg)

    def _postpone(self, auth: list[str]) -> None:
        if len(auth) >= 3 and auth[2].strip():
            try:
                secs = float(auth[2])
            except ValueError:
                secs = 0
            if secs > 0:
                self.summary["postpone_seconds"] = secs
                self.wc.postpone(secs)
                self.note(f"the web service asked to postpone the next update by {secs:g} s")
        if len(auth) >= 4 and auth[3].strip():
            with contextlib.suppress(ValueError):
                self.wc.min_run_every_seconds = float(auth[3])

    def _open(self, wanted: str) -> tuple[str, str]:
        """Open the company file: "" is the one open now; a path must be that file (one file is open at a time)."""
        if self.sb.faults.get("qb_not_running"):
            return q.HR_NOT_RUNNING, q.HR_NOT_RUNNING_MSG
        if wanted and wanted.casefold() != self.sb.company.file_path.casefold():
            return q.HR_OTHER_FILE, q.HR_OTHER_FILE_MSG
        return "", ""

    def _exchange(self, ticket: str, company_file: str, cfg: dict[str, Any]) -> dict[str, Any]:
        hcp, _, _ = self.sb.process(HCP_REQUEST, self.key, as_user=True)
        first = True
        noops = 0
        while True:
            req = self.call("sendRequestXML", [
                ("ticket", ticket), ("strHCPResponse", hcp if first else ""), ("strCompanyFileName", company_file),
                ("qbXMLCountry", "US"), ("qbXMLMajorVers", "13"), ("qbXMLMinorVers", "0")]) or ""
            first = False
            if req in ("", "NoOp"):
                last = req if req == "NoOp" else (self.call("getLastError", [("ticket", ticket)]) or "")
                if last == "NoOp":
                    noops += 1
                    if noops > int(cfg.get("max_noops", 720)):
                        return self._close(ticket, "error", "the web service answered NoOp too many times")
                    self.note("NoOp: waiting before asking again")
                    if self.wc.wait(float(cfg.get("noop_wait_seconds", 5.0))):
                        return self._close(ticket, "stopped", "the Web Connector was stopped")
                    continue
                return self._close(ticket, "done" if not last else "error", last or None)
            self.requests += 1
            response, hresult, message = self.sb.process(req, self.key)
            if hresult:
                self.note(f"QuickBooks could not process the request: {self.sb.last_parse_error}")
            mid_iterator = self._mid_iterator(response)
            pct = self.call("receiveResponseXML", [("ticket", ticket), ("response", response), ("hresult", hresult),
                                                   ("message", message)])
            try:
                percent = int(str(pct).strip())
            except ValueError:
                return self._close(ticket, "error", f"receiveResponseXML answered {pct!r}, not a number")
            if mid_iterator:
                self.note("QuickBooks closed the session with an iterator still open")
                return self._close(ticket, "ended_mid_iterator", None)
            if percent < 0:
                err = self.call("getLastError", [("ticket", ticket)]) or ""
                return self._close(ticket, "error", err or f"receiveResponseXML answered {percent}")
            if percent >= 100:
                return self._close(ticket, "done", None)

    def _mid_iterator(self, response: str) -> bool:
        n = int(self.sb.faults.get("end_session_mid_iterator") or 0)
        if n <= 0 or not response:
            return False
        root = etree.fromstring(response.encode())
        if any(int(el.get("iteratorRemainingCount", "0") or 0) > 0 for el in root.iter() if isinstance(el.tag, str)):
            with self.sb.lock:
                self.sb.faults["end_session_mid_iterator"] = n - 1
            return True
        return False

    def _close(self, ticket: str, outcome: str, error: str | None) -> dict[str, Any]:
        if error:
            self.note(f"error: {error}")
        self.summary["close_message"] = self.call("closeConnection", [("ticket", ticket)])
        return self.finish(outcome, error)


class WebConnector:
    """The Web Connector's application entry and scheduler (a daemon thread)."""

    def __init__(self, sb: QbdSandbox) -> None:
        self.sb = sb
        self.http = httpx.Client()
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.next_run_at: float | None = None
        self.min_run_every_seconds: float = 0.0
        self.running = False
        self._postponed = False

    # ---- configuration -------------------------------------------------------------------------------------------
    def qwc(self) -> Qwc | None:
        return parse_qwc(self.sb.qwc) if self.sb.qwc else None

    def load(self, qwc_text: str, password: str, app_url: str | None = None) -> Qwc:
        parsed = parse_qwc(qwc_text)
        with self.sb.lock:
            self.sb.qwc, self.sb.password, self.sb.app_url = qwc_text, password, app_url
            self.sb.dirty = True
        self.schedule()
        return parsed

    def interval(self) -> float | None:
        qwc = self.qwc()
        minutes = self.sb.config.get("run_every_minutes") or (qwc.run_every_minutes if qwc else None)
        if not minutes:
            return None
        return max(float(minutes) * float(self.sb.config.get("seconds_per_minute", 60.0)),
                   self.min_run_every_seconds * float(self.sb.config.get("seconds_per_minute", 60.0)) / 60)

    def schedule(self, after: float | None = None) -> None:
        iv = self.interval()
        self.next_run_at = None if iv is None else time.time() + (iv if after is None else after)
        self._wake.set()

    def postpone(self, seconds: float) -> None:
        scale = float(self.sb.config.get("seconds_per_minute", 60.0)) / 60
        self.next_run_at = time.time() + seconds * scale
        self._postponed = True

    def timeout(self) -> float:
        return float(self.sb.config.get("http_timeout", 60.0))

    def wait(self, seconds: float) -> bool:
        """Sleep; True when the Web Connector is being stopped."""
        return self._stop.wait(seconds)

    # ---- running -------------------------------------------------------------------------------------------------
    def run_now(self, trigger: str = "update_selected") -> dict[str, Any]:
        """Update Selected: one session now (after any session already running)."""
        with self._run_lock:
            qwc = self.qwc()
            if qwc is None or self.sb.password is None:
                raise ValueError("no application is loaded: give the Web Connector a .qwc file and its password")
            self.running = True
            self._postponed = False
            try:
                summary = Session(self, qwc, self.sb.password, self.sb.app_url or qwc.app_url, trigger).run()
            finally:
                self.running = False
            if not self._postponed:
                self.schedule()
            return summary

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="qbwc-scheduler", daemon=True)
            self._thread.start()
            self.schedule()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        self.http.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            due = self.next_run_at
            delay = 1.0 if due is None else max(0.0, min(due - time.time(), 1.0))
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            due = self.next_run_at
            if due is None or time.time() < due or not self.sb.config.get("auto_run", True):
                continue
            try:
                self.run_now("scheduled")
            except Exception as exc:
                self.sb.log.append({"session": None, "method": None, "note": f"scheduled run failed: {exc}",
                                    "at": time.time()})
                self.schedule()

    def status(self) -> dict[str, Any]:
        err: str | None = None
        qwc: Qwc | None = None
        try:
            qwc = self.qwc()
        except ValueError as exc:
            err = str(exc)
        return {
            "loaded": qwc is not None and self.sb.password is not None,
            "qwc": qwc.public() if qwc else None,
            "qwc_error": err,
            "app_url": self.sb.app_url or (qwc.app_url if qwc else None),
            "auto_run": bool(self.sb.config.get("auto_run", True)),
            "run_every_minutes": self.sb.config.get("run_every_minutes") or (qwc.run_every_minutes if qwc else None),
            "seconds_per_minute": self.sb.config.get("seconds_per_minute"),
            "next_run_in": None if self.next_run_at is None else max(0.0, self.next_run_at - time.time()),
            "running": self.running,
            "last_session": self.sb.sessions[-1] if self.sb.sessions else None,
        }
