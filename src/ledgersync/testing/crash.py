"""Crash points in process: a ProviderSpec whose providers stop the process's work where a SIGKILL would land."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from ledgersync.model import Entity
from ledgersync.providers.base import (
    CallInfo,
    Capabilities,
    Provider,
    ProviderSpec,
    PullPage,
    RemoteRecord,
    Restores,
    Write,
    WriteResult,
)


class Crash(BaseException):
    """The process died here. A BaseException, so no `except Exception` on the way out can swallow it; the
    transactions it unwinds roll back as a killed process's would."""


class CrashingSpec:
    """Wraps a ProviderSpec: its providers raise Crash right after the `after_writes`-th write call (push, remove,
    restore) returned, i.e. after the platform committed and before the engine recorded it, or when the engine
    asks for another pull page after `after_pages` pages (those pages and their checkpoint already stored).

    Counts run over every provider the spec connects; `arm` sets them again. Give it to a LedgerSync over the
    same database (`LedgerSync(url, providers={name: CrashingSpec(spec)})`) to crash that one's syncs."""

    def __init__(self, inner: ProviderSpec, *, after_writes: int | None = None, after_pages: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities: Capabilities = inner.capabilities
        self.config_model = inner.config_model
        self.connect_flow = inner.connect_flow
        self.crashes = 0
        self.arm(after_writes=after_writes, after_pages=after_pages)

    def arm(self, *, after_writes: int | None = None, after_pages: int | None = None) -> None:
        self._writes_left = after_writes
        self._after_pages = after_pages
        self._pages_given = 0

    def connect(self, *args: Any, **kwargs: Any) -> CrashingProvider:
        # Whatever the spec's connect takes, passed through as it came; restoring only where the inner does.
        inner = self.inner.connect(*args, **kwargs)
        if isinstance(inner, Restores):
            return CrashingRestoringProvider(inner, self)
        return CrashingProvider(inner, self)

    def _count(self, kind: str) -> None:
        if kind == "write" and self._writes_left is not None:
            self._writes_left -= 1
            if self._writes_left <= 0:
                self._writes_left = None
                self.crashes += 1
                raise Crash("stopped right after a write the platform committed")
        if kind == "page" and self._after_pages is not None and self._pages_given >= self._after_pages:
            self._after_pages = None
            self.crashes += 1
            raise Crash("stopped between two pages of a pull")


class CrashingProvider:
    """A Provider that delegates to another and crashes where its CrashingSpec says."""

    def __init__(self, inner: Provider, spec: CrashingSpec) -> None:
        self.inner = inner
        self.spec = spec
        self.capabilities: Capabilities = inner.capabilities

    @property
    def on_call(self) -> Callable[[CallInfo], None] | None:
        return self.inner.on_call

    @on_call.setter
    def on_call(self, value: Callable[[CallInfo], None] | None) -> None:
        self.inner.on_call = value

    def pull(self, entity: Entity, cursor: str | None, resume: str | None = None) -> Iterator[PullPage]:
        pages = (
            self.inner.pull(entity, cursor, resume=resume) if resume is not None else self.inner.pull(entity, cursor)
        )
        while True:
            # Before reading another page, whether the engine asks within this pull or resumes it in a new one.
            self.spec._count("page")
            try:
                page = next(pages)
            except StopIteration:
                return
            self.spec._pages_given += 1
            yield page

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        return self.inner.fetch(entity, remote_ids)

    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        results = self.inner.push(entity, writes)
        self.spec._count("write")
        return results

    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        return self.inner.find(entity, writes)

    def remove(self, entity: Entity, write: Write) -> WriteResult:
        result = self.inner.remove(entity, write)
        self.spec._count("write")
        return result

    def close(self) -> None:
        self.inner.close()


class CrashingRestoringProvider(CrashingProvider):
    """A CrashingProvider over a provider that also restores (the optional Restores ability)."""

    inner: Restoring

    def restore(self, entity: Entity, write: Write) -> WriteResult:
        result = self.inner.restore(entity, write)
        self.spec._count("write")
        return result


class Restoring(Provider, Restores, Protocol):
    pass
