"""The dashboard in a real browser (Debian's chromium via Playwright) against the Xero sandbox on loopback."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledgersync.demo import SandboxHandle, sample_business
from ledgersync.model import Allocation, Entity, Payment
from ledgersync.sandbox.server import RunningServer, serve_in_thread
from ledgersync.store.tables import utcnow

from .conftest import ADMIN, MEMBER, Web, make_web

CHROMIUM_ENV = "LEDGERSYNC_TEST_CHROMIUM"
SCREENSHOT_ENV = "LEDGERSYNC_SCREENSHOT_DIR"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = os.environ.get(CHROMIUM_ENV)
    if not path:
        pytest.skip(f"browser tests need {CHROMIUM_ENV} (e.g. /usr/bin/chromium); it is not set")
    if not Path(path).is_file() or not os.access(path, os.X_OK):
        pytest.skip(f"{CHROMIUM_ENV}={path} is not an executable file")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=ARGS)
        yield b
        b.close()


@dataclass
class Site:
    web: Web
    server: RunningServer
    page: Any

    def url(self, path: str) -> str:
        return self.server.url + path

    def login(self, who: tuple[str, str] = ADMIN) -> None:
        self.page.goto(self.url("/login"))
        self.page.fill("#email", who[0])
        self.page.fill("#password", who[1])
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/integrations")


@pytest.fixture
def site(browser: Any, sandbox: SandboxHandle, tmp_path: Path, secret_key: str) -> Iterator[Site]:
    web = make_web(sandbox, tmp_path, secret_key)
    server = serve_in_thread(web.app)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda d: d.accept())
    try:
        yield Site(web, server, page)
    finally:
        context.close()
        server.stop()


def test_a_person_signs_in_and_lands_on_integrations(site: Site) -> None:
    site.web.ls.sync(site.web.conn)
    site.page.goto(site.url("/errors"))
    site.page.wait_for_url("**/login?next=*")
    site.page.fill("#email", ADMIN[0])
    site.page.fill("#password", ADMIN[1])
    site.page.click("button[type=submit]")
    site.page.wait_for_url("**/errors")
    site.page.click("nav >> text=Integrations")
    assert "Last sync with Xero performed less than a minute ago" in site.page.inner_text("#banner")
    assert site.page.is_visible("text=Refresh link")


def test_merge_resolves_a_duplicate_name_from_the_errors_page(site: Site) -> None:
    site.web.duplicate_name_failure()
    site.login()
    site.page.click("a.failed-badge")  # "Failed 1" opens the errors page
    site.page.wait_for_url("**/errors")
    card = site.page.locator("#err-contact-c5")
    assert "already" in card.inner_text()
    card.locator("button[data-action=merge]").click()
    site.page.wait_for_selector("text=Merged into the existing Xero contact")
    assert site.page.locator("#err-contact-c5").count() == 0
    assert site.page.inner_text("a.failed-badge").split() == ["Failed", "0"]
    assert site.web.state(Entity.CONTACT, "c5") == "synced"


def test_skip_takes_a_paid_invoice_failure_off_the_list(site: Site) -> None:
    app_id = site.web.paid_invoice_failure()
    site.login()
    site.page.goto(site.url("/errors"))
    card = site.page.locator(f"#err-invoice-{app_id}")
    assert "INV-0001" in card.inner_text()
    card.locator("button[data-action=skip]").click()
    site.page.wait_for_selector("text=Skipped: the app's copy is kept")
    assert site.page.locator(f"#err-invoice-{app_id}").count() == 0
    assert site.web.state(Entity.INVOICE, app_id) == "skipped"


def test_sync_now_swaps_the_banner_without_leaving_the_page(site: Site) -> None:
    site.web.ls.store.update_connection(site.web.conn, last_success_at=utcnow() - dt.timedelta(hours=3))
    site.login()
    site.page.goto(site.url("/customers"))
    assert "performed 3 hours ago" in site.page.inner_text("#banner")
    site.page.click("#sync-now")
    site.page.wait_for_function(
        "document.querySelector('#banner').innerText.includes('less than a minute ago')", timeout=30_000
    )
    assert site.page.url.endswith("/customers")
    assert "Synced with Xero" in site.page.inner_text("#banner")


def test_hovering_a_sync_status_shows_why_and_the_fixes(site: Site) -> None:
    site.web.duplicate_name_failure()
    site.login()
    site.page.goto(site.url("/customers"))
    status = site.page.locator('tr[data-id="c5"] .status')
    tip = status.locator(".tip")
    assert not tip.is_visible()
    status.hover()
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert text.startswith("Failed: ") and "Ann Lee" in text and text.endswith("fixes: Edit, Merge, Link, Skip")


def test_a_member_sees_why_a_fix_is_disabled(site: Site) -> None:
    site.web.duplicate_name_failure()
    site.login(MEMBER)
    site.page.goto(site.url("/errors"))
    wrap = site.page.locator('#err-contact-c5 [data-action="merge"]').first
    assert wrap.locator("button").is_disabled()
    wrap.hover()
    assert "Only an owner or admin can merge" in wrap.locator(".tip").inner_text()


def test_a_form_with_a_forged_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    site.web.duplicate_name_failure()
    site.login()
    site.page.goto(site.url("/errors"))
    site.page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'forged')")
    site.page.locator("#err-contact-c5 button[data-action=skip]").click()
    site.page.wait_for_selector("text=Not allowed")
    assert "Nothing was changed" in site.page.inner_text("#reason")
    assert site.web.state(Entity.CONTACT, "c5") == "failed"


def test_screenshots_of_the_main_pages(browser: Any, sandbox: SandboxHandle, tmp_path: Path, secret_key: str) -> None:
    """Integrations, errors, customers (a tooltip showing), invoices, a record and the event log, as PNGs (into
    LEDGERSYNC_SCREENSHOT_DIR when set, e.g. docs/screenshots)."""
    out = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "shots")
    out.mkdir(parents=True, exist_ok=True)
    web = make_web(sandbox, tmp_path, secret_key, overpayments="ask")
    biz = sample_business(36, 48, seed=11)
    web.ls.upsert_many(web.org, [*biz.contacts, *biz.invoices, *biz.payments])
    web.ls.sync(web.conn)
    web.duplicate_name_failure("Isla Walker", "cust-new-9")
    web.paid_invoice_failure(9001)
    unpaid = next(i for i in biz.invoices if not any(a.invoice_id == i.id for p in biz.payments for a in p.allocations))
    view = web.ls.get(web.org, Entity.INVOICE, unpaid.id)
    assert view is not None
    due: Decimal = view.record.amount_due or Decimal("100")  # type: ignore[attr-defined]
    over = due + Decimal("25.00")
    web.ls.upsert_payment(
        web.org,
        Payment(
            id="pay-over-1",
            contact_id=unpaid.contact_id,
            date=dt.date.today(),
            amount=over,
            reference="Card (rounded up)",
            account_code="090",
            allocations=[Allocation(invoice_id=unpaid.id, amount=over)],
        ),
    )
    web.ls.sync(web.conn)
    server = serve_in_thread(web.app)
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    site = Site(web, server, page)
    try:
        site.login()
        shots = {
            "integrations": "/integrations",
            "errors": "/errors",
            "customers": "/customers",
            "invoices": "/invoices",
            "record": "/records/contact/cust-new-9",
            "event-log": "/events",
        }
        for name, path in shots.items():
            page.goto(site.url(path))
            if name == "customers":
                page.locator('tr[data-id="cust-new-9"] .status').hover()
                page.wait_for_timeout(300)  # the tooltip's fade-in
            page.screenshot(path=str(out / f"{name}.png"), full_page=name in ("errors", "integrations", "record"))
            assert (out / f"{name}.png").stat().st_size > 10_000
    finally:
        context.close()
        server.stop()
    print(f"\nscreenshots in {out}")


def test_a_consent_adding_two_organisations_asks_which_one_then_syncs_it(site: Site) -> None:
    """The whole flow in the browser: Xero's consent page with both organisations ticked, back to the dashboard's
    callback, the picker, the choice, then Sync now with the chosen organisation."""
    web, sb = site.web, site.web.sandbox
    second = sb.control.post("/_sandbox/tenants", json={"name": "Harbour Motors Fleet"}).json()["tenantId"]
    # An OAuth app whose redirect URI is this dashboard's own callback, so the browser comes back to it.
    callback = site.url("/integrations/xero/callback")
    app = {"client_id": "PICKERAPP", "client_secret": "picker-secret", "redirect_uris": [callback]}
    sb.control.post("/_sandbox/apps", json=app).raise_for_status()
    config = {**sb.config, "client_id": "PICKERAPP", "client_secret": "picker-secret", "redirect_uri": callback}
    start = web.ls.connect(web.org, "xero", {**config, "per_minute": "100000", "per_day": "1000000"})
    assert start.authorization_url is not None
    site.login()
    site.page.goto(start.authorization_url)
    site.page.check(f"input[name=tenantId][value='{second}']")  # the first is ticked already: both now
    site.page.click("button[value=allow]")
    site.page.wait_for_url(f"**/integrations/{start.connection_id}/organisation")
    assert site.page.inner_text("h1") == "Choose the organisation to connect"
    assert site.page.is_disabled(f"input[value='{sb.tenant_id}']")  # the business's first connection has it
    if os.environ.get(SCREENSHOT_ENV):
        site.page.screenshot(path=str(Path(os.environ[SCREENSHOT_ENV]) / "choose-organisation.png"))
    site.page.check(f"input[value='{second}']")
    site.page.click("button:has-text('Connect')")
    site.page.wait_for_url("**/integrations")
    assert "Connected to Harbour Motors Fleet" in site.page.inner_text("body")
    row = web.ls.connection(start.connection_id)
    assert (row.status, row.tenant_id) == ("connected", second)
    card = site.page.locator(f"#conn-{start.connection_id}")
    card.locator("button:has-text('Sync now')").click()
    site.page.wait_for_function(
        f"document.querySelector('#conn-{start.connection_id} .phrase').innerText.includes('less than a minute')",
        timeout=30_000,
    )
    assert web.ls.connection(start.connection_id).last_success_at is not None
    assert web.ls.sync(start.connection_id).status == "ok"
