"""Killing the server between two SOAP calls of a Web Connector session loses nothing and duplicates nothing.

`ledgersync serve` runs in a subprocess; the scripted Web Connector (zeep, from the published WSDL) stops it
with SIGKILL right after one chosen call, starts it again on the same port and database, and goes on with the
same ticket, as the real one would once the server answers again. Kill points: after authenticate, after the
sendRequestXML that handed out each kind of write (QuickBooks then applies it while nothing of ours runs),
after the receiveResponseXML that brought its answer, and after closeConnection. A second run then
converges: every record is Synced and QuickBooks holds each of them exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledgersync import Entity, LedgerSync

from .fakeqb import FakeCompany
from .test_service import seed
from .webconnector import run_session, soap_client

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, db: str, port: int, log: Path) -> None:
        self.db, self.port, self.log = db, port, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/qbwc"

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ledgersync.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--db",
                    self.db,
                    "--no-scheduler",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(f"sqlite:///{tmp_path / 'ledgersync.db'}", free_port(), tmp_path / "server.log")
    try:
        yield srv
    finally:
        srv.kill()


def kill_point(calls: list[str], bodies: list[str], answer: object, point: str) -> bool:
    """Whether the call just made is the chosen kill point: "sendRequestXML:X" right after our service handed out
    a request of kind X (before QuickBooks has it), "receiveResponseXML:X" right after we took X's answer."""
    name = calls[-1]
    if point in ("authenticate", "closeConnection"):
        return name == point and calls.count(point) == 1
    call, _, kind = point.partition(":")
    if name != call:
        return False
    if call == "sendRequestXML":
        return kind in str(answer or "")
    return bool(bodies) and kind in bodies[-1]


POINTS = [
    "authenticate",
    "sendRequestXML:CustomerAddRq",
    "receiveResponseXML:CustomerAddRq",
    "sendRequestXML:InvoiceAddRq",
    "receiveResponseXML:InvoiceAddRq",
    "sendRequestXML:ReceivePaymentAddRq",
    "receiveResponseXML:ReceivePaymentAddRq",
    "closeConnection",
]


@pytest.mark.parametrize("point", POINTS)
def test_killing_the_server_between_two_soap_calls_loses_and_duplicates_nothing(server: Server, point: str) -> None:
    ls = LedgerSync(server.db)
    org = ls.create_organisation("Sample business")
    start = ls.connect(org, "qbd", {"app_url": server.url})
    assert start.password

    class Env:  # what seed() needs
        pass

    env = Env()
    env.ls, env.org = ls, org  # type: ignore[attr-defined]
    seed(env)  # type: ignore[arg-type]
    company = FakeCompany()
    server.start()
    svc = soap_client(server.url, close_connections=True)
    sent: list[str] = []
    killed: list[str] = []
    original = company.handle

    def carry(request: str) -> str:
        sent.append(request)
        return original(request)

    company.handle = carry  # type: ignore[method-assign]

    def between(_name: str, answer: object) -> None:
        if not killed and kill_point(log_calls, sent, answer, point):
            killed.append(point)
            server.kill()
            server.start()

    log_calls: list[str] = []
    first = run_session(svc, start.connection_id, start.password, company, between=between, calls=log_calls)
    assert killed == [point], f"the kill point {point} never came: {first.calls}"
    # The next scheduled run converges whatever the first left.
    second = run_session(svc, start.connection_id, start.password, company)
    assert second.status == ""
    _wait_cycles_done(ls, second.ticket)
    server.kill()

    names = sorted(r.findtext("FullName") for r in company.of_type("Customer"))
    assert names == ["Harbour Holdings", "Harbour Holdings:Harbour Cafe"]
    assert [r.findtext("RefNumber") for r in company.of_type("Invoice")] == ["INV-1001"]
    assert len(company.of_type("ReceivePayment")) == 1
    assert len(company.of_type("ItemService")) == 1
    for entity, app_id in (
        (Entity.CONTACT, "c-parent"),
        (Entity.CONTACT, "c-child"),
        (Entity.ITEM, "i-1"),
        (Entity.INVOICE, "inv-1"),
        (Entity.PAYMENT, "pay-1"),
    ):
        view = ls.get(org, entity, app_id, conn_id=start.connection_id)
        assert view is not None and view.state == "synced", (entity, app_id, view and view.error)


def _wait_cycles_done(ls: LedgerSync, ticket: str, timeout: float = 30) -> None:
    from ledgersync.store.tables import QbwcSession

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with ls.store.session() as s:
            row = s.get(QbwcSession, ticket)
            if row is not None and row.cycle_state in ("done", "failed"):
                return
        time.sleep(0.1)
