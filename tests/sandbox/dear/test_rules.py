"""The DEAR sandbox's rules: header keys, JSON only, paging, deltas, the 60-a-minute limit as 503, the sale's
documents, and webhooks delivered with the subscriber's credentials, retried on schedule and then switched off."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledgersync.sandbox.server import RunningServer, serve_in_thread

from .conftest import Sandbox


class Receiver:
    """A webhook endpoint that records what arrives and answers with `status`."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 200

        async def hook(request: Request) -> Response:
            self.calls.append({"headers": dict(request.headers), "body": await request.body()})
            return Response(status_code=self.status)

        self.server: RunningServer = serve_in_thread(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
        self.url = f"{self.server.url}/hook"

    def wait_for(self, n: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.calls) >= n, f"{len(self.calls)} deliveries, wanted {n}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.stop()


def test_calls_need_both_keys_and_json(sandbox: Sandbox) -> None:
    for headers in (
        {},
        {"api-auth-accountid": sandbox.account_id},
        {**sandbox.headers(), "api-auth-applicationkey": "x"},
    ):
        resp = httpx.get(f"{sandbox.url}/ExternalApi/v2/me", headers=headers)
        assert resp.status_code == 403 and resp.json()[0]["Exception"] == "Method authentication failed"
    form = sandbox.api.post(
        "customer", content=b"Name=Ann", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 400 and "Only JSON" in form.json()[0]["Exception"]
    assert sandbox.api.get("me").json()["Company"] == "Demo Company (AU)"


def test_paging_deltas_and_deprecated(sandbox: Sandbox) -> None:
    ids = [sandbox.api.post("customer", json={"Name": f"C{i}"}).json()["CustomerList"][0]["ID"] for i in range(5)]
    page = sandbox.api.get("customer", params={"Page": 2, "Limit": 2}).json()
    assert page["Total"] == 5 and page["Page"] == 2 and [c["Name"] for c in page["CustomerList"]] == ["C2", "C3"]
    assert sandbox.api.get("customer", params={"Limit": 1001}).status_code == 400
    assert len(sandbox.api.get("customer").json()["CustomerList"]) == 5  # default Limit 100
    stamp = sandbox.api.get("customer", params={"ID": ids[4]}).json()["CustomerList"][0]["LastModifiedOn"]
    sandbox.control.post("/_sandbox/clock", json={"advance_seconds": 5})
    sandbox.api.put("customer", json={"ID": ids[0], "Status": "Deprecated"})
    later = sandbox.api.get(
        "customer", params={"ModifiedSince": stamp[:19] + ".999", "IncludeDeprecated": "true"}
    ).json()
    assert [c["ID"] for c in later["CustomerList"]] == [ids[0]]
    assert ids[0] not in {c["ID"] for c in sandbox.api.get("customer").json()["CustomerList"]}
    dup = sandbox.api.post("customer", json={"Name": "c1"})
    assert dup.status_code == 400 and "already exists" in dup.json()[0]["Exception"]


def test_sixty_calls_a_minute_then_503_until_the_minute_has_passed(sandbox: Sandbox) -> None:
    answers = [sandbox.api.get("me").status_code for _ in range(61)]
    assert answers[:60] == [200] * 60 and answers[60] == 503
    assert sandbox.api.get("me").json()[0]["Exception"] == "You reached 60 calls per minute API limit"
    # Limits apply per API application: a second application of the same company has its own minute.
    other = sandbox.control.post("/_sandbox/accounts", json={"name": "x", "account_id": sandbox.account_id}).json()
    two = httpx.get(
        f"{sandbox.url}/ExternalApi/v2/me",
        headers={"api-auth-accountid": sandbox.account_id, "api-auth-applicationkey": other["application_key"]},
    )
    assert two.status_code == 200
    sandbox.control.post("/_sandbox/clock", json={"advance_seconds": 61})
    assert sandbox.api.get("me").status_code == 200
    assert sandbox.control.get("/_sandbox/counters").json()["rate_limited"] == 2


def _sale(sandbox: Sandbox) -> tuple[str, str, list[dict[str, Any]]]:
    customer = sandbox.api.post("customer", json={"Name": "Sale Co"}).json()["CustomerList"][0]["ID"]
    product = sandbox.api.post("product", json={"SKU": "S", "Name": "Svc", "Type": "Service"}).json()["Products"][0][
        "ID"
    ]
    sale = sandbox.api.post("sale", json={"CustomerID": customer, "CustomerReference": "APP-1"}).json()["ID"]
    return sale, product, [{"ProductID": product, "Quantity": 1, "Price": 100, "TaxRule": "GST on Income"}]


def test_a_sale_is_a_header_with_order_invoice_and_payments_keyed_by_task(sandbox: Sandbox) -> None:
    sale, _, lines = _sale(sandbox)
    wrong = sandbox.api.post(
        "sale/order", json={"SaleID": sale, "Status": "AUTHORISED", "Lines": [{**lines[0], "Total": 90}]}
    )
    assert wrong.status_code == 400 and "does not match" in wrong.json()[0]["Exception"]
    assert (
        sandbox.api.post("sale/order", json={"SaleID": sale, "Status": "AUTHORISED", "Lines": lines}).status_code == 200
    )
    inv = sandbox.api.post("sale/invoice", json={"SaleID": sale, "Status": "AUTHORISED", "Lines": lines}).json()
    task = inv["Invoices"][0]["TaskID"]
    assert inv["Invoices"][0]["InvoiceNumber"] == "INV-00001" and inv["Invoices"][0]["Total"] == 110
    over = sandbox.api.post("sale/payment", json={"TaskID": task, "Amount": 111})
    assert over.status_code == 400 and "exceeds the amount outstanding" in over.json()[0]["Exception"]
    paid = sandbox.api.post("sale/payment", json={"TaskID": task, "Amount": 110, "DatePaid": "2024-01-02"}).json()
    assert paid["SaleID"] == sale and paid["InvoiceNumber"] == "INV-00001"
    assert sandbox.api.get("sale", params={"ID": sale}).json()["Invoices"][0]["Status"] == "PAID"
    locked = sandbox.api.delete("sale", params={"ID": sale, "Void": "true"})
    assert locked.status_code == 400 and "payments" in locked.json()[0]["Exception"]
    assert sandbox.api.delete("sale/payment", params={"ID": paid["ID"]}).json() == {"Success": True}
    voided = sandbox.api.delete("sale", params={"ID": sale, "Void": "true"}).json()
    assert voided["Status"] == "VOIDED" and voided["Invoices"][0]["Status"] == "VOIDED"
    listed = sandbox.api.get("saleList", params={"Search": "APP-1"}).json()["SaleList"]
    assert [s["Status"] for s in listed] == ["VOIDED"]


def test_webhooks_carry_the_chosen_credentials(sandbox: Sandbox, receiver: Receiver) -> None:
    for auth in (
        {"ExternalAuthorizationType": "bearerauth", "ExternalBearerToken": "tok-1"},
        {"ExternalAuthorizationType": "basicauth", "ExternalUserName": "u", "ExternalPassword": "p"},
        {"ExternalAuthorizationType": "noauth", "ExternalHeaders": [{"Key": "X-Secret", "Value": "s3"}]},
    ):
        made = sandbox.api.post("webhooks", json={"Type": "Customer/Updated", "ExternalURL": receiver.url, **auth})
        assert made.status_code == 200, made.text
    sandbox.api.post("customer", json={"Name": "Hooked"})
    receiver.wait_for(3)
    seen = sorted(c["headers"].get("authorization") or c["headers"].get("x-secret") for c in receiver.calls)
    assert seen == sorted(["Bearer tok-1", "Basic " + base64.b64encode(b"u:p").decode(), "s3"])
    assert b'"Name":"Hooked"' in receiver.calls[0]["body"]
    for i in range(3):
        sandbox.api.post("webhooks", json={"Type": "Customer/Updated", "ExternalURL": f"{receiver.url}?{i}"})
    sixth = sandbox.api.post("webhooks", json={"Type": "Customer/Updated", "ExternalURL": receiver.url})
    assert sixth.status_code == 400 and "At most 5" in sixth.json()[0]["Exception"]


def test_a_failing_webhook_is_retried_six_times_on_schedule_then_switched_off(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    receiver.status = 500
    hook = sandbox.api.post(
        "webhooks",
        json={
            "Type": "Sale/InvoiceAuthorised",
            "ExternalURL": receiver.url,
            "ExternalAuthorizationType": "bearerauth",
            "ExternalBearerToken": "t",
        },
    )
    hook_id = hook.json()["Webhooks"][0]["ID"]
    sale, _, lines = _sale(sandbox)
    sandbox.api.post("sale/invoice", json={"SaleID": sale, "Status": "AUTHORISED", "Lines": lines})
    receiver.wait_for(1)

    def attempts_recorded(n: int) -> None:
        # The sandbox has scheduled the next retry once it recorded the attempt (after the answer came back).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if len(sandbox.control.get("/_sandbox/webhooks/deliveries").json()["deliveries"][-1]["attempts"]) >= n:
                return
            time.sleep(0.02)
        raise AssertionError(f"attempt {n} was not recorded")

    attempts_recorded(1)
    for n, minutes in enumerate([1, 5, 10, 15, 20, 25], start=2):
        # Just short of the next retry nothing is sent; at it, the retry goes out.
        sandbox.control.post("/_sandbox/clock", json={"advance_seconds": minutes * 60 - 2})
        time.sleep(0.3)
        assert len(receiver.calls) == n - 1
        sandbox.control.post("/_sandbox/clock", json={"advance_seconds": 2})
        receiver.wait_for(n)
        attempts_recorded(n)
    (state,) = sandbox.api.get("webhooks").json()["Webhooks"]
    assert state["ID"] == hook_id and state["IsActive"] is False
    delivery = sandbox.control.get("/_sandbox/webhooks/deliveries").json()["deliveries"][-1]
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 7
    # Switched off, it gets nothing more until it is switched on again.
    sandbox.api.post("sale", json={"CustomerID": sandbox.api.get("customer").json()["CustomerList"][0]["ID"]})
    sandbox.control.post("/_sandbox/clock", json={"advance_seconds": 3600})
    time.sleep(0.3)
    assert len(receiver.calls) == 7
