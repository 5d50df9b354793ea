"""Attachable, Upload and Download: files attached to transactions (here: invoices and every other entity).

From Intuit's API reference and the XSD (Finance.xsd `Attachable`: FileName (max 1000), FileAccessUri,
TempDownloadUri, Size, ContentType, Category, Note, Tag, AttachableRef with EntityRef / IncludeOnSend; the
service definition's `AttachableResponse`, an Attachable or a Fault per uploaded file):
- `POST /upload`, multipart/form-data: parts `file_metadata_<n>` (an Attachable as JSON) and `file_content_<n>`
  (the bytes, with their Content-Type; `Content-Transfer-Encoding: base64` is honoured, as python-quickbooks
  sends it) paired by `<n>`; the answer is `{"AttachableResponse": [{"Attachable": ...}, ...]}`;
- `POST /attachable` creates a note-only Attachable or updates one (Id + SyncToken); `?operation=delete`;
- `GET /attachable/{id}`; `SELECT * FROM Attachable WHERE AttachableRef.EntityRef.Value = '<id>'`;
- `GET /download/{id}`: the file's temporary download URL as text/plain; the URL itself needs no token.
Limits: 100 MB a file (Intuit's attachments guide); the file types that guide lists (below).
Sandbox guesses: every refusal text but the reference fault; a refused part refuses the whole upload
(nothing stored); the temporary URL never expires; no thumbnails."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import faults as F
from .faults import Fault
from .util import iso, now_ms

if TYPE_CHECKING:
    from .entities import Ctx
    from .state import Company

MAX_BYTES = 100 * 1024 * 1024
MAX_FILE_NAME = 1000  # Finance.xsd: FileName "Max Length: 1000"
# Intuit's attachments guide: the file types QuickBooks Online accepts, with their content types.
CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "ai": ("application/postscript",),
    "csv": ("text/csv",),
    "doc": ("application/msword",),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    "eps": ("application/postscript",),
    "gif": ("image/gif",),
    "jpeg": ("image/jpeg",),
    "jpg": ("image/jpg", "image/jpeg"),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet",),
    "pages": ("application/vnd.apple.pages",),
    "pdf": ("application/pdf",),
    "png": ("image/png",),
    "rtf": ("text/rtf", "application/rtf"),
    "tif": ("image/tiff",),
    "txt": ("text/plain",),
    "xls": ("application/vnd.ms-excel",),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
    "xml": ("text/xml", "application/xml"),
}
_INDEX = re.compile(r"^file_(metadata|content)_(\w+)$")


# ---- multipart --------------------------------------------------------------------------------------
def _headers(block: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.decode("latin-1").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


def _disposition(value: str) -> dict[str, str]:
    return {k.lower(): v for k, v in re.findall(r';\s*([\w*-]+)="?([^";]*)"?', ";" + value.split(";", 1)[-1])}


def parse_multipart(content_type: str, raw: bytes) -> list[tuple[str, dict[str, str], dict[str, str], bytes]]:
    """(name, headers, disposition params, body) per part. Lines may end in CRLF or LF (python-quickbooks
    writes LF), and a part's body loses only the one line ending before its boundary."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m or not content_type.lower().startswith("multipart/form-data"):
        raise F.Fault("2010", "Request has invalid or unsupported property", "Content-Type must be multipart/form-data")
    delim = b"--" + m.group(1).encode("latin-1")
    parts: list[tuple[str, dict[str, str], dict[str, str], bytes]] = []
    for chunk in raw.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:] if chunk.startswith(b"\n") else chunk
        sep = min((i, n) for i, n in ((chunk.find(b"\r\n\r\n"), 4), (chunk.find(b"\n\n"), 2)) if i >= 0) if (
            b"\n\n" in chunk or b"\r\n\r\n" in chunk
        ) else None
        if sep is None:
            continue
        head, body = chunk[: sep[0]], chunk[sep[0] + sep[1] :]
        body = body[:-2] if body.endswith(b"\r\n") else body[:-1] if body.endswith(b"\n") else body
        hdrs = _headers(head)
        disp = _disposition(hdrs.get("content-disposition", ""))
        parts.append((disp.get("name", ""), hdrs, disp, body))
    return parts


