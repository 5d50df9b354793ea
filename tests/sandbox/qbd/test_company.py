"""The company file's qbXML rules and status texts (api-facts-wave2.md A.5-A.7)."""

from __future__ import annotations

from lxml import etree

from ledgersync.sandbox.qbd import QbdSandboxHandle

from .conftest import rq


def answer(qbd: QbdSandboxHandle, body: str, on_error: str = "stopOnError") -> list[etree._Element]:
    root = etree.fromstring(qbd.qbxml(rq(body, on_error)).encode())
    assert root.tag == "QBXML"
    return list(root.find("QBXMLMsgsRs"))


def one(qbd: QbdSandboxHandle, body: str) -> etree._Element:
    (rs,) = answer(qbd, body)
    return rs


def customer(qbd: QbdSandboxHandle, name: str, parent: str | None = None) -> etree._Element:
    p = f"<ParentRef><FullName>{parent}</FullName></ParentRef>" if parent else ""
    rs = one(qbd, f'<CustomerAddRq requestID="c"><CustomerAdd><Name>{name}</Name>{p}</CustomerAdd></CustomerAddRq>')
    assert rs.get("statusCode") == "0", rs.get("statusMessage")
    return rs.find("CustomerRet")


def service_item(qbd: QbdSandboxHandle, name: str = "Labour", price: str = "50.00") -> etree._Element:
    rs = one(qbd, f"<ItemServiceAddRq><ItemServiceAdd><Name>{name}</Name><SalesOrPurchase><Price>{price}</Price>"
                  "<AccountRef><FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd>"
                  "</ItemServiceAddRq>")
    assert rs.get("statusCode") == "0", rs.get("statusMessage")
    return rs.find("ItemServiceRet")


def invoice(qbd: QbdSandboxHandle, cust: str, qty: str = "2", ref: str = "") -> etree._Element:
    r = f"<RefNumber>{ref}</RefNumber>" if ref else ""
    rs = one(qbd, f"<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>{cust}</FullName></CustomerRef>{r}"
                  f"<InvoiceLineAdd><ItemRef><FullName>Labour</FullName></ItemRef><Quantity>{qty}</Quantity>"
                  "</InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>")
    assert rs.get("statusCode") == "0", rs.get("statusMessage")
    return rs.find("InvoiceRet")


def test_request_id_echoed_status_ok_and_sub_customers(qbd: QbdSandboxHandle) -> None:
    rs = one(qbd, '<CustomerAddRq requestID="r-17"><CustomerAdd><Name>Acme</Name></CustomerAdd></CustomerAddRq>')
    assert (rs.tag, rs.get("requestID"), rs.get("statusCode"), rs.get("statusSeverity"), rs.get("statusMessage")) == (
        "CustomerAddRs", "r-17", "0", "Info", "Status OK")
    job = customer(qbd, "Kitchen", parent="Acme")
    assert job.findtext("FullName") == "Acme:Kitchen" and job.findtext("Sublevel") == "1"
    assert job.findtext("ParentRef/FullName") == "Acme"
    # no requestID sent, none echoed
    rs = one(qbd, "<CustomerQueryRq><FullName>Acme:Kitchen</FullName></CustomerQueryRq>")
    assert rs.get("requestID") is None and rs.findtext("CustomerRet/Name") == "Kitchen"


def test_names_unique_across_the_name_list_and_max_41(qbd: QbdSandboxHandle) -> None:
    customer(qbd, "Acme")
    rs = one(qbd, "<VendorAddRq><VendorAdd><Name>ACME</Name></VendorAdd></VendorAddRq>")
    assert rs.get("statusCode") == "3100" and rs.get("statusSeverity") == "Error"
    assert rs.get("statusMessage") == 'The name "ACME" of the list element is already in use.'
    rs = one(qbd, f"<CustomerAddRq><CustomerAdd><Name>{'x' * 42}</Name></CustomerAdd></CustomerAddRq>")
    assert rs.get("statusCode") == "3070"
    customer(qbd, "x" * 41)
    # the same job name under another parent is a different FullName
    customer(qbd, "Kitchen", "Acme")
    customer(qbd, "Beta")
    customer(qbd, "Kitchen", "Beta")


