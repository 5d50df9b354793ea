"""Fixtures for the QuickBooks Desktop sandbox: a running sandbox, and a check of every qbXML response it gives
during the tests against Intuit's qbxmlops130.xsd (loaded from ../shared/contracts/qbd, never copied here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgersync.sandbox.qbd import QbdSandboxHandle, company, start_qbd_sandbox

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO.parent / "shared" / "contracts" / "qbd"

# Every response set the company file produced during this test session (checked by test_zz_schema.py).
PRODUCED: list[str] = []

_original = company.Company.process


def _recording(self: company.Company, raw: str | bytes, session: str = "direct", before: Any = None) -> str:
    answer = _original(self, raw, session, before)
    PRODUCED.append(answer)
    return answer


@pytest.fixture(autouse=True, scope="session")
def _record_responses() -> Iterator[None]:
    company.Company.process = _recording  # type: ignore[method-assign]
    yield
    company.Company.process = _original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def schema() -> Any:
    ops = CONTRACTS / "qbxmlops130.xsd"
    if not ops.exists():
        pytest.skip(f"the qbXML 13.0 schema is not at {ops} (../shared/contracts/qbd): cannot validate responses")
    import xmlschema

    return xmlschema.XMLSchema(str(ops))


@pytest.fixture
def qbd() -> Iterator[QbdSandboxHandle]:
    h = start_qbd_sandbox(noop_wait_seconds=0.05, seconds_per_minute=0.05)
    try:
        yield h
    finally:
        h.stop()


def rq(body: str, on_error: str = "stopOnError") -> str:
    return (f'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="{on_error}">{body}'
            "</QBXMLMsgsRq></QBXML>")
