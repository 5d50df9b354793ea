"""Every qbXML response the company file produced during these tests validates against Intuit's qbxmlops130.xsd
(and this module drives every request type once itself, so it checks something when run alone)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from lxml import etree

import ledgersync.sandbox.qbd
from ledgersync.sandbox.qbd import QbdSandboxHandle

from .conftest import PRODUCED, rq

WALK = [
    "<HostQueryRq/><CompanyQueryRq/><PreferencesQueryRq/>",
    "<ClassAddRq><ClassAdd><Name>North</Name></ClassAdd></ClassAddRq>",
    "<ItemSalesTaxAddRq><ItemSalesTaxAdd><Name>State</Name><TaxRate>8.5</TaxRate></ItemSalesTaxAdd>"
    "</ItemSalesTaxAddRq>",
    "<SalesTaxCodeAddRq><SalesTaxCodeAdd><Name>EXM</Name><IsTaxable>false</IsTaxable></SalesTaxCodeAdd>"
    "</SalesTaxCodeAddRq>",
    "<CustomerAddRq requestID='1'><CustomerAdd><Name>Walk</Name><ClassRef><FullName>North</FullName></ClassRef>"
    "<BillAddress><Addr1>1 Main St</Addr1><City>Town</City></BillAddress><Phone>555</Phone>"
    "<ItemSalesTaxRef><FullName>State</FullName></ItemSalesTaxRef></CustomerAdd></CustomerAddRq>",
    "<CustomerAddRq><CustomerAdd><Name>Job</Name><ParentRef><FullName>Walk</FullName></ParentRef></CustomerAdd>"
    "</CustomerAddRq>",
    "<VendorAddRq><VendorAdd><Name>Supplier</Name><VendorAddress><Addr1>2 Side St</Addr1></VendorAddress>"
    "</VendorAdd></VendorAddRq>",
    "<ItemServiceAddRq><ItemServiceAdd><Name>Labour</Name><SalesTaxCodeRef><FullName>Tax</FullName>"
    "</SalesTaxCodeRef><SalesOrPurchase><Desc>Hour</Desc><Price>50.00</Price><AccountRef><FullName>Services"
    "</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>",
    "<ItemNonInventoryAddRq><ItemNonInventoryAdd><Name>Cable</Name><SalesAndPurchase><SalesDesc>Cable</SalesDesc>"
    "<SalesPrice>5.00</SalesPrice><IncomeAccountRef><FullName>Sales</FullName></IncomeAccountRef><PurchaseCost>2.00"
    "</PurchaseCost><ExpenseAccountRef><FullName>Cost of Goods Sold</FullName></ExpenseAccountRef></SalesAndPurchase>"
    "</ItemNonInventoryAdd></ItemNonInventoryAddRq>",
    "<ItemInventoryAddRq><ItemInventoryAdd><Name>Router</Name><SalesPrice>120.00</SalesPrice><IncomeAccountRef>"
    "<FullName>Sales</FullName></IncomeAccountRef><PurchaseCost>80.00</PurchaseCost><COGSAccountRef>"
    "<FullName>Cost of Goods Sold</FullName></COGSAccountRef>"
    "<AssetAccountRef><FullName>Inventory Asset</FullName></AssetAccountRef>"
    "<QuantityOnHand>10</QuantityOnHand><TotalValue>800.00</TotalValue></ItemInventoryAdd></ItemInventoryAddRq>",
    "<ItemQueryRq/>",
    "<AccountQueryRq/>",
    "<InvoiceAddRq requestID='inv'><InvoiceAdd><CustomerRef><FullName>Walk:Job</FullName></CustomerRef>"
    "<ClassRef><FullName>North</FullName></ClassRef><TxnDate>2026-11-30</TxnDate><RefNumber>INV-1</RefNumber>"
    "<InvoiceLineAdd><ItemRef><FullName>Labour</FullName></ItemRef><Quantity>2</Quantity></InvoiceLineAdd>"
    "<InvoiceLineAdd><ItemRef><FullName>Router</FullName></ItemRef><Quantity>1</Quantity><Rate>100.00</Rate>"
    "</InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>",
    "<CreditMemoAddRq><CreditMemoAdd><CustomerRef><FullName>Walk</FullName></CustomerRef><CreditMemoLineAdd>"
    "<ItemRef><FullName>Cable</FullName></ItemRef><Quantity>1</Quantity></CreditMemoLineAdd></CreditMemoAdd>"
    "</CreditMemoAddRq>",
    "<PurchaseOrderAddRq><PurchaseOrderAdd><VendorRef><FullName>Supplier</FullName></VendorRef>"
    "<PurchaseOrderLineAdd><ItemRef><FullName>Router</FullName></ItemRef><Quantity>3</Quantity>"
    "</PurchaseOrderLineAdd></PurchaseOrderAdd></PurchaseOrderAddRq>",
    "<BillAddRq><BillAdd><VendorRef><FullName>Supplier</FullName></VendorRef><RefNumber>B-77</RefNumber>"
    "<ExpenseLineAdd><AccountRef><FullName>Rent Expense</FullName></AccountRef><Amount>300.00</Amount></ExpenseLineAdd>"
    "<ItemLineAdd><ItemRef><FullName>Cable</FullName></ItemRef><Quantity>10</Quantity></ItemLineAdd></BillAdd>"
    "</BillAddRq>",
    "<InvoiceQueryRq><IncludeLineItems>true</IncludeLineItems><IncludeLinkedTxns>true</IncludeLinkedTxns>"
    "</InvoiceQueryRq>",
    "<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><FullName>Walk:Job</FullName></CustomerRef>"
    "<TotalAmount>50.00</TotalAmount><IsAutoApply>true</IsAutoApply></ReceivePaymentAdd></ReceivePaymentAddRq>",
    "<InvoiceQueryRq><IncludeLineItems>true</IncludeLineItems><IncludeLinkedTxns>true</IncludeLinkedTxns>"
    "</InvoiceQueryRq>",
    "<ReceivePaymentQueryRq/><CreditMemoQueryRq><IncludeLineItems>true</IncludeLineItems></CreditMemoQueryRq>"
    "<PurchaseOrderQueryRq><IncludeLineItems>true</IncludeLineItems></PurchaseOrderQueryRq>"
    "<BillQueryRq><IncludeLineItems>true</IncludeLineItems></BillQueryRq><VendorQueryRq/><ClassQueryRq/>"
    "<SalesTaxCodeQueryRq/><CustomerQueryRq iterator='Start'><MaxReturned>1</MaxReturned></CustomerQueryRq>",
    "<CustomerQueryRq><ListID>nope-1</ListID></CustomerQueryRq><CustomerModRq><CustomerMod><ListID>nope-1</ListID>"
    "<EditSequence>1</EditSequence></CustomerMod></CustomerModRq>",
    "<ListDeletedQueryRq><ListDelType>Customer</ListDelType></ListDeletedQueryRq>"
    "<TxnDeletedQueryRq><TxnDelType>Invoice</TxnDelType></TxnDeletedQueryRq>",
]


def test_walk_then_every_response_validates(qbd: QbdSandboxHandle, schema: Any) -> None:
    for body in WALK:
        qbd.qbxml(rq(body, "continueOnError"))
    dump = qbd.dump()
    pid = dump["ReceivePayment"][0]["TxnID"]
    bill = dump["Bill"][0]["TxnID"]
    po = dump["PurchaseOrder"][0]["TxnID"]
    vendor = dump["Vendor"][0]
    qbd.qbxml(rq(f"<TxnVoidRq><TxnVoidType>Bill</TxnVoidType><TxnID>{bill}</TxnID></TxnVoidRq>"
                 f"<TxnDelRq><TxnDelType>ReceivePayment</TxnDelType><TxnID>{pid}</TxnID></TxnDelRq>"
                 f"<TxnDelRq><TxnDelType>PurchaseOrder</TxnDelType><TxnID>{po}</TxnID></TxnDelRq>"
                 f"<VendorModRq><VendorMod><ListID>{vendor['ListID']}</ListID><EditSequence>0</EditSequence>"
                 "<Name>x</Name></VendorMod></VendorModRq>"
                 "<ListDeletedQueryRq><ListDelType>Customer</ListDelType></ListDeletedQueryRq>"
                 "<TxnDeletedQueryRq><TxnDelType>ReceivePayment</TxnDelType><TxnDelType>PurchaseOrder</TxnDelType>"
                 "</TxnDeletedQueryRq>", "continueOnError"))
    assert len(PRODUCED) >= len(WALK)
    seen: set[str] = set()
    for text in PRODUCED:
        doc = etree.fromstring(text.encode())
        seen |= {el.tag for el in doc.find("QBXMLMsgsRs")}
        errors = list(schema.iter_errors(text))
        assert not errors, f"{errors[0].reason} in {text[:400]}"
    assert {"PreferencesQueryRs", "HostQueryRs", "InvoiceAddRs",
            "ReceivePaymentAddRs", "TxnVoidRs", "TxnDelRs", "ItemQueryRs", "BillAddRs",
            "TxnDeletedQueryRs", "CustomerModRs"} <= seen


def test_the_sandbox_never_imports_the_connector_side() -> None:
    root = Path(ledgersync.sandbox.qbd.__file__).parent
    banned = ("ledgersync.engine", "ledgersync.providers", "ledgersync.model", "ledgersync.store")
    files = list(root.rglob("*.py"))
    assert len(files) > 5
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                assert not any(n == b or n.startswith(b + ".") for b in banned), f"{f} imports {n}"
