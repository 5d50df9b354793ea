"""The platforms ledgersync can connect to, by name: found through the `ledgersync.providers` entry points."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from ledgersync.providers.base import ProviderSpec

log = logging.getLogger(__name__)

GROUP = "ledgersync.providers"
# The platforms shipped in this package, as their entry points name them: found even before the package's
# metadata is (re)installed, e.g. when running from a source checkout.
BUILTIN = {
    "xero": "ledgersync.providers.xero.spec:XeroSpec",
    "qbo": "ledgersync.providers.qbo.spec:QboSpec",
    "myob": "ledgersync.providers.myob.spec:MyobSpec",
    # DEAR / Cin7 Core (issue 12)
    "dear": "ledgersync.providers.dear.spec:DearSpec",
    # QuickBooks Desktop through the Web Connector (issue 10)
    "qbd": "ledgersync.providers.qbd.spec:QbdSpec",
}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def _spec(name: str, obj: Any) -> ProviderSpec | None:
    # An entry point may name a spec class (built with no arguments) or a ready spec object.
    spec = obj() if isinstance(obj, type) else obj
    missing = [a for a in ("name", "capabilities", "config_model", "connect_flow", "connect") if not hasattr(spec, a)]
    if missing:
        log.warning("provider %r (%s) is not a ProviderSpec: it lacks %s", name, obj, ", ".join(missing))
        return None
    if spec.name != name:
        log.warning("provider entry point %r names a spec called %r; skipped", name, spec.name)
        return None
    found: ProviderSpec = spec
    return found


def discover(points: Iterable[EntryPoint] | None = None) -> dict[str, ProviderSpec]:
    """Every platform installed: the `ledgersync.providers` entry points, then the built-in ones not among
    them. A package whose spec fails to load is logged and left out, so one broken plug-in stops nothing."""
    found: dict[str, ProviderSpec] = {}
    for ep in entry_points(group=GROUP) if points is None else points:
        if ep.name in found:
            log.warning("provider %r is declared twice; keeping %s", ep.name, found[ep.name])
            continue
        try:
            spec = _spec(ep.name, ep.load())
        except Exception:
            log.exception("provider %r (%s) failed to load; skipped", ep.name, ep.value)
            continue
        if spec is not None:
            found[ep.name] = spec
    for name, target in BUILTIN.items():
        if name not in found:
            spec = _spec(name, _load(target))
            if spec is not None:
                found[name] = spec
    return found


@cache
def installed() -> dict[str, ProviderSpec]:
    """`discover()`, once per process (entry points do not change while it runs)."""
    return discover()


if TYPE_CHECKING:
    PROVIDERS: dict[str, ProviderSpec]


def __getattr__(name: str) -> Any:
    # PROVIDERS is looked up when first used, so importing this module loads no platform package.
    if name == "PROVIDERS":
        return installed()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BUILTIN", "GROUP", "PROVIDERS", "discover", "installed"]
