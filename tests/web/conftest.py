"""Fixtures for dashboard tests: a Xero sandbox on loopback, a connected LedgerSync, users, the app and a client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledgersync.demo import SandboxHandle, connect_sandbox, xero_sandbox
from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.model import Contact, Entity, Invoice, InvoiceLine
from ledgersync.web import create_user, mount

FAST_LIMITS = {"rate_limits": {"concurrent": 5, "minute": 100_000, "day": 1_000_000, "app_minute": 1_000_000}}
FAST_CLIENT = {"per_minute": "100000", "per_day": "1000000", "app_per_minute": "1000000"}
ADMIN = ("ada@example.com", "admin-password-1")
MEMBER = ("mo@example.com", "member-password-1")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def build_app(ls: LedgerSync) -> FastAPI:
    """The whole web process when the REST API is there (it mounts the dashboard), else a bare app + mount."""
    try:
        from ledgersync.api import create_app
    except ImportError:
        app = FastAPI()
        mount(app, ls, session_secret="test-session-secret")
        return app
    return create_app(ls, start_scheduler=False)


@dataclass
class Web:
    ls: LedgerSync
    sandbox: SandboxHandle
    org: str
    conn: str
    app: FastAPI

    def state(self, entity: Entity, app_id: str) -> str:
        view = self.ls.get(self.org, entity, app_id, self.conn)
        assert view is not None
        return view.state

    def remote(self, entity: Entity, app_id: str) -> str:
        view = self.ls.get(self.org, entity, app_id, self.conn)
        assert view is not None and view.remote_id
        return view.remote_id

    def duplicate_name_failure(self, name: str = "Ann Lee", app_id: str = "c5") -> None:
        """A customer added in the app whose name a contact made in Xero already has."""
        self.sandbox.as_user("Contacts", {"Contacts": [{"Name": name}]}, method="PUT")
        self.ls.sync(self.conn)
        self.ls.upsert_contact(self.org, Contact(id=app_id, name=name, email="ann@app.example"))
        self.ls.sync(self.conn)
        assert self.state(Entity.CONTACT, app_id) == "failed"

    def paid_invoice_failure(self, number: int = 1) -> str:
        """An invoice paid in Xero, then edited in the app; returns its app id."""
        self.ls.upsert_contact(self.org, Contact(id="c1", name="Ben Brown"))
        self.ls.upsert_invoice(self.org, invoice(number, "c1"))
        self.ls.sync(self.conn)
        payment = {
            "Invoice": {"InvoiceID": self.remote(Entity.INVOICE, f"i{number}")},
            "Account": {"Code": "090"},
            "Date": "2026-11-03",
            "Amount": "100.00",
        }
        self.sandbox.as_user("Payments", {"Payments": [payment]}, method="PUT")
        self.ls.upsert_invoice(self.org, invoice(number, "c1", "90.00"))
        self.ls.sync(self.conn)
        assert self.state(Entity.INVOICE, f"i{number}") == "failed"
        return f"i{number}"


def invoice(i: int, contact: str, amount: str = "100.00") -> Invoice:
    import datetime as dt
    from decimal import Decimal

    return Invoice(
        id=f"i{i}",
        contact_id=contact,
        number=f"INV-{i:04d}",
        date=dt.date(2026, 11, 2),
        lines=[InvoiceLine(description="Service", unit_amount=Decimal(amount), account_code="200", tax_type="NONE")],
    )


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with xero_sandbox(config=FAST_LIMITS) as sb:
        yield sb


def make_web(sandbox: SandboxHandle, tmp_path: Path, secret_key: str, **settings: Any) -> Web:
    ls = LedgerSync(
        f"sqlite:///{tmp_path / 'web.db'}",
        secret_keys=[secret_key],
        settings=EngineSettings(retry_base_seconds=0, **settings),
    )
    org = ls.create_organisation("Harbour Motors")
    conn = connect_sandbox(ls, org, sandbox, FAST_CLIENT)
    create_user(ls.store, *ADMIN, org, "admin", name="Ada Admin")
    create_user(ls.store, *MEMBER, org, "member", name="Mo Member")
    return Web(ls, sandbox, org, conn, build_app(ls))


@pytest.fixture
def web(sandbox: SandboxHandle, tmp_path: Path, secret_key: str) -> Web:
    return make_web(sandbox, tmp_path, secret_key)


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def login(client: TestClient, who: tuple[str, str]) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    resp = client.post(
        "/login",
        data={"email": who[0], "password": who[1], "csrf_token": csrf_of(page.text), "next": "/integrations"},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    return csrf_of(client.get("/integrations").text)


@pytest.fixture
def admin(web: Web) -> Iterator[tuple[TestClient, str]]:
    with TestClient(web.app) as client:
        yield client, login(client, ADMIN)


@pytest.fixture
def member(web: Web) -> Iterator[tuple[TestClient, str]]:
    with TestClient(web.app) as client:
        yield client, login(client, MEMBER)