def test_edit_sequence_required_and_stale_3200_carries_current(qbd: QbdSandboxHandle) -> None:
    c = customer(qbd, "Stale Co")
    lid, es = c.findtext("ListID"), c.findtext("EditSequence")
    edited = qbd.as_user("customer-edit", {"ListID": lid, "fields": {"Phone": "555-0100"}})
    assert edited["statusCode"] == 0 and edited["ret"]["Phone"] == "555-0100"
    rs = one(qbd, f"<CustomerModRq><CustomerMod><ListID>{lid}</ListID><EditSequence>{es}</EditSequence>"
                  "<Notes>mine</Notes></CustomerMod></CustomerModRq>")
    assert rs.get("statusCode") == "3200"
    assert rs.get("statusMessage") == f'The provided edit sequence "{es}" is out-of-date. '
    assert rs.findtext("CustomerRet/EditSequence") == edited["ret"]["EditSequence"] != es
    # without EditSequence the request set does not parse (the schema requires it)
    r = qbd.control.post("/_sandbox/qbxml", content=rq(f"<CustomerModRq><CustomerMod><ListID>{lid}</ListID>"
                                                       "</CustomerMod></CustomerModRq>"))
    assert r.status_code == 400 and r.text.startswith("0x80040400")
    fresh = edited["ret"]["EditSequence"]
    rs = one(qbd, f"<CustomerModRq><CustomerMod><ListID>{lid}</ListID><EditSequence>{fresh}</EditSequence>"
                  "<Name>Fresh Co</Name></CustomerMod></CustomerModRq>")
    assert rs.get("statusCode") == "0" and rs.findtext("CustomerRet/FullName") == "Fresh Co"


def test_invoice_totals_payments_and_overpayment(qbd: QbdSandboxHandle) -> None:
    customer(qbd, "Payer")
    service_item(qbd)
    inv1, inv2 = invoice(qbd, "Payer", "2"), invoice(qbd, "Payer", "1")
    assert inv1.findtext("Subtotal") == "100.00" and inv1.findtext("BalanceRemaining") == "100.00"
    assert inv1.findtext("RefNumber") == "1" and inv2.findtext("RefNumber") == "2"
    t1, t2 = inv1.findtext("TxnID"), inv2.findtext("TxnID")
    rs = one(qbd, f"<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><FullName>Payer</FullName></CustomerRef>"
                  f"<TotalAmount>200.00</TotalAmount><AppliedToTxnAdd><TxnID>{t1}</TxnID><PaymentAmount>100.00"
                  f"</PaymentAmount></AppliedToTxnAdd><AppliedToTxnAdd><TxnID>{t2}</TxnID><PaymentAmount>20.00"
                  "</PaymentAmount></AppliedToTxnAdd></ReceivePaymentAdd></ReceivePaymentAddRq>")
    assert rs.get("statusCode") == "0", rs.get("statusMessage")
    assert rs.findtext("ReceivePaymentRet/UnusedPayment") == "80.00"
    assert [a.findtext("Amount") for a in rs.iterfind("ReceivePaymentRet/AppliedToTxnRet")] == ["-100.00", "-20.00"]
    got = one(qbd, f"<InvoiceQueryRq><TxnID>{t1}</TxnID><TxnID>{t2}</TxnID></InvoiceQueryRq>")
    paid = {r.findtext("TxnID"): (r.findtext("BalanceRemaining"), r.findtext("IsPaid")) for r in got}
    assert paid == {t1: ("0.00", "true"), t2: ("30.00", "false")}
    rs = one(qbd, f"<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><FullName>Payer</FullName></CustomerRef>"
                  f"<TotalAmount>40.00</TotalAmount><AppliedToTxnAdd><TxnID>{t2}</TxnID><PaymentAmount>40.00"
                  "</PaymentAmount></AppliedToTxnAdd></ReceivePaymentAdd></ReceivePaymentAddRq>")
    assert rs.get("statusCode") == "3210"
    assert rs.get("statusMessage") == ('The "AppliedToTxnAdd payment amount" field has an invalid value "40.00".  '
                                       "QuickBooks error message: You cannot pay more than the amount due.")
    bal = one(qbd, "<CustomerQueryRq><FullName>Payer</FullName></CustomerQueryRq>")
    assert bal.findtext("CustomerRet/Balance") == "-50.00"  # 30 still due, 80 of credit


