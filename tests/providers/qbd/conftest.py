"""Fixtures of the QuickBooks Desktop tests: a store, our service at /qbwc over real HTTP, a connection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from ledgersync import LedgerSync
from ledgersync.providers.qbd.asgi import mount
from ledgersync.providers.qbd.mailbox import MailboxSettings
from ledgersync.providers.qbd.service import ServiceSettings, WebConnectorService
from ledgersync.sandbox.server import serve_in_thread

from .fakeqb import FakeCompany

FAST = ServiceSettings(
    send_wait_seconds=0.5,
    settle_seconds=0.5,
    lease_wait_seconds=20,
    takeover_idle_seconds=1.5,
    mailbox=MailboxSettings(answer_seconds=20, poll_seconds=0.01),
)


@dataclass
class Env:
    ls: LedgerSync
    url: str
    service: WebConnectorService
    org: str
    conn: str
    password: str
    company: FakeCompany
    qwc: str


@pytest.fixture
def ls(tmp_path: Path, secret_key: str) -> LedgerSync:
    return LedgerSync(f"sqlite:///{tmp_path / 'ledgersync.db'}", secret_keys=[secret_key])


@pytest.fixture
def env(ls: LedgerSync) -> Iterator[Env]:
    app = FastAPI()
    service = mount(app, ls, FAST)
    with serve_in_thread(app) as server:
        org = ls.create_organisation("Sample business")
        start = ls.connect(org, "qbd", {"app_url": f"{server.url}/qbwc", "run_every_minutes": 30})
        assert start.file is not None and start.password
        yield Env(
            ls,
            f"{server.url}/qbwc",
            service,
            org,
            start.connection_id,
            start.password,
            FakeCompany(),
            start.file.content,
        )


def wait_idle(env: Env, ticket: str, timeout: float = 20) -> None:
    """Wait for the session's worker thread to finish (closeConnection returns before it notices)."""
    import time

    from ledgersync.providers.qbd.mailbox import local_alive

    end = time.monotonic() + timeout
    while local_alive(ticket) and time.monotonic() < end:
        time.sleep(0.02)


def schema() -> Any:
    contracts = Path(__file__).resolve().parents[3].parent / "shared" / "contracts" / "qbd"
    path = contracts / "qbxmlops130.xsd"
    if not path.exists():
        pytest.skip(f"the qbXML 13.0 schema is not at {path} (../shared/contracts/qbd)")
    return _load(str(path))


_CACHE: dict[str, Any] = {}


def _load(path: str) -> Any:
    if path not in _CACHE:
        import xmlschema

        _CACHE[path] = xmlschema.XMLSchema(path)
    return _CACHE[path]


def validate(doc: str) -> None:
    """Every request document valid against qbxmlops130.xsd (the processing instruction aside)."""
    body = doc[doc.index("<QBXML") :]
    schema().validate(body)
