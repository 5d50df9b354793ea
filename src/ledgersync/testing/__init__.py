"""ledgersync.testing: the conformance kit a provider package runs, and an in-memory reference platform.

- `ProviderConformance` (ledgersync.testing.suite, needs pytest): subclass it as `Test<Platform>` and fill in
  its hooks to run the protocol checks and the engine-level behaviours over a platform.
- `ProtocolChecks` (ledgersync.testing.protocol): the protocol-level checks, on any connected Provider.
- `MemoryPlatform`, `MemorySpec`, `MemoryProvider`, `MemoryConfig`, `connect_memory` (ledgersync.testing.memory):
  a platform in memory that implements the whole Provider protocol, for engine tests that need no sandbox.
- `Faults`, `Crash`, `CrashingSpec`: faults to inject, and crash points in process.
- `business`, `scratch_database`, `connect_by_consent` (ledgersync.testing.harness, imported on its own): the
  records, database and consent-made connections of scale-out tests and benchmarks.

The suite is imported lazily, so the memory platform can be used without pytest installed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgersync.testing.crash import Crash, CrashingProvider, CrashingSpec
from ledgersync.testing.faults import Faults
from ledgersync.testing.memory import (
    MEMORY_CAPABILITIES,
    MemoryConfig,
    MemoryConsent,
    MemoryPlatform,
    MemoryProvider,
    MemorySpec,
    PlatformRefusal,
    connect_memory,
)
from ledgersync.testing.protocol import ProtocolChecks, cursor_position

if TYPE_CHECKING:
    from ledgersync.testing.suite import Connected, PlatformTraits, ProviderConformance, Tuning

_SUITE = ("Connected", "PlatformTraits", "ProviderConformance", "Tuning")


def __getattr__(name: str) -> Any:
    if name in _SUITE:
        from ledgersync.testing import suite

        return getattr(suite, name)
    raise AttributeError(f"module 'ledgersync.testing' has no attribute {name!r}")


__all__ = [
    "MEMORY_CAPABILITIES",
    "Connected",
    "Crash",
    "CrashingProvider",
    "CrashingSpec",
    "Faults",
    "MemoryConfig",
    "MemoryConsent",
    "MemoryPlatform",
    "MemoryProvider",
    "MemorySpec",
    "PlatformRefusal",
    "PlatformTraits",
    "ProtocolChecks",
    "ProviderConformance",
    "Tuning",
    "connect_memory",
    "cursor_position",
]
