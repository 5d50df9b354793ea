"""python-quickbooks 0.9.12 + intuit-oauth 1.2.6 against the sandbox over real loopback HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from intuitlib.enums import Scopes
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import AuthorizationException, ObjectNotFoundException, QuickbooksException
from quickbooks.helpers import qb_datetime_utc_offset_format
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.payment import Payment, PaymentLine

from .conftest import Sandbox, consent_form
from .conftest import auth_client as _auth_client
from .conftest import sdk_client as _client


@pytest.fixture(autouse=True)
def _plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests-oauthlib refuses http:// unless told the transport is trusted (loopback here).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _invoice(qb: QuickBooks, customer: Customer, amount: str) -> Invoice:
    inv = Invoice()
    line = SalesItemLine()
    line.Amount = Decimal(amount)
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = "1"
    inv.Line = [line]
    inv.CustomerRef = customer.to_ref()
    return inv.save(qb=qb)


def test_intuit_oauth_code_flow_and_refresh(qs: Sandbox) -> None:
    qs.realm = qs.add_tenant()
    qs.add_app()
    auth = _auth_client(qs)
    assert auth.token_endpoint == f"{qs.url}/oauth2/v1/tokens/bearer"
    url = auth.get_authorization_url([Scopes.ACCOUNTING])
    page = qs.http.get(url)
    form, options = consent_form(page.text)
    assert options == [qs.realm]
    form["action"] = ["allow"]
    r = qs.http.post(f"{qs.url}/connect/oauth2", data=form, follow_redirects=False)
    q = parse_qs(urlparse(r.headers["location"]).query)
    assert q["state"] == [auth.state_token] and q["realmId"] == [qs.realm]
    auth.get_bearer_token(q["code"][0], realm_id=q["realmId"][0])
    assert auth.access_token and auth.refresh_token and auth.expires_in == 3600
    assert 8_000_000 < int(auth.x_refresh_token_expires_in) <= 8_726_400
    old_access = auth.access_token
    auth.refresh()
    assert auth.access_token != old_access
    qs.tokens = {"access_token": auth.access_token, "refresh_token": auth.refresh_token}
    qb = _client(qs)
    assert Customer.all(qb=qb) == []
    assert auth.revoke() is True
    with pytest.raises(AuthorizationException):
        Customer.all(qb=qb)


def test_customers_invoices_payments(ready: Sandbox) -> None:
    qb = _client(ready)
    cust = Customer()
    cust.DisplayName = "Bob's Burgers"
    cust.GivenName = "Bob"
    cust = cust.save(qb=qb)
    assert cust.Id and cust.SyncToken == "0" and cust.FullyQualifiedName == "Bob's Burgers"
    got = Customer.get(cust.Id, qb=qb)
    got.CompanyName = "Belcher Inc"
    updated = got.save(qb=qb)
    assert updated.SyncToken == "1" and updated.CompanyName == "Belcher Inc"
    inv1 = _invoice(qb, updated, "100.00")
    inv2 = _invoice(qb, updated, "50.25")
    assert inv1.TotalAmt == Decimal("100.00") and inv1.Balance == Decimal("100.00")
    pay = Payment()
    pay.CustomerRef = updated.to_ref()
    pay.TotalAmt = Decimal("160.25")
    for inv, amt in ((inv1, "100.00"), (inv2, "50.25")):
        pl = PaymentLine()
        pl.Amount = Decimal(amt)
        lt = LinkedTxn()
        lt.TxnId = inv.Id
        lt.TxnType = "Invoice"
        pl.LinkedTxn = [lt]
        pay.Line.append(pl)
    pay = pay.save(qb=qb)
    assert pay.UnappliedAmt == Decimal("10.00")
    assert Invoice.get(inv1.Id, qb=qb).Balance == Decimal("0.00")
    assert Invoice.get(inv2.Id, qb=qb).Balance == Decimal("0.00")
    assert Customer.get(cust.Id, qb=qb).Balance == Decimal("-10.00")
    found = Customer.filter(DisplayName="Bob's Burgers", qb=qb)
    assert [c.Id for c in found] == [cust.Id]
    assert Invoice.count(qb=qb) == 2
    assert [i.Id for i in Invoice.where("TotalAmt > '60'", qb=qb)] == [inv1.Id]
    with pytest.raises(ObjectNotFoundException):
        Customer.get("9999", qb=qb)
    dup = Customer()
    dup.DisplayName = "bob's burgers"
    with pytest.raises(QuickbooksException) as exc:
        dup.save(qb=qb)
    assert exc.value.error_code == 6240
    inv1_fresh = Invoice.get(inv1.Id, qb=qb)
    assert [lt.TxnId for lt in inv1_fresh.LinkedTxn] == [pay.Id]
    pay.void(qb=qb)
    assert Invoice.get(inv1.Id, qb=qb).Balance == Decimal("100.00")
    inv2_fresh = Invoice.get(inv2.Id, qb=qb)
    inv2_fresh.delete(qb=qb)
    assert Invoice.count(qb=qb) == 1


def test_batch_and_cdc(ready: Sandbox) -> None:
    qb = _client(ready)
    customers = []
    for i in range(3):
        c = Customer()
        c.DisplayName = f"Batch {i}"
        customers.append(c)
    bad = Customer()
    bad.DisplayName = "Bad:Name"
    customers.append(bad)
    result = batch_create(customers, qb=qb)
    assert sorted(c.DisplayName for c in result.successes) == ["Batch 0", "Batch 1", "Batch 2"]
    assert len(result.faults) == 1 and result.faults[0].Error[0].code == "2040"
    # A datetime without an offset is read in company time; send one with an explicit offset.
    since = datetime.fromtimestamp(ready.sb.now() - 60, tz=UTC)
    cdc = change_data_capture([Customer, Invoice], qb_datetime_utc_offset_format(since, "+00:00"), qb=qb)
    assert sorted(c.DisplayName for c in cdc.Customer) == ["Batch 0", "Batch 1", "Batch 2"]
    assert cdc.Invoice == [] if hasattr(cdc, "Invoice") else True
