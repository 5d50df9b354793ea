"""The emulated Web Connector against a scripted SOAP responder (tests/sandbox/qbd/responder.py): the QBWC call
order, "none", "nvu", NoOp, a dropped connection, connectionError, and a session ended mid-iterator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree

from ledgersync.sandbox.qbd import QbdSandboxHandle

from .responder import QWC, Drop, ScriptedService, qbxml_request, queue, serve

CUSTOMER_ADD = qbxml_request('<CustomerAddRq requestID="w1"><CustomerAdd><Name>From the app</Name></CustomerAdd>'
                             "</CustomerAddRq>")


@pytest.fixture
def loaded(qbd: QbdSandboxHandle) -> Iterator[Any]:
    def load(script: dict[str, Any]) -> ScriptedService:
        svc = ScriptedService({"serverVersion": "ledgersync test", "clientVersion": "",
                               "closeConnection": "OK", **script})
        ctx = serve(svc)
        ctx.__enter__()
        opened.append(ctx)
        qbd.load_qwc(QWC.format(url=svc.url, minutes=30), "s3cret")
        return svc

    opened: list[Any] = []
    yield load
    for ctx in opened:
        ctx.__exit__(None, None, None)


def test_full_session_call_order_and_answers(qbd: QbdSandboxHandle, loaded: Any) -> None:
    svc = loaded({"authenticate": ["TICKET-1", ""], "sendRequestXML": queue(CUSTOMER_ADD, ""),
                  "receiveResponseXML": 100, "getLastError": ""})
    summary = qbd.run_now()
    assert summary["outcome"] == "done" and summary["requests"] == 1
    assert svc.methods() == ["serverVersion", "clientVersion", "authenticate", "sendRequestXML",
                             "receiveResponseXML", "closeConnection"]
    assert svc.params("clientVersion")[0]["strVersion"] == "2.3.0.215"
    assert svc.params("authenticate")[0] == {"strUserName": "conn-1", "strPassword": "s3cret"}
    send = svc.params("sendRequestXML")[0]
    assert send["ticket"] == "TICKET-1" and send["qbXMLMajorVers"] == "13" and send["qbXMLCountry"] == "US"
    assert "HostQueryRs" in send["strHCPResponse"] and send["strCompanyFileName"].endswith(".QBW")
    rr = svc.params("receiveResponseXML")[0]
    rs = etree.fromstring(rr["response"].encode()).find("QBXMLMsgsRs/CustomerAddRs")
    assert rs is not None and rs.get("requestID") == "w1" and rs.get("statusCode") == "0"
    assert [c["Name"] for c in qbd.dump()["Customer"]] == ["From the app"]
    log = qbd.session_log(summary["id"])
    assert [e["method"] for e in log if e["method"]][:3] == ["serverVersion", "clientVersion", "authenticate"]
    assert all(e["params"].get("strPassword") in (None, "***") for e in log if e.get("params"))


def test_empty_request_means_done_then_get_last_error(qbd: QbdSandboxHandle, loaded: Any) -> None:
    svc = loaded({"authenticate": ["T", ""], "sendRequestXML": queue(CUSTOMER_ADD, ""), "receiveResponseXML": 50,
                  "getLastError": ""})
    assert qbd.run_now()["outcome"] == "done"
    assert svc.methods()[3:] == ["sendRequestXML", "receiveResponseXML", "sendRequestXML", "getLastError",
                                 "closeConnection"]
    # the second sendRequestXML carries no HCP response
    assert svc.params("sendRequestXML")[1]["strHCPResponse"] == ""


def test_none_and_nvu_end_the_session(qbd: QbdSandboxHandle, loaded: Any) -> None:
    svc = loaded({"authenticate": ["T", "none"]})
    assert qbd.run_now()["outcome"] == "none"
    assert svc.methods() == ["serverVersion", "clientVersion", "authenticate"]
    svc = loaded({"authenticate": ["", "nvu"]})
    s = qbd.run_now()
    assert s["outcome"] == "nvu" and "QBWC1012" in (s["error"] or "")
    assert "sendRequestXML" not in svc.methods()


def test_noop_waits_and_asks_again(qbd: QbdSandboxHandle, loaded: Any) -> None:
    svc = loaded({"authenticate": ["T", ""], "sendRequestXML": queue("", "", CUSTOMER_ADD),
                  "getLastError": queue("NoOp", "NoOp", ""), "receiveResponseXML": 100})
    s = qbd.run_now()
    assert s["outcome"] == "done" and s["requests"] == 1
    assert svc.methods().count("getLastError") == 2 and svc.methods().count("sendRequestXML") == 3


def test_negative_percent_calls_get_last_error(qbd: QbdSandboxHandle, loaded: Any) -> None:
    svc = loaded({"authenticate": ["T", ""], "sendRequestXML": CUSTOMER_ADD, "receiveResponseXML": -101,
                  "getLastError": "the app could not read that"})
    s = qbd.run_now()
    assert s["outcome"] == "error" and s["error"] == "the app could not read that"
    assert svc.methods()[-2:] == ["getLastError", "closeConnection"]


def test_company_file_path_and_postpone(qbd: QbdSandboxHandle, loaded: Any) -> None:
    path = qbd.control.get("/_sandbox/company").json()["file_path"]
    svc = loaded({"authenticate": ["T", path, "600"], "sendRequestXML": "", "getLastError": ""})
    s = qbd.run_now()
    assert s["outcome"] == "done" and s["postpone_seconds"] == 600
    assert svc.params("sendRequestXML")[0]["strCompanyFileName"] == path
    # another file than the one open: connectionError, and "done" ends it
    svc = loaded({"authenticate": ["T", r"C:\Other.QBW"], "connectionError": "done"})
    s = qbd.run_now()
    assert s["outcome"] == "connection_error" and svc.methods()[-2:] == ["connectionError", "closeConnection"]


def test_quickbooks_not_running(qbd: QbdSandboxHandle, loaded: Any) -> None:
    svc = loaded({"authenticate": ["T", ""], "connectionError": "done"})
    qbd.faults(qb_not_running=True)
    s = qbd.run_now()
    assert s["outcome"] == "connection_error"
    ce = svc.params("connectionError")[0]
    assert ce == {"ticket": "T", "hresult": "0x80040401", "message": "Could not access QuickBooks."}
    assert "sendRequestXML" not in svc.methods()


def test_server_drops_http_mid_session(qbd: QbdSandboxHandle, loaded: Any) -> None:
    def drop(params: dict[str, str]) -> Any:
        raise Drop()

    svc = loaded({"authenticate": ["T", ""], "sendRequestXML": CUSTOMER_ADD, "receiveResponseXML": drop})
    s = qbd.run_now()
    assert s["outcome"] == "dropped" and "QBWC1013" in s["error"]
    assert svc.methods()[-1] == "receiveResponseXML"  # the session ended there: no closeConnection


def test_web_connector_drops_http_fault(qbd: QbdSandboxHandle, loaded: Any) -> None:
    svc = loaded({"authenticate": ["T", ""], "sendRequestXML": CUSTOMER_ADD, "receiveResponseXML": 100})
    qbd.faults(drop_http={"method": "receiveResponseXML", "nth": 1, "when": "after_send"})
    s = qbd.run_now()
    assert s["outcome"] == "dropped"
    # the request reached the service (it may have acted on it); the answer was never read
    assert "receiveResponseXML" in svc.methods() and "closeConnection" not in svc.methods()
    assert qbd.control.get("/_sandbox/faults").json()["drop_http"] is None  # one-shot


def test_session_ended_mid_iterator_then_3391(qbd: QbdSandboxHandle, loaded: Any) -> None:
    for i in range(3):
        qbd.qbxml(qbxml_request(
            f"<CustomerAddRq><CustomerAdd><Name>C{i}</Name></CustomerAdd></CustomerAddRq>"))
    start = qbxml_request('<CustomerQueryRq requestID="it" iterator="Start"><MaxReturned>1</MaxReturned>'
                          "</CustomerQueryRq>")
    svc = loaded({"authenticate": ["T", ""], "sendRequestXML": start, "receiveResponseXML": 10})
    qbd.faults(end_session_mid_iterator=1)
    s = qbd.run_now()
    assert s["outcome"] == "ended_mid_iterator" and svc.methods()[-1] == "closeConnection"
    first = etree.fromstring(svc.params("receiveResponseXML")[0]["response"].encode())
    iid = first.find("QBXMLMsgsRs/CustomerQueryRs").get("iteratorID")
    cont = qbxml_request(f'<CustomerQueryRq requestID="it2" iterator="Continue" iteratorID="{iid}">'
                         "<MaxReturned>1</MaxReturned></CustomerQueryRq>")
    svc2 = loaded({"authenticate": ["T2", ""], "sendRequestXML": cont, "receiveResponseXML": 100})
    assert qbd.run_now()["outcome"] == "done"
    rs = etree.fromstring(svc2.params("receiveResponseXML")[0]["response"].encode()).find("QBXMLMsgsRs/"
                                                                                          "CustomerQueryRs")
    assert rs is not None and rs.get("statusCode") == "3391"


def test_stale_edit_sequence_fault(qbd: QbdSandboxHandle, loaded: Any) -> None:
    ret = etree.fromstring(qbd.qbxml(qbxml_request("<CustomerAddRq><CustomerAdd><Name>S</Name></CustomerAdd>"
                                                   "</CustomerAddRq>")).encode()).find(".//CustomerRet")
    assert ret is not None
    mod = qbxml_request(f"<CustomerModRq><CustomerMod><ListID>{ret.findtext('ListID')}</ListID><EditSequence>"
                        f"{ret.findtext('EditSequence')}</EditSequence><Phone>1</Phone></CustomerMod></CustomerModRq>")
    svc = loaded({"authenticate": ["T", ""], "sendRequestXML": mod, "receiveResponseXML": 100})
    qbd.faults(stale_edit_sequence={"count": 1, "fields": {"Notes": "edited at the desk"}})
    qbd.run_now()
    rs = etree.fromstring(svc.params("receiveResponseXML")[0]["response"].encode()).find(".//CustomerModRs")
    assert rs is not None and rs.get("statusCode") == "3200"
    assert rs.findtext("CustomerRet/Notes") == "edited at the desk"


def test_schedule_runs_every_n_minutes(qbd: QbdSandboxHandle, loaded: Any) -> None:
    svc = loaded({"authenticate": ["T", "none"]})
    qbd.set_interval(minutes=1, seconds_per_minute=0.2, auto_run=True)
    import time

    deadline = time.monotonic() + 20
    while len(svc.params("authenticate")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(svc.params("authenticate")) >= 2
    assert all(s["trigger"] == "scheduled" for s in qbd.sessions())
    qbd.set_interval(auto_run=False)


def test_version_refused(qbd: QbdSandboxHandle, loaded: Any) -> None:
    svc = loaded({"clientVersion": "E:upgrade your Web Connector"})
    assert qbd.run_now()["outcome"] == "version_refused" and "authenticate" not in svc.methods()


def test_every_call_matches_the_published_wsdl(qbd: QbdSandboxHandle) -> None:
    from .conftest import CONTRACTS
    from .responder import WsdlService

    wsdl = CONTRACTS / "QBWebConnectorSvc.wsdl"
    if not wsdl.exists():
        pytest.skip(f"the QBWC WSDL is not at {wsdl} (../shared/contracts/qbd)")
    script = {"serverVersion": "wsdl", "clientVersion": "", "authenticate": ["T", ""],
              "sendRequestXML": queue(CUSTOMER_ADD, "", ""), "receiveResponseXML": 50,
              "getLastError": "", "connectionError": "done", "closeConnection": "OK"}
    svc = WsdlService(script, str(wsdl))
    with serve(svc):
        qbd.load_qwc(QWC.format(url=svc.url, minutes=30), "pw")
        assert qbd.run_now()["outcome"] == "done"
        qbd.faults(qb_not_running=True)
        assert qbd.run_now()["outcome"] == "connection_error"
    assert set(svc.methods()) == {"serverVersion", "clientVersion", "authenticate", "sendRequestXML",
                                  "receiveResponseXML", "getLastError", "connectionError", "closeConnection"}
    rr = svc.params("receiveResponseXML")[0]
    assert "CustomerAddRs" in rr["response"] and rr["hresult"] == ""
    assert svc.params("sendRequestXML")[0]["qbXMLMajorVers"] == "13"
