"""Fixtures for engine tests: a Xero sandbox on loopback and a LedgerSync connected to it by OAuth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledgersync.demo import XeroSandboxHandle, consent, xero_sandbox
from ledgersync.engine import EngineSettings, LedgerSync

# Scaled-up limits so tests are not paced to Xero's 60 calls a minute (pacing has its own tests).
FAST_LIMITS = {"rate_limits": {"concurrent": 5, "minute": 100_000, "day": 1_000_000, "app_minute": 1_000_000}}
FAST_CLIENT = {"per_minute": "100000", "per_day": "1000000", "app_per_minute": "1000000"}


@dataclass
class Env:
    ls: LedgerSync
    sandbox: XeroSandboxHandle
    org: str
    conn: str
    db_url: str
    secret_key: str

    def provider(self) -> Any:
        p = self.ls.open_provider(self.conn)
        p.on_call = None
        return p


@pytest.fixture
def sandbox() -> Iterator[XeroSandboxHandle]:
    with xero_sandbox(config=FAST_LIMITS) as sb:
        yield sb


def make_env(
    sandbox: XeroSandboxHandle,
    db_url: str,
    secret_key: str,
    client: dict[str, str] | None = None,
    settings: EngineSettings | None = None,
) -> Env:
    ls = LedgerSync(db_url, secret_keys=[secret_key], settings=settings or EngineSettings(retry_base_seconds=0))
    org = ls.create_organisation("Test Workshop")
    start = ls.connect(org, "xero", {**sandbox.config, **FAST_CLIENT, **(client or {})})
    code, state = consent(start.authorization_url, choose={"tenantId": sandbox.tenant_id})
    conn = ls.complete_connect(state, code)
    return Env(ls, sandbox, org, conn, db_url, secret_key)


@pytest.fixture
def env(sandbox: XeroSandboxHandle, tmp_path: Path, secret_key: str) -> Env:
    return make_env(sandbox, f"sqlite:///{tmp_path / 'app.db'}", secret_key)


def pay_in_xero(env: Env, invoice_remote_id: str, amount: str, date: str = "2026-11-03") -> dict[str, Any]:
    """Record a payment in Xero as a person would (the sandbox's as-user API); returns Xero's answer."""
    body = {
        "Payments": [
            {"Invoice": {"InvoiceID": invoice_remote_id}, "Account": {"Code": "090"}, "Date": date, "Amount": amount}
        ]
    }
    return env.sandbox.as_user("Payments", body, method="PUT")
