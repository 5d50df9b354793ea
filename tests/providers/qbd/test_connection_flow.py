"""Connecting QuickBooks Desktop: the Python API, POST /v1/connections, the dashboard's .qwc download and
Refresh link (a new password, the same OwnerID and FileID), the cadence line and Sync now that waits."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from fastapi.testclient import TestClient

from ledgersync import LedgerSync
from ledgersync.api import create_app, issue_key
from ledgersync.engine.actions import Role
from ledgersync.web.auth import create_user

from ...api.conftest import fast_settings
from ...web.conftest import login
from .webconnector import soap_client, strings

ADMIN = ("qb-admin@example.com", "admin-password-qb1")


def qwc(text: str) -> dict[str, str]:
    root = ET.fromstring(text)
    out = {c.tag: (c.text or "") for c in root}
    out["RunEveryNMinutes"] = root.findtext("Scheduler/RunEveryNMinutes") or ""
    return out


def test_the_rest_api_connects_and_refreshes_a_web_connector_link(tmp_path: Path, secret_key: str) -> None:
    ls = LedgerSync(f"sqlite:///{tmp_path / 'ls.db'}", secret_keys=[secret_key])
    org = ls.create_organisation("Sample business")
    key = issue_key(ls, org, Role.OWNER).token
    app = create_app(ls, settings=fast_settings())
    with TestClient(app) as client:
        h = {"authorization": f"Bearer {key}"}
        r = client.post(
            "/v1/connections",
            json={
                "provider": "qbd",
                "config": {"app_url": "https://books.example.com/qbwc", "run_every_minutes": "15"},
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["kind"] == "web_connector" and out["password"]
        first = qwc(out["file"]["content"])
        assert first["AppURL"] == "https://books.example.com/qbwc" and first["QBType"] == "QBFS"
        assert first["UserName"] == out["connection_id"] and first["RunEveryNMinutes"] == "15"
        assert ls.authenticate_web_connector(out["connection_id"], out["password"]) == out["connection_id"]
        again = client.post(f"/v1/connections/{out['connection_id']}/refresh-link", headers=h).json()
        second = qwc(again["file"]["content"])
        assert (second["OwnerID"], second["FileID"]) == (first["OwnerID"], first["FileID"])
        assert ls.authenticate_web_connector(out["connection_id"], out["password"]) is None
        assert ls.authenticate_web_connector(out["connection_id"], again["password"]) == out["connection_id"]
        # The service is mounted by the app: /qbwc and its WSDL.
        assert client.get("/qbwc?wsdl").status_code == 200
        health = ls.health(out["connection_id"])
        assert health.last_sync_phrase().endswith("(Web Connector, every 15 minutes)")


def test_the_dashboard_offers_the_qwc_and_a_new_password(tmp_path: Path, secret_key: str) -> None:
    ls = LedgerSync(f"sqlite:///{tmp_path / 'ls.db'}", secret_keys=[secret_key])
    org = ls.create_organisation("Sample business")
    start = ls.connect(org, "qbd", {"app_url": "https://books.example.com/qbwc"})
    create_user(ls.store, *ADMIN, org, "owner", name="Quinn Owner")
    with TestClient(create_app(ls, settings=fast_settings())) as client:
        csrf = login(client, ADMIN)
        page = client.get("/integrations")
        assert "QuickBooks Desktop" in page.text and f"/integrations/{start.connection_id}/qwc" in page.text
        assert "No sync with QuickBooks Desktop yet (Web Connector, every 30 minutes)" in page.text
        dl = client.get(f"/integrations/{start.connection_id}/qwc")
        assert dl.status_code == 200 and "attachment" in dl.headers["content-disposition"]
        assert start.file is not None
        assert qwc(dl.text)["FileID"] == qwc(start.file.content)["FileID"]
        # A download issues no password: the one shown at connect still works.
        assert ls.authenticate_web_connector(start.connection_id, start.password or "") == start.connection_id
        r = client.post(f"/integrations/{start.connection_id}/refresh", data={"csrf_token": csrf})
        assert r.status_code == 200 and "a new Web Connector password" in r.text
        new = r.text.split('id="wc-password">')[1].split("<")[0]
        assert ls.authenticate_web_connector(start.connection_id, new) == start.connection_id
        assert ls.authenticate_web_connector(start.connection_id, start.password or "") is None
        s = client.post("/sync-now", data={"csrf_token": csrf, "conn": start.connection_id}, follow_redirects=True)
        assert "waits for the next run" in s.text


def test_sync_now_outside_a_session_says_it_waits(tmp_path: Path, secret_key: str) -> None:
    ls = LedgerSync(f"sqlite:///{tmp_path / 'ls.db'}", secret_keys=[secret_key])
    org = ls.create_organisation("Sample business")
    start = ls.connect(org, "qbd", {"app_url": "http://127.0.0.1:9/qbwc"})
    ls.authenticate_web_connector(start.connection_id, start.password or "")
    report = ls.sync(start.connection_id)
    assert report.status == "error" and "Web Connector" in (report.message or "")
    _ = soap_client, strings


def test_capabilities_and_the_cadence_phrase() -> None:
    import datetime as dt

    from ledgersync import capabilities
    from ledgersync.engine.app import Health

    rows = dict(capabilities.matrix())
    assert rows["Purchase orders and bills"]["qbd"] is True
    assert rows["Sub-customers"]["qbd"] is True and rows["Live updates (webhooks)"]["qbd"] is False
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    h = Health(
        connection_id="c",
        provider="qbd",
        display_name="QuickBooks Desktop",
        tenant_name=None,
        status="connected",
        status_reason=None,
        last_sync_at=now,
        last_success_at=now - dt.timedelta(minutes=12),
        stale=False,
        calls=0,
        counts={},
        cadence="Web Connector, every 30 minutes",
    )
    assert h.last_sync_phrase(now) == (
        "Last sync with QuickBooks Desktop performed 12 minutes ago (Web Connector, every 30 minutes)"
    )
