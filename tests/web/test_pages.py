"""The dashboard over HTTP: sign-in, CSRF, integrations, errors and fixes, lists, record pages, the event log."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from fastapi.testclient import TestClient

from ledgersync.demo import consent_callback
from ledgersync.model import Entity
from ledgersync.store.tables import utcnow

from .conftest import ADMIN, Web, csrf_of, login

Client = tuple[TestClient, str]


def action(
    client: TestClient, token: str | None, name: str, web: Web, entity: Entity, app_id: str, **extra: str
) -> httpx.Response:
    data = {"conn": web.conn, "entity": entity.value, "app_id": app_id, "next": "/errors", **extra}
    if token is not None:
        data["csrf_token"] = token
    return client.post(f"/actions/{name}", data=data, follow_redirects=False)


def test_pages_need_a_signed_in_user(web: Web) -> None:
    with TestClient(web.app) as client:
        resp = client.get("/errors?entity=contact", follow_redirects=False)
        assert resp.status_code == 303
        assert resp.headers["location"] == "/login?next=%2Ferrors%3Fentity%3Dcontact"
        htmx = client.get("/banner", headers={"HX-Request": "true"})
        assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login"


def test_a_wrong_password_is_refused_and_the_right_one_signs_in(web: Web) -> None:
    with TestClient(web.app) as client:
        token = csrf_of(client.get("/login").text)
        bad = client.post("/login", data={"email": ADMIN[0], "password": "nope-nope", "csrf_token": token})
        assert bad.status_code == 401 and "do not match" in bad.text
        ok = client.post(
            "/login",
            data={"email": ADMIN[0].upper(), "password": ADMIN[1], "csrf_token": token, "next": "//evil.example/x"},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/integrations"
        page = client.get("/integrations")
        assert "Ada Admin" in page.text and csrf_of(page.text) != token  # a fresh token after sign-in


def test_signing_in_without_the_csrf_token_is_refused(web: Web) -> None:
    with TestClient(web.app) as client:
        client.get("/login")
        resp = client.post("/login", data={"email": ADMIN[0], "password": ADMIN[1]}, follow_redirects=False)
        assert resp.status_code == 403 and "security token" in resp.text
        assert client.get("/integrations", follow_redirects=False).status_code == 303


def test_every_page_shows_the_last_sync_the_failed_count_and_sync_now(web: Web, admin: Client) -> None:
    client, _ = admin
    web.duplicate_name_failure()
    for path in ("/integrations", "/errors", "/customers", "/invoices", "/payments", "/credits", "/events"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "Last sync with Xero performed less than a minute ago" in page.text, path
        assert re.search(r'class="failed-badge on" href="/errors"[^>]*>Failed <b>1</b>', page.text), path
        assert 'hx-post="/sync-now"' in page.text and "/assets/htmx.min.js" in page.text
    assert client.get("/assets/htmx.min.js").status_code == 200


def test_a_stale_or_revoked_connection_is_flagged_on_every_page(web: Web, admin: Client) -> None:
    client, _ = admin
    web.ls.store.update_connection(web.conn, last_success_at=utcnow() - dt.timedelta(hours=30))
    page = client.get("/customers").text
    assert "Last sync with Xero performed 30 hours ago" in page
    assert "No successful sync with Xero for over 24 hours" in page and 'class="banner warn"' in page
    web.ls.store.update_connection(web.conn, status="needs_reconnect", status_reason="the sign-in was revoked")
    page = client.get("/events").text
    assert "Xero needs you to sign in again: the sign-in was revoked" in page


def test_the_integrations_page_shows_each_connection_with_its_figures(web: Web, admin: Client) -> None:
    client, _ = admin
    web.duplicate_name_failure()
    page = client.get("/integrations").text
    assert "Demo Company (AU)" in page and "Connected" in page
    assert "API calls used" in page and f'action="/integrations/{web.conn}/refresh"' in page
    assert f'href="/customers?state=failed&amp;conn={web.conn}">1</a>' in page
    assert f'href="/integrations/{web.conn}/disconnect"' in page


def test_refresh_link_goes_through_the_platforms_consent_and_back(web: Web, admin: Client) -> None:
    client, token = admin
    web.ls.store.update_connection(web.conn, status="needs_reconnect", status_reason="token revoked")
    resp = client.post(f"/integrations/{web.conn}/refresh", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith(web.sandbox.url)
    query = consent_callback(resp.headers["location"], choose={"tenantId": web.sandbox.tenant_id})
    back = client.get(f"/integrations/xero/callback?{query}", follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/integrations"
    assert web.ls.store.get_connection(web.conn).status == "connected"
    assert "Connected to Demo Company (AU)" in client.get("/integrations").text
    # A replayed callback (its state is spent) changes nothing and says so.
    again = client.get(f"/integrations/callback?{query}")
    assert "Could not connect" in again.text


def test_refresh_link_can_come_back_through_the_rest_apis_callback(web: Web, admin: Client) -> None:
    client, token = admin
    if client.get("/v1/openapi.json").status_code != 200:
        pytest.skip("no REST API in this build: the dashboard's own callback is tested above")
    resp = client.post(f"/integrations/{web.conn}/refresh", data={"csrf_token": token}, follow_redirects=False)
    query = consent_callback(resp.headers["location"], choose={"tenantId": web.sandbox.tenant_id})
    page = client.get(f"/v1/oauth/callback?{query}")
    assert page.url.path == "/integrations" and "Connected to Demo Company (AU)" in page.text


def test_a_member_cannot_refresh_or_disconnect(web: Web, member: Client) -> None:
    client, token = member
    page = client.get("/integrations").text
    assert "Only an owner or admin can refresh the link; you are a member." in page
    resp = client.post(f"/integrations/{web.conn}/disconnect", data={"csrf_token": token})
    assert resp.status_code == 403
    assert web.ls.store.get_connection(web.conn).status == "connected"


def test_disconnect_asks_first_then_keeps_the_synced_data(web: Web, admin: Client) -> None:
    client, token = admin
    confirm = client.get(f"/integrations/{web.conn}/disconnect").text
    assert "Disconnect Xero?" in confirm and "Yes, disconnect" in confirm
    client.post(f"/integrations/{web.conn}/disconnect", data={"csrf_token": token}, follow_redirects=False)
    assert web.ls.store.get_connection(web.conn).status == "disconnected"
    assert "Disconnected from Xero" in client.get("/integrations").text


def test_the_errors_page_explains_a_duplicate_name_and_offers_its_fixes(web: Web, admin: Client) -> None:
    client, _ = admin
    web.duplicate_name_failure()
    page = client.get("/errors").text
    card = page[page.index('id="err-contact-c5"') :]
    card = card[: card.index("</section>")]
    assert "Why:</b>" in card and "Ann Lee" in card and "What to do:</b>" in card
    assert "Xero said: <q>" in card
    for fix in ("retry", "merge", "link", "skip", "exclude"):
        assert f'data-action="{fix}"' in card, fix
    assert "Edit in your app" in card and " disabled>" not in card


def test_a_member_sees_the_admin_fixes_disabled_with_who_can(web: Web, member: Client) -> None:
    client, token = member
    web.duplicate_name_failure()
    page = client.get("/errors").text
    disabled_merge = r"<button[^>]*disabled>Merge</button><span[^>]*>Only an owner or admin can merge; you are a member"
    assert re.search(disabled_merge, page)
    assert re.search(r'<button class="btn small primary" type="submit" data-action="retry">Retry', page)
    resp = action(client, token, "merge", web, Entity.CONTACT, "c5")
    assert resp.status_code == 403 and "only an owner or admin may merge" in resp.text.lower()
    assert web.state(Entity.CONTACT, "c5") == "failed"


def test_merge_from_the_errors_page_uses_the_existing_xero_contact(web: Web, admin: Client) -> None:
    client, token = admin
    web.duplicate_name_failure()
    resp = action(client, token, "merge", web, Entity.CONTACT, "c5")
    assert resp.status_code == 303 and resp.headers["location"] == "/errors"
    assert web.state(Entity.CONTACT, "c5") == "synced"
    page = client.get("/errors").text
    assert "Merged into the existing Xero contact" in page and "Nothing is failing" in page
    assert len([c for c in web.sandbox.records("Contacts") if c["Name"] == "Ann Lee"]) == 1


def test_a_fix_while_another_worker_syncs_shows_a_notice_and_changes_nothing(web: Web, admin: Client) -> None:
    client, token = admin
    web.duplicate_name_failure()
    assert web.ls.store.acquire_lease(web.conn, 600) is not None  # another worker is syncing it
    resp = action(client, token, "merge", web, Entity.CONTACT, "c5")
    assert resp.status_code == 303 and resp.headers["location"] == "/errors"
    page = client.get("/errors").text
    assert "A sync with Xero is running right now; try again in a minute." in page
    assert web.state(Entity.CONTACT, "c5") == "failed"


def test_skip_takes_a_paid_invoice_off_the_error_list(web: Web, admin: Client) -> None:
    client, token = admin
    app_id = web.paid_invoice_failure()
    page = client.get("/errors").text
    assert "INV-0001" in page and 'data-action="skip"' in page
    action(client, token, "skip", web, Entity.INVOICE, app_id)
    assert web.state(Entity.INVOICE, app_id) == "skipped"
    assert "Skipped: the app" in client.get("/errors").text


def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(web: Web, admin: Client) -> None:
    client, token = admin
    web.duplicate_name_failure()
    for bad in (None, "", "forged-" + token[7:]):
        resp = action(client, bad, "skip", web, Entity.CONTACT, "c5")
        assert resp.status_code == 403 and "Nothing was changed" in resp.text
        assert web.state(Entity.CONTACT, "c5") == "failed"
    htmx = client.post("/sync-now", headers={"HX-Request": "true", "X-CSRF-Token": "wrong"})
    assert htmx.status_code == 403
    # The same token in the header (as htmx sends it) is accepted.
    ok = client.post(
        "/actions/skip",
        data={"conn": web.conn, "entity": "contact", "app_id": "c5"},
        headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and web.state(Entity.CONTACT, "c5") == "skipped"


def test_sync_now_runs_a_sync_and_returns_the_new_banner(web: Web, admin: Client) -> None:
    client, token = admin
    web.ls.store.update_connection(web.conn, last_success_at=utcnow() - dt.timedelta(minutes=42))
    assert "performed 42 minutes ago" in client.get("/customers").text
    from ledgersync.model import Contact

    web.ls.upsert_contact(web.org, Contact(id="new-1", name="Nia Newcomer"))
    resp = client.post(
        "/sync-now",
        data={"csrf_token": token},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/integrations"},
    )
    assert resp.status_code == 200
    assert resp.text.lstrip().startswith('<div id="banner"')
    assert "Last sync with Xero performed less than a minute ago" in resp.text
    assert "Synced with Xero: 1 sent" in resp.text
    assert f'id="conn-{web.conn}" hx-swap-oob="true"' in resp.text
    assert web.state(Entity.CONTACT, "new-1") == "synced"


def test_the_customers_list_shows_each_status_with_a_tooltip_and_filters(web: Web, admin: Client) -> None:
    client, _ = admin
    web.duplicate_name_failure()
    page = client.get("/customers").text
    tip = r'<span class="tip[^"]*" role="tooltip"[^>]*>Failed: [^<]*Ann Lee[^<]* — fixes: Edit, Merge, Link'
    assert re.search(tip, page)
    assert "Synced: this customer matches Xero (Xero id " in page
    failed = client.get("/customers?state=failed").text
    assert failed.count('<tr data-id="') == 1 and 'data-id="c5"' in failed
    found = client.get("/customers?q=ann").text
    assert 'data-id="c5"' in found
    none = client.get("/customers?q=zzzz-nobody").text
    assert "No customers match these filters" in none


def test_the_invoice_list_and_record_page_show_state_history_and_platform_id(web: Web, admin: Client) -> None:
    client, _ = admin
    app_id = web.paid_invoice_failure()
    listing = client.get("/invoices?q=INV-0001").text
    assert 'data-id="i1"' in listing and "Ben Brown" in listing
    page = client.get(f"/records/invoice/{app_id}").text
    assert web.remote(Entity.INVOICE, app_id) in page
    assert "paid" in page.lower() and "History" in page
    assert page.count("<tr><td title=") >= 2  # pushed, then refused
    assert client.get("/records/invoice/nope").status_code == 404


def test_the_event_log_finds_a_document_by_number_and_pages(web: Web, admin: Client) -> None:
    client, _ = admin
    web.paid_invoice_failure()
    page = client.get("/events?q=INV-0001&outcome=failed").text
    rows = re.findall(r'<a class="mono" href="/events\?q=([^"]+)">', page)
    assert rows and set(rows) == {"INV-0001"}
    for i in range(60):
        web.ls.store.log("sync", connection_id=web.conn, message=f"filler {i}")
    first = client.get("/events").text
    older = re.search(r'href="/events\?before=(\d+)" rel="next"', first)
    assert older, "a first page of the log links to older events"
    second = client.get(f"/events?before={older.group(1)}").text
    assert "Older events" in second


def test_a_second_organisation_sees_none_of_the_first(web: Web) -> None:
    from ledgersync.web import create_user

    other = web.ls.create_organisation("Other Co")
    create_user(web.ls.store, "oz@example.com", "other-password-1", other, "owner")
    web.duplicate_name_failure()
    with TestClient(web.app) as client:
        token = login(client, ("oz@example.com", "other-password-1"))
        assert "Ann Lee" not in client.get("/customers").text
        assert client.get("/records/contact/c5").status_code == 404
        resp = action(client, token, "skip", web, Entity.CONTACT, "c5")
        assert resp.status_code == 403
    assert web.state(Entity.CONTACT, "c5") == "failed"


def test_the_invoice_record_page_shows_its_attachments_and_their_state(web: Web, admin: Client) -> None:
    client, _ = admin
    from ledgersync.store import attachments as files

    app_id = web.paid_invoice_failure()
    web.ls.attach(web.org, Entity.INVOICE, app_id, "INV-0001.pdf", "application/pdf", b"%PDF-1.4 " * 400)
    # A file kept before the rules applied (too big for Xero): refused at sync with the reason, nothing sent.
    with web.ls.store.session() as s:
        files.put(s, web.org, Entity.INVOICE, app_id, "scan.pdf", "application/pdf", b"%" * (11 * 1024 * 1024))
    assert "Attachments" not in client.get("/records/invoice/nope").text
    before = client.get(f"/records/invoice/{app_id}").text
    assert 'id="attachments"' in before and "Not sent yet" in before
    web.ls.sync(web.conn)
    page = client.get(f"/records/invoice/{app_id}").text
    assert "INV-0001.pdf" in page and "Xero: Synced" in page and "3 KB" in page
    assert "scan.pdf" in page and "Xero: Failed" in page
    assert "Xero refuses this file: it is 11 MB (at most 10 MB)." in page and "What to do:" in page
    # Retry on the page: the refused file goes again with the next sync (here: refused again, by the rule).
    form = {"conn": web.conn, "entity": "invoice", "app_id": app_id, "filename": "scan.pdf"}
    form["csrf_token"] = csrf_of(page)
    resp = client.post("/attachments/retry", data=form, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].endswith("#attachments")
    assert "Xero: Waiting" in client.get(f"/records/invoice/{app_id}").text
