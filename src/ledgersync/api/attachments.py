"""`/v1/invoices/{app_id}/attachments`: the app's invoice PDF (and other files) for the platforms' invoices.

PUT takes the file's bytes as the body, its type as Content-Type; the file is checked against the rules of the
platforms this organisation is connected to that take attachments, so a file one would refuse is refused here:
413 too large (also above the server's file cap, before it is read), 415 a type the platform does not take, 422
a bad file name or an empty file, 404 no such invoice. It reaches each platform on the next sync, once its
invoice is there; `sync` on each file says where it stands (synced, or failed with the platform's reason)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ledgersync import AttachmentRefused, AttachmentView, Entity
from ledgersync.api.auth import Caller
from ledgersync.api.routes import COMMON, own_connection
from ledgersync.api.schemas import Problem

ATTACHMENT_UPLOAD = r"/v1/invoices/[^/]+/attachments/[^/]+"
STATUS = {"too_large": 413, "unsupported_type": 415, "invalid": 422, "not_found": 404}
router = APIRouter(prefix="/v1", tags=["attachments"], responses=COMMON)
AppId = Annotated[str, PathParam(min_length=1, max_length=128)]
FileName = Annotated[str, PathParam(min_length=1, max_length=255, description="The file's name, with its type")]


class AttachmentSyncOut(BaseModel):
    connection_id: str
    platform: str
    state: str
    remote_id: str | None
    error: str | None
    hint: str | None
    platform_message: str | None
    # The platform holds this version of the file.
    current: bool


class AttachmentOut(BaseModel):
    filename: str
    content_type: str
    size: int
    sha256: str
    include_online: bool
    sync: list[AttachmentSyncOut]


def _out(v: AttachmentView) -> AttachmentOut:
    return AttachmentOut(
        filename=v.filename,
        content_type=v.content_type,
        size=v.size,
        sha256=v.sha256,
        include_online=v.include_online,
        sync=[AttachmentSyncOut(**s.__dict__) for s in v.states],
    )


def _ls(request: Request) -> Any:
    return request.app.state.ledgersync


def _invoice_exists(request: Request, who: Any, app_id: str) -> None:
    rec = _ls(request).store.get_record(who.org_id, Entity.INVOICE, app_id)
    if rec is None or rec.deleted:
        raise HTTPException(404, f"no invoice {app_id!r}")


_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.put(
    "/invoices/{app_id}/attachments/{filename}",
    response_model=AttachmentOut,
    responses={
        413: {"model": Problem, "description": "Larger than a connected platform takes (or than the server's cap)"},
        415: {"model": Problem, "description": "A file type a connected platform does not take"},
        422: {"model": Problem, "description": "A bad file name, content type, or an empty file"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file's bytes; Content-Type is its type (application/pdf for an invoice PDF).",
            "content": {"application/pdf": _BINARY, "application/octet-stream": _BINARY, "*/*": _BINARY},
        }
    },
)
async def put_attachment(
    request: Request,
    who: Caller,
    app_id: AppId,
    filename: FileName,
    include_online: Annotated[
        bool, Query(description="Show it with the invoice online (Xero's IncludeOnline, QuickBooks' IncludeOnSend)")
    ] = False,
) -> AttachmentOut:
    """Attach a file to the app's invoice, or replace the file of that name. It is sent to each connected
    platform that takes attachments on the next sync, after the invoice itself."""
    data = await request.body()
    ctype = request.headers.get("content-type", "")
    if not ctype or ctype.split(";")[0].strip().lower() == "application/octet-stream":
        # Say what the file is: the platforms check a file's type, and a PDF is application/pdf.
        import mimetypes

        ctype = mimetypes.guess_type(filename)[0] or ctype or "application/octet-stream"
    ls = _ls(request)
    try:
        view = await run_in_threadpool(
            ls.attach, who.org_id, Entity.INVOICE, app_id, filename, ctype, data, include_online=include_online
        )
    except AttachmentRefused as exc:
        raise HTTPException(STATUS.get(exc.kind, 422), exc.message) from None
    return _out(view)


@router.get("/invoices/{app_id}/attachments", response_model=list[AttachmentOut])
def list_attachments(request: Request, who: Caller, app_id: AppId) -> list[AttachmentOut]:
    """The invoice's files and, per connection, whether the platform holds each (and why not)."""
    _invoice_exists(request, who, app_id)
    return [_out(v) for v in _ls(request).attachments(who.org_id, Entity.INVOICE, app_id)]


@router.get(
    "/invoices/{app_id}/attachments/{filename}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": _BINARY}, "description": "The file's bytes"}},
)
def get_attachment(request: Request, who: Caller, app_id: AppId, filename: FileName) -> Response:
    ls = _ls(request)
    found = [v for v in ls.attachments(who.org_id, Entity.INVOICE, app_id) if v.filename == filename]
    data = ls.attachment_content(who.org_id, Entity.INVOICE, app_id, filename) if found else None
    if data is None:
        raise HTTPException(404, f"no file {filename!r} on invoice {app_id!r}")
    return Response(data, media_type=found[0].content_type)


@router.delete("/invoices/{app_id}/attachments/{filename}", status_code=204)
def delete_attachment(request: Request, who: Caller, app_id: AppId, filename: FileName) -> Response:
    """Forget the file in ledgersync. Copies already on a platform stay there (Xero's API cannot delete one)."""
    if not _ls(request).detach(who.org_id, Entity.INVOICE, app_id, filename):
        raise HTTPException(404, f"no file {filename!r} on invoice {app_id!r}")
    return Response(status_code=204)


@router.post(
    "/connections/{connection_id}/invoices/{app_id}/attachments/{filename}/retry",
    response_model=AttachmentOut,
    responses={409: {"model": Problem, "description": "The file has not failed on this connection"}},
)
def retry_attachment(
    request: Request,
    who: Caller,
    connection_id: Annotated[str, PathParam(min_length=1, max_length=128)],
    app_id: AppId,
    filename: FileName,
) -> AttachmentOut:
    """Send a file the platform refused again on the next sync (after the cause was dealt with there, such as a
    document whose file places were full). A file refused by the platform's rules goes again once it changes."""
    ls = _ls(request)
    own_connection(ls, who, connection_id)
    found = [v for v in ls.attachments(who.org_id, Entity.INVOICE, app_id) if v.filename == filename]
    if not found:
        raise HTTPException(404, f"no file {filename!r} on invoice {app_id!r}")
    if not ls.retry_attachment(connection_id, Entity.INVOICE, app_id, filename):
        raise HTTPException(409, f"{filename} has not failed on this connection")
    (view,) = [v for v in ls.attachments(who.org_id, Entity.INVOICE, app_id) if v.filename == filename]
    return _out(view)
