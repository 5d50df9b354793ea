"""The state every OAuth sandbox (Xero, QuickBooks Online, MYOB) keeps beside its companies: apps, grants and
tokens, config, faults, counters and the clock, with the reset and the persisted form they share; and the app."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from .persistence import PersistedState


class _Saved(Protocol):
    def to_json(self) -> dict[str, Any]: ...


@dataclass
class OAuthApp:
    """A developer's app registered with an OAuth sandbox. A platform's app adds its own fields; `masked` names
    those (webhook keys) that the control API shows only as "***"."""

    masked: ClassVar[tuple[str, ...]] = ()

    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def public(self) -> dict[str, Any]:
        """What the control API shows: no client secret, masked fields as "***"."""
        out = self.to_json()
        out.pop("client_secret")
        for name in self.masked:
            out[name] = None if out[name] is None else "***"
        return out


TenantT = TypeVar("TenantT", bound=_Saved)
AppT = TypeVar("AppT", bound=_Saved)


@dataclass
class OAuthSandboxState(PersistedState, Generic[TenantT, AppT]):
    """A platform's state dataclass derives from this, sets `default_config` / `default_faults`, defines
    `reset_counters`, adds its own fields and persists them beside `oauth_json()` / `load_oauth_json()`."""

    default_config: ClassVar[dict[str, Any]] = {}
    default_faults: ClassVar[dict[str, Any]] = {}
    # The platform's further containers that a reset empties (connections, webhook deliveries).
    reset_also: ClassVar[tuple[str, ...]] = ()

    data_path: Path | None = None
    tenants: dict[str, TenantT] = field(default_factory=dict)
    apps: dict[str, AppT] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)
    clock_offset: float = 0.0
    dirty: bool = False

    def __post_init__(self) -> None:
        if not self.config:
            self.config = copy.deepcopy(self.default_config)
        if not self.faults:
            self.faults = copy.deepcopy(self.default_faults)
        if not self.counters:
            self.reset_counters()

    def reset_counters(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Back to a fresh sandbox (the control API's /_sandbox/reset); saved with --data like any change."""
        for name in ("tenants", "apps", "codes", "access_tokens", "refresh_tokens", *self.reset_also):
            getattr(self, name).clear()
        self.config = copy.deepcopy(self.default_config)
        self.faults = copy.deepcopy(self.default_faults)
        self.reset_counters()
        self.clock_offset = 0.0
        self.dirty = True

    def oauth_json(self) -> dict[str, Any]:
        """The persisted form of the shared part; tenants and apps each give their own `to_json()`."""
        return {
            "version": 1,
            "tenants": [t.to_json() for t in self.tenants.values()],
            "apps": [a.to_json() for a in self.apps.values()],
            "access_tokens": self.access_tokens,
            "refresh_tokens": self.refresh_tokens,
            "config": self.config,
            "clock_offset": self.clock_offset,
        }

    def load_oauth_json(self, obj: dict[str, Any]) -> None:
        """Tokens, config (saved keys over today's defaults) and the clock; tenants and apps are the platform's."""
        self.access_tokens = dict(obj.get("access_tokens", {}))
        self.refresh_tokens = dict(obj.get("refresh_tokens", {}))
        self.config = {**copy.deepcopy(self.default_config), **obj.get("config", {})}
        self.clock_offset = float(obj.get("clock_offset", 0.0))