# ---- records ----------------------------------------------------------------------------------------
def _refs(ctx: Ctx, raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raw = [raw]
    out: list[dict[str, Any]] = []
    for ref in raw:
        ent = ref.get("EntityRef") if isinstance(ref, dict) else None
        if not isinstance(ent, dict):
            raise F.required("AttachableRef.EntityRef")
        typ = str(ent.get("type") or ent.get("Type") or "")
        value = str(ent.get("value") or ent.get("Value") or "")
        target = ctx.company.data.get(typ, {}).get(value) if typ else None
        if target is None or target.get("_deleted"):
            raise F.invalid_ref("AttachableRef.EntityRef")
        item: dict[str, Any] = {"EntityRef": {"type": typ, "value": value}}
        item["IncludeOnSend"] = bool(ref.get("IncludeOnSend", False))
        out.append(item)
    return out


def _check_file(name: str, content_type: str, data: bytes) -> None:
    if not name or len(name) > MAX_FILE_NAME:
        raise F.business(f"FileName must be 1 to {MAX_FILE_NAME} characters long.", "FileName")  # sandbox guess
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    allowed = CONTENT_TYPES.get(ext)
    if allowed is None or content_type.lower() not in allowed:
        # sandbox guess: the text of a refused file type.
        raise F.business(f"The file type {content_type or 'unknown'} ({name}) is not supported.", "ContentType")
    if not data:
        raise F.business("The file is empty.", "FileName")  # sandbox guess
    if len(data) > MAX_BYTES:
        # sandbox guess: the text and status of a file over 100 MB.
        raise Fault(
            "6000",
            "A business validation error has occurred while processing your request",
            "Business Validation Error: The file exceeds the maximum size of 100 MB.",
            "Size",
            status=413,
        )


def render(ctx: Ctx, rec: dict[str, Any], base_url: str) -> dict[str, Any]:
    tz = ctx.sb.tz()
    c = ctx.company
    out: dict[str, Any] = {
        "Id": rec["Id"],
        "SyncToken": str(rec["SyncToken"]),
        "domain": "QBO",
        "sparse": False,
        "MetaData": {"CreateTime": iso(rec["_created"], tz), "LastUpdatedTime": iso(rec["_updated"], tz)},
        "AttachableRef": rec["AttachableRef"],
    }
    if rec.get("Note"):
        out["Note"] = rec["Note"]
    if rec.get("FileName"):
        out.update(
            FileName=rec["FileName"],
            FileAccessUri=f"/v3/company/{c.id}/download/{rec['Id']}",
            TempDownloadUri=f"{base_url.rstrip('/')}/_files/{rec['_token']}",
            Size=rec["Size"],
            ContentType=rec["ContentType"],
        )
    for k in ("Category", "Tag", "Lat", "Long", "PlaceName"):
        if rec.get(k):
            out[k] = rec[k]
    return out


def _new(ctx: Ctx, meta: dict[str, Any]) -> dict[str, Any]:
    c = ctx.company
    c.attachable_seq += 1
    ms = now_ms()
    rec: dict[str, Any] = {"Id": str(5_000_000_000 + c.attachable_seq), "SyncToken": 0, "_created": ms, "_updated": ms}
    rec["AttachableRef"] = _refs(ctx, meta.get("AttachableRef"))
    for k in ("Note", "Category", "Tag", "Lat", "Long", "PlaceName"):
        if meta.get(k) is not None:
            rec[k] = str(meta[k])
    return rec


def upload(ctx: Ctx, content_type: str, raw: bytes, base_url: str) -> dict[str, Any]:
    """POST /upload: every file is checked before any is kept (sandbox guess: one refused part refuses all)."""
    metas: dict[str, dict[str, Any]] = {}
    contents: dict[str, tuple[dict[str, str], dict[str, str], bytes]] = {}
    for name, hdrs, disp, body in parse_multipart(content_type, raw):
        m = _INDEX.match(name)
        if m is None:
            continue
        kind, idx = m.groups()
        if kind == "metadata":
            try:
                meta = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise F.Fault(
                    "2010", "Request has invalid or unsupported property", f"{name} is not valid JSON"
                ) from None
            if not isinstance(meta, dict):
                raise F.Fault("2010", "Request has invalid or unsupported property", f"{name} must be an object")
            metas[idx] = meta
        else:
            if hdrs.get("content-transfer-encoding", "").lower() == "base64":
                try:
                    body = base64.b64decode(body)
                except (binascii.Error, ValueError):
                    raise F.Fault(
                        "2010", "Request has invalid or unsupported property", f"{name} is not valid base64"
                    ) from None
            contents[idx] = (hdrs, disp, body)
    if not contents:
        raise F.required("file_content_0")
    made: list[tuple[dict[str, Any], bytes]] = []
    for idx in sorted(contents):
        hdrs, disp, data = contents[idx]
        meta = metas.get(idx, {})
        fname = str(meta.get("FileName") or disp.get("filename") or "")
        ctype = str(meta.get("ContentType") or hdrs.get("content-type", "")).split(";")[0].strip()
        _check_file(fname, ctype, data)
        rec = _new(ctx, meta)
        rec.update(FileName=fname, ContentType=ctype, Size=len(data), _token=secrets.token_urlsafe(16))
        made.append((rec, data))
    out = []
    for rec, data in made:
        ctx.company.attachables[rec["Id"]] = rec
        ctx.company.files[rec["Id"]] = data
        out.append({"Attachable": render(ctx, rec, base_url)})
    return {"AttachableResponse": out, "time": iso(now_ms(), ctx.sb.tz(), millis=True)}


def _existing(c: Company, body: Mapping[str, Any]) -> dict[str, Any]:
    rid = str(body.get("Id") or "")
    rec = c.attachables.get(rid)
    if rec is None:
        raise F.not_found("Attachable")
    if str(body.get("SyncToken", "")) != str(rec["SyncToken"]):
        raise F.stale("Sandbox User")
    return rec


def save(ctx: Ctx, body: Any, params: Mapping[str, str], base_url: str) -> dict[str, Any]:
    """POST /attachable: create a note, update one's metadata, or ?operation=delete."""
    if not isinstance(body, dict):
        raise Fault("2010", "Request has invalid or unsupported property", "Request body must be a JSON object")
    c = ctx.company
    if str(params.get("operation", "")).lower() == "delete":
        rec = _existing(c, body)
        del c.attachables[rec["Id"]]
        c.files.pop(rec["Id"], None)
        return {"status": "Deleted", "domain": "QBO", "Id": rec["Id"]}
    if body.get("Id") not in (None, ""):
        rec = _existing(c, body)
        if "AttachableRef" in body:
            rec["AttachableRef"] = _refs(ctx, body["AttachableRef"])
        for k in ("Note", "Category", "Tag", "FileName"):
            if k in body and (k != "FileName" or rec.get("FileName")):
                rec[k] = str(body[k])
        rec["SyncToken"] = int(rec["SyncToken"]) + 1
        rec["_updated"] = now_ms()
        return render(ctx, rec, base_url)
    if not body.get("Note"):
        # A file goes through /upload; a note-only Attachable needs its Note.
        raise F.required("Note")
    rec = _new(ctx, body)
    c.attachables[rec["Id"]] = rec
    return render(ctx, rec, base_url)


def read(ctx: Ctx, rid: str, base_url: str) -> dict[str, Any]:
    rec = ctx.company.attachables.get(rid)
    if rec is None:
        raise F.not_found("Attachable")
    return render(ctx, rec, base_url)


_SELECT = re.compile(r"^\s*select\s+\*\s+from\s+attachable\b(?P<rest>.*)$", re.I | re.S)
_COND = re.compile(r"^\s*([\w.]+)\s*=\s*'((?:[^']|\\')*)'\s*$", re.S)
_FIELDS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "attachableref.entityref.value": lambda r: [x["EntityRef"]["value"] for x in r["AttachableRef"]],
    "attachableref.entityref.type": lambda r: [x["EntityRef"]["type"] for x in r["AttachableRef"]],
    "filename": lambda r: [r.get("FileName") or ""],
    "id": lambda r: [r["Id"]],
}


