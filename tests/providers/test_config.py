"""Each platform's settings are a typed model: checked when connecting, the README's keys as they are, and
the secret ones kept encrypted, out of the plain config column and out of every API answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgersync import ConfigError, LedgerSync
from ledgersync.api import create_app, issue_key
from ledgersync.engine.actions import Role
from ledgersync.engine.translate import CodeMap
from ledgersync.providers.qbo.config import QboConfig
from ledgersync.providers.qbo.provider import QboProvider
from ledgersync.providers.webhooks import hmac_b64
from ledgersync.providers.xero.provider import XeroProvider

from ..api.conftest import fast_settings

XERO = {"client_id": "app-1", "client_secret": "xero-secret-1f", "redirect_uri": "http://127.0.0.1:9/cb"}


@pytest.fixture
def ls(tmp_path: Path, secret_key: str) -> LedgerSync:
    return LedgerSync(f"sqlite:///{tmp_path / 'ledgersync.db'}", secret_keys=[secret_key])


def test_the_readmes_settings_are_accepted_as_strings_and_read_as_their_types(ls: LedgerSync) -> None:
    org = ls.create_organisation("Acme")
    settings = {
        **XERO,
        "base_url": "http://127.0.0.1:9",
        "timeout": "12.5",
        "batch_size": "20",
        "page_size": "200",
        "lookback_seconds": "60",
        "per_minute": "100000",
        "per_day": "",  # empty means the default
        "account_codes": '{"200": "4000"}',
        "tax_codes": '{"OUTPUT": "TAX"}',
        "webhook_key": "xero-hook-key-9c",
    }
    conn = ls.connect(org, "xero", settings).connection_id
    provider = ls.open_provider(conn)
    try:
        assert isinstance(provider, XeroProvider)
        cfg = provider.config
        assert (cfg.timeout, cfg.batch_size, cfg.page_size, cfg.per_minute, cfg.per_day) == (
            12.5,
            20,
            200,
            100000,
            5000,
        )
        assert provider.capabilities.batch_size == 20 and provider.page_size == 200
        assert cfg.account_codes == {"200": "4000"} and cfg.secret("webhook_key") == "xero-hook-key-9c"
    finally:
        provider.close()
    # The engine's per-connection code maps still read the stored (plain) settings.
    assert CodeMap.from_config(ls.connection(conn).config).accounts == {"200": "4000"}


def test_a_code_map_given_as_a_dict_is_stored_as_json(ls: LedgerSync) -> None:
    conn = ls.connect(ls.create_organisation("Acme"), "xero", {**XERO, "account_codes": {"200": "4000"}}).connection_id
    assert ls.connection(conn).config["account_codes"] == '{"200": "4000"}'


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"page_size": "many"}, "page_size: input should be a valid integer"),
        ({"batch_size": "60"}, "batch_size: input should be less than or equal to 50"),
        ({"client_secret": ""}, "client_secret: field required"),
        ({"redirect_uri": "not a url"}, "redirect_uri: value error, must be an http(s) URL"),
        ({"account_codes": "[1, 2]"}, "account_codes: value error, must be a JSON object"),
        ({"pagesize": "10"}, "unknown setting pagesize"),
    ],
)
def test_bad_settings_are_refused_at_connect_naming_each_problem(
    ls: LedgerSync, change: dict[str, str], named: str
) -> None:
    org = ls.create_organisation("Acme")
    with pytest.raises(ConfigError) as refused:
        ls.connect(org, "xero", {**XERO, **change})
    assert named in str(refused.value)
    assert ls.connections(org) == []


def test_an_error_about_a_setting_never_repeats_a_secret(ls: LedgerSync) -> None:
    with pytest.raises(ConfigError) as refused:
        ls.connect(ls.create_organisation("Acme"), "qbo", {**XERO, "environment": "xero-secret-1f"})
    assert "environment" in str(refused.value) and "xero-secret-1f" not in str(refused.value)


def test_secret_settings_are_kept_encrypted_and_out_of_the_plain_config(ls: LedgerSync, tmp_path: Path) -> None:
    conn = ls.connect(ls.create_organisation("Acme"), "xero", {**XERO, "webhook_key": "xero-hook-key-9c"}).connection_id
    assert ls.connection(conn).config == {"client_id": "app-1", "redirect_uri": "http://127.0.0.1:9/cb"}
    assert ls.store.credentials(conn) == {"client_secret": "xero-secret-1f", "webhook_key": "xero-hook-key-9c"}
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("ledgersync.db*"))
    assert b"xero-secret-1f" not in raw and b"xero-hook-key-9c" not in raw and b"app-1" in raw


def test_a_setting_known_by_another_name_is_stored_under_its_own(ls: LedgerSync) -> None:
    conn = ls.connect(
        ls.create_organisation("Acme"), "qbo", {**XERO, "verifier_token": "qbo-verifier-5e"}
    ).connection_id
    assert ls.store.credentials(conn)["webhook_verifier"] == "qbo-verifier-5e"
    assert QboConfig.parse({**XERO, "webhook_key": "k"}).secret("webhook_verifier") == "k"
    provider = ls.open_provider(conn)
    try:
        assert isinstance(provider, QboProvider) and provider.config.secret("webhook_verifier") == "qbo-verifier-5e"
    finally:
        provider.close()


def test_settings_changed_over_the_api_are_validated_and_secrets_never_shown(ls: LedgerSync) -> None:
    org = ls.create_organisation("Acme")
    h = {"Authorization": f"Bearer {issue_key(ls, org, Role.OWNER, 'owner').token}"}
    client = TestClient(create_app(ls, settings=fast_settings()))
    created = client.post("/v1/connections", headers=h, json={"provider": "qbo", "config": XERO})
    assert created.status_code == 201 and created.json()["kind"] == "redirect"
    conn = created.json()["connection_id"]
    bad = client.patch(f"/v1/connections/{conn}", headers=h, json={"config": {"per_minute": "0"}})
    assert bad.status_code == 422 and "per_minute" in bad.json()["detail"]
    unknown = client.patch(f"/v1/connections/{conn}", headers=h, json={"config": {"colour": "red"}})
    assert unknown.status_code == 422 and "colour" in unknown.json()["detail"]
    ok = client.patch(f"/v1/connections/{conn}", headers=h, json={"config": {"verifier_token": "qbo-verifier-5e"}})
    assert ok.status_code == 200
    assert ok.json()["config_keys"] == ["client_id", "client_secret", "redirect_uri", "webhook_verifier"]
    assert "qbo-verifier-5e" not in ok.text and "xero-secret-1f" not in client.get("/v1/connections", headers=h).text
    body = b'{"eventNotifications": []}'
    signed = client.post(
        f"/v1/webhooks/qbo/{conn}", content=body, headers={"intuit-signature": hmac_b64(body, "qbo-verifier-5e")}
    )
    assert signed.status_code == 200
    removed = client.patch(f"/v1/connections/{conn}", headers=h, json={"config": {"webhook_verifier": None}})
    assert "webhook_verifier" not in removed.json()["config_keys"]
    again = client.post(
        f"/v1/webhooks/qbo/{conn}", content=body, headers={"intuit-signature": hmac_b64(body, "qbo-verifier-5e")}
    )
    assert again.status_code == 401
    bad_create = client.post(
        "/v1/connections", headers=h, json={"provider": "xero", "config": {**XERO, "page_size": "0"}}
    )
    assert bad_create.status_code == 422 and "page_size" in bad_create.json()["detail"]
