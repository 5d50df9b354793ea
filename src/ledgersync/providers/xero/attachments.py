"""Xero Attachments on invoices: `PUT /Invoices/{InvoiceID}/Attachments/{FileName}` (the bytes as the body,
`?IncludeOnline=`), the list, and the bytes by AttachmentID (xero_accounting.yaml v16.1.0).

The limits are not in the contract. Xero's developer pages, as integrations quote them, say 10 files a document
and 10 MB a file (quoted as 3 MB before), the extensions below, and that putting a file name the document
already holds replaces that file: all UNVERIFIED against Xero itself, and the sandbox's guesses too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ledgersync.model import Entity, ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import AttachmentRules, AttachmentUpload, RemoteAttachment

if TYPE_CHECKING:
    from ledgersync.providers.xero.client import XeroClient

# UNVERIFIED (not in the contract): the extensions Xero's attachment pages list.
_EXTENSIONS = (
    "7z bmp csv doc docx eml gif jpeg jpg keynote msg numbers odf ods odt pages pdf png ppt pptx rar rtf tif tiff txt "
    "xls xlsx zip"
)
XERO_ATTACHMENTS = AttachmentRules(
    max_bytes=10 * 1024 * 1024,
    max_per_document=10,
    types={ext: () for ext in _EXTENSIONS.split(" ")},
    same_name_replaces=True,
    entities=(Entity.INVOICE,),
    source="Xero Attachments (xero_accounting.yaml); 10 MB, 10 a document and the file types are UNVERIFIED "
    "(Xero's pages as integrations quote them, not the contract)",
)


def _remote(a: dict[str, Any]) -> RemoteAttachment:
    return RemoteAttachment(
        remote_id=str(a["AttachmentID"]),
        filename=str(a["FileName"]),
        size=int(a.get("ContentLength") or 0),
        content_type=str(a.get("MimeType") or ""),
    )


class XeroAttachments:
    """The Attaches protocol for Xero, mixed into XeroProvider."""

    client: XeroClient

    def attachments(self, entity: Entity, remote_id: str) -> list[RemoteAttachment]:
        data = self.client.get(f"Invoices/{remote_id}/Attachments") or {}
        return [_remote(a) for a in data.get("Attachments") or []]

    def attach(self, entity: Entity, remote_id: str, upload: AttachmentUpload) -> RemoteAttachment:
        data = self.client.request(
            "PUT",
            f"Invoices/{remote_id}/Attachments/{quote(upload.filename, safe='')}",
            params={"IncludeOnline": "true" if upload.include_online else "false"},
            content=upload.data,
            content_type=upload.content_type,
            idempotency_key=upload.idempotency_key,
        ) or {}
        made = data.get("Attachments") or []
        if not made:
            raise ProviderError(SyncError(code=ErrorCode.UNKNOWN_OUTCOME, message="Xero's answer named no file."))
        return _remote(made[0])

    def detach(self, entity: Entity, remote_id: str, attachment: RemoteAttachment) -> None:
        # Not reached by the engine (same_name_replaces): the contract has no DELETE for attachments.
        raise ProviderError(
            SyncError(
                code=ErrorCode.VALIDATION,
                message="Xero's API cannot delete an attachment.",
                hint="Delete it in Xero; a file of the same name replaces it.",
            )
        )

    def attachment_content(self, entity: Entity, remote_id: str, attachment: RemoteAttachment) -> bytes:
        data = self.client.request(
            "GET",
            f"Invoices/{remote_id}/Attachments/{attachment.remote_id}",
            headers={"Accept": attachment.content_type or "application/octet-stream",
                     "contentType": attachment.content_type or "application/octet-stream"},
        )
        return data if isinstance(data, bytes) else b""
