"""The list and transaction types the emulated company file keeps, with their qbXML 13.0 Ret element orders.

Orders are the sequences of qbxmlops130.xsd restricted to the fields kept here (Intuit's schema; a test validates
every response against it)."""

from __future__ import annotations

from dataclasses import dataclass

LIST_CORE = ("ListID", "TimeCreated", "TimeModified", "EditSequence")
TXN_CORE = ("TxnID", "TimeCreated", "TimeModified", "EditSequence", "TxnNumber")
NAME_PARTS = ("Salutation", "FirstName", "MiddleName", "LastName", "Suffix", "JobTitle")
CONTACT_PARTS = ("Phone", "Mobile", "Pager", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact")


@dataclass(frozen=True)
class ListKind:
    name: str
    order: tuple[str, ...]
    name_max: int
    hierarchical: bool  # FullName "Parent:Child", ParentRef, Sublevel
    namespace: str  # names must be unique within it (the name list is shared by customers and vendors)
    item: bool = False  # answered by ItemQuery too


CUSTOMER_ORDER = (
    *LIST_CORE, "Name", "FullName", "IsActive", "ClassRef", "ParentRef", "Sublevel", "CompanyName", *NAME_PARTS,
    "BillAddress", "ShipAddress", "PrintAs", *CONTACT_PARTS, "CustomerTypeRef", "TermsRef", "SalesRepRef",
    "Balance", "TotalBalance", "SalesTaxCodeRef", "ItemSalesTaxRef", "SalesTaxCountry", "ResaleNumber",
    "AccountNumber", "CreditLimit", "PreferredPaymentMethodRef", "JobStatus", "JobStartDate", "JobProjectedEndDate",
    "JobEndDate", "JobDesc", "JobTypeRef", "Notes", "IsStatementWithParent", "DeliveryMethod",
    "PreferredDeliveryMethod", "PriceLevelRef", "ExternalGUID", "TaxRegistrationNumber", "CurrencyRef",
)
VENDOR_ORDER = (
    *LIST_CORE, "Name", "IsActive", "ClassRef", "IsTaxAgency", "CompanyName", *NAME_PARTS, "VendorAddress",
    "ShipAddress", *CONTACT_PARTS, "NameOnCheck", "AccountNumber", "Notes", "VendorTypeRef", "TermsRef",
    "CreditLimit", "VendorTaxIdent", "IsVendorEligibleFor1099", "Balance", "BillingRateRef", "ExternalGUID",
    "SalesTaxCodeRef", "SalesTaxCountry", "IsSalesTaxAgency", "TaxRegistrationNumber", "CurrencyRef",
)
ACCOUNT_ORDER = (
    *LIST_CORE, "Name", "FullName", "IsActive", "ParentRef", "Sublevel", "AccountType", "SpecialAccountType",
    "AccountNumber", "Desc",
)
CLASS_ORDER = (*LIST_CORE, "Name", "FullName", "IsActive", "ParentRef", "Sublevel")
SALES_TAX_CODE_ORDER = (*LIST_CORE, "Name", "IsActive", "IsTaxable", "Desc", "ItemPurchaseTaxRef", "ItemSalesTaxRef")
ITEM_SALES_TAX_ORDER = (
    *LIST_CORE, "Name", "BarCodeValue", "IsActive", "ClassRef", "ItemDesc", "TaxRate", "TaxVendorRef",
    "SalesTaxReturnLineRef", "ExternalGUID",
)
ITEM_SERVICE_ORDER = (
    *LIST_CORE, "Name", "FullName", "BarCodeValue", "IsActive", "ClassRef", "ParentRef", "Sublevel",
    "UnitOfMeasureSetRef", "IsTaxIncluded", "SalesTaxCodeRef", "SalesOrPurchase", "SalesAndPurchase", "ExternalGUID",
)
ITEM_NON_INVENTORY_ORDER = (
    *LIST_CORE, "Name", "FullName", "BarCodeValue", "IsActive", "ClassRef", "ParentRef", "Sublevel",
    "ManufacturerPartNumber", "UnitOfMeasureSetRef", "IsTaxIncluded", "SalesTaxCodeRef", "SalesOrPurchase",
    "SalesAndPurchase", "ExternalGUID",
)
ITEM_INVENTORY_ORDER = (
    *LIST_CORE, "Name", "FullName", "BarCodeValue", "IsActive", "ClassRef", "ParentRef", "Sublevel",
    "ManufacturerPartNumber", "UnitOfMeasureSetRef", "IsTaxIncluded", "SalesTaxCodeRef", "SalesDesc", "SalesPrice",
    "IncomeAccountRef", "PurchaseDesc", "PurchaseCost", "PurchaseTaxCodeRef", "COGSAccountRef", "PrefVendorRef",
    "AssetAccountRef", "ReorderPoint", "Max", "QuantityOnHand", "AverageCost", "QuantityOnOrder",
    "QuantityOnSalesOrder", "ExternalGUID",
)

LISTS: dict[str, ListKind] = {
    k.name: k
    for k in (
        ListKind("Customer", CUSTOMER_ORDER, 41, True, "names"),
        ListKind("Vendor", VENDOR_ORDER, 41, False, "names"),
        ListKind("Class", CLASS_ORDER, 31, True, "Class"),
        ListKind("Account", ACCOUNT_ORDER, 31, True, "Account"),
        ListKind("SalesTaxCode", SALES_TAX_CODE_ORDER, 3, False, "SalesTaxCode"),
        ListKind("ItemSalesTax", ITEM_SALES_TAX_ORDER, 31, False, "items", item=True),
        ListKind("ItemService", ITEM_SERVICE_ORDER, 31, True, "items", item=True),
        ListKind("ItemNonInventory", ITEM_NON_INVENTORY_ORDER, 31, True, "items", item=True),
        ListKind("ItemInventory", ITEM_INVENTORY_ORDER, 31, True, "items", item=True),
    )
}
ITEM_TYPES = tuple(k for k, v in LISTS.items() if v.item)
# Fields a client may not set on Add/Mod: QuickBooks computes them.
LIST_COMPUTED = frozenset({*LIST_CORE, "FullName", "Sublevel", "Balance", "TotalBalance", "AverageCost",
                           "QuantityOnOrder", "QuantityOnSalesOrder"})

INVOICE_LINE_ORDER = (
    "TxnLineID", "ItemRef", "Desc", "Quantity", "UnitOfMeasure", "OverrideUOMSetRef", "Rate", "RatePercent",
    "ClassRef", "Amount", "TaxAmount", "InventorySiteRef", "InventorySiteLocationRef", "SerialNumber", "LotNumber",
    "ServiceDate", "SalesTaxCodeRef", "IsTaxable", "Other1", "Other2",
)
PO_LINE_ORDER = (
    "TxnLineID", "ItemRef", "ManufacturerPartNumber", "Desc", "Quantity", "UnitOfMeasure", "OverrideUOMSetRef",
    "Rate", "ClassRef", "Amount", "TaxAmount", "InventorySiteLocationRef", "CustomerRef", "ServiceDate",
    "SalesTaxCodeRef", "ReceivedQuantity", "UnbilledQuantity", "IsBilled", "IsManuallyClosed", "Other1", "Other2",
)
EXPENSE_LINE_ORDER = (
    "TxnLineID", "AccountRef", "Amount", "TaxAmount", "Memo", "CustomerRef", "ClassRef", "SalesTaxCodeRef",
    "BillableStatus", "SalesRepRef",
)
ITEM_LINE_ORDER = (
    "TxnLineID", "ItemRef", "InventorySiteRef", "InventorySiteLocationRef", "SerialNumber", "LotNumber", "Desc",
    "Quantity", "UnitOfMeasure", "OverrideUOMSetRef", "Cost", "Amount", "TaxAmount", "CustomerRef", "ClassRef",
    "SalesTaxCodeRef", "BillableStatus", "SalesRepRef",
)
LINKED_TXN_ORDER = ("TxnID", "TxnType", "TxnDate", "RefNumber", "LinkType", "Amount")
APPLIED_ORDER = ("TxnID", "TxnType", "TxnDate", "RefNumber", "BalanceRemaining", "Amount")


@dataclass(frozen=True)
class LineKind:
    add: str  # InvoiceLineAdd
    mod: str  # InvoiceLineMod
    ret: str  # InvoiceLineRet
    order: tuple[str, ...]
    price_field: str  # Rate or Cost


@dataclass(frozen=True)
class TxnKind:
    name: str
    order: tuple[str, ...]
    entity_ref: str  # CustomerRef or VendorRef
    entity_type: str  # Customer or Vendor
    required_entity: bool
    ref_max: int
    lines: tuple[LineKind, ...]
    voidable: bool
    numbered: bool  # QuickBooks numbers it when RefNumber is left out


INVOICE_LINE = LineKind("InvoiceLineAdd", "InvoiceLineMod", "InvoiceLineRet", INVOICE_LINE_ORDER, "Rate")
CREDIT_LINE = LineKind("CreditMemoLineAdd", "CreditMemoLineMod", "CreditMemoLineRet", INVOICE_LINE_ORDER, "Rate")
PO_LINE = LineKind("PurchaseOrderLineAdd", "PurchaseOrderLineMod", "PurchaseOrderLineRet", PO_LINE_ORDER, "Rate")
EXPENSE_LINE = LineKind("ExpenseLineAdd", "ExpenseLineMod", "ExpenseLineRet", EXPENSE_LINE_ORDER, "")
ITEM_LINE = LineKind("ItemLineAdd", "ItemLineMod", "ItemLineRet", ITEM_LINE_ORDER, "Cost")

SALES_HEAD = (
    *TXN_CORE, "CustomerRef", "ClassRef", "ARAccountRef", "TemplateRef", "TxnDate", "RefNumber", "BillAddress",
    "ShipAddress", "IsPending",
)
INVOICE_ORDER = (
    *SALES_HEAD, "IsFinanceCharge", "PONumber", "TermsRef", "DueDate", "SalesRepRef", "FOB", "ShipDate",
    "ShipMethodRef", "Subtotal", "ItemSalesTaxRef", "SalesTaxPercentage", "SalesTaxTotal", "AppliedAmount",
    "BalanceRemaining", "CurrencyRef", "ExchangeRate", "Memo", "IsPaid", "CustomerMsgRef", "IsToBePrinted",
    "IsToBeEmailed", "IsTaxIncluded", "CustomerSalesTaxCodeRef", "Other", "ExternalGUID", "LinkedTxn",
    "InvoiceLineRet",
)
CREDIT_MEMO_ORDER = (
    *SALES_HEAD, "PONumber", "TermsRef", "DueDate", "SalesRepRef", "FOB", "ShipDate", "ShipMethodRef", "Subtotal",
    "ItemSalesTaxRef", "SalesTaxPercentage", "SalesTaxTotal", "TotalAmount", "CreditRemaining", "CurrencyRef",
    "ExchangeRate", "Memo", "CustomerMsgRef", "IsToBePrinted", "IsToBeEmailed", "IsTaxIncluded",
    "CustomerSalesTaxCodeRef", "Other", "ExternalGUID", "LinkedTxn", "CreditMemoLineRet",
)
RECEIVE_PAYMENT_ORDER = (
    *TXN_CORE, "CustomerRef", "ARAccountRef", "TxnDate", "RefNumber", "TotalAmount", "CurrencyRef", "ExchangeRate",
    "PaymentMethodRef", "Memo", "DepositToAccountRef", "UnusedPayment", "UnusedCredits", "ExternalGUID",
    "AppliedToTxnRet",
)
PURCHASE_ORDER_ORDER = (
    *TXN_CORE, "VendorRef", "ClassRef", "InventorySiteRef", "ShipToEntityRef", "TemplateRef", "TxnDate", "RefNumber",
    "VendorAddress", "ShipAddress", "TermsRef", "DueDate", "ExpectedDate", "ShipMethodRef", "FOB", "TotalAmount",
    "CurrencyRef", "ExchangeRate", "IsManuallyClosed", "IsFullyReceived", "Memo", "VendorMsg", "IsToBePrinted",
    "IsToBeEmailed", "IsTaxIncluded", "SalesTaxCodeRef", "Other1", "Other2", "ExternalGUID", "LinkedTxn",
    "PurchaseOrderLineRet",
)
BILL_ORDER = (
    *TXN_CORE, "VendorRef", "VendorAddress", "APAccountRef", "TxnDate", "DueDate", "AmountDue", "CurrencyRef",
    "ExchangeRate", "RefNumber", "TermsRef", "Memo", "IsTaxIncluded", "SalesTaxCodeRef", "IsPaid", "ExternalGUID",
    "LinkedTxn", "ExpenseLineRet", "ItemLineRet", "OpenAmount",
)

TXNS: dict[str, TxnKind] = {
    k.name: k
    for k in (
        TxnKind("Invoice", INVOICE_ORDER, "CustomerRef", "Customer", True, 11, (INVOICE_LINE,), True, True),
        TxnKind("CreditMemo", CREDIT_MEMO_ORDER, "CustomerRef", "Customer", True, 11, (CREDIT_LINE,), True, True),
        TxnKind("ReceivePayment", RECEIVE_PAYMENT_ORDER, "CustomerRef", "Customer", True, 20, (), False, False),
        TxnKind("PurchaseOrder", PURCHASE_ORDER_ORDER, "VendorRef", "Vendor", False, 11, (PO_LINE,), False, True),
        TxnKind("Bill", BILL_ORDER, "VendorRef", "Vendor", True, 20, (EXPENSE_LINE, ITEM_LINE), True, False),
    )
}
TXN_COMPUTED = frozenset({*TXN_CORE, "Subtotal", "SalesTaxPercentage", "SalesTaxTotal", "AppliedAmount",
                          "BalanceRemaining", "IsPaid", "TotalAmount", "CreditRemaining", "UnusedPayment",
                          "UnusedCredits", "AmountDue", "OpenAmount", "LinkedTxn", "IsFullyReceived"})

# The schema's enumerations (qbxml130.xsd): a value outside them fails the request set's parse.
LIST_DEL_TYPES = frozenset({
    "Account", "BillingRate", "Class", "Currency", "Customer", "CustomerMsg", "CustomerType", "DateDrivenTerms",
    "Employee", "InventorySite", "ItemDiscount", "ItemFixedAsset", "ItemGroup", "ItemInventory",
    "ItemInventoryAssembly", "ItemNonInventory", "ItemOtherCharge", "ItemPayment", "ItemSalesTax",
    "ItemSalesTaxGroup", "ItemService", "ItemSubtotal", "JobType", "OtherName", "PaymentMethod", "PayrollItemNonWage",
    "PayrollItemWage", "PriceLevel", "SalesRep", "SalesTaxCode", "ShipMethod", "StandardTerms", "ToDo",
    "UnitOfMeasureSet", "Vehicle", "Vendor", "VendorType", "WorkersCompCode",
})
TXN_DEL_TYPES = frozenset({
    "ARRefundCreditCard", "Bill", "BillPaymentCheck", "BillPaymentCreditCard", "BuildAssembly", "Charge", "Check",
    "CreditCardCharge", "CreditCardCredit", "CreditMemo", "Deposit", "Estimate", "InventoryAdjustment", "Invoice",
    "ItemReceipt", "JournalEntry", "PurchaseOrder", "ReceivePayment", "SalesOrder", "SalesReceipt",
    "SalesTaxPaymentCheck", "TimeTracking",
    "TransferInventory", "VehicleMileage", "VendorCredit",
})
TXN_VOID_TYPES = frozenset({
    "ARRefundCreditCard", "Bill", "BillPaymentCheck", "BillPaymentCreditCard", "Charge", "Check", "CreditCardCharge",
    "CreditCardCredit", "CreditMemo", "Deposit", "InventoryAdjustment", "Invoice", "ItemReceipt", "JournalEntry",
    "SalesReceipt", "VendorCredit",
})