def is_query(text: str) -> bool:
    return _SELECT.match(text) is not None


def query(ctx: Ctx, text: str, base_url: str) -> dict[str, Any]:
    """`SELECT * FROM Attachable [WHERE f = 'v' [AND ...]]` over AttachableRef.EntityRef.Value / .Type,
    FileName and Id (sandbox: only these filters, equality only)."""
    m = _SELECT.match(text)
    assert m is not None
    rest = m.group("rest").strip()
    conds: list[tuple[str, str]] = []
    if rest:
        if not rest.lower().startswith("where "):
            raise F.query_parser(f"Encountered \"{rest.split()[0]}\" at line 1")
        for part in re.split(r"\s+and\s+", rest[6:], flags=re.I):
            cm = _COND.match(part)
            if cm is None or cm.group(1).lower() not in _FIELDS:
                raise F.query_validation(f"property '{part.strip()}' is not queryable")
            conds.append((cm.group(1).lower(), cm.group(2).replace("\\'", "'")))
    rows = [
        r for r in sorted(ctx.company.attachables.values(), key=lambda r: int(r["Id"]))
        if all(v in _FIELDS[f](r) for f, v in conds)
    ]
    out: dict[str, Any] = {"startPosition": 1, "maxResults": len(rows)}
    if rows:
        out["Attachable"] = [render(ctx, r, base_url) for r in rows]
    return out


def file_by_token(c: Company, token: str) -> tuple[bytes, str] | None:
    for rid, rec in c.attachables.items():
        if rec.get("_token") and secrets.compare_digest(rec["_token"], token):
            return c.files.get(rid, b""), str(rec["ContentType"])
    return None


def to_json(c: Company) -> dict[str, Any]:
    return {
        "seq": c.attachable_seq,
        "records": list(c.attachables.values()),
        "files": {rid: base64.b64encode(data).decode() for rid, data in c.files.items()},
    }


def from_json(c: Company, obj: Mapping[str, Any]) -> None:
    c.attachable_seq = int(obj.get("seq", 0))
    c.attachables = {r["Id"]: r for r in obj.get("records", [])}
    c.files = {rid: base64.b64decode(d) for rid, d in (obj.get("files") or {}).items()}
