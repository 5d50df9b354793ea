"""The conformance kit's behaviours for attachments (the app's invoice PDF): sent once its invoice is on the
platform, never twice (a replayed sync, an answer lost after the platform kept the file), replaced when the app's
file changes, and a file the platform would refuse refused before anything is sent, with the platform's rule as
the reason. Each skips, with the reason, where the capability data says the platform takes no attachments."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from ledgersync.engine.attach import AttachmentRefused
from ledgersync.model import Contact, Entity, ErrorCode, ProviderError, SyncError
from ledgersync.providers.base import (
    Attaches,
    AttachmentUpload,
    CallInfo,
    Capabilities,
    PullPage,
    RemoteAttachment,
    RemoteRecord,
    Write,
    WriteResult,
)
from ledgersync.store import attachments as files

if TYPE_CHECKING:
    from pathlib import Path

    from ledgersync.engine.app import LedgerSync
    from ledgersync.providers.base import Provider, ProviderSpec
    from ledgersync.testing.suite import Connected

PDF = b"%PDF-1.4\n% ledgersync conformance\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


class LostAnswerSpec:
    """Wraps a spec: its providers' `attach` reaches the platform, then fails as the lost answer would
    (`lose="unknown"`: UNKNOWN_OUTCOME) or the process would (`lose="crash"`: a BaseException, nothing recorded)."""

    def __init__(self, inner: ProviderSpec, lose: str) -> None:
        self.inner, self.lose = inner, lose
        self.name = inner.name
        self.capabilities: Capabilities = inner.capabilities
        self.config_model = inner.config_model
        self.connect_flow = inner.connect_flow
        self.uploads = 0

    def connect(self, *args: Any, **kwargs: Any) -> LostAnswerProvider:
        return LostAnswerProvider(self.inner.connect(*args, **kwargs), self)


class Died(BaseException):
    """The process died right after the platform kept the file."""


class LostAnswerProvider:
    def __init__(self, inner: Provider, spec: LostAnswerSpec) -> None:
        self.inner, self.spec = inner, spec
        self.capabilities = inner.capabilities
        assert isinstance(inner, Attaches)
        self.files: Attaches = inner

    @property
    def on_call(self) -> Callable[[CallInfo], None] | None:
        return self.inner.on_call

    @on_call.setter
    def on_call(self, value: Callable[[CallInfo], None] | None) -> None:
        self.inner.on_call = value

    def pull(self, entity: Entity, cursor: str | None, resume: str | None = None) -> Iterator[PullPage]:
        return self.inner.pull(entity, cursor, resume=resume) if resume is not None else self.inner.pull(entity, cursor)

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        return self.inner.fetch(entity, remote_ids)

    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        return self.inner.push(entity, writes)

    def remove(self, entity: Entity, write: Write) -> WriteResult:
        return self.inner.remove(entity, write)

    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        return self.inner.find(entity, writes)

    def close(self) -> None:
        self.inner.close()

    def attachments(self, entity: Entity, remote_id: str) -> list[RemoteAttachment]:
        return self.files.attachments(entity, remote_id)

    def attach(self, entity: Entity, remote_id: str, upload: AttachmentUpload) -> RemoteAttachment:
        self.files.attach(entity, remote_id, upload)
        self.spec.uploads += 1
        if self.spec.lose == "crash":
            raise Died("stopped right after the platform kept the file")
        raise ProviderError(SyncError(code=ErrorCode.UNKNOWN_OUTCOME, message="The answer was lost."))

    def detach(self, entity: Entity, remote_id: str, attachment: RemoteAttachment) -> None:
        self.files.detach(entity, remote_id, attachment)

    def attachment_content(self, entity: Entity, remote_id: str, attachment: RemoteAttachment) -> bytes:
        return self.files.attachment_content(entity, remote_id, attachment)


class AttachmentBehaviours:
    """Mixed into ProviderConformance; one hook reads the platform's truth."""

    provider_name: ClassVar[str]

    def platform_attachments(self, invoice_remote_id: str) -> dict[str, bytes]:
        """File name -> bytes of every file the invoice holds on the platform."""
        raise NotImplementedError("platform_attachments: the files an invoice holds on the platform")

    def _attaching(self, tmp_path: Path) -> Connected:
        caps = self.capabilities()  # type: ignore[attr-defined]
        if caps.attachments is None or Entity.INVOICE not in caps.attachments.entities:
            pytest.skip(f"{self.provider_name}: attachments are not supported by {caps.display_name} (capabilities)")
        c: Connected = self.open(tmp_path)  # type: ignore[attr-defined]
        c.ls.upsert_contact(c.org, Contact(id="c1", name="Attach Customer"))
        c.ls.upsert_invoice(c.org, self.invoice(1, "c1"))  # type: ignore[attr-defined]
        return c

    def _state(self, c: Connected) -> tuple[str, str | None]:
        (view,) = c.ls.attachments(c.org, Entity.INVOICE, "i1")
        (st,) = [s for s in view.states if s.connection_id == c.conn]
        return st.state, st.error

    def test_an_invoice_pdf_goes_once_and_is_replaced_when_it_changes(self, tmp_path: Path) -> None:
        c = self._attaching(tmp_path)
        c.ls.attach(c.org, Entity.INVOICE, "i1", "CF-0001.pdf", "application/pdf", PDF)
        c.ls.sync(c.conn)
        rid = c.remote(Entity.INVOICE, "i1")
        assert self.platform_attachments(rid) == {"CF-0001.pdf": PDF}
        assert self._state(c) == ("synced", None)
        c.ls.sync(c.conn)  # nothing changed: nothing sent again
        assert self.platform_attachments(rid) == {"CF-0001.pdf": PDF}
        changed = PDF.replace(b"conformance", b"revised one")
        c.ls.attach(c.org, Entity.INVOICE, "i1", "CF-0001.pdf", "application/pdf", changed)
        assert self._state(c)[0] == "synced" and not c.ls.attachments(c.org, Entity.INVOICE, "i1")[0].states[0].current
        c.ls.sync(c.conn)
        assert self.platform_attachments(rid) == {"CF-0001.pdf": changed}
        assert self._state(c) == ("synced", None)

    @pytest.mark.parametrize("lose", ["unknown", "crash"])
    def test_an_upload_whose_answer_was_lost_is_found_and_not_sent_again(self, tmp_path: Path, lose: str) -> None:
        c = self._attaching(tmp_path)
        c.ls.sync(c.conn)  # the invoice first, so the run below only sends the file
        c.ls.attach(c.org, Entity.INVOICE, "i1", "CF-0001.pdf", "application/pdf", PDF)
        from ledgersync.engine.app import LedgerSync

        spec = LostAnswerSpec(c.ls.spec(self.provider_name), lose)
        losing: LedgerSync = LedgerSync(
            c.db_url, secret_keys=[c.key], settings=c.ls.settings, providers={spec.name: spec}
        )
        with contextlib.suppress(Died):
            losing.sync(c.conn)
        assert spec.uploads == 1 and self._state(c)[0] == "syncing"
        rid = c.remote(Entity.INVOICE, "i1")
        assert self.platform_attachments(rid) == {"CF-0001.pdf": PDF}
        c.ls.sync(c.conn)  # looks on the platform first: the file is there, so nothing is sent
        assert self.platform_attachments(rid) == {"CF-0001.pdf": PDF}
        assert self._state(c) == ("synced", None)
        logged = c.ls.store.events(connection_id=c.conn, kind="attachment")
        assert any(e.message and "found on" in e.message for e in logged)

    def test_a_file_the_platform_would_refuse_is_refused_before_sending(self, tmp_path: Path) -> None:
        c = self._attaching(tmp_path)
        rules = self.capabilities().attachments  # type: ignore[attr-defined]
        assert rules is not None
        name = self.capabilities().display_name  # type: ignore[attr-defined]
        too_big = b"%PDF" + b"0" * rules.max_bytes
        with pytest.raises(AttachmentRefused) as refused:
            c.ls.attach(c.org, Entity.INVOICE, "i1", "big.pdf", "application/pdf", too_big)
        assert refused.value.kind == "too_large" and name in refused.value.message
        with pytest.raises(AttachmentRefused) as wrong:
            c.ls.attach(c.org, Entity.INVOICE, "i1", "tool.exe", "application/x-msdownload", PDF)
        assert wrong.value.kind == "unsupported_type" and ".exe" in wrong.value.message
        # A file kept before this connection existed is checked again before it is sent, and nothing goes.
        with c.ls.store.session() as s:
            files.put(s, c.org, Entity.INVOICE, "i1", "big.pdf", "application/pdf", too_big)
        c.ls.sync(c.conn)
        assert self.platform_attachments(c.remote(Entity.INVOICE, "i1")) == {}
        state, error = self._state(c)
        assert state == "failed" and error is not None and f"{name} refuses this file" in error
        assert "at most" in error

