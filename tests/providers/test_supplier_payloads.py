"""A supplier goes through its platform's contact (customer) builder: the same card fields, the vendor's own
additions (issue 16's dedupe of the Xero and QuickBooks Online supplier mappings)."""

from __future__ import annotations

from ledgersync.model import Address, Contact, Supplier
from ledgersync.providers.qbo.mapping import Refs, contact_to_qbo
from ledgersync.providers.qbo.vendor_mapping import supplier_to_qbo
from ledgersync.providers.xero.mapping import contact_to_xero
from ledgersync.providers.xero.vendor_mapping import supplier_number, supplier_to_xero

ADDRESS = Address(line1="1 Dock Rd", line2="Unit 4", city="Geelong", region="VIC", postal_code="3220", country="AU")
FIELDS = {
    "name": "Parts Wholesale",
    "email": "sales@parts.example",
    "first_name": "Pat",
    "last_name": "Lee",
    "phone": "03 5555 0100",
    "tax_number": "51 824 753 556",
    "account_number": "ACC-9",
    "address": ADDRESS,
}


def test_a_xero_supplier_is_the_contact_body_with_its_contact_number_and_no_customer_flags() -> None:
    supplier = Supplier(id="s1", currency="NZD", **FIELDS)
    created = supplier_to_xero(supplier, remote_id=None, app_id="s1")
    as_contact = contact_to_xero(Contact(id="s1", currency="NZD", **FIELDS), remote_id=None, app_id=None)
    assert created["ContactNumber"] == supplier_number("s1") and "IsCustomer" not in created
    assert "IsSupplier" not in created
    assert {k: v for k, v in created.items() if k != "ContactNumber"} == {
        k: v for k, v in as_contact.items() if k not in ("IsCustomer", "IsSupplier")
    }
    assert created["Phones"] == [{"PhoneType": "DEFAULT", "PhoneNumber": "03 5555 0100"}]
    assert created["Addresses"][0]["AddressLine2"] == "Unit 4" and created["DefaultCurrency"] == "NZD"
    # An update names the contact by id and leaves its ContactNumber alone.
    updated = supplier_to_xero(supplier, remote_id="abc", app_id="s1")
    assert updated["ContactID"] == "abc" and "ContactNumber" not in updated


def test_a_qbo_vendor_shares_the_customer_fields_and_adds_its_tax_id_and_account_number() -> None:
    refs = Refs(home_currency="USD")
    vendor = supplier_to_qbo(Supplier(id="s1", currency="CAD", **FIELDS), refs, remote_id="7", sync_token="2")
    customer = contact_to_qbo(Contact(id="c1", **FIELDS), remote_id="7", sync_token="2", home_currency="USD")
    shared = ("DisplayName", "GivenName", "FamilyName", "PrimaryEmailAddr", "PrimaryPhone", "BillAddr", "Active")
    assert {k: vendor.get(k) for k in shared} == {k: customer.get(k) for k in shared}
    assert vendor["BillAddr"]["Line2"] == "Unit 4" and "CompanyName" not in vendor  # a person's name is given
    assert (vendor["TaxIdentifier"], vendor["AcctNum"]) == ("51 824 753 556", "ACC-9")
    assert vendor["CurrencyRef"] == {"value": "CAD"} and "Job" not in vendor
    assert (vendor["Id"], vendor["SyncToken"]) == ("7", "2")
