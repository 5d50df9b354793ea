"""The top-level field names of each Xero object, as xero_accounting.yaml (v16.1.0) lists them in its schemas."""

from __future__ import annotations

_SCHEMA_FIELDS: dict[str, str] = {
    "Contacts": (
        "ContactID MergedToContactID ContactNumber AccountNumber ContactStatus Name FirstName LastName "
        "CompanyNumber EmailAddress ContactPersons BankAccountDetails TaxNumber TaxNumberType "
        "AccountsReceivableTaxType AccountsPayableTaxType Addresses Phones IsSupplier IsCustomer "
        "SalesDefaultLineAmountType PurchasesDefaultLineAmountType DefaultCurrency XeroNetworkKey "
        "SalesDefaultAccountCode PurchasesDefaultAccountCode SalesTrackingCategories "
        "PurchasesTrackingCategories TrackingCategoryName TrackingCategoryOption PaymentTerms UpdatedDateUTC "
        "ContactGroups Website BrandingTheme BatchPayments Discount Balances Attachments HasAttachments "
        "ValidationErrors HasValidationErrors StatusAttributeString"
    ),
    "Invoices": (
        "Type Contact LineItems Date DueDate LineAmountTypes InvoiceNumber Reference BrandingThemeID Url "
        "CurrencyCode CurrencyRate Status SentToContact ExpectedPaymentDate PlannedPaymentDate CISDeduction "
        "CISRate SubTotal TotalTax Total TotalDiscount InvoiceID RepeatingInvoiceID HasAttachments "
        "IsDiscounted Payments Prepayments Overpayments AmountDue AmountPaid FullyPaidOnDate AmountCredited "
        "UpdatedDateUTC UpdatedDateUTCString CreditNotes Attachments HasErrors StatusAttributeString "
        "ValidationErrors Warnings InvoiceAddresses"
    ),
    "BatchPayments": (
        "Account Reference Particulars Code Details Narrative BatchPaymentID DateString Date Amount Payments "
        "Type Status TotalAmount UpdatedDateUTC IsReconciled ValidationErrors"
    ),
    "Payments": (
        "Invoice CreditNote Prepayment Overpayment InvoiceNumber CreditNoteNumber BatchPayment Account Code "
        "Date CurrencyRate Amount BankAmount Reference IsReconciled Status PaymentType UpdatedDateUTC "
        "UpdatedDateUTCString PaymentID BatchPaymentID BankAccountNumber Particulars Details HasAccount "
        "HasValidationErrors StatusAttributeString ValidationErrors Warnings"
    ),
    "CreditNotes": (
        "Type Contact Date DueDate Status LineAmountTypes LineItems SubTotal TotalTax Total CISDeduction "
        "CISRate UpdatedDateUTC UpdatedDateUTCString CurrencyCode FullyPaidOnDate CreditNoteID "
        "CreditNoteNumber Reference SentToContact CurrencyRate RemainingCredit Allocations AppliedAmount "
        "Payments BrandingThemeID StatusAttributeString HasAttachments HasErrors ValidationErrors Warnings "
        "InvoiceAddresses"
    ),
    "Items": (
        "Code InventoryAssetAccountCode Name IsSold IsPurchased Description PurchaseDescription "
        "PurchaseDetails SalesDetails IsTrackedAsInventory TotalCostPool QuantityOnHand UpdatedDateUTC ItemID "
        "StatusAttributeString ValidationErrors"
    ),
    "TaxRates": (
        "Name TaxType TaxComponents Status ReportTaxType CanApplyToAssets CanApplyToEquity CanApplyToExpenses "
        "CanApplyToLiabilities CanApplyToRevenue DisplayTaxRate EffectiveRate"
    ),
    "TrackingCategories": "TrackingCategoryID TrackingOptionID Name Option Status Options",
    "PurchaseOrders": (
        "Contact LineItems Date DeliveryDate LineAmountTypes PurchaseOrderNumber Reference BrandingThemeID "
        "CurrencyCode Status SentToContact DeliveryAddress AttentionTo Telephone DeliveryInstructions "
        "ExpectedArrivalDate PurchaseOrderID CurrencyRate SubTotal TotalTax Total TotalDiscount "
        "HasAttachments UpdatedDateUTC StatusAttributeString ValidationErrors Warnings Attachments"
    ),
    "Accounts": (
        "Code Name AccountID Type BankAccountNumber Status Description BankAccountType CurrencyCode TaxType "
        "EnablePaymentsToAccount ShowInExpenseClaims Class SystemAccount ReportingCode ReportingCodeName "
        "HasAttachments UpdatedDateUTC AddToWatchlist ValidationErrors"
    ),
    "Overpayments": (
        "Type Contact Date Status LineAmountTypes LineItems SubTotal TotalTax Total UpdatedDateUTC "
        "UpdatedDateUTCString CurrencyCode OverpaymentID CurrencyRate RemainingCredit Allocations "
        "AppliedAmount Payments HasAttachments Reference Attachments"
    ),
    "BankTransactions": (
        "Type Contact LineItems BankAccount IsReconciled Date Reference CurrencyCode CurrencyRate Url Status "
        "LineAmountTypes SubTotal TotalTax Total BankTransactionID PrepaymentID OverpaymentID UpdatedDateUTC "
        "HasAttachments StatusAttributeString ValidationErrors"
    ),
    "Organisations": (
        "OrganisationID APIKey Name LegalName PaysTax Version OrganisationType BaseCurrency CountryCode "
        "IsDemoCompany OrganisationStatus RegistrationNumber EmployerIdentificationNumber TaxNumber "
        "FinancialYearEndDay FinancialYearEndMonth SalesTaxBasis SalesTaxPeriod DefaultSalesTax "
        "DefaultPurchasesTax PeriodLockDate EndOfYearLockDate CreatedDateUTC Timezone OrganisationEntityType "
        "ShortCode Class Edition LineOfBusiness Addresses Phones ExternalLinks PaymentTerms"
    ),
    "Currencies": "Code Description",
    "ContactGroups": "Name Status ContactGroupID Contacts",
    "BrandingThemes": "BrandingThemeID Name LogoUrl Type SortOrder CreatedDateUTC",
    "Users": "UserID EmailAddress FirstName LastName UpdatedDateUTC IsSubscriber OrganisationRole",
    "ManualJournals": (
        "Narration JournalLines Date LineAmountTypes Status Url ShowOnCashBasisReports HasAttachments "
        "UpdatedDateUTC ManualJournalID StatusAttributeString Warnings ValidationErrors Attachments"
    ),
    "Journals": "JournalID JournalDate JournalNumber CreatedDateUTC Reference SourceID SourceType JournalLines",
    "BankTransfers": (
        "FromBankAccount ToBankAccount Amount Date BankTransferID CurrencyRate FromBankTransactionID "
        "ToBankTransactionID FromIsReconciled ToIsReconciled Reference HasAttachments CreatedDateUTC Status "
        "FromTracking ToTracking ValidationErrors"
    ),
    "Prepayments": (
        "Type Contact Date Status LineAmountTypes LineItems SubTotal TotalTax Total Reference InvoiceNumber "
        "UpdatedDateUTC UpdatedDateUTCString CurrencyCode PrepaymentID BrandingThemeID CurrencyRate "
        "RemainingCredit Allocations Payments AppliedAmount HasAttachments Attachments"
    ),
    "Quotes": (
        "QuoteID QuoteNumber Reference Terms Contact LineItems Date DateString ExpiryDate ExpiryDateString "
        "Status CurrencyCode CurrencyRate SubTotal TotalTax Total TotalDiscount Title Summary BrandingThemeID "
        "UpdatedDateUTC LineAmountTypes StatusAttributeString ValidationErrors"
    ),
    "RepeatingInvoices": (
        "Type Contact Schedule LineItems LineAmountTypes Reference BrandingThemeID CurrencyCode Status "
        "SubTotal TotalTax Total RepeatingInvoiceID ID HasAttachments Attachments ApprovedForSending SendCopy "
        "MarkAsSent IncludePDF"
    ),
    "LinkedTransactions": (
        "SourceTransactionID SourceLineItemID ContactID TargetTransactionID TargetLineItemID "
        "LinkedTransactionID Status Type UpdatedDateUTC SourceTransactionTypeCode ValidationErrors"
    ),
    "Allocations": (
        "AllocationID Invoice Overpayment Prepayment CreditNote Amount Date IsDeleted StatusAttributeString "
        "ValidationErrors"
    ),
}

# A rendered record carries exactly these keys; the contract tests check nested objects against the spec itself.
FIELDS: dict[str, frozenset[str]] = {coll: frozenset(names.split()) for coll, names in _SCHEMA_FIELDS.items()}

# LineItem and LineItemTracking: what a document's line may carry (anything else a client sends is dropped).
LINE_FIELDS = frozenset(
    [
        "LineItemID",
        "Description",
        "Quantity",
        "UnitAmount",
        "ItemCode",
        "AccountCode",
        "AccountID",
        "TaxType",
        "TaxAmount",
        "Item",
        "LineAmount",
        "Tracking",
        "DiscountRate",
        "DiscountAmount",
        "RepeatingInvoiceID",
        "Taxability",
        "SalesTaxCodeId",
        "TaxBreakdown",
    ]
)
TRACKING_FIELDS = frozenset(["TrackingCategoryID", "TrackingOptionID", "Name", "Option"])
