"""The attachments stage: the app's files (the invoice's PDF) go to the platform once their document is there.

Run by the driver after a pushed entity's writes, for the entities the platform's `Capabilities.attachments`
names. Each file is checked against the platform's rules first (size, type, files a document may hold), so one
the platform would refuse fails here with the rule as its reason and nothing is sent. Sending follows the
reconcile stage's pattern: the state row is claimed (`syncing`, with the write's key and the content's hash) in
its own transaction before the call, so a crash leaves `syncing`, and the next run looks on the platform for
a file of that name and content (QuickBooks: the hash in its Note; Xero: the bytes compared) before sending
again; a platform that replays idempotency keys answers a resend with the first answer anyway. A changed file
replaces the platform's copy: Xero replaces a file of the same name; elsewhere the new one is uploaded and the
old one deleted after it (kept in `replaces_remote_id` until done, so a crash in between deletes it later)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from ledgersync.engine.faults import boundary
from ledgersync.engine.record import STOPS
from ledgersync.model import Entity, ErrorCode, ProviderError, SyncError
from ledgersync.model.errors import TRANSIENT
from ledgersync.providers.base import Attaches, AttachmentRules, AttachmentUpload, RemoteAttachment, megabytes
from ledgersync.store import attachments as files
from ledgersync.store.tables import AttachmentSync, utcnow

if TYPE_CHECKING:
    from ledgersync.engine.context import CycleContext

SMALLER_HINT = "Attach a file the platform takes (a PDF within its size limit); it is sent on the next sync."


def attachment_key(conn_id: str, entity: Entity, app_id: str, filename: str, sha256: str, attempt: int) -> str:
    """The upload's idempotency key (fits QuickBooks' 50-character requestid): one per content and attempt."""
    raw = f"{conn_id}\n{entity.value}\n{app_id}\n{filename}\n{sha256}\n{attempt}"
    return "att-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def refusals(rules: AttachmentRules, platform: str, filename: str, content_type: str, size: int) -> list[str]:
    """Why the platform would refuse the file, in words (empty: it fits)."""
    return [f"{platform} refuses this file: {why}" for _kind, why in rules.problems(filename, content_type, size)]


def push(ctx: CycleContext, entity: Entity) -> None:
    rules = ctx.caps.attachments
    provider = ctx.provider
    if rules is None or entity not in rules.entities or not isinstance(provider, Attaches):
        return
    with ctx.store.session() as s:
        wanted = files.listed(s, ctx.org_id, entity)
        states = files.syncs(s, ctx.conn_id, entity)
    if ctx.only is not None:
        wanted = [a for a in wanted if a.app_id in ctx.only.get(entity, set())]
    per_record: dict[str, int] = {}
    for att in wanted:
        per_record[att.app_id] = per_record.get(att.app_id, 0) + 1
        row = states.get((att.app_id, att.filename))
        ver = files.version(att)
        if row is not None and row.state == "synced" and row.sha256 == ver and not row.replaces_remote_id:
            continue
        if row is not None and row.state == "failed" and row.failed_sha256 == ver:
            continue  # a data error stays until the file changes or a person retries
        rec = ctx.store.get_record(ctx.org_id, entity, att.app_id)
        if rec is None or rec.deleted:
            continue  # the document is gone in the app: its files go nowhere
        doc = ctx.to_remote_id(entity, att.app_id)
        if doc is None:
            _set(ctx, att, state="pending", message=f"Waits for its {entity.value} to reach {ctx.caps.display_name}.")
            continue
        reasons = refusals(rules, ctx.caps.display_name, att.filename, att.content_type, att.size)
        if rules.max_per_document is not None and per_record[att.app_id] > rules.max_per_document:
            reasons.append(
                f"{ctx.caps.display_name} holds at most {rules.max_per_document} files on a document; this is file "
                f"{per_record[att.app_id]} of this {entity.value}"
            )
        if reasons:
            _fail(ctx, att, SyncError(code=ErrorCode.VALIDATION, message="; ".join(reasons) + ".", hint=SMALLER_HINT))
            continue
        try:
            _send(ctx, provider, rules, att, doc)
        except ProviderError as exc:
            if exc.error.code in STOPS:
                raise
            if exc.error.code in TRANSIENT:
                return  # the platform is busy or away: the rest wait for the next cycle


def _send(ctx: CycleContext, provider: Attaches, rules: AttachmentRules, att: files.StoredAttachment, doc: str) -> None:
    entity = att.entity
    ver = files.version(att)
    stale = False
    with ctx.store.session() as s:
        row = files.sync_row(s, ctx.conn_id, att)
        was, key, sending = row.state, row.write_key, row.sending_sha256
        old = row.remote_id if row.sha256 != ver else None
        replaces = row.replaces_remote_id
    if was == "syncing" and sending == ver:
        # Sent before and the answer never recorded (a crash, a lost answer): look before sending again.
        landed = _landed(provider, entity, doc, att)
        if landed is not None:
            _done(ctx, provider, rules, att, doc, landed, replaces, found=True)
            return
    elif was == "synced" and old is None and replaces:
        _replace_done(ctx, provider, att, doc, replaces)  # the new file is there; the old one is still to delete
        return
    else:
        # An earlier version was on its way when the file changed: where a name does not replace, a copy of it
        # may have landed, and is deleted once this one is there.
        stale = was == "syncing" and sending is not None and not rules.same_name_replaces
        with ctx.store.session() as s:
            row = files.sync_row(s, ctx.conn_id, att)
            key = attachment_key(ctx.conn_id, entity, att.app_id, att.filename, ver, row.attempts)
            row.state, row.write_key, row.sending_sha256 = "syncing", key, ver
            if old is not None and not rules.same_name_replaces:
                row.replaces_remote_id = old
            replaces = row.replaces_remote_id
            row.updated_at = utcnow()
    boundary("attachment_claimed")
    with ctx.store.session() as s:
        data = files.content(s, ctx.org_id, entity, att.app_id, att.filename)
    if data is None:
        return  # removed by the app meanwhile
    upload = AttachmentUpload(
        filename=att.filename,
        content_type=att.content_type,
        data=data,
        sha256=att.sha256,
        idempotency_key=key or attachment_key(ctx.conn_id, entity, att.app_id, att.filename, ver, 0),
        include_online=att.include_online,
    )
    try:
        remote = provider.attach(entity, doc, upload)
    except ProviderError as exc:
        error = exc.error
        if error.code is ErrorCode.UNKNOWN_OUTCOME:
            _set(ctx, att, state="syncing", message=error.message, keep_key=True)
        elif error.code in TRANSIENT or error.code in STOPS:
            _set(ctx, att, state="pending", message=error.message, count=True)
        else:
            _fail(ctx, att, error)
        raise
    boundary("attachment_sent")
    _done(ctx, provider, rules, att, doc, remote, replaces, found=False)
    if stale:
        for r in provider.attachments(entity, doc):
            ours = r.sha256 is not None and r.sha256 != att.sha256
            if ours and r.remote_id != remote.remote_id and r.filename.casefold() == att.filename.casefold():
                _replace_done(ctx, provider, att, doc, r.remote_id)


def _landed(provider: Attaches, entity: Entity, doc: str, att: files.StoredAttachment) -> RemoteAttachment | None:
    """The platform's file of this name and content, if an earlier send landed."""
    for r in provider.attachments(entity, doc):
        if r.filename.casefold() != att.filename.casefold() or r.size != att.size:
            continue
        if r.sha256 is not None:
            if r.sha256 == att.sha256:
                return r
            continue
        if files.sha256_of(provider.attachment_content(entity, doc, r)) == att.sha256:
            return r
    return None


