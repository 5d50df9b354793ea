"""Connect flows other than OAuth: an API key checked before it is saved, and a Web Connector file + password.

Run against two small test-only platforms (tests/providers/connect_platforms.py), over real HTTP where the
platform is called, with the real store; what is encrypted is checked in the database file itself."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgersync import ConfigError, Entity, LedgerSync, ProviderError
from ledgersync.api import create_app, issue_key
from ledgersync.engine.actions import Role
from ledgersync.providers.connect import PASSWORD_HASH_KEY
from ledgersync.providers.registry import installed
from ledgersync.sandbox.server import RunningServer

from ..api.conftest import fast_settings
from .connect_platforms import DesktopSpec, KeyedAccount, KeyedService, KeyedSpec

KEY = "app-key-3f9a-secret"
OTHER_KEY = "other-key-77c1-secret"
HOOK_TOKEN = "hook-token-b2d4-secret"
PASSWORD_FILES = ("ledgersync.db", "ledgersync.db-wal", "ledgersync.db-shm")


@pytest.fixture
def service() -> Iterator[tuple[KeyedService, RunningServer]]:
    svc = KeyedService()
    svc.accounts["acct-1"] = KeyedAccount(
        "acct-1",
        KEY,
        "Acme Parts",
        customers=[{"ID": "k-1", "Name": "Ann Lee", "LastModifiedOn": "2026-11-02T10:00:00+00:00"}],
    )
    svc.accounts["acct-2"] = KeyedAccount("acct-2", OTHER_KEY, "Someone Else")
    with svc.serve() as server:
        yield svc, server


@pytest.fixture
def ls(tmp_path: Path, secret_key: str) -> LedgerSync:
    return LedgerSync(
        f"sqlite:///{tmp_path / 'ledgersync.db'}",
        secret_keys=[secret_key],
        providers={**installed(), "keyed": KeyedSpec(), "desktop": DesktopSpec()},
    )


def stored_bytes(tmp_path: Path) -> bytes:
    """Everything SQLite has written for the store (the database and its write-ahead log)."""
    return b"".join((tmp_path / name).read_bytes() for name in PASSWORD_FILES if (tmp_path / name).exists())


def keyed(ls: LedgerSync, server: RunningServer, **extra: str) -> tuple[str, str]:
    org = ls.create_organisation("Workshop")
    start = ls.connect(org, "keyed", {"base_url": server.url, "webhook_token": HOOK_TOKEN, **extra})
    return org, start.connection_id


# -- API key ------------------------------------------------------------------------------------------------------
def test_an_api_key_connection_starts_by_asking_for_its_fields(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer]
) -> None:
    org = ls.create_organisation("Workshop")
    start = ls.connect(org, "keyed", {"base_url": service[1].url})
    assert start.kind == "credentials" and start.status == "pending_consent"
    assert [(f.name, f.secret) for f in start.fields] == [("account_id", False), ("application_key", True)]
    assert start.authorization_url is None and start.password is None
    assert "Account ID, Application key" in start.next_step
    assert service[0].calls == []


def test_credentials_the_platform_refuses_are_not_saved(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer], tmp_path: Path
) -> None:
    _, conn = keyed(ls, service[1])
    with pytest.raises(ProviderError) as refused:
        ls.submit_credentials(conn, {"account_id": "acct-1", "application_key": "wrong-key"})
    assert refused.value.error.platform_message == "Method authentication failed"
    assert ls.connection(conn).status == "pending_consent"
    assert "application_key" not in ls.store.credentials(conn)
    assert "account_id" not in ls.connection(conn).config
    assert b"wrong-key" not in stored_bytes(tmp_path)


def test_accepted_credentials_connect_with_the_tenant_the_platform_names(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer]
) -> None:
    _, conn = keyed(ls, service[1])
    assert ls.submit_credentials(conn, {"account_id": "acct-1", "application_key": KEY}) == conn
    row = ls.connection(conn)
    assert (row.status, row.tenant_id, row.tenant_name) == ("connected", "acct-1", "Acme Parts")
    assert service[0].calls == ["/me"]


def test_the_application_key_is_stored_only_encrypted(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer], tmp_path: Path
) -> None:
    _, conn = keyed(ls, service[1])
    ls.submit_credentials(conn, {"account_id": "acct-1", "application_key": KEY})
    assert ls.store.credentials(conn)["application_key"] == KEY
    assert ls.connection(conn).config["account_id"] == "acct-1"
    assert "application_key" not in ls.connection(conn).config
    raw = stored_bytes(tmp_path)
    assert KEY.encode() not in raw and HOOK_TOKEN.encode() not in raw and b"acct-1" in raw


def test_a_synced_connection_reads_with_the_decrypted_key(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer]
) -> None:
    org, conn = keyed(ls, service[1])
    ls.submit_credentials(conn, {"account_id": "acct-1", "application_key": KEY})
    report = ls.sync(conn)
    assert report.status == "ok", report.message
    names = [r.record.name for r in ls.records(org, Entity.CONTACT)]  # type: ignore[attr-defined]
    assert names == ["Ann Lee"]
    assert service[0].calls.count("/customer") >= 1


def test_credentials_given_with_the_settings_connect_at_once(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer]
) -> None:
    org = ls.create_organisation("Workshop")
    start = ls.connect(org, "keyed", {"base_url": service[1].url, "account_id": "acct-1", "application_key": KEY})
    assert start.kind == "credentials" and start.status == "connected"
    assert ls.connection(start.connection_id).tenant_name == "Acme Parts"


def test_missing_or_unknown_fields_are_named(ls: LedgerSync, service: tuple[KeyedService, RunningServer]) -> None:
    _, conn = keyed(ls, service[1])
    with pytest.raises(ValueError, match="Application key is required"):
        ls.submit_credentials(conn, {"account_id": "acct-1"})
    with pytest.raises(ValueError, match="unknown field password"):
        ls.submit_credentials(conn, {"account_id": "acct-1", "application_key": KEY, "password": "x"})
    assert service[0].calls == []


def test_reconnecting_with_another_accounts_credentials_is_refused(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer]
) -> None:
    _, conn = keyed(ls, service[1])
    ls.submit_credentials(conn, {"account_id": "acct-1", "application_key": KEY})
    start = ls.refresh_link(conn)
    assert start.kind == "credentials"
    with pytest.raises(ValueError, match="Acme Parts"):
        ls.submit_credentials(conn, {"account_id": "acct-2", "application_key": OTHER_KEY})
    assert ls.store.credentials(conn)["application_key"] == KEY
    assert ls.connection(conn).config["account_id"] == "acct-1"


def test_disconnect_drops_the_application_key_and_keeps_the_apps_own_secrets(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer]
) -> None:
    _, conn = keyed(ls, service[1])
    ls.submit_credentials(conn, {"account_id": "acct-1", "application_key": KEY})
    ls.disconnect(conn)
    assert ls.store.credentials(conn) == {"webhook_token": HOOK_TOKEN}
    assert ls.connection(conn).status == "disconnected"


def test_the_api_connects_with_credentials_and_never_shows_them(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer]
) -> None:
    org = ls.create_organisation("Workshop")
    h = {"Authorization": f"Bearer {issue_key(ls, org, Role.OWNER, 'owner').token}"}
    client = TestClient(create_app(ls, settings=fast_settings()))
    r = client.post("/v1/connections", headers=h, json={"provider": "keyed", "config": {"base_url": service[1].url}})
    assert r.status_code == 201 and r.json()["kind"] == "credentials"
    conn = r.json()["connection_id"]
    fields = {"account_id": "acct-1", "application_key": "nope"}
    refused = client.post(f"/v1/connections/{conn}/credentials", headers=h, json={"fields": fields})
    assert refused.status_code == 502 and "did not accept" in refused.json()["detail"]
    fields["application_key"] = KEY
    ok = client.post(f"/v1/connections/{conn}/credentials", headers=h, json={"fields": fields})
    assert ok.status_code == 200 and ok.json()["status"] == "connected"
    assert ok.json()["config_keys"] == ["account_id", "application_key", "base_url"]
    listing = client.get("/v1/connections", headers=h).text
    assert KEY not in listing and KEY not in ok.text


def test_a_platform_of_its_own_package_gets_its_webhook_route(
    ls: LedgerSync, service: tuple[KeyedService, RunningServer]
) -> None:
    org, conn = keyed(ls, service[1])
    ls.submit_credentials(conn, {"account_id": "acct-1", "application_key": KEY})
    client = TestClient(create_app(ls, settings=fast_settings()))
    body = b'{"Type": "Customer/Updated", "CustomerID": "k-1"}'
    wrong = client.post(f"/v1/webhooks/keyed/{conn}", content=body, headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401 and ls.records(org, Entity.CONTACT) == []
    right = client.post(f"/v1/webhooks/keyed/{conn}", content=body, headers={"Authorization": f"Bearer {HOOK_TOKEN}"})
    assert right.status_code == 200
    # The background refresh ran before the test client returned: the customer new in Keyed Books arrived.
    assert [r.record.name for r in ls.records(org, Entity.CONTACT)] == ["Ann Lee"]  # type: ignore[attr-defined]


# -- Web Connector ------------------------------------------------------------------------------------------------
def desktop(ls: LedgerSync, **extra: str) -> tuple[str, str, str, ET.Element]:
    org = ls.create_organisation("Workshop")
    start = ls.connect(org, "desktop", {"app_url": "https://sync.example.com/qbwc", "run_every_minutes": "15", **extra})
    assert start.kind == "web_connector" and start.file is not None and start.password
    return org, start.connection_id, start.password, ET.fromstring(start.file.content)


def test_a_web_connector_connection_yields_its_qwc_file_and_a_password(ls: LedgerSync) -> None:
    _, conn, password, qwc = desktop(ls)
    assert qwc.tag == "QBWCXML"
    assert qwc.findtext("AppURL") == "https://sync.example.com/qbwc"
    assert qwc.findtext("AppSupport") == "https://sync.example.com/qbwc"
    assert qwc.findtext("UserName") == conn
    assert qwc.findtext("QBType") == "QBFS"
    assert qwc.findtext("Scheduler/RunEveryNMinutes") == "15"
    for tag in ("OwnerID", "FileID"):
        value = qwc.findtext(tag) or ""
        assert value.startswith("{") and value.endswith("}") and len(value) == 38
    assert len(password) >= 20 and ls.connection(conn).status == "pending_consent"


def test_only_a_hash_of_the_web_connector_password_is_stored_and_it_is_encrypted(
    ls: LedgerSync, tmp_path: Path
) -> None:
    _, conn, password, _ = desktop(ls)
    stored = ls.store.credentials(conn)
    assert set(stored) == {PASSWORD_HASH_KEY} and stored[PASSWORD_HASH_KEY].startswith("scrypt$")
    assert password not in stored[PASSWORD_HASH_KEY]
    raw = stored_bytes(tmp_path)
    assert password.encode() not in raw and b"scrypt$" not in raw


def test_the_connection_goes_live_on_the_first_authenticate_with_its_password(ls: LedgerSync) -> None:
    _, conn, password, qwc = desktop(ls)
    assert ls.authenticate_web_connector(conn, password + "x") is None
    assert ls.connection(conn).status == "pending_consent"
    assert ls.authenticate_web_connector(conn, password, "C:\\Books\\Acme.qbw") == conn
    row = ls.connection(conn)
    assert (row.status, row.tenant_id, row.tenant_name) == ("connected", qwc.findtext("FileID"), "C:\\Books\\Acme.qbw")
    assert ls.authenticate_web_connector("conn_unknown", password) is None


def test_refresh_link_issues_a_new_password_for_the_same_company_file(ls: LedgerSync) -> None:
    _, conn, old, qwc = desktop(ls)
    ls.authenticate_web_connector(conn, old)
    start = ls.refresh_link(conn)
    assert start.password and start.password != old and start.file is not None
    again = ET.fromstring(start.file.content)
    assert again.findtext("FileID") == qwc.findtext("FileID") and again.findtext("OwnerID") == qwc.findtext("OwnerID")
    assert ls.authenticate_web_connector(conn, old) is None
    assert ls.authenticate_web_connector(conn, start.password) == conn
    assert ls.connection(conn).tenant_id == qwc.findtext("FileID")


def test_a_disconnected_web_connector_connection_refuses_its_password(ls: LedgerSync) -> None:
    _, conn, password, _ = desktop(ls)
    ls.authenticate_web_connector(conn, password)
    ls.disconnect(conn)
    assert ls.store.credentials(conn) == {}
    assert ls.authenticate_web_connector(conn, password) is None


def test_the_api_offers_the_qwc_file_and_shows_the_password_once(ls: LedgerSync) -> None:
    org = ls.create_organisation("Workshop")
    h = {"Authorization": f"Bearer {issue_key(ls, org, Role.OWNER, 'owner').token}"}
    client = TestClient(create_app(ls, settings=fast_settings()))
    body = {"provider": "desktop", "config": {"app_url": "https://sync.example.com/qbwc"}}
    r = client.post("/v1/connections", headers=h, json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["kind"] == "web_connector" and out["file"]["name"] == "ledgersync-tests.qwc"
    assert ET.fromstring(out["file"]["content"]).findtext("UserName") == out["connection_id"]
    assert out["password"] and out["password"] not in client.get("/v1/connections", headers=h).text
    assert ls.authenticate_web_connector(out["connection_id"], out["password"]) == out["connection_id"]


def test_a_web_connector_setting_that_is_not_a_url_is_refused(ls: LedgerSync) -> None:
    org = ls.create_organisation("Workshop")
    with pytest.raises(ConfigError, match="app_url: value error, must be an http"):
        ls.connect(org, "desktop", {"app_url": "sync.example.com"})
    assert ls.connections(org) == []
