"""The MYOB sandbox's surface and rules: headers, OAuth as MYOB runs it, OData reads and paging, writes with
returnBody and Location, RowVersion, the business rules a sync meets, limits and faults."""

from __future__ import annotations

import ast
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from typer.testing import CliRunner

import ledgersync.sandbox.myob
from ledgersync.demo import consent_callback
from ledgersync.sandbox.cli import sandbox_app

from .conftest import REDIRECT, Running, api_client, authorization_url, token_for

TODAY = f"{dt.date.today().isoformat()}T00:00:00"


def test_myob_sandbox_never_imports_the_connector_side() -> None:
    root = Path(ledgersync.sandbox.myob.__file__).parent
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


def test_cli_help_lists_options() -> None:
    result = CliRunner().invoke(sandbox_app, ["myob", "--help"])
    assert result.exit_code == 0, result.output
    for opt in ("--host", "--port", "--data", "--client-id", "--client-secret", "--redirect-uri", "--tenant"):
        assert opt in result.output


# ------------------------------------------------------------------------------------------------ OAuth
def test_consent_redirect_carries_code_state_and_the_business_chosen(running: Running) -> None:
    second = running.control.post("/_sandbox/tenants", json={"name": "Second Business"}).json()["tenantId"]
    query = parse_qs(consent_callback(authorization_url(running, "sme-sales"), choose={"businessId": second}))
    assert query["businessId"] == [second] and query["state"] == ["s1"] and query["code"]
    # The token reaches that business only, and GET /accountright/ lists it alone.
    resp = running.control.post(
        "/oauth2/v1/authorize",
        data={
            "client_id": running.client_id,
            "client_secret": running.client_secret,
            "redirect_uri": REDIRECT,
            "code": query["code"][0],
            "grant_type": "authorization_code",
        },
    )
    token = resp.json()
    assert set(token) == {"access_token", "token_type", "refresh_token", "expires_in", "scope"}
    headers = {
        "Authorization": f"Bearer {token['access_token']}",
        "x-myobapi-key": running.client_id,
        "x-myobapi-version": "v2",
    }
    files = httpx.get(f"{running.url}/accountright/", headers=headers).json()
    assert [f["Id"] for f in files] == [second] and files[0]["Name"] == "Second Business"
    other = httpx.get(f"{running.url}/accountright/{running.business_id}/Contact/Customer", headers=headers)
    assert other.status_code == 403 and other.json()["Errors"][0]["Name"] == "AccessDenied"
    # The code is single-use.
    again = running.control.post(
        "/oauth2/v1/authorize",
        data={
            "client_id": running.client_id,
            "client_secret": running.client_secret,
            "redirect_uri": REDIRECT,
            "code": query["code"][0],
            "grant_type": "authorization_code",
        },
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_scopes_are_granular_or_the_legacy_companyfile(running: Running) -> None:
    bad = httpx.get(authorization_url(running, "accounting.everything"), follow_redirects=False)
    assert bad.status_code == 302 and "error=invalid_scope" in bad.headers["location"]
    with api_client(running, "sme-contacts-customer") as client:
        assert client.get("Contact/Customer").status_code == 200
        refused = client.get("Sale/Invoice/Service")
        assert refused.status_code == 403 and refused.json()["Errors"][0]["Name"] == "AccessDenied"
    with api_client(running, "CompanyFile") as client:
        assert client.get("Sale/Invoice/Service").status_code == 200


def test_refresh_rotates_the_refresh_token(running: Running) -> None:
    token = token_for(running)
    form = {
        "client_id": running.client_id,
        "client_secret": running.client_secret,
        "refresh_token": token["refresh_token"],
        "grant_type": "refresh_token",
    }
    fresh = running.control.post("/oauth2/v1/authorize", data=form)
    assert fresh.status_code == 200 and fresh.json()["refresh_token"] != token["refresh_token"]
    reused = running.control.post("/oauth2/v1/authorize", data=form)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    wrong = running.control.post("/oauth2/v1/authorize", data={**form, "client_secret": "nope"})
    assert wrong.status_code == 401


# ------------------------------------------------------------------------------------------------ headers
def test_each_required_header_is_checked(running: Running, api: httpx.Client) -> None:
    no_version = api.get("Contact/Customer", headers={"x-myobapi-version": ""})
    assert no_version.status_code == 400
    assert no_version.json()["Errors"][0]["AdditionalDetails"] == "Header: x-myobapi-version"
    no_key = api.get("Contact/Customer", headers={"x-myobapi-key": "someone-else"})
    assert no_key.status_code == 403 and no_key.json()["Errors"][0]["Name"] == "DeveloperInactive"
    no_token = api.get("Contact/Customer", headers={"Authorization": "Bearer nope"})
    assert no_token.status_code == 401
    assert no_token.json()["Errors"][0] == {
        "Name": "OAuthTokenIsInvalid",
        "Message": "The supplied OAuth token (Bearer) is not valid",
        "AdditionalDetails": "Header: Authorization",
        "ErrorCode": 31001,
        "Severity": "Error",
    }


# ------------------------------------------------------------------------------------------------ reads
def _customer(api: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    resp = api.post(
        "Contact/Customer", params={"returnBody": "true"}, json={"CompanyName": name, "IsIndividual": False, **extra}
    )
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def test_odata_filter_orderby_top_skip_and_the_envelope(api: httpx.Client) -> None:
    made = [_customer(api, f"Cust {i}", DisplayID=f"C{i:02d}") for i in range(7)]
    page = api.get("Contact/Customer", params={"$orderby": "DisplayID desc", "$top": "3", "$skip": "1"}).json()
    assert set(page) == {"Items", "NextPageLink", "Count"} and page["Count"] == 7
    assert [c["DisplayID"] for c in page["Items"]] == ["C05", "C04", "C03"]
    nxt = urlparse(page["NextPageLink"])
    assert parse_qs(nxt.query)["$skip"] == ["4"] and parse_qs(nxt.query)["$top"] == ["3"]
    last = api.get("Contact/Customer", params={"$orderby": "DisplayID desc", "$top": "3", "$skip": "6"}).json()
    assert last["NextPageLink"] is None and len(last["Items"]) == 1
    stamp = made[3]["LastModified"]
    newer = api.get("Contact/Customer", params={"$filter": f"LastModified gt datetime'{stamp}'"}).json()
    assert sorted(c["DisplayID"] for c in newer["Items"]) == ["C04", "C05", "C06"]
    both = api.get(
        "Contact/Customer",
        params={"$filter": "(DisplayID eq 'C01') or (CompanyName eq 'cust 2' and IsActive eq true)"},
    ).json()
    assert sorted(c["DisplayID"] for c in both["Items"]) == ["C01", "C02"]
    by_uid = api.get("Contact/Customer", params={"$filter": f"UID eq guid'{made[5]['UID']}'"}).json()
    assert [c["DisplayID"] for c in by_uid["Items"]] == ["C05"]
    assert api.get("Contact/Customer", params={"$filter": "DisplayID eq"}).status_code == 400
    # At most 1,000 a page; 400 by default.
    assert api.get("Contact/Customer", params={"$top": "5000"}).status_code == 200


def test_default_page_is_400_and_the_maximum_1000(running: Running, api: httpx.Client) -> None:
    cf = running.sb.tenants[running.business_id]
    from ledgersync.sandbox.myob.records import create

    for i in range(1005):
        create(cf, "Contact/Customer", {"CompanyName": f"Bulk {i}"}, "")
    default = api.get("Contact/Customer").json()
    assert len(default["Items"]) == 400 and default["Count"] == 1005
    most = api.get("Contact/Customer", params={"$top": "5000"}).json()
    assert len(most["Items"]) == 1000 and most["NextPageLink"]


# ------------------------------------------------------------------------------------------------ writes
def test_create_answers_201_with_location_and_the_body_only_with_returnbody(api: httpx.Client) -> None:
    plain = api.post("Contact/Customer", json={"CompanyName": "Quiet Pty Ltd"})
    assert plain.status_code == 201 and plain.content == b""
    location = plain.headers["location"]
    assert "/Contact/Customer/" in location
    got = api.get(location).json()
    assert got["CompanyName"] == "Quiet Pty Ltd" and got["URI"] == location and got["RowVersion"]
    loud = api.post("Contact/Customer", params={"returnBody": "true"}, json={"CompanyName": "Loud Pty Ltd"})
    assert loud.status_code == 201 and loud.json()["CompanyName"] == "Loud Pty Ltd"


def test_rowversion_is_required_and_a_stale_one_is_409(api: httpx.Client) -> None:
    c = _customer(api, "Versioned")
    no_version = api.put(f"Contact/Customer/{c['UID']}", json={**c, "RowVersion": None})
    assert no_version.status_code == 400
    ok = api.put(f"Contact/Customer/{c['UID']}", params={"returnBody": "true"}, json={**c, "Notes": "one"})
    assert ok.status_code == 200 and ok.json()["RowVersion"] != c["RowVersion"]
    stale = api.put(f"Contact/Customer/{c['UID']}", json={**c, "Notes": "two"})
    assert stale.status_code == 409
    assert stale.json()["Errors"][0]["Name"] == "IncorrectRowVersionSupplied"


def _invoice(
    running: Running, api: httpx.Client, customer: str, total: str, number: str | None = None, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {
        "Date": TODAY,
        "Customer": {"UID": customer},
        "Lines": [
            {
                "Type": "Transaction",
                "Description": "Work",
                "Total": total,
                "Account": {"UID": running.account("4-2000")["UID"]},
                "TaxCode": {"UID": running.tax("GST")["UID"]},
            }
        ],
        **extra,
    }
    if number:
        body["Number"] = number
    return api.post("Sale/Invoice/Service", params={"returnBody": "true"}, json=body)


def _pay(
    running: Running, api: httpx.Client, customer: str, invoice: str, amount: str, received: str | None = None
) -> httpx.Response:
    return api.post(
        "Sale/CustomerPayment",
        params={"returnBody": "true"},
        json={
            "DepositTo": "Account",
            "Account": {"UID": running.account("1-1110")["UID"]},
            "Customer": {"UID": customer},
            "Date": TODAY,
            "AmountReceived": received or amount,
            "Invoices": [{"UID": invoice, "AmountApplied": amount, "Type": "Invoice"}],
        },
    )


def test_invoice_totals_numbers_lines_and_their_rowversions(running: Running, api: httpx.Client) -> None:
    c = _customer(api, "Invoiced")
    inv = _invoice(running, api, c["UID"], "100.00", IsTaxInclusive=True).json()
    assert inv["Number"] == "00000001" and inv["InvoiceType"] == "Service"
    assert Decimal(str(inv["TotalAmount"])) == Decimal("100.00") and Decimal(str(inv["TotalTax"])) == Decimal("9.09")
    line = inv["Lines"][0]
    assert line["RowID"] and line["RowVersion"] and line["TaxCode"]["Code"] == "GST"
    stale_line = api.put(f"Sale/Invoice/Service/{inv['UID']}", json={**inv, "Lines": [{**line, "RowVersion": "1"}]})
    assert stale_line.status_code == 409
    dup = _invoice(running, api, c["UID"], "5.00", number="00000001")
    assert dup.status_code == 400 and "00000001" in dup.json()["Errors"][0]["Message"]
    terms = _invoice(
        running, api, c["UID"], "5.00", Terms={"PaymentIsDue": "InAGivenNumberOfDays", "BalanceDueDate": 14}
    ).json()
    assert terms["Terms"]["DueDate"][:10] == (dt.date.today() + dt.timedelta(days=14)).isoformat()


def test_card_ids_are_unique_and_inactive_customers_take_no_new_sales(running: Running, api: httpx.Client) -> None:
    c = _customer(api, "Card One", DisplayID="CUS001")
    second = api.post("Contact/Customer", json={"CompanyName": "Card Two", "DisplayID": "cus001"})
    assert second.status_code == 400 and "Card ID" in second.json()["Errors"][0]["Message"]
    # Names are not unique in MYOB.
    assert api.post("Contact/Customer", json={"CompanyName": "Card One"}).status_code == 201
    too_long = api.post("Contact/Customer", json={"CompanyName": "x" * 51})
    assert too_long.status_code == 400
    api.put(f"Contact/Customer/{c['UID']}", json={**c, "IsActive": False}).raise_for_status()
    refused = _invoice(running, api, c["UID"], "10.00")
    assert refused.status_code == 400 and "inactive" in refused.json()["Errors"][0]["Message"]


def test_payments_balances_no_put_and_deletes(running: Running, api: httpx.Client) -> None:
    c = _customer(api, "Payer")
    inv = _invoice(running, api, c["UID"], "100.00").json()  # 110.00 with GST
    over = _pay(running, api, c["UID"], inv["UID"], "200.00")
    assert over.status_code == 400 and "balance due" in over.json()["Errors"][0]["Message"]
    unbalanced = _pay(running, api, c["UID"], inv["UID"], "10.00", received="20.00")
    assert unbalanced.status_code == 400 and "out of balance" in unbalanced.json()["Errors"][0]["Message"]
    pay = _pay(running, api, c["UID"], inv["UID"], "110.00").json()
    assert pay["ReceiptNumber"] and pay["Invoices"][0]["Number"] == inv["Number"]
    closed = api.get(f"Sale/Invoice/Service/{inv['UID']}").json()
    assert closed["Status"] == "Closed" and Decimal(str(closed["BalanceDueAmount"])) == 0
    assert api.get(f"Contact/Customer/{c['UID']}").json()["CurrentBalance"] == 0
    assert api.put(f"Sale/CustomerPayment/{pay['UID']}", json=pay).status_code == 405
    locked = api.delete(f"Sale/Invoice/Service/{inv['UID']}")
    assert locked.status_code == 400
    assert api.delete(f"Sale/CustomerPayment/{pay['UID']}").status_code == 200
    assert api.get(f"Sale/Invoice/Service/{inv['UID']}").json()["Status"] == "Open"
    assert api.delete(f"Sale/Invoice/Service/{inv['UID']}").status_code == 200
    assert api.get(f"Sale/Invoice/Service/{inv['UID']}").status_code == 404


def test_credit_is_a_negative_sale_settled_or_refunded(running: Running, api: httpx.Client) -> None:
    c = _customer(api, "Creditor")
    credit = _invoice(running, api, c["UID"], "-50.00").json()
    assert credit["Status"] == "Credit" and Decimal(str(credit["BalanceDueAmount"])) < 0
    inv = _invoice(running, api, c["UID"], "20.00").json()  # 22.00
    settle = api.post(
        "Sale/CreditSettlement",
        params={"returnBody": "true"},
        json={
            "CreditFromInvoice": {"UID": credit["UID"]},
            "Customer": {"UID": c["UID"]},
            "Date": TODAY,
            "CreditAmount": "22.00",
            "Lines": [{"Type": "Invoice", "Sale": {"UID": inv["UID"]}, "AmountApplied": "22.00"}],
        },
    )
    assert settle.status_code == 201, settle.text
    assert api.get(f"Sale/Invoice/Service/{inv['UID']}").json()["Status"] == "Closed"
    refund = api.post(
        "Sale/CreditRefund",
        json={
            "Account": {"UID": running.account("1-1110")["UID"]},
            "Invoice": {"UID": credit["UID"]},
            "Customer": {"UID": c["UID"]},
            "Date": TODAY,
            "Amount": "40.00",
        },
    )
    assert refund.status_code == 400  # only 33.00 of credit is left
    refund = api.post(
        "Sale/CreditRefund",
        json={
            "Account": {"UID": running.account("1-1110")["UID"]},
            "Invoice": {"UID": credit["UID"]},
            "Customer": {"UID": c["UID"]},
            "Date": TODAY,
            "Amount": "33.00",
        },
    )
    assert refund.status_code == 201
    assert api.get(f"Sale/Invoice/Service/{credit['UID']}").json()["Status"] == "Closed"


def test_the_other_resources_are_served(running: Running, api: httpx.Client) -> None:
    supplier = api.post(
        "Contact/Supplier", params={"returnBody": "true"}, json={"CompanyName": "Parts Co", "IsIndividual": False}
    ).json()
    assert supplier["Type"] == "Supplier"
    item = api.post(
        "Inventory/Item",
        params={"returnBody": "true"},
        json={
            "Number": "OIL-5W30",
            "Name": "Oil",
            "IsSold": True,
            "IsBought": True,
            "IncomeAccount": {"UID": running.account("4-1000")["UID"]},
            "BaseSellingPrice": "12.50",
        },
    ).json()
    assert item["IncomeAccount"]["DisplayID"] == "4-1000"
    line = {
        "Type": "Transaction",
        "Description": "Oil",
        "Item": {"UID": item["UID"]},
        "BillQuantity": "4",
        "UnitPrice": "8.00",
        "TaxCode": {"UID": running.tax("GST")["UID"]},
    }
    order = api.post(
        "Purchase/Order/Item",
        params={"returnBody": "true"},
        json={"Date": TODAY, "Supplier": {"UID": supplier["UID"]}, "Lines": [line]},
    ).json()
    assert Decimal(str(order["TotalAmount"])) == Decimal("35.20")
    bill = api.post(
        "Purchase/Bill/Service",
        params={"returnBody": "true"},
        json={
            "Date": TODAY,
            "Supplier": {"UID": supplier["UID"]},
            "Lines": [
                {
                    "Type": "Transaction",
                    "Description": "Freight",
                    "Total": "10.00",
                    "Account": {"UID": running.account("6-1000")["UID"]},
                    "TaxCode": {"UID": running.tax("FRE")["UID"]},
                }
            ],
        },
    )
    assert bill.status_code == 201 and Decimal(str(bill.json()["TotalAmount"])) == Decimal("10.00")
    for resource, body in (
        ("GeneralLedger/Category", {"DisplayID": "WORKSHOP", "Name": "Workshop"}),
        ("GeneralLedger/Job", {"Number": "J100", "Name": "Fleet"}),
        ("GeneralLedger/TaxCode", {"Code": "GSX", "Rate": "10", "Type": "GoodsAndServicesTax"}),
        ("GeneralLedger/Account", {"DisplayID": "4-3000", "Name": "Parts Income", "Type": "Income"}),
    ):
        assert api.post(resource, json=body).status_code == 201, resource
        assert api.post(resource, json=body).status_code == 400, f"{resource} takes a duplicate"
    listed = api.get("Contact").json()
    assert {c["Type"] for c in listed["Items"]} == {"Supplier"}
    assert len(api.get("Sale/Invoice").json()["Items"]) == 0
    assert api.get("Purchase/Order").json()["Count"] == 1


# ------------------------------------------------------------------------------------------------ limits, faults
def test_limits_per_api_key_answer_403_ratelimiterror(running: Running, api: httpx.Client) -> None:
    running.control.put("/_sandbox/config", json={"rate_limits": {"second": 8}}).raise_for_status()
    answers = [api.get("Contact/Customer").status_code for _ in range(12)]
    assert answers[:8] == [200] * 8 and 403 in answers[8:]
    assert running.control.get("/_sandbox/counters").json()["rate_limited"]["second"] >= 1


def test_daily_limit_text_is_myobs(running: Running) -> None:
    running.control.put("/_sandbox/config", json={"rate_limits": {"second": 1000, "day": 2}}).raise_for_status()
    with api_client(running) as client:
        client.get("Contact/Customer")
        client.get("Contact/Customer")
        refused = client.get("Contact/Customer")
    assert refused.status_code == 403
    assert refused.json()["Errors"][0]["Message"] == "API key has exceeded the daily rate limit"
    assert refused.json()["Errors"][0]["AdditionalDetails"] == "Header: x-myobapi-key"


def test_faults_are_injected_and_counted(running: Running, api: httpx.Client) -> None:
    running.control.put("/_sandbox/faults", json={"error_rates": {"500": 1.0}}).raise_for_status()
    assert api.get("Contact/Customer").status_code == 500
    running.control.put("/_sandbox/faults", json={"error_rates": {"500": 0.0, "429": 1.0}}).raise_for_status()
    limited = api.get("Contact/Customer")
    assert limited.status_code == 403 and limited.json()["Errors"][0]["Name"] == "RateLimitError"
    running.control.delete("/_sandbox/faults").raise_for_status()
    running.control.put("/_sandbox/faults", json={"drop_after_commit_rate": 1.0}).raise_for_status()
    with pytest.raises(httpx.HTTPError):
        api.post("Contact/Customer", json={"CompanyName": "Dropped"})
    running.control.delete("/_sandbox/faults").raise_for_status()
    # The write was committed before the connection dropped.
    assert api.get("Contact/Customer").json()["Count"] == 1
    counters = running.control.get("/_sandbox/counters").json()
    assert counters["faults"]["500"] == 1 and counters["faults"]["429"] == 1
    assert counters["faults"]["drop_after_commit"] == 1


def test_state_survives_a_restart_from_its_file(tmp_path: Path) -> None:
    from ledgersync.sandbox.myob import MyobSandbox
    from ledgersync.sandbox.myob.records import create

    path = tmp_path / "myob.json"
    sb = MyobSandbox.load(path)
    sb.add_app("KEY", "S", [REDIRECT])
    cf = sb.add_tenant("Durable Pty Ltd")
    status, card = create(cf, "Contact/Customer", {"CompanyName": "Kept", "DisplayID": "K1"}, "")
    assert status == 201
    sb.save()
    again = MyobSandbox.load(path)
    kept = again.tenants[cf.id]
    assert kept.data["Contact/Customer"][card["UID"]]["CompanyName"] == "Kept"
    # Sequences and stamps carry on: a new card's LastModified is later, and the card ID stays taken.
    status, later = create(kept, "Contact/Customer", {"CompanyName": "Later"}, "")
    assert status == 201 and later["LastModified"] > card["LastModified"]
    assert create(kept, "Contact/Customer", {"CompanyName": "Dup", "DisplayID": "K1"}, "")[0] == 400
