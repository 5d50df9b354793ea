"""Invoice attachments on the Xero sandbox: create, replace by name, list, read back, the limits, xero-python."""

from __future__ import annotations

from typing import Any

import pytest

from ledgersync.sandbox.xero import attachments as rules
from ledgersync.sandbox.xero.state import Tenant

from .conftest import Sandbox, sdk_client

PDF = b"%PDF-1.4\n" + b"x" * 2000


def _invoice(s: Sandbox, typ: str = "ACCREC") -> str:
    body = {
        "Invoices": [
            {
                "Type": typ,
                "Contact": {"Name": "Attach Co"},
                "Status": "AUTHORISED",
                "LineItems": [{"Description": "Work", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}],
            }
        ]
    }
    r = s.api("PUT", "Invoices", body)
    assert r.status_code == 200, r.text
    return str(r.json()["Invoices"][0]["InvoiceID"])


def _put(s: Sandbox, inv: str, name: str, data: bytes, method: str = "PUT", **params: Any) -> Any:
    h = {"Content-Type": "application/pdf"}
    return s.api(method, f"Invoices/{inv}/Attachments/{name}", content=data, headers=h, params=params or None)


def test_put_lists_reads_back_and_flags_the_invoice(ready: Sandbox) -> None:
    inv = _invoice(ready)
    assert ready.api("GET", f"Invoices/{inv}").json()["Invoices"][0]["HasAttachments"] is False
    r = _put(ready, inv, "INV-1.pdf", PDF, IncludeOnline="true")
    assert r.status_code == 200, r.text
    made = r.json()["Attachments"][0]
    assert (made["FileName"], made["MimeType"], made["ContentLength"], made["IncludeOnline"]) == (
        "INV-1.pdf",
        "application/pdf",
        len(PDF),
        True,
    )
    listed = ready.api("GET", f"Invoices/{inv}/Attachments").json()["Attachments"]
    assert [a["AttachmentID"] for a in listed] == [made["AttachmentID"]]
    by_name = ready.api("GET", f"Invoices/{inv}/Attachments/INV-1.pdf")
    by_id = ready.api("GET", f"Invoices/{inv}/Attachments/{made['AttachmentID']}")
    assert by_name.content == by_id.content == PDF
    assert by_name.headers["content-type"].startswith("application/pdf")
    assert ready.api("GET", f"Invoices/{inv}").json()["Invoices"][0]["HasAttachments"] is True


def test_same_name_replaces_and_does_not_count_again(ready: Sandbox) -> None:
    inv = _invoice(ready)
    first = _put(ready, inv, "a.pdf", PDF).json()["Attachments"][0]
    again = _put(ready, inv, "A.PDF", PDF + b"v2", method="POST").json()["Attachments"][0]
    assert again["AttachmentID"] == first["AttachmentID"] and again["ContentLength"] == len(PDF) + 2
    listed = ready.api("GET", f"Invoices/{inv}/Attachments").json()["Attachments"]
    assert len(listed) == 1
    assert ready.api("GET", f"Invoices/{inv}/Attachments/a.pdf").content == PDF + b"v2"


def test_limits_and_their_reasons(ready: Sandbox) -> None:
    inv = _invoice(ready)
    big = _put(ready, inv, "big.pdf", b"x" * (rules.MAX_BYTES + 1))
    assert big.status_code == 413
    assert "at most 10MB" in big.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    exe = _put(ready, inv, "tool.exe", PDF)
    assert exe.status_code == 400
    assert exe.json()["Elements"][0]["ValidationErrors"][0]["Message"] == "The file type '.exe' is not supported"
    assert _put(ready, inv, "empty.pdf", b"").status_code == 400
    for i in range(rules.MAX_PER_DOCUMENT):
        assert _put(ready, inv, f"f{i}.pdf", PDF).status_code == 200
    over = _put(ready, inv, "eleventh.pdf", PDF)
    assert over.status_code == 400
    assert "maximum of 10 attachments" in over.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    assert _put(ready, inv, "f3.pdf", PDF + b"!").status_code == 200  # a replacement still fits
    unknown = _put(ready, inv.replace(inv[:8], "00000000"), "x.pdf", PDF)
    assert unknown.status_code == 404 and unknown.json()["Title"] == "NotFound"
    bill = _invoice(ready, "ACCPAY")
    online = _put(ready, bill, "b.pdf", PDF, IncludeOnline="true")
    assert online.status_code == 400 and "sales invoices" in online.text
    assert ready.api("GET", f"Invoices/{inv}/Attachments/missing.pdf").status_code == 404


def test_an_idempotency_key_replays_the_first_answer(ready: Sandbox) -> None:
    inv = _invoice(ready)
    h = {"Content-Type": "application/pdf", "Idempotency-Key": "att-1"}
    one = ready.api("PUT", f"Invoices/{inv}/Attachments/k.pdf", content=PDF, headers=h).json()
    two = ready.api("PUT", f"Invoices/{inv}/Attachments/k.pdf", content=PDF, headers=h).json()
    assert one["Attachments"] == two["Attachments"] and one["Id"] == two["Id"]


def test_attachments_survive_a_save_and_load() -> None:
    t = Tenant("Saved", seed=False)
    t.attachments["abc"] = [
        {"AttachmentID": "1", "FileName": "a.pdf", "MimeType": "application/pdf", "ContentLength": 3,
         "IncludeOnline": False, "content": b"\x00\x01\xff"}
    ]
    back = Tenant.from_json(t.to_json())
    assert back.attachments == t.attachments


def test_xero_python_uploads_and_lists(ready: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    api, _client, _ = sdk_client(ready, monkeypatch)
    inv = _invoice(ready)
    made = api.create_invoice_attachment_by_file_name(
        ready.tenant_id, inv, "sdk.pdf", PDF, include_online=True, idempotency_key="sdk-att-1"
    )
    assert made.attachments[0].file_name == "sdk.pdf" and made.attachments[0].include_online is True
    listed = api.get_invoice_attachments(ready.tenant_id, inv)
    assert [a.file_name for a in listed.attachments] == ["sdk.pdf"]
    assert listed.attachments[0].content_length == len(PDF)
    updated = api.update_invoice_attachment_by_file_name(ready.tenant_id, inv, "sdk.pdf", PDF + b"2")
    assert updated.attachments[0].content_length == len(PDF) + 1
    got = api.get_invoice_attachment_by_id(
        ready.tenant_id, inv, str(made.attachments[0].attachment_id), "application/pdf"
    )
    if not isinstance(got, bytes):
        with open(got, "rb") as fh:
            got = fh.read()
    data = got
    assert data == PDF + b"2"
