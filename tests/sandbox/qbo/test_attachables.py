"""Attachable, Upload and Download on the QuickBooks Online sandbox, over HTTP and through python-quickbooks."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from quickbooks.objects.attachable import Attachable
from quickbooks.objects.base import AttachableRef, Ref

from ledgersync.sandbox.qbo import attachables as rules
from ledgersync.sandbox.qbo.state import Company

from .conftest import Sandbox
from .conftest import sdk_client as _client

PDF = b"%PDF-1.4\r\n\x00\x01binary\r\n--not-a-boundary\n" + b"y" * 3000


def _upload(
    s: Sandbox, meta: dict[str, Any] | None, data: bytes, ctype: str = "application/pdf", rid: str | None = None
) -> httpx.Response:
    files: dict[str, Any] = {"file_content_0": ("inv.pdf", data, ctype)}
    if meta is not None:
        files["file_metadata_0"] = (None, json.dumps(meta), "application/json")
    return s.api("POST", "upload", files=files, params={"requestid": rid} if rid else None)


def _meta(inv: dict[str, Any], name: str = "INV-1.pdf", **extra: Any) -> dict[str, Any]:
    ref = {"EntityRef": {"type": "Invoice", "value": inv["Id"]}, "IncludeOnSend": True}
    return {"FileName": name, "ContentType": "application/pdf", "AttachableRef": [ref], **extra}


def test_upload_reads_lists_downloads_and_deletes(ready: Sandbox) -> None:
    inv = ready.invoice(ready.customer("Files Co")["Id"], "10.00")
    r = _upload(ready, _meta(inv, Note="sha256:abc"), PDF)
    assert r.status_code == 200, r.text
    made = r.json()["AttachableResponse"][0]["Attachable"]
    assert (made["FileName"], made["Size"], made["ContentType"], made["Note"]) == (
        "INV-1.pdf",
        len(PDF),
        "application/pdf",
        "sha256:abc",
    )
    assert made["AttachableRef"] == [{"EntityRef": {"type": "Invoice", "value": inv["Id"]}, "IncludeOnSend": True}]
    assert ready.ok("GET", f"attachable/{made['Id']}")["Attachable"]["SyncToken"] == "0"
    found = ready.query(f"SELECT * FROM Attachable WHERE AttachableRef.EntityRef.Value = '{inv['Id']}'")
    assert [a["Id"] for a in found["Attachable"]] == [made["Id"]]
    assert "Attachable" not in ready.query("SELECT * FROM Attachable WHERE AttachableRef.EntityRef.Value = '999'")
    url = ready.api("GET", f"download/{made['Id']}")
    assert url.headers["content-type"].startswith("text/plain") and url.text == made["TempDownloadUri"]
    got = httpx.get(url.text)
    assert got.content == PDF and got.headers["content-type"] == "application/pdf"
    gone = ready.ok("POST", "attachable", {"Id": made["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert gone["Attachable"]["status"] == "Deleted"
    assert ready.fault("GET", f"attachable/{made['Id']}")["code"] == "610"
    assert httpx.get(url.text).status_code == 404


def test_the_rules_and_their_texts(ready: Sandbox) -> None:
    inv = ready.invoice(ready.customer("Rules Co")["Id"], "10.00")
    unknown = _upload(ready, {**_meta(inv), "AttachableRef": [{"EntityRef": {"type": "Invoice", "value": "999"}}]}, PDF)
    assert unknown.status_code == 400
    assert unknown.json()["Fault"]["Error"][0]["Message"] == "Invalid Reference Id"
    msdos = "application/x-msdownload"
    exe = _upload(ready, _meta(inv, "tool.exe", ContentType=msdos), PDF, msdos)
    assert exe.status_code == 400 and "is not supported" in exe.json()["Fault"]["Error"][0]["Detail"]
    mismatch = _upload(ready, _meta(inv, "pic.png"), PDF)  # a .png said to be application/pdf
    assert mismatch.status_code == 400
    big = _upload(ready, _meta(inv), b"x" * (rules.MAX_BYTES + 1))
    assert big.status_code == 413 and "maximum size of 100 MB" in big.json()["Fault"]["Error"][0]["Detail"]
    assert ready.query("SELECT * FROM Attachable").get("Attachable") is None  # nothing refused was kept
    stale = _upload(ready, _meta(inv), PDF).json()["AttachableResponse"][0]["Attachable"]
    ready.ok("POST", "attachable", {"Id": stale["Id"], "SyncToken": "0", "Note": "edited"})
    again = ready.fault("POST", "attachable", {"Id": stale["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert again["code"] == "5010"


def test_a_requestid_replays_the_first_upload(ready: Sandbox) -> None:
    inv = ready.invoice(ready.customer("Replay Co")["Id"], "10.00")
    one = _upload(ready, _meta(inv), PDF, rid="up-1").json()
    two = _upload(ready, _meta(inv), PDF, rid="up-1").json()
    assert one == two
    assert len(ready.query("SELECT * FROM Attachable")["Attachable"]) == 1


def test_content_without_metadata_is_named_from_its_part(ready: Sandbox) -> None:
    r = _upload(ready, None, PDF)
    assert r.status_code == 200, r.text
    made = r.json()["AttachableResponse"][0]["Attachable"]
    assert (made["FileName"], made["AttachableRef"]) == ("inv.pdf", [])


def test_attachables_survive_a_save_and_load() -> None:
    c = Company("Saved", seed=False)
    c.attachables["5000000001"] = {"Id": "5000000001", "SyncToken": 0, "AttachableRef": [], "_token": "t"}
    c.files["5000000001"] = b"\x00\xff"
    c.attachable_seq = 1
    back = Company.from_json(c.to_json())
    assert (back.attachables, back.files, back.attachable_seq) == (c.attachables, c.files, 1)


@pytest.fixture
def _plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def test_python_quickbooks_uploads_with_file_bytes_and_lists(ready: Sandbox, _plain_http: None) -> None:
    """python-quickbooks 0.9.12 posts to /upload with parts file_metadata_01 / file_content_01, the content
    base64 with Content-Transfer-Encoding, LF line endings; the sandbox takes it as Intuit does."""
    qb = _client(ready)
    inv = ready.invoice(ready.customer("SDK Files")["Id"], "10.00")
    att = Attachable()
    ref = AttachableRef()
    ref.EntityRef = Ref()
    ref.EntityRef.type, ref.EntityRef.value = "Invoice", inv["Id"]
    att.AttachableRef = [ref]
    att.FileName, att.ContentType = "sdk.pdf", "application/pdf"
    att._FileBytes = PDF
    made = att.save(qb=qb)
    assert made.FileName == "sdk.pdf" and made.Size == len(PDF)
    listed = Attachable.filter(qb=qb, **{})  # SELECT * FROM Attachable
    assert [a.Id for a in listed] == [made.Id]
    by_ref = Attachable.query(
        f"SELECT * FROM Attachable WHERE AttachableRef.EntityRef.Value = '{inv['Id']}'", qb=qb
    )
    assert [a.FileName for a in by_ref] == ["sdk.pdf"]
    assert httpx.get(Attachable.get(made.Id, qb=qb).TempDownloadUri).content == PDF


def test_python_quickbooks_uploads_from_a_file_path(ready: Sandbox, _plain_http: None, tmp_path: Any) -> None:
    qb = _client(ready)
    inv = ready.invoice(ready.customer("SDK Path")["Id"], "10.00")
    path = tmp_path / "from-disk.pdf"
    path.write_bytes(PDF)
    att = Attachable()
    ref = AttachableRef()
    ref.EntityRef = Ref()
    ref.EntityRef.type, ref.EntityRef.value = "Invoice", inv["Id"]
    att.AttachableRef = [ref]
    att.FileName, att.ContentType, att._FilePath = "from-disk.pdf", "application/pdf", str(path)
    made = att.save(qb=qb)
    assert httpx.get(Attachable.get(made.Id, qb=qb).TempDownloadUri).content == PDF