def test_refnumber_max_11_and_invalid_customer_ref(qbd: QbdSandboxHandle) -> None:
    customer(qbd, "Ref Co")
    service_item(qbd)
    rs = one(qbd, "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Ref Co</FullName></CustomerRef>"
                  "<RefNumber>123456789012</RefNumber></InvoiceAdd></InvoiceAddRq>")
    assert rs.get("statusCode") == "3070"
    rs = one(qbd, "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Nobody</FullName></CustomerRef></InvoiceAdd>"
                  "</InvoiceAddRq>")
    assert rs.get("statusCode") == "3140"
    assert rs.get("statusMessage", "").startswith('There is an invalid reference to QuickBooks Customer "Nobody" in '
                                                  "the Invoice.")


def test_on_error_stop_and_continue(qbd: QbdSandboxHandle) -> None:
    body = ("<VendorAddRq requestID='1'><VendorAdd><Name>V</Name></VendorAdd></VendorAddRq>"
            "<VendorAddRq requestID='2'><VendorAdd><Name>V</Name></VendorAdd></VendorAddRq>"
            "<VendorAddRq requestID='3'><VendorAdd><Name>W</Name></VendorAdd></VendorAddRq>")
    assert [r.get("statusCode") for r in answer(qbd, body, "stopOnError")] == ["0", "3100"]
    qbd.control.post("/_sandbox/reset")
    assert [r.get("statusCode") for r in answer(qbd, body, "continueOnError")] == ["0", "3100", "0"]


def test_iterators_max_returned_and_3391(qbd: QbdSandboxHandle) -> None:
    for i in range(5):
        customer(qbd, f"Iter {i}")
    rs = one(qbd, '<CustomerQueryRq requestID="a" iterator="Start"><MaxReturned>2</MaxReturned></CustomerQueryRq>')
    iid = rs.get("iteratorID")
    assert rs.get("retCount") == "2" and rs.get("iteratorRemainingCount") == "3" and iid
    names = [r.findtext("Name") for r in rs]
    while rs.get("iteratorRemainingCount") != "0":
        rs = one(qbd, f'<CustomerQueryRq iterator="Continue" iteratorID="{iid}"><MaxReturned>2</MaxReturned>'
                      "</CustomerQueryRq>")
        names += [r.findtext("Name") for r in rs]
    assert names == [f"Iter {i}" for i in range(5)]
    rs = one(qbd, f'<CustomerQueryRq iterator="Continue" iteratorID="{iid}"><MaxReturned>2</MaxReturned>'
                  "</CustomerQueryRq>")
    assert rs.get("statusCode") == "3391" and rs.get("statusMessage") == f'The iteratorID "{iid}" is not valid.'
    rs = one(qbd, "<CustomerQueryRq><NameFilter><MatchCriterion>StartsWith</MatchCriterion><Name>Nope</Name>"
                  "</NameFilter></CustomerQueryRq>")
    assert (rs.get("statusCode"), rs.get("statusSeverity"), rs.get("statusMessage")) == (
        "1", "Info", "A query request did not find a matching object in QuickBooks")


