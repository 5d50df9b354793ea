"""Attachments on invoices and bills: `/Invoices/{InvoiceID}/Attachments[/{FileName}|/{AttachmentID}]`.

From the contract (xero_accounting.yaml v16.1.0): PUT creates by file name with `?IncludeOnline=` and the raw
bytes as the body (application/octet-stream), POST "updates an attachment ... by filename", GET lists
(schema Attachments: AttachmentID, FileName, Url, MimeType, ContentLength, IncludeOnline) and GET by id or by
file name answers the bytes. The invoice's read-only `HasAttachments` says whether it holds any.

Limits the contract does not state (Xero's developer pages, as other integrations quote them; none is in the
contract, so each is a sandbox guess):
- at most 10 attachments per document; putting a file name the document already holds replaces that file
  (it does not count again);
- at most 10 MB a file (Xero's pages have said 3 MB, then 10 MB);
- the file types Xero's pages list (by extension);
- IncludeOnline applies to sales invoices (ACCREC) only.
The error texts below are sandbox guesses too, in Xero's ValidationException shape."""

from __future__ import annotations

import base64
import mimetypes
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from .util import dumps, new_id

if TYPE_CHECKING:
    from .routes import Req, Result
    from .state import Tenant

# sandbox guess: Xero's pages quote 10 MB a file and 10 files a document.
MAX_BYTES = 10 * 1024 * 1024
MAX_PER_DOCUMENT = 10
# sandbox guess: the extensions Xero's attachment pages list.
_LISTED = "7z bmp csv doc docx eml gif jpeg jpg keynote msg numbers odf ods odt pages pdf png ppt pptx rar rtf tif tiff"
EXTENSIONS = frozenset(f"{_LISTED} txt xls xlsx zip".split(" "))
MAX_FILE_NAME = 255  # sandbox guess


def _error(message: str, status: int = 400) -> Result:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{"ValidationErrors": [{"Message": message}]}],
    }
    return status, dumps(body), {}


def files_of(tenant: Tenant, invoice_id: str) -> list[dict[str, Any]]:
    return tenant.attachments.setdefault(invoice_id.lower(), [])


def public(invoice_id: str, f: dict[str, Any]) -> dict[str, Any]:
    return {
        "AttachmentID": f["AttachmentID"],
        "FileName": f["FileName"],
        "Url": f"https://api.xero.com/api.xro/2.0/Invoices/{invoice_id}/Attachments/{quote(f['FileName'])}",
        "MimeType": f["MimeType"],
        "ContentLength": f["ContentLength"],
        "IncludeOnline": f["IncludeOnline"],
    }


def _invoice(req: Req) -> dict[str, Any] | None:
    return req.tenant.get("Invoices", req.args[0])


def _not_found() -> Result:
    from .routes import not_found

    return not_found()


def list_attachments(req: Req) -> Result:
    from .routes import ok

    inv = _invoice(req)
    if inv is None:
        return _not_found()
    return ok(req, "Attachments", [public(inv["InvoiceID"], f) for f in files_of(req.tenant, inv["InvoiceID"])])


def put_attachment(req: Req) -> Result:
    """PUT (create) and POST (update) by file name: a name the invoice already holds is replaced in place."""
    from .routes import ok, param

    inv = _invoice(req)
    if inv is None:
        return _not_found()
    name = unquote(req.args[1]).strip()
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if not name or len(name) > MAX_FILE_NAME:
        return _error(f"The file name must be 1 to {MAX_FILE_NAME} characters long")
    if ext not in EXTENSIONS:
        return _error(f"The file type '.{ext}' is not supported" if ext else "The file name has no file type")
    if not req.raw:
        return _error("The file is empty")
    if len(req.raw) > MAX_BYTES:
        # sandbox guess: Xero refuses a file over its size limit with a 413.
        return _error(f"The file is too large. Files can be at most {MAX_BYTES // (1024 * 1024)}MB", 413)
    files = files_of(req.tenant, inv["InvoiceID"])
    same = next((f for f in files if f["FileName"].casefold() == name.casefold()), None)
    if same is None and len(files) >= MAX_PER_DOCUMENT:
        return _error(f"The maximum of {MAX_PER_DOCUMENT} attachments per document has been reached")
    online_param = (param(req.params, "IncludeOnline") or "").lower()
    if online_param not in ("", "true", "false"):
        return _error("IncludeOnline must be true or false")
    online = online_param == "true"
    if online and inv.get("Type") != "ACCREC":
        return _error("IncludeOnline is only available for sales invoices")
    mime = req.headers.get("content-type", "").split(";")[0].strip()
    if not mime or mime == "application/octet-stream":
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    f: dict[str, Any] = {
        "AttachmentID": same["AttachmentID"] if same else new_id(),  # sandbox guess: a replace keeps the id
        "FileName": name,
        "MimeType": mime,
        "ContentLength": len(req.raw),
        "IncludeOnline": online if req.method == "PUT" or online_param else bool(same and same["IncludeOnline"]),
        "content": bytes(req.raw),
    }
    if same is not None:
        files[files.index(same)] = f
    else:
        files.append(f)
    # HasAttachments is read-only and follows the files; sandbox guess: attaching does not bump UpdatedDateUTC.
    req.tenant.put("Invoices", {**inv, "HasAttachments": True}, touch=False)
    req.rt.sb.dirty = True
    return ok(req, "Attachments", [public(inv["InvoiceID"], f)])


def get_content(req: Req) -> Result:
    """GET by AttachmentID or by file name: the bytes, with the file's MIME type."""
    inv = _invoice(req)
    if inv is None:
        return _not_found()
    key = unquote(req.args[1])
    files = files_of(req.tenant, inv["InvoiceID"])
    f = next((f for f in files if f["AttachmentID"].lower() == key.lower()), None) or next(
        (f for f in files if f["FileName"].casefold() == key.casefold()), None
    )
    if f is None:
        return _not_found()
    return 200, bytes(f["content"]), {"Content-Type": f["MimeType"]}


def to_json(tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    return {
        inv: [{**{k: v for k, v in f.items() if k != "content"}, "content": base64.b64encode(f["content"]).decode()}
              for f in files]
        for inv, files in tenant.attachments.items()
        if files
    }


def from_json(tenant: Tenant, obj: dict[str, list[dict[str, Any]]]) -> None:
    tenant.attachments = {
        inv: [{**f, "content": base64.b64decode(f["content"])} for f in files] for inv, files in obj.items()
    }
