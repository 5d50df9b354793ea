"""How the app hands ledgersync a file for one of its records (the invoice's PDF), and what became of it.

`LedgerSync.attach(org_id, entity, app_id, filename, content_type, data)` keeps the file by its name (the same
name again replaces it, and a changed file is sent again) after checking it against the rules of the platforms
this organisation is connected to that take attachments: a file one of them would refuse is refused here, with
that platform's rule as the reason (`AttachmentRefused.kind`: "too_large", "unsupported_type", "invalid",
"not_found"). With no such connection yet it is checked against every installed platform's rules and refused
only if none would take it. The cycle's attachments stage sends it once its document has a platform id."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledgersync.model import Entity
from ledgersync.providers.base import AttachmentRules
from ledgersync.store import attachments as files

if TYPE_CHECKING:
    from ledgersync.providers.base import ProviderSpec
    from ledgersync.store import Store

MAX_FILE_NAME = 255


class AttachmentRefused(ValueError):
    """The file was not kept: `kind` says why ("too_large", "unsupported_type", "invalid", "not_found")."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class AttachmentState:
    """One attachment on one connection."""

    connection_id: str
    platform: str
    state: str
    remote_id: str | None
    error: str | None
    hint: str | None
    platform_message: str | None
    # The platform holds this content (False: an older version, or nothing yet).
    current: bool


@dataclass(frozen=True)
class AttachmentView:
    entity: Entity
    app_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    include_online: bool
    states: list[AttachmentState]


def check_name(filename: str) -> str:
    name = filename.strip()
    if not name or len(name) > MAX_FILE_NAME:
        raise AttachmentRefused("invalid", f"A file name must be 1 to {MAX_FILE_NAME} characters long.")
    if any(c in name for c in "/\\") or any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise AttachmentRefused("invalid", "A file name may not hold slashes or control characters.")
    if "." not in name.strip("."):
        raise AttachmentRefused("invalid", "A file name needs its type (such as .pdf).")
    return name


class AttachmentsAPI:
    """The attachment half of the facade (mixed into LedgerSync)."""

    store: Store
    providers: dict[str, ProviderSpec]

    def attachment_rules(self, org_id: str, entity: Entity) -> dict[str, AttachmentRules]:
        """The rules a file for this entity must meet, by platform: this organisation's connected platforms that
        take attachments for it."""
        out: dict[str, AttachmentRules] = {}
        for conn in self.store.connections(org_id):
            spec = self.providers.get(conn.provider)
            rules = spec.capabilities.attachments if spec is not None else None
            if rules is not None and entity in rules.entities:
                out[spec.capabilities.display_name] = rules  # type: ignore[union-attr]
        return out

    def attach(
        self,
        org_id: str,
        entity: Entity,
        app_id: str,
        filename: str,
        content_type: str,
        data: bytes,
        *,
        include_online: bool = False,
    ) -> AttachmentView:
        """Keep `data` as the record's file `filename` (replacing a file of that name); it is sent on the next
        sync of each connection that takes attachments. Raises AttachmentRefused with the reason."""
        name = check_name(filename)
        ctype = content_type.split(";")[0].strip().lower()
        if "/" not in ctype or " " in ctype:
            raise AttachmentRefused("invalid", f"{content_type!r} is not a content type (such as application/pdf).")
        if not data:
            raise AttachmentRefused("invalid", "The file is empty.")
        rec = self.store.get_record(org_id, entity, app_id)
        if rec is None or rec.deleted:
            raise AttachmentRefused("not_found", f"There is no {entity.value} {app_id!r} in this organisation.")
        connected = self.attachment_rules(org_id, entity)
        if connected:
            problems = [
                (kind, f"{platform} refuses this file: {why}.")
                for platform, rules in connected.items()
                for kind, why in rules.problems(name, ctype, len(data))
            ]
        else:
            every = {
                spec.capabilities.display_name: spec.capabilities.attachments
                for spec in self.providers.values()
                if spec.capabilities.attachments is not None and entity in spec.capabilities.attachments.entities
            }
            each = {p: r.problems(name, ctype, len(data)) for p, r in every.items()}
            problems = (
                [(k, f"No platform takes this file: {p} because {why}.") for p, ps in each.items() for k, why in ps]
                if each and all(each.values())
                else []
            )
        if problems:
            kind = "too_large" if all(k == "too_large" for k, _ in problems) else next(
                k for k, _ in problems if k != "too_large"
            )
            raise AttachmentRefused(kind, " ".join(m for _, m in problems))
        with self.store.session() as s:
            files.put(s, org_id, entity, app_id, name, ctype, data, include_online)
        found = [v for v in self.attachments(org_id, entity, app_id) if v.filename == name]
        return found[0]

    def attachments(self, org_id: str, entity: Entity, app_id: str) -> list[AttachmentView]:
        """The record's files and where each stands on each connection of its organisation."""
        conns = {c.id: c for c in self.store.connections(org_id)}
        with self.store.session() as s:
            stored = files.listed(s, org_id, entity, app_id)
            rows = files.syncs_of(s, org_id, entity, app_id)
            by_file: dict[str, list[AttachmentState]] = {}
            sha = {a.filename: files.version(a) for a in stored}
            for r in rows:
                conn = conns.get(r.connection_id)
                spec = self.providers.get(conn.provider) if conn is not None else None
                by_file.setdefault(r.filename, []).append(
                    AttachmentState(
                        connection_id=r.connection_id,
                        platform=spec.capabilities.display_name if spec is not None else r.connection_id,
                        state=r.state,
                        remote_id=r.remote_id,
                        error=r.error_message,
                        hint=r.hint,
                        platform_message=r.platform_message,
                        current=r.state == "synced" and r.sha256 == sha.get(r.filename),
                    )
                )
        return [
            AttachmentView(
                entity=a.entity,
                app_id=a.app_id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                include_online=a.include_online,
                states=sorted(by_file.get(a.filename, []), key=lambda st: st.platform),
            )
            for a in stored
        ]

    def attachment_content(self, org_id: str, entity: Entity, app_id: str, filename: str) -> bytes | None:
        with self.store.session() as s:
            return files.content(s, org_id, entity, app_id, filename)

    def detach(self, org_id: str, entity: Entity, app_id: str, filename: str) -> bool:
        """Forget the app's file; copies already on a platform stay there (Xero's API cannot delete one)."""
        with self.store.session() as s:
            return files.remove(s, org_id, entity, app_id, filename)

    def retry_attachment(self, conn_id: str, entity: Entity, app_id: str, filename: str) -> bool:
        """Send a failed file again on the next sync (after the platform's refusal was dealt with there)."""
        from ledgersync.store.tables import AttachmentSync

        with self.store.session() as s:
            row = s.get(AttachmentSync, (conn_id, entity.value, app_id, filename))
            if row is None or row.state != "failed":
                return False
            row.state, row.failed_sha256 = "pending", None
            return True
