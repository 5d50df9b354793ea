"""The control API (a person at the desk, counters, the Web Connector's settings), request validation against the
schema when the sandbox is given it, the README's generated table, and `ledgersync sandbox qbd` with --data."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import ledgersync.sandbox.qbd
from ledgersync.sandbox.common.readme import generated
from ledgersync.sandbox.qbd import QbdSandboxHandle, start_qbd_sandbox
from ledgersync.sandbox.qbd.routes import served_markdown
from ledgersync.sandbox.readmes import MODULE

from .conftest import CONTRACTS, rq
from .responder import QWC, ScriptedService, queue, serve


def test_the_readme_lists_what_the_company_serves() -> None:
    readme = Path(ledgersync.sandbox.qbd.__file__).with_name("README.md")
    assert generated(readme, MODULE) == served_markdown().strip()


def test_person_at_the_desk_pays_voids_and_deletes(qbd: QbdSandboxHandle) -> None:
    qbd.qbxml(rq("<CustomerAddRq><CustomerAdd><Name>Desk</Name></CustomerAdd></CustomerAddRq>"
                 "<ItemServiceAddRq><ItemServiceAdd><Name>Fix</Name><SalesOrPurchase><Price>10.00</Price><AccountRef>"
                 "<FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>"
                 "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Desk</FullName></CustomerRef><InvoiceLineAdd>"
                 "<ItemRef><FullName>Fix</FullName></ItemRef><Quantity>3</Quantity></InvoiceLineAdd></InvoiceAdd>"
                 "</InvoiceAddRq>"))
    before = qbd.counters()["requests"]
    inv = qbd.dump()["Invoice"][0]
    paid = qbd.as_user("payment", {"customer": "Desk", "total": "30.00",
                                   "applied": [{"TxnID": inv["TxnID"], "amount": "30.00"}]})
    assert paid["statusCode"] == 0 and paid["ret"]["UnusedPayment"] == "0.00"
    assert qbd.dump()["Invoice"][0]["IsPaid"] == "true"
    over = qbd.as_user("payment", {"customer": "Desk", "total": "5.00",
                                   "applied": [{"TxnID": inv["TxnID"], "amount": "5.00"}]})
    assert over["statusCode"] == 3210
    assert qbd.as_user("void", {"type": "Invoice", "TxnID": inv["TxnID"]})["statusCode"] == 0
    # the voided invoice's payment is now the customer's credit
    assert qbd.dump()["ReceivePayment"][0]["UnusedPayment"] == "30.00"
    pay = qbd.dump()["ReceivePayment"][0]["TxnID"]
    assert qbd.as_user("delete", {"type": "ReceivePayment", "id": pay})["statusCode"] == 0
    assert qbd.counters()["requests"] == before  # a person's work is not the application's requests
    assert qbd.control.post("/_sandbox/as-user/bogus", json={}).status_code == 404
    assert qbd.control.post("/_sandbox/as-user/customer-edit", json={"FullName": "Nobody"}).status_code == 400


def test_web_connector_settings_and_bad_qwc(qbd: QbdSandboxHandle) -> None:
    r = qbd.control.put("/_sandbox/webconnector/qwc", json={"qwc": "<QBWCXML><AppName>x</AppName></QBWCXML>",
                                                             "password": "p"})
    assert r.status_code == 400 and "AppURL" in r.json()["error"]
    r = qbd.control.put("/_sandbox/webconnector/qwc", json={
        "qwc": QWC.format(url="http://example.com/qbwc", minutes=5), "password": "p"})
    assert r.status_code == 400 and "HTTPS" in r.json()["error"]
    assert qbd.control.post("/_sandbox/webconnector/run", json={}).status_code == 409
    qbd.load_qwc(QWC.format(url="https://example.com/qbwc", minutes=5), "p")
    st = qbd.set_interval(minutes=7, seconds_per_minute=1.0)
    assert st["run_every_minutes"] == 7 and st["qwc"]["UserName"] == "conn-1" and st["loaded"]
    assert qbd.control.put("/_sandbox/webconnector", json={"colour": "red"}).status_code == 400


def test_requests_validated_against_the_schema_when_given(tmp_path: Path) -> None:
    if not (CONTRACTS / "qbxmlops130.xsd").exists():
        pytest.skip(f"the qbXML 13.0 schema is not at {CONTRACTS}: cannot validate requests")
    with start_qbd_sandbox(schema_dir=CONTRACTS, noop_wait_seconds=0.01) as h:
        ok = h.qbxml(rq("<CustomerAddRq><CustomerAdd><Name>Valid</Name><IsActive>true</IsActive></CustomerAdd>"
                        "</CustomerAddRq>"))
        assert 'statusCode="0"' in ok
        # IsActive before Name is out of schema order: QuickBooks' parser refuses the whole set
        bad = h.control.post("/_sandbox/qbxml", content=rq("<CustomerAddRq><CustomerAdd><IsActive>true</IsActive>"
                                                           "<Name>Late</Name></CustomerAdd></CustomerAddRq>"))
        assert bad.status_code == 400 and bad.text.startswith("0x80040400")
        assert h.counters()["hresults"] == {"0x80040400": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], url: str) -> subprocess.Popen[bytes]:
    exe = shutil.which("ledgersync") or str(Path(sys.executable).parent / "ledgersync")
    env = {**os.environ, "PYTHONPATH": str(Path(ledgersync.__file__).parents[1])}
    proc = subprocess.Popen([exe, "sandbox", "qbd", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env)
    deadline = time.monotonic() + 40
    while True:
        try:
            if httpx.get(f"{url}/_sandbox/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()
        assert time.monotonic() < deadline, "the sandbox did not start"
        time.sleep(0.1)


def test_cli_serves_runs_the_web_connector_and_survives_sigkill(tmp_path: Path) -> None:
    add = rq('<CustomerAddRq requestID="1"><CustomerAdd><Name>Durable</Name></CustomerAdd></CustomerAddRq>')
    script: dict[str, Any] = {"serverVersion": "t", "clientVersion": "", "authenticate": ["T", ""],
                              "sendRequestXML": queue(add, ""), "receiveResponseXML": 100, "getLastError": "",
                              "closeConnection": "OK"}
    with serve(ScriptedService(script)) as svc:
        qwc = tmp_path / "app.qwc"
        qwc.write_text(QWC.format(url="http://localhost:1/unused", minutes=30), encoding="utf-8")
        port, data = _free_port(), tmp_path / "qbd.json"
        url = f"http://127.0.0.1:{port}"
        args = ["--app-url", svc.url, "--qwc", str(qwc), "--password", "pw", "--port", str(port), "--data", str(data),
                "--no-auto-run"]
        proc = _start(args, url)
        try:
            summary = httpx.post(f"{url}/_sandbox/webconnector/run", json={"wait": True}, timeout=60).json()
            assert summary["outcome"] == "done" and summary["requests"] == 1
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            proc = _start(["--port", str(port), "--data", str(data), "--no-auto-run"], url)
            dump = httpx.get(f"{url}/_sandbox/company/dump", timeout=10).json()
            assert [c["Name"] for c in dump["Customer"]] == ["Durable"]
            st = httpx.get(f"{url}/_sandbox/webconnector", timeout=10).json()
            assert st["loaded"] and st["app_url"] == svc.url
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    env = {**os.environ, "PYTHONPATH": str(Path(ledgersync.__file__).parents[1])}
    exe = shutil.which("ledgersync") or "ledgersync"
    bad = subprocess.run([exe, "sandbox", "qbd", "--qwc", str(qwc)], capture_output=True, env=env)
    assert bad.returncode != 0 and b"--password" in bad.stderr