def test_modified_filters_use_the_skewed_company_clock(qbd: QbdSandboxHandle) -> None:
    old = customer(qbd, "Old")
    qbd.control.post("/_sandbox/clock", json={"advance_seconds": 3600})
    new = customer(qbd, "New")
    assert new.findtext("TimeModified") != old.findtext("TimeModified")
    since = new.findtext("TimeModified")
    rs = one(qbd, f"<CustomerQueryRq><FromModifiedDate>{since}</FromModifiedDate></CustomerQueryRq>")
    assert [r.findtext("Name") for r in rs] == ["New"]
    service_item(qbd)
    invoice(qbd, "New")
    rs = one(qbd, f"<InvoiceQueryRq><ModifiedDateRangeFilter><FromModifiedDate>{since}</FromModifiedDate>"
                  "</ModifiedDateRangeFilter><IncludeLineItems>true</IncludeLineItems></InvoiceQueryRq>")
    assert rs.get("retCount") == "1" and rs.find("InvoiceRet/InvoiceLineRet") is not None
    rs = one(qbd, "<InvoiceQueryRq><ModifiedDateRangeFilter><FromModifiedDate>2099-01-01</FromModifiedDate>"
                  "</ModifiedDateRangeFilter></InvoiceQueryRq>")
    assert rs.get("statusCode") == "1"


def test_void_delete_and_deleted_queries(qbd: QbdSandboxHandle) -> None:
    customer(qbd, "Gone")
    service_item(qbd)
    inv = invoice(qbd, "Gone")
    tid = inv.findtext("TxnID")
    v = qbd.as_user("void", {"type": "Invoice", "TxnID": tid})
    assert v["statusCode"] == 0
    got = one(qbd, f"<InvoiceQueryRq><TxnID>{tid}</TxnID></InvoiceQueryRq>")
    assert got.findtext("InvoiceRet/Subtotal") == "0.00" and got.findtext("InvoiceRet/Memo").startswith("VOID:")
    # a payment cannot be voided: TxnVoidType has no ReceivePayment, so the set fails to parse
    r = qbd.control.post("/_sandbox/qbxml", content=rq("<TxnVoidRq><TxnVoidType>ReceivePayment</TxnVoidType>"
                                                       f"<TxnID>{tid}</TxnID></TxnVoidRq>"))
    assert r.status_code == 400 and "0x80040400" in r.text
    # a customer with transactions cannot be deleted
    lid = one(qbd, "<CustomerQueryRq><FullName>Gone</FullName></CustomerQueryRq>").findtext("CustomerRet/ListID")
    rs = one(qbd, f"<ListDelRq><ListDelType>Customer</ListDelType><ListID>{lid}</ListID></ListDelRq>")
    assert rs.get("statusCode") == "3171" and rs.get("statusSeverity") == "Error"
    rs = one(qbd, f"<TxnDelRq><TxnDelType>Invoice</TxnDelType><TxnID>{tid}</TxnID></TxnDelRq>")
    assert rs.get("statusCode") == "0" and rs.findtext("TxnID") == tid
    rs = one(qbd, f"<ListDelRq><ListDelType>Customer</ListDelType><ListID>{lid}</ListID></ListDelRq>")
    assert rs.get("statusCode") == "0" and rs.findtext("FullName") == "Gone"
    rs = one(qbd, "<TxnDeletedQueryRq><TxnDelType>Invoice</TxnDelType></TxnDeletedQueryRq>")
    assert [r.findtext("TxnID") for r in rs] == [tid]
    rs = one(qbd, "<ListDeletedQueryRq><ListDelType>Customer</ListDelType></ListDeletedQueryRq>")
    assert [r.findtext("ListID") for r in rs] == [lid] and rs.get("retCount") == "1"


def test_lock_contention_fault_on_next_requests(qbd: QbdSandboxHandle) -> None:
    qbd.faults(lock_contention={"count": 2, "code": 3175})
    codes = [one(qbd, f"<VendorAddRq><VendorAdd><Name>L{i}</Name></VendorAdd></VendorAddRq>").get("statusCode")
             for i in range(3)]
    assert codes == ["3175", "3175", "0"]
    counters = qbd.counters()
    assert counters["requests"]["VendorAddRq"] == 3 and counters["statuses"]["3175"] == 2


def test_request_id_over_50_characters(qbd: QbdSandboxHandle) -> None:
    rid = "r" * 51
    rs = one(qbd, f'<ClassQueryRq requestID="{rid}"/>')
    assert rs.get("statusCode") == "1060" and rs.get("requestID") == rid
    assert one(qbd, f'<ClassQueryRq requestID="{"r" * 50}"/>').get("statusCode") == "1"
