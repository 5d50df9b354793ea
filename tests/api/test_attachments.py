"""The invoice PDF through the REST API: PUT the bytes, the platforms' rules as 413/415/422, the state per
connection after a sync, the bytes back, delete, and the route in the OpenAPI document."""

from __future__ import annotations

from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine.actions import Role

from .conftest import Api, fast_settings, make_api

PDF = b"%PDF-1.4\n" + b"api test " * 300 + b"\n%%EOF\n"
INVOICE = {
    "contact_id": "c1",
    "number": "INV-0077",
    "date": "2026-11-02",
    "lines": [{"description": "Service", "unit_amount": "100.00", "account_code": "200", "tax_type": "NONE"}],
}


def _invoice(api: Api) -> None:
    h = api.a.h(Role.MEMBER)
    assert api.client.put("/v1/contacts/c1", headers=h, json={"name": "Ann Lee"}).status_code == 200
    assert api.client.put("/v1/invoices/i1", headers=h, json=INVOICE).status_code == 200


def test_an_invoice_pdf_is_put_synced_and_read_back(connected: tuple[Api, str], sandbox: XeroSandboxHandle) -> None:
    api, conn = connected
    h = api.a.h(Role.MEMBER)
    _invoice(api)
    r = api.client.put(
        "/v1/invoices/i1/attachments/INV-0077.pdf", headers={**h, "Content-Type": "application/pdf"}, content=PDF
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["filename"], body["size"], body["content_type"]) == ("INV-0077.pdf", len(PDF), "application/pdf")
    assert body["sync"] == []  # not sent yet
    assert api.client.post(f"/v1/connections/{conn}/sync", headers=h).json()["status"] == "ok"
    (listed,) = api.client.get("/v1/invoices/i1/attachments", headers=h).json()
    (st,) = listed["sync"]
    assert (st["connection_id"], st["platform"], st["state"], st["current"]) == (conn, "Xero", "synced", True)
    inv = next(i for i in sandbox.dump()["Invoices"] if i["InvoiceNumber"] == "INV-0077")
    assert inv["HasAttachments"] is True and st["remote_id"]
    got = api.client.get("/v1/invoices/i1/attachments/INV-0077.pdf", headers=h)
    assert got.content == PDF and got.headers["content-type"] == "application/pdf"
    assert api.client.delete("/v1/invoices/i1/attachments/INV-0077.pdf", headers=h).status_code == 204
    assert api.client.get("/v1/invoices/i1/attachments", headers=h).json() == []
    assert api.client.get("/v1/invoices/i1/attachments/INV-0077.pdf", headers=h).status_code == 404


def test_the_connected_platforms_rules_answer_413_415_and_422(connected: tuple[Api, str]) -> None:
    api, _conn = connected
    h = {**api.a.h(Role.MEMBER), "Content-Type": "application/pdf"}
    _invoice(api)
    big = api.client.put("/v1/invoices/i1/attachments/big.pdf", headers=h, content=b"%" * (10 * 1024 * 1024 + 1))
    assert big.status_code == 413
    assert big.json()["detail"] == "Xero refuses this file: it is 10,485,761 bytes (at most 10,485,760 bytes)."
    exe = {**h, "Content-Type": "application/x-msdownload"}
    wrong = api.client.put("/v1/invoices/i1/attachments/tool.exe", headers=exe, content=PDF)
    assert wrong.status_code == 415 and wrong.json()["detail"] == "Xero refuses this file: it is a .exe file."
    assert api.client.put("/v1/invoices/i1/attachments/empty.pdf", headers=h, content=b"").status_code == 422
    assert api.client.put("/v1/invoices/i1/attachments/noext", headers=h, content=PDF).status_code == 422
    assert api.client.put("/v1/invoices/nope/attachments/a.pdf", headers=h, content=PDF).status_code == 404
    # Another organisation's invoice is not there for this one.
    other = api.client.put("/v1/invoices/i1/attachments/a.pdf", headers={**h, **api.b.h()}, content=PDF)
    assert other.status_code == 404


def test_without_a_connection_a_file_no_platform_takes_is_refused(api: Api) -> None:
    h = {**api.a.h(Role.MEMBER), "Content-Type": "application/pdf"}
    _invoice(api)
    # 20 MB is too big for Xero but QuickBooks Online takes it: kept, checked again when a connection sends it.
    mid = api.client.put("/v1/invoices/i1/attachments/mid.pdf", headers=h, content=b"%" * (20 * 1024 * 1024))
    assert mid.status_code == 200, mid.text
    exe = {**h, "Content-Type": "application/x-msdownload"}
    wrong = api.client.put("/v1/invoices/i1/attachments/tool.exe", headers=exe, content=PDF)
    assert wrong.status_code == 415 and "No platform takes this file" in wrong.json()["detail"]


def test_the_server_caps_a_file_before_reading_it(tmp_path: object, secret_key: str) -> None:
    api = make_api(tmp_path, secret_key, settings=fast_settings(max_file_bytes=4096))  # type: ignore[arg-type]
    h = {**api.a.h(Role.MEMBER), "Content-Type": "application/pdf"}
    _invoice(api)
    r = api.client.put("/v1/invoices/i1/attachments/a.pdf", headers=h, content=b"%" * 5000)
    assert r.status_code == 413 and r.json()["detail"] == "the request body is larger than 4096 bytes"
    # Records keep the ordinary body cap.
    assert api.client.put("/v1/invoices/i1/attachments/a.pdf", headers=h, content=b"%PDF small").status_code == 200


def test_the_routes_are_in_the_openapi_document(api: Api) -> None:
    doc = api.client.get("/v1/openapi.json").json()
    put = doc["paths"]["/v1/invoices/{app_id}/attachments/{filename}"]["put"]
    assert set(put["requestBody"]["content"]) >= {"application/pdf", "application/octet-stream"}
    assert {"200", "413", "415", "422"} <= set(put["responses"])
    assert "get" in doc["paths"]["/v1/invoices/{app_id}/attachments"]


def test_a_refused_file_is_retried_on_its_connection(connected: tuple[Api, str]) -> None:
    api, conn = connected
    h = api.a.h(Role.MEMBER)
    _invoice(api)
    api.client.put("/v1/invoices/i1/attachments/a.pdf", headers={**h, "Content-Type": "application/pdf"}, content=PDF)
    url = f"/v1/connections/{conn}/invoices/i1/attachments/a.pdf/retry"
    assert api.client.post(url, headers=h).status_code == 409  # not failed (not even sent)
    from ledgersync.store.tables import AttachmentSync

    api.client.post(f"/v1/connections/{conn}/sync", headers=h)
    with api.ls.store.session() as s:  # as if Xero had refused it
        row = s.get(AttachmentSync, (conn, "invoice", "i1", "a.pdf"))
        assert row is not None and row.state == "synced"
        row.state, row.error_message = "failed", "Xero refused it"
    r = api.client.post(url, headers=h)
    assert r.status_code == 200 and r.json()["sync"][0]["state"] == "pending"
    assert api.client.post(f"/v1/connections/{conn}/invoices/i1/attachments/x.pdf/retry", headers=h).status_code == 404
    other = api.client.post(url, headers=api.b.h())
    assert other.status_code == 404