def _done(
    ctx: CycleContext,
    provider: Attaches,
    rules: AttachmentRules,
    att: files.StoredAttachment,
    doc: str,
    remote: RemoteAttachment,
    replaces: str | None,
    *,
    found: bool,
) -> None:
    with ctx.store.session() as s:
        row = files.sync_row(s, ctx.conn_id, att)
        row.state, row.remote_id, row.sha256 = "synced", remote.remote_id, files.version(att)
        row.sending_sha256 = row.write_key = None
        _clear(row)
        row.attempts = 0
        row.updated_at = utcnow()
        ctx.log(
            "attachment",
            entity=att.entity,
            app_id=att.app_id,
            remote_id=doc,
            doc_number=_doc_number(ctx, att),
            message=f"{att.filename} ({megabytes(att.size)}) {'found on' if found else 'sent to'} "
            f"{ctx.caps.display_name}",
            details={"filename": att.filename, "sha256": att.sha256, "attachment_id": remote.remote_id},
            s=s,
        )
    if replaces and replaces != remote.remote_id:
        _replace_done(ctx, provider, att, doc, replaces)


def _replace_done(ctx: CycleContext, provider: Attaches, att: files.StoredAttachment, doc: str, old: str) -> None:
    """Delete the platform's earlier copy of a changed file (one already gone counts as done)."""
    gone = RemoteAttachment(remote_id=old, filename=att.filename, size=0, content_type=att.content_type)
    try:
        provider.detach(att.entity, doc, gone)
    except ProviderError as exc:
        if exc.error.code in STOPS:
            raise
        return  # tried again on the next sync: replaces_remote_id stays
    with ctx.store.session() as s:
        row = files.sync_row(s, ctx.conn_id, att)
        row.replaces_remote_id = None


def _doc_number(ctx: CycleContext, att: files.StoredAttachment) -> str | None:
    rec = ctx.store.get_record(ctx.org_id, att.entity, att.app_id)
    return getattr(rec.record, "number", None) if rec is not None else None


def _clear(row: AttachmentSync) -> None:
    row.error_code = row.error_message = row.hint = row.platform_code = row.platform_message = None
    row.failed_sha256 = None


def _set(
    ctx: CycleContext,
    att: files.StoredAttachment,
    *,
    state: str,
    message: str | None = None,
    count: bool = False,
    keep_key: bool = False,
) -> None:
    with ctx.store.session() as s:
        row = files.sync_row(s, ctx.conn_id, att)
        if (row.state, row.error_message) == (state, message) and not count:
            return
        row.state = state
        _clear(row)
        row.error_message = message
        if not keep_key and state != "syncing":
            row.write_key = row.sending_sha256 = None
        if count:
            row.attempts += 1
        row.updated_at = utcnow()


def _fail(ctx: CycleContext, att: files.StoredAttachment, error: SyncError) -> None:
    with ctx.store.session() as s:
        row = files.sync_row(s, ctx.conn_id, att)
        row.state = "failed"
        row.error_code = error.code.value
        row.error_message = error.message
        row.hint = error.hint or SMALLER_HINT
        row.platform_code = error.platform_code
        row.platform_message = error.platform_message
        row.failed_sha256 = files.version(att)
        row.write_key = row.sending_sha256 = None
        row.attempts += 1  # a retry after a fix needs a new key: the platform would replay the refusal
        row.updated_at = utcnow()
        ctx.log(
            "attachment",
            entity=att.entity,
            app_id=att.app_id,
            doc_number=_doc_number(ctx, att),
            outcome="failed",
            message=f"{att.filename}: {error.message}",
            details={"filename": att.filename, "platform_message": error.platform_message},
            s=s,
        )
