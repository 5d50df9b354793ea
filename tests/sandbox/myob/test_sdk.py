"""MYOB's own Python SDK, pymyob 3.x, against the sandbox: OAuth with the business chosen at consent, the
business, customers, service invoices and customer payments created, read, paged and updated, a stale
RowVersion refused with 409 and the rate limit raised as MyobRateLimitExceeded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from ledgersync.demo import consent_callback

from .conftest import REDIRECT, Running

myob = pytest.importorskip("myob", reason="pymyob (MYOB's Python SDK) is not installed")

from myob.constants import AuthScope  # noqa: E402
from myob.credentials import PartnerCredentials  # noqa: E402
from myob.exceptions import MyobBadRequest, MyobConflict, MyobRateLimitExceeded, MyobUnauthorized  # noqa: E402

SCOPES = (AuthScope.COMPANY_FILE, AuthScope.CONTACTS_CUSTOMER, AuthScope.SALES, AuthScope.GENERAL_LEDGER)


def connected(running: Running) -> myob.Myob:
    credentials = PartnerCredentials(running.client_id, running.client_secret, REDIRECT, scopes=SCOPES)
    query = parse_qs(consent_callback(credentials.url))
    assert query["businessId"] == [running.business_id]
    credentials.verify(query["code"][0], query["businessId"][0])
    assert credentials.verified and credentials.oauth_token and credentials.refresh_token
    return myob.Myob(credentials)


def test_oauth_business_customers_invoices_payments_conflict_and_rate_limit(pymyob_at: Running) -> None:
    running = pymyob_at
    # The calls below come faster than MYOB's 8 a second; the limit is put back before it is tested.
    running.control.put("/_sandbox/config", json={"rate_limits": {"second": 1000}}).raise_for_status()
    api = connected(running)
    assert api.business()["Name"] == "Harbour Motors Pty Ltd"

    # Customers: create, read, page, update.
    created = [
        api.contacts.post_customer(data={"CompanyName": f"Customer {i}", "IsIndividual": False, "DisplayID": f"C{i}"})
        for i in range(5)
    ]
    uid = created[0]["UID"]
    assert api.contacts.get_customer(uid=uid)["CompanyName"] == "Customer 0"
    page2 = api.contacts.customer(limit=2, page=2, orderby="DisplayID")
    assert [c["DisplayID"] for c in page2["Items"]] == ["C2", "C3"] and page2["Count"] == 5
    assert page2["NextPageLink"] and "%24skip=4" in page2["NextPageLink"]
    filtered = api.contacts.customer(DisplayID="C4")
    assert [c["UID"] for c in filtered["Items"]] == [created[4]["UID"]]
    current = api.contacts.get_customer(uid=uid)
    renamed = api.contacts.put_customer(uid=uid, data={**current, "CompanyName": "Customer Zero"})
    assert renamed["CompanyName"] == "Customer Zero" and renamed["RowVersion"] != current["RowVersion"]
    # The RowVersion read before the update is stale now.
    with pytest.raises(MyobConflict) as stale:
        api.contacts.put_customer(uid=uid, data={**current, "CompanyName": "Lost update"})
    assert stale.value.errors[0]["Name"] == "IncorrectRowVersionSupplied"
    assert api.contacts.get_customer(uid=uid)["CompanyName"] == "Customer Zero"
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).replace(tzinfo=None)
    changed = api.contacts.customer(LastModified__gt=since)
    assert len(changed["Items"]) == 5

    # A service invoice: create, read, update (RowVersion on the invoice and on its line).
    income, gst = running.account("4-2000"), running.tax("GST")
    invoice = api.invoices.post_service(
        data={
            "Number": "INV-1",
            "Date": f"{dt.date.today().isoformat()}T00:00:00",
            "Customer": {"UID": uid},
            "IsTaxInclusive": False,
            "Lines": [
                {
                    "Type": "Transaction",
                    "Description": "Brake service",
                    "Total": 200.00,
                    "Account": {"UID": income["UID"]},
                    "TaxCode": {"UID": gst["UID"]},
                }
            ],
        }
    )
    assert Decimal(str(invoice["TotalAmount"])) == Decimal("220.00") and invoice["Status"] == "Open"
    read = api.invoices.get_service(uid=invoice["UID"])
    line = read["Lines"][0]
    updated = api.invoices.put_service(
        uid=invoice["UID"],
        data={**read, "Lines": [{**line, "Total": 300.00}]},
    )
    assert Decimal(str(updated["TotalAmount"])) == Decimal("330.00")
    with pytest.raises(MyobConflict):
        # The line's RowVersion moved with the update.
        api.invoices.put_service(uid=invoice["UID"], data={**updated, "Lines": [{**line, "Total": 100.00}]})
    with pytest.raises(MyobBadRequest) as duplicate:
        api.invoices.post_service(
            data={
                **{k: v for k, v in invoice.items() if k != "UID"},
                "Lines": [
                    {
                        "Type": "Transaction",
                        "Description": "x",
                        "Total": 1,
                        "Account": {"UID": income["UID"]},
                        "TaxCode": {"UID": gst["UID"]},
                    }
                ],
            }
        )
    assert "INV-1" in duplicate.value.errors[0]["Message"]
    assert api.invoices.service(Number="INV-1")["Count"] == 1

    # A customer payment: create, read, page; no PUT; over the balance refused.
    bank = running.account("1-1110")
    payment = api.customer_payments.post(
        data={
            "DepositTo": "Account",
            "Account": {"UID": bank["UID"]},
            "Customer": {"UID": uid},
            "Date": f"{dt.date.today().isoformat()}T00:00:00",
            "AmountReceived": 100.00,
            "Invoices": [{"UID": invoice["UID"], "AmountApplied": 100.00, "Type": "Invoice"}],
        }
    )
    assert api.customer_payments.get(uid=payment["UID"])["AmountReceived"] == 100.0
    assert [p["UID"] for p in api.customer_payments.all(limit=10, page=1)["Items"]] == [payment["UID"]]
    assert Decimal(str(api.invoices.get_service(uid=invoice["UID"])["BalanceDueAmount"])) == Decimal("230.00")
    assert not hasattr(api.customer_payments, "put")
    with pytest.raises(MyobBadRequest) as over:
        api.customer_payments.post(
            data={
                "Account": {"UID": bank["UID"]},
                "Customer": {"UID": uid},
                "Date": f"{dt.date.today().isoformat()}T00:00:00",
                "AmountReceived": 500.00,
                "Invoices": [{"UID": invoice["UID"], "AmountApplied": 500.00, "Type": "Invoice"}],
            }
        )
    assert "balance due" in over.value.errors[0]["Message"]
    api.customer_payments.delete(uid=payment["UID"])
    assert Decimal(str(api.invoices.get_service(uid=invoice["UID"])["BalanceDueAmount"])) == Decimal("330.00")

    # Past 8 calls a second per API key: 403 RateLimitError, which pymyob raises as MyobRateLimitExceeded.
    running.control.put("/_sandbox/config", json={"rate_limits": {"second": 8}}).raise_for_status()
    with pytest.raises(MyobRateLimitExceeded) as limited:
        for _ in range(20):
            api.contacts.customer(limit=1)
    assert limited.value.response.status_code == 403
    assert limited.value.errors[0]["Message"] == "API key has exceeded the per-second rate limit"


def test_refresh_and_an_expired_token(pymyob_at: Running) -> None:
    api = connected(pymyob_at)
    pymyob_at.control.post("/_sandbox/tokens/expire").raise_for_status()
    with pytest.raises(MyobUnauthorized) as refused:
        api.contacts.customer()
    assert refused.value.errors[0]["Name"] == "OAuthTokenIsInvalid"
    old = api.credentials.refresh_token
    api.credentials.refresh()
    assert api.credentials.refresh_token != old
    assert api.contacts.customer()["Count"] == 0
