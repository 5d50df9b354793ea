"""QuickBooks Online Attachables on invoices: `POST /upload` (multipart/form-data: `file_metadata_0`, an
Attachable whose AttachableRef's EntityRef names the invoice, and `file_content_0`, the bytes), found again with
`SELECT * FROM Attachable WHERE AttachableRef.EntityRef.Value = '<invoice id>'`, deleted with
`POST /attachable?operation=delete` (Id + SyncToken). Fields from Finance.xsd (Attachable: FileName up to 1000
characters, Size, ContentType, Note, AttachableRef) and IntuitRestServiceDef.xsd (AttachableResponse).

Limits from Intuit's attachments guide: 100 MB a file and the file types below. An upload creates a new
Attachable every time (a file name is not a key), so a changed PDF is uploaded anew and the old one deleted; the
Note carries "ledgersync sha256:<hex>" so a file whose upload answer was lost is known again."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from ledgersync.model import Entity, ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import AttachmentRules, AttachmentUpload, RemoteAttachment

if TYPE_CHECKING:
    from ledgersync.providers.qbo.client import QboClient

MARK = "ledgersync sha256:"
QBO_ATTACHMENTS = AttachmentRules(
    max_bytes=100 * 1024 * 1024,
    max_per_document=None,
    types={
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
    },
    same_name_replaces=False,
    entities=(Entity.INVOICE,),
    source="Intuit's attachments guide: 100 MB a file and these file types; Attachable fields from Finance.xsd",
)
_ENTITY_NAMES = {Entity.INVOICE: "Invoice"}


def _remote(a: dict[str, Any]) -> RemoteAttachment:
    note = str(a.get("Note") or "")
    return RemoteAttachment(
        remote_id=str(a["Id"]),
        filename=str(a.get("FileName") or ""),
        size=int(a.get("Size") or 0),
        content_type=str(a.get("ContentType") or ""),
        sha256=note[len(MARK) :].strip() if note.startswith(MARK) else None,
    )


def multipart(meta: dict[str, Any], upload: AttachmentUpload, boundary: str) -> bytes:
    """The upload's body: the Attachable as `file_metadata_0`, the bytes as `file_content_0` (CRLF lines)."""
    name = upload.filename.replace('"', "'").replace("\r", " ").replace("\n", " ")
    return b"".join(
        [
            f"--{boundary}\r\n".encode(),
            b'Content-Disposition: form-data; name="file_metadata_0"\r\n',
            b"Content-Type: application/json; charset=UTF-8\r\n\r\n",
            json.dumps(meta).encode(),
            f"\r\n--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="file_content_0"; filename="{name}"\r\n'.encode(),
            f"Content-Type: {upload.content_type}\r\n\r\n".encode(),
            upload.data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )


class QboAttachments:
    """The Attaches protocol for QuickBooks Online, mixed into QboProvider."""

    client: QboClient

    def attachments(self, entity: Entity, remote_id: str) -> list[RemoteAttachment]:
        rid = remote_id.replace("'", "\\'")
        found = self.client.query(f"SELECT * FROM Attachable WHERE AttachableRef.EntityRef.Value = '{rid}'")
        kind = _ENTITY_NAMES[entity]
        return [
            _remote(a)
            for a in found.get("Attachable") or []
            if a.get("FileName")
            and any((r.get("EntityRef") or {}).get("type") == kind for r in a.get("AttachableRef") or [])
        ]

    def attach(self, entity: Entity, remote_id: str, upload: AttachmentUpload) -> RemoteAttachment:
        meta = {
            "FileName": upload.filename,
            "ContentType": upload.content_type,
            "Note": f"{MARK}{upload.sha256}",
            "AttachableRef": [
                {
                    "EntityRef": {"type": _ENTITY_NAMES[entity], "value": remote_id},
                    "IncludeOnSend": upload.include_online,
                }
            ],
        }
        boundary = f"ledgersync-{secrets.token_hex(12)}"
        data = self.client.request(
            "POST",
            "upload",
            content=multipart(meta, upload, boundary),
            content_type=f"multipart/form-data; boundary={boundary}",
            request_id=upload.idempotency_key,
        ) or {}
        answers = data.get("AttachableResponse") or []
        first = answers[0] if answers else {}
        if "Attachable" not in first:
            fault = (first.get("Fault") or {}).get("Error") or [{}]
            raise ProviderError(
                SyncError(
                    code=ErrorCode.VALIDATION,
                    message="QuickBooks refused the file.",
                    platform_code=str(fault[0].get("code") or ""),
                    platform_message=str(fault[0].get("Detail") or fault[0].get("Message") or ""),
                )
            )
        return _remote(first["Attachable"])

    def detach(self, entity: Entity, remote_id: str, attachment: RemoteAttachment) -> None:
        current = self.client.read("Attachable", attachment.remote_id)
        if current is None:
            return
        self.client.write(
            "attachable",
            {"Id": attachment.remote_id, "SyncToken": current.get("SyncToken", "0")},
            params={"operation": "delete"},
            request_id=f"rm-{attachment.remote_id}-{current.get('SyncToken', '0')}",
        )

    def attachment_content(self, entity: Entity, remote_id: str, attachment: RemoteAttachment) -> bytes:
        current = self.client.read("Attachable", attachment.remote_id) or {}
        url = current.get("TempDownloadUri")
        if not url:
            return b""
        # A pre-signed URL: no Authorization header (it goes to Intuit's file store, not the API).
        response = self.client.http.get(str(url))
        return response.content if response.status_code == 200 else b""
