"""A test-only SOAP responder standing in for the application's QBWC service: it answers each Web Connector call
from a script, so the tests prove the emulated Web Connector follows the protocol (it is not the real service).
A plain http.server, so a scripted answer can cut the connection with no response at all."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

NS = "http://developer.intuit.com/"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


class Drop(Exception):
    """Close the HTTP connection without answering."""


def result_xml(method: str, value: Any) -> bytes:
    if isinstance(value, list):
        inner = "".join(f"<string>{escape(str(v))}</string>" for v in value)
    else:
        inner = escape(str(value))
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
            f'<{method}Response xmlns="{NS}"><{method}Result>{inner}</{method}Result></{method}Response>'
            "</soap:Body></soap:Envelope>").encode()


class ScriptedService:
    """Answers from `script[method]`: a callable taking the call's parameters, or a fixed value."""

    def __init__(self, script: dict[str, Any]) -> None:
        self.script = script
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.url = ""

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]

    def params(self, method: str) -> list[dict[str, str]]:
        return [p for m, p in self.calls if m == method]

    def handle(self, raw: bytes, soap_action: str) -> bytes:
        root = etree.fromstring(raw)
        assert root.tag == f"{{{SOAP}}}Envelope", "the Web Connector posts SOAP 1.1"
        body = root.find(f"{{{SOAP}}}Body")
        assert body is not None
        call = body[0]
        assert call.tag.startswith(f"{{{NS}}}"), call.tag
        method = call.tag.split("}")[1]
        assert soap_action.strip('"') == NS + method
        params = {c.tag.split("}")[1]: (c.text or "") for c in call}
        with self.lock:
            self.calls.append((method, params))
        answer = self.script.get(method, "")
        if callable(answer):
            answer = answer(params)
        return result_xml(method, answer)


@contextmanager
def serve(service: ScriptedService) -> Iterator[ScriptedService]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                out = service.handle(raw, self.headers.get("SOAPAction", ""))
            except Drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    service.url = f"http://127.0.0.1:{server.server_address[1]}/qbwc"
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


def queue(*items: Any) -> Callable[[dict[str, str]], Any]:
    """Answers taken in order, then the last one for ever."""
    pending = list(items)

    def answer(params: dict[str, str]) -> Any:
        if isinstance(pending[0], Exception) or (isinstance(pending[0], type) and issubclass(pending[0], Exception)):
            exc = pending.pop(0)
            raise exc if isinstance(exc, Exception) else exc()
        return pending.pop(0) if len(pending) > 1 else pending[0]

    return answer


def qbxml_request(body: str, on_error: str = "stopOnError") -> str:
    return (f'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="{on_error}">{body}'
            "</QBXMLMsgsRq></QBXML>")


QWC = """<?xml version="1.0"?>
<QBWCXML>
  <AppName>ledgersync test</AppName>
  <AppID></AppID>
  <AppURL>{url}</AppURL>
  <AppDescription>tests</AppDescription>
  <AppSupport>{url}</AppSupport>
  <UserName>conn-1</UserName>
  <OwnerID>{{57F3B9B1-86F1-4fcc-B1EE-566DE1813D20}}</OwnerID>
  <FileID>{{90A44FB5-33D9-4815-AC85-BC87A7E7D1EB}}</FileID>
  <QBType>QBFS</QBType>
  <Scheduler><RunEveryNMinutes>{minutes}</RunEveryNMinutes></Scheduler>
</QBWCXML>
"""


class WsdlService(ScriptedService):
    """The same scripted answers, but every call is read with zeep from the published WSDL (its SOAP 1.1 binding:
    the operation's input message and soapAction) and every answer is written by zeep from the operation's output
    message, so the Web Connector is shown to speak exactly that contract."""

    def __init__(self, script: dict[str, Any], wsdl: str) -> None:
        super().__init__(script)
        import zeep

        self.binding = zeep.Client(wsdl).service._binding

    def handle(self, raw: bytes, soap_action: str) -> bytes:
        root = etree.fromstring(raw)
        body = root.find(f"{{{SOAP}}}Body")
        assert body is not None and len(body) == 1
        method = body[0].tag.split("}")[1]
        op = self.binding._operations[method]
        assert soap_action.strip('"') == op.soapaction
        op.input.deserialize(root)  # raises when the call does not match the WSDL's message
        params = {c.tag.split("}")[1]: (c.text or "") for c in body[0]}
        with self.lock:
            self.calls.append((method, params))
        answer = self.script.get(method, "")
        if callable(answer):
            answer = answer(params)
        value: Any = {"string": answer} if isinstance(answer, list) else answer
        msg = op.output.serialize(**{f"{method}Result": value})
        return bytes(etree.tostring(msg.content, xml_declaration=True, encoding="utf-8"))
