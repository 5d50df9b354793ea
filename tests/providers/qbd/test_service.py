"""Our Web Connector service driven by a zeep client built from the published QBWebConnectorSvc.wsdl: every
operation, a whole sync session carried to a scripted QuickBooks company, and each request checked against
the qbXML 13.0 schema."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from ledgersync import Contact, Entity, Invoice, InvoiceLine, Item, Payment
from ledgersync.model import Allocation

from .conftest import Env, validate, wait_idle
from .webconnector import run_session, soap_client, strings


def seed(env: Env) -> None:
    ls, org = env.ls, env.org
    ls.upsert(org, Contact(id="c-parent", name="Harbour Holdings", email="ap@harbour.example"))
    ls.upsert(org, Contact(id="c-child", name="Harbour Cafe", parent_id="c-parent"))
    ls.upsert(org, Item(id="i-1", code="SVC-HOUR", name="Workshop hour", unit_price=Decimal("95.00")))
    ls.upsert(
        org,
        Invoice(
            id="inv-1",
            contact_id="c-child",
            number="INV-1001",
            date=dt.date(2026, 11, 18),
            due_date=dt.date(2026, 12, 18),
            lines=[
                InvoiceLine(
                    description="Repairs", quantity=Decimal(2), unit_amount=Decimal("95.00"), item_code="SVC-HOUR"
                )
            ],
        ),
    )
    ls.upsert(
        org,
        Payment(
            id="pay-1",
            date=dt.date(2026, 11, 19),
            amount=Decimal("200.00"),
            reference="EFT 5531",
            allocations=[Allocation(invoice_id="inv-1", amount=Decimal("190.00"))],
        ),
    )


def test_version_callbacks_and_a_wrong_password(env: Env) -> None:
    svc = soap_client(env.url)
    assert "ledgersync" in svc.serverVersion()
    assert svc.clientVersion("2.3.0.215") in (None, "")
    assert svc.clientVersion("2.1.0.30").startswith("W:")
    assert svc.clientVersion("1.5.0.0").startswith("E:")
    refused = strings(svc.authenticate(env.conn, env.password + "x"))
    assert refused[1] == "nvu" and refused[0]
    unknown = strings(svc.authenticate("conn_nobody", env.password))
    assert unknown[1] == "nvu"


def test_a_whole_session_syncs_the_sample_business(env: Env) -> None:
    seed(env)
    svc = soap_client(env.url)
    log = run_session(svc, env.conn, env.password, env.company)
    wait_idle(env, log.ticket)
    assert log.status == ""
    assert log.percents and log.percents[-1] == 100 and all(0 <= p <= 100 for p in log.percents)
    assert log.close
    # QuickBooks has each record once, the sub-customer under its parent, the payment over the invoice.
    customers = {r.findtext("FullName"): r for r in env.company.of_type("Customer")}
    assert set(customers) == {"Harbour Holdings", "Harbour Holdings:Harbour Cafe"}
    [inv] = env.company.of_type("Invoice")
    assert inv.findtext("RefNumber") == "INV-1001" and inv.findtext("BalanceRemaining") == "0.00"
    [pay] = env.company.of_type("ReceivePayment")
    assert pay.findtext("UnusedPayment") == "10.00"
    for entity, app_id in ((Entity.CONTACT, "c-child"), (Entity.INVOICE, "inv-1"), (Entity.PAYMENT, "pay-1")):
        assert _state(env, entity, app_id) == "synced", (entity, app_id)
    for doc in env.company.requests:
        validate(doc)


def test_a_second_session_reads_a_persons_edit_back(env: Env) -> None:
    seed(env)
    svc = soap_client(env.url)
    first = run_session(svc, env.conn, env.password, env.company)
    wait_idle(env, first.ticket)
    env.company.edit_customer("Harbour Holdings", Phone="555-0100")
    second = run_session(svc, env.conn, env.password, env.company)
    wait_idle(env, second.ticket)
    [mine] = [r for r in env.ls.records(env.org, Entity.CONTACT) if r.app_id == "c-parent"]
    assert getattr(mine.record, "phone", None) == "555-0100"
    assert env.company.counts.get("CustomerAddRq", 0) == 2  # nothing added twice


def test_unknown_tickets_connection_errors_and_the_wsdl(env: Env) -> None:
    svc = soap_client(env.url)
    assert svc.sendRequestXML("{nope}", "", "", "US", 13, 0) in (None, "")
    assert "ended" in svc.getLastError("{nope}")
    assert svc.receiveResponseXML("{nope}", "<QBXML/>", "", "") == 100
    assert svc.closeConnection("{nope}") == "OK"
    auth = strings(svc.authenticate(env.conn, env.password))
    assert auth[1] == ""
    assert svc.connectionError(auth[0], "0x80040401", "Could not access QuickBooks.") == "done"
    assert "0x80040401" in svc.getLastError(auth[0])
    assert svc.sendRequestXML(auth[0], "", "", "US", 13, 0) in (None, "")
    wait_idle(env, auth[0])
    # Our own WSDL describes the same operations at this address.
    wsdl = httpx.get(env.url + "?wsdl")
    assert wsdl.status_code == 200 and "QBWebConnectorSvc" in wsdl.text
    from zeep import Client

    ours = Client(env.url + "?wsdl").service
    assert "ledgersync" in ours.serverVersion()


def test_a_malformed_envelope_is_a_soap_fault_not_a_crash(env: Env) -> None:
    r = httpx.post(env.url, content=b"<not-soap/>", headers={"content-type": "text/xml"})
    assert r.status_code == 500 and "Fault" in r.text


@pytest.mark.parametrize("hresult", ["0x80040400"])
def test_a_request_quickbooks_could_not_process_answers_negative(env: Env, hresult: str) -> None:
    seed(env)
    svc = soap_client(env.url)
    ticket = strings(svc.authenticate(env.conn, env.password))[0]
    req = ""
    for _ in range(100):
        req = svc.sendRequestXML(ticket, "", "", "US", 13, 0) or ""
        if req:
            break
    assert req
    assert svc.receiveResponseXML(ticket, "", hresult, "QuickBooks found an error when parsing the provided XML") < 0
    assert hresult in svc.getLastError(ticket)
    svc.closeConnection(ticket)
    wait_idle(env, ticket)


def _state(env: Env, entity: Entity, app_id: str) -> str:
    view = env.ls.get(env.org, entity, app_id, conn_id=env.conn)
    assert view is not None
    return view.state
