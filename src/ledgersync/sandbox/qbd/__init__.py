"""A local emulator of QuickBooks Desktop reached through the QuickBooks Web Connector (ASGI control app).

The company file (`company.Company`) answers qbXML 13.0 request sets; the Web Connector (`webconnector`) is the
SOAP client that polls the application's service (its AppURL from a .qwc file) on a schedule or on "Update
Selected". The ASGI app serves only the /_sandbox control API: QuickBooks Desktop has no HTTP API of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from starlette.types import ASGIApp

from ..common.app import build_app
from . import control
from .state import QbdSandbox
from .webconnector import WebConnector, parse_qwc

__all__ = ["QbdSandbox", "QbdSandboxHandle", "Runtime", "WebConnector", "create_app", "parse_qwc",
           "start_qbd_sandbox"]


class _Closer:
    """build_app closes `webhooks` at shutdown; here that stops the Web Connector's scheduler."""

    def __init__(self, wc: WebConnector) -> None:
        self.wc = wc

    async def close(self) -> None:
        await asyncio.to_thread(self.wc.stop)


class Runtime:
    def __init__(self, sb: QbdSandbox) -> None:
        self.sb = sb
        self.wc = WebConnector(sb)
        self.webhooks = _Closer(self.wc)


def create_app(sandbox: QbdSandbox | None = None) -> ASGIApp:
    sb = sandbox if sandbox is not None else QbdSandbox()
    rt = Runtime(sb)

    async def startup() -> None:
        rt.wc.start()

    return build_app(rt, control.ROUTES, on_startup=startup)


class QbdSandboxHandle:
    """A running QuickBooks Desktop sandbox: `.url` is the control API's base URL, `.control` an httpx client on it."""

    def __init__(self, server: Any, sb: QbdSandbox) -> None:
        self.server = server
        self.sb = sb
        self.url: str = server.url
        self.control = httpx.Client(base_url=self.url, timeout=300)

    def _ok(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
        return r.json()

    def load_qwc(self, qwc: str, password: str, app_url: str | None = None) -> dict[str, Any]:
        body = {"qwc": qwc, "password": password, **({"app_url": app_url} if app_url else {})}
        result: dict[str, Any] = self._ok(self.control.put("/_sandbox/webconnector/qwc", json=body))
        return result

    def set_interval(self, minutes: float | None = None, seconds_per_minute: float | None = None,
                     auto_run: bool | None = None, **settings: Any) -> dict[str, Any]:
        body = {k: v for k, v in (("run_every_minutes", minutes), ("seconds_per_minute", seconds_per_minute),
                                  ("auto_run", auto_run)) if v is not None}
        result: dict[str, Any] = self._ok(self.control.put("/_sandbox/webconnector", json={**body, **settings}))
        return result

    def run_now(self, timeout: float = 120.0) -> dict[str, Any]:
        """Update Selected: run one Web Connector session and return its summary when it ends."""
        r = self.control.post("/_sandbox/webconnector/run", json={"wait": True, "timeout": timeout},
                              timeout=timeout + 10)
        result: dict[str, Any] = self._ok(r)
        return result

    def qbxml(self, request_xml: str) -> str:
        r = self.control.post("/_sandbox/qbxml", content=request_xml.encode("utf-8"),
                              headers={"Content-Type": "text/xml"})
        if r.status_code >= 400:
            raise RuntimeError(r.text)
        return r.text

    def as_user(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.control.post(f"/_sandbox/as-user/{action}", json=body))
        return result

    def faults(self, **faults: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.control.put("/_sandbox/faults", json=faults))
        return result

    def session_log(self, session: int | None = None) -> list[dict[str, Any]]:
        params = {"session": str(session)} if session is not None else None
        result: list[dict[str, Any]] = self._ok(self.control.get("/_sandbox/webconnector/log", params=params))
        return result

    def sessions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._ok(self.control.get("/_sandbox/webconnector/sessions"))
        return result

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.control.get("/_sandbox/counters"))
        return result

    def dump(self) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.control.get("/_sandbox/company/dump"))
        return result

    def stop(self) -> None:
        self.control.close()
        self.server.stop()

    def __enter__(self) -> QbdSandboxHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_qbd_sandbox(
    app_url: str | None = None,
    *,
    qwc: str | bytes | Path | None = None,
    password: str | None = None,
    data: Path | None = None,
    company_name: str = "Sandbox Company",
    seconds_per_minute: float = 60.0,
    auto_run: bool = False,
    noop_wait_seconds: float = 5.0,
    schema_dir: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> QbdSandboxHandle:
    """Start the sandbox's control API on a thread (port 0 = a free port). With `qwc` and `password` the Web
    Connector has the application loaded (`app_url` overrides the file's AppURL); `auto_run` runs it on the file's
    schedule, else only `run_now()` does. `schema_dir`, a folder holding Intuit's qbxmlops130.xsd, makes the company
validate every request set against it."""
    from ..server import serve_in_thread

    sb = QbdSandbox.load(data) if data is not None else QbdSandbox()
    with sb.lock:
        if data is None or (not sb.company.lists["Customer"] and not sb.company.txns["Invoice"]):
            sb.config["company_name"] = company_name
            sb.company.name = company_name
        sb.config.update(seconds_per_minute=seconds_per_minute, auto_run=auto_run,
                         noop_wait_seconds=noop_wait_seconds)
        if schema_dir is not None:
            if not (Path(schema_dir) / "qbxmlops130.xsd").exists():
                raise ValueError(f"schema_dir has no qbxmlops130.xsd: {schema_dir}")
            sb.config["schema_dir"] = str(schema_dir)
        if qwc is not None:
            text = qwc.read_text(encoding="utf-8") if isinstance(qwc, Path) else (
                qwc.decode("utf-8") if isinstance(qwc, bytes) else qwc)
            parse_qwc(text)  # a bad file fails here, with its reason
            if password is None:
                raise ValueError("password is required with qwc")
            sb.qwc, sb.password, sb.app_url = text, password, app_url
        sb.dirty = True
    sb.save()
    server = serve_in_thread(create_app(sb), host=host, port=port)
    return QbdSandboxHandle(server, sb)
