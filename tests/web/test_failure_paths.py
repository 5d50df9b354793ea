"""The dashboard's failure paths: a person never meets a traceback, a 500 or raw JSON, but a plain message and the
fix to take, whatever goes wrong: a form with a field missing, a platform that is down, a connection that is
disconnected or in another organisation, a second click, a connection a worker holds, an unexpected bug."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgersync.demo import dear_sandbox, xero_sandbox
from ledgersync.model import Contact, Item

from .conftest import ADMIN, FAST_LIMITS, Web, invoice, login, make_web

FLASH = re.compile(r'<p class="flash ([a-z]+)" role="status">(.*?)</p>', re.S)


def flashes(client: TestClient, where: str = "/integrations") -> list[str]:
    return [html.unescape(text) for _, text in FLASH.findall(client.get(where).text)]


def post(client: TestClient, token: str, path: str, **data: str) -> tuple[int, str]:
    """A form post as the browser sends it; (status, the page or the flashes of the page it leads to)."""
    resp = client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
    if resp.status_code == 303:
        where = resp.headers["location"]
        return 303, " | ".join(flashes(client, where if where.startswith("/") else "/integrations"))
    return resp.status_code, html.unescape(resp.text)


def plain(status: int, text: str) -> None:
    """What a person may be shown: no traceback, no 500, no JSON body."""
    assert status < 500, text
    assert "Traceback" not in text and not text.lstrip().startswith("{"), text


@pytest.fixture
def down(tmp_path: Path, secret_key: str) -> Iterator[tuple[Web, TestClient, str]]:
    """A connected dashboard whose Xero has gone away (its sandbox stopped)."""
    cm = xero_sandbox(config=FAST_LIMITS)
    sb = cm.__enter__()
    web = make_web(sb, tmp_path, secret_key)
    web.ls.upsert_contact(web.org, Contact(id="c1", name="Ben Brown"))
    web.ls.upsert_item(web.org, Item(id="it1", code="PADS", name="Brake pads"))
    web.ls.sync(web.conn)
    web.ls.upsert_contact(web.org, Contact(id="c9", name="Not Yet Linked"))
    web.ls.upsert_item(web.org, Item(id="it2", code="ROTOR", name="Rotor"))  # an export has to send it
    cm.__exit__(None, None, None)
    with TestClient(web.app, raise_server_exceptions=False) as client:
        yield web, client, login(client, ADMIN)


def _export_result(client: TestClient, conn: str, what: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        fragment = client.get(f"/integrations/{conn}/export/{what}").text
        if "hx-trigger" not in fragment or time.monotonic() > deadline:
            return html.unescape(re.sub(r"<[^>]+>|\s+", " ", fragment))
        time.sleep(0.1)


def test_a_form_with_a_field_missing_is_a_page_that_says_so_not_json(web: Web, admin: tuple[TestClient, str]) -> None:
    client, token = admin
    for path, data in (("/verify", {}), ("/actions/retry", {"conn": web.conn}), ("/sync-now", {"conn": web.conn})):
        status, text = post(client, token, path, **data)
        plain(status, text)
    status, text = post(client, token, "/verify")
    assert status == 400 and "Incomplete request" in text and "(conn)" in text and "nothing was changed" in text
    page = client.get("/invoices?page=two")
    assert page.status_code == 400 and "text/html" in page.headers["content-type"] and "(page)" in page.text
    # The REST API keeps answering its callers in JSON.
    api = client.post("/v1/connections/x/sync", json={"bad": True})
    assert api.headers["content-type"].startswith("application/json")


def test_an_unexpected_error_is_a_plain_page_never_a_traceback(
    web: Web, admin: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug deep inside")

    monkeypatch.setattr(web.ls, "verify", broken)
    with TestClient(web.app, raise_server_exceptions=False) as client:
        token = login(client, ADMIN)
        resp = client.post("/verify", data={"csrf_token": token, "conn": web.conn}, follow_redirects=False)
    assert resp.status_code == 500 and "text/html" in resp.headers["content-type"]
    assert "Something went wrong" in resp.text and "Try again" in resp.text
    assert "RuntimeError" not in resp.text and "a bug deep inside" not in resp.text and "Traceback" not in resp.text


def test_a_platform_that_is_down_is_named_with_what_to_do(down: tuple[Web, TestClient, str]) -> None:
    web, client, token = down
    status, text = post(client, token, "/sync-now", conn=web.conn)
    assert status == 303 and "Sync with Xero stopped: Xero could not be reached. This retries by itself" in text
    status, text = post(client, token, "/verify", conn=web.conn)
    assert status == 303 and "Check against Xero could not run: Xero could not be reached. This retries" in text
    status, text = post(client, token, "/actions/link", conn=web.conn, entity="contact", app_id="c9", remote_id="x")
    assert status == 303 and "Link did not work: Xero could not be reached. This retries by itself" in text
    assert "unavailable:" not in text
    picker = html.unescape(client.get("/records/contact/c9?pick=1").text)
    assert "Xero could not be read: Xero could not be reached. This retries by itself" in picker
    status, text = post(client, token, f"/integrations/{web.conn}/export/products")
    plain(status, text)
    result = _export_result(client, web.conn, "products")
    assert "1 of 2 synced" in result and "1 still waiting (Xero could not be reached" in result, result
    assert "go with the next sync, or export again" in result


def test_a_second_click_and_a_record_with_nothing_to_choose(web: Web, admin: tuple[TestClient, str]) -> None:
    client, token = admin
    web.ls.upsert_contact(web.org, Contact(id="c1", name="Ben Brown"))
    web.ls.upsert_invoice(web.org, invoice(1, "c1"))
    web.ls.sync(web.conn)
    for action in ("keep_app", "keep_platform"):
        status, text = post(client, token, f"/actions/{action}", conn=web.conn, entity="invoice", app_id="i1")
        assert status == 303 and "neither in conflict nor drifted; nothing to choose" in text
    for _ in range(2):
        status, text = post(client, token, f"/integrations/{web.conn}/disconnect")
        assert status == 303 and "Disconnected from Xero" in text
    status, text = post(client, token, "/sync-now", conn=web.conn)
    assert status == 303 and "could not run: the connection is disconnected Connect again" in text
    status, text = post(client, token, "/actions/keep_app", conn="conn_of_someone_else", entity="invoice", app_id="i1")
    assert status == 403 and "not in your organisation" in text


def test_a_connection_a_worker_holds_says_try_again(web: Web, admin: tuple[TestClient, str]) -> None:
    client, token = admin
    web.ls.upsert_contact(web.org, Contact(id="c1", name="Ben Brown"))
    lease = web.ls.store.acquire_lease(web.conn, 300)
    assert lease is not None
    try:
        status, text = post(client, token, "/sync-now", conn=web.conn)
        assert status == 303 and "A sync with Xero is already running" in text
        status, text = post(client, token, "/verify", conn=web.conn)
        assert status == 303 and "running right now; check again in a minute" in text
        status, text = post(client, token, "/actions/retry", conn=web.conn, entity="contact", app_id="c1")
        assert status == 303 and "running right now; try again in a minute" in text
        post(client, token, f"/integrations/{web.conn}/export/customers")
        result = _export_result(client, web.conn, "customers")
        assert "stopped: a sync of this connection was running, so nothing was exported. Export again" in result
    finally:
        web.ls.store.release_lease(lease)


def test_web_connector_and_api_key_pages_refuse_plainly(
    web: Web, admin: tuple[TestClient, str], tmp_path: Path
) -> None:
    client, token = admin
    # A Xero connection has no .qwc file nor an API-key form.
    for path in (f"/integrations/{web.conn}/qwc", f"/integrations/{web.conn}/credentials"):
        resp = client.get(path)
        assert resp.status_code == 403 and "text/html" in resp.headers["content-type"]
    qbd = web.ls.connect(web.org, "qbd", {"app_url": "http://127.0.0.1:9/qbwc"}).connection_id
    client.get("/integrations")  # the session's list of connections is read again
    resp = client.get(f"/integrations/{qbd}/qwc")
    assert resp.status_code == 200 and "<QBWCXML>" in resp.text
    status, text = post(client, token, "/verify", conn=qbd)
    assert status == 303 and "reached only through its Web Connector" in text
    with dear_sandbox() as dsb:
        dear = web.ls.connect(web.org, "dear", {"base_url": dsb.url, **dsb.extra_config}).connection_id
        where = f"/integrations/{dear}/credentials"
        status, text = post(client, token, where)
        assert status == 303 and "Account ID, Application Key are required Nothing was saved." in text
        status, text = post(client, token, where, account_id=dsb.client_id, application_key="wrong")
        assert "did not accept this connection's Account ID and Application Key. Nothing was saved. Check the" in text
    # DEAR gone away: the form says so, nothing is saved, and the page still opens.
    status, text = post(client, token, where, account_id="a", application_key="b")
    assert status == 303 and "DEAR could not be reached. Nothing was saved." in text
    assert client.get(where).status_code == 200
