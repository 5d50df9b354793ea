"""Platforms are found through the `ledgersync.providers` entry points, with the shipped two always there."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ledgersync import LedgerSync, OAuth2CodeFlow, ReceivesWebhooks
from ledgersync.providers.connect import ApiKeyFlow
from ledgersync.providers.qbo.spec import QboSpec
from ledgersync.providers.registry import GROUP, discover
from ledgersync.providers.xero.spec import XeroSpec

from .connect_platforms import KeyedSpec


def install_dist(site: Path, name: str, entry_points: dict[str, str]) -> None:
    """A distribution's metadata as pip leaves it in site-packages (what importlib.metadata reads)."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_platform_installed_as_its_own_package_is_found(site: Path) -> None:
    install_dist(site, "ledgersync_keyed", {"keyed": "tests.providers.connect_platforms:KeyedSpec"})
    found = discover()
    assert isinstance(found["keyed"], KeyedSpec)
    assert {"xero", "qbo", "keyed"} <= set(found)


def test_the_shipped_platforms_are_there_before_the_package_metadata_declares_them() -> None:
    found = discover(points=[])
    assert isinstance(found["xero"], XeroSpec) and isinstance(found["qbo"], QboSpec)


def test_a_package_that_fails_to_load_is_left_out_and_logged(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    install_dist(
        site,
        "ledgersync_broken",
        {"broken": "no_such_module_anywhere:Spec", "misnamed": "tests.providers.connect_platforms:KeyedSpec"},
    )
    with caplog.at_level(logging.WARNING, logger="ledgersync.providers.registry"):
        found = discover()
    assert "broken" not in found and "misnamed" not in found and "xero" in found
    assert "'broken'" in caplog.text and "misnamed" in caplog.text


def test_the_shipped_platforms_connect_through_oauth_and_take_webhooks() -> None:
    for name, spec in discover(points=[]).items():
        if spec.connect_flow.kind == "web_connector":
            continue  # QuickBooks Desktop: the Web Connector calls us; no OAuth, no webhooks
        # DEAR connects with an API key (issue 12).
        assert isinstance(spec.connect_flow, ApiKeyFlow if name == "dear" else OAuth2CodeFlow), name
        # A platform with live updates takes webhooks; MYOB has none (it is polled).
        assert isinstance(spec, ReceivesWebhooks) == spec.capabilities.live_updates, name


def test_ledgersync_uses_what_was_discovered(tmp_path: Path, secret_key: str) -> None:
    ls = LedgerSync(f"sqlite:///{tmp_path / 'a.db'}", secret_keys=[secret_key])
    assert {"xero", "qbo"} <= set(ls.providers)
    with pytest.raises(ValueError, match="unknown provider 'sage'"):
        ls.spec("sage")
