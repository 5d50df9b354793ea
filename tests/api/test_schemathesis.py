"""Property-based fuzzing of every /v1 operation from the API's own OpenAPI document: never a 5xx, and never a
status the document does not list."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, status_code_conformance

from ledgersync.api import create_app, issue_key
from ledgersync.engine import LedgerSync
from ledgersync.engine.actions import Role

from .conftest import fast_settings

# Built at import: schemathesis parametrizes from a loaded schema. One store for the whole run, in a
# temporary directory that outlives the module only as long as the test process.
_DIR = Path(__import__("tempfile").mkdtemp(prefix="ledgersync-schemathesis-"))
_LS = LedgerSync(f"sqlite:///{_DIR / 'fuzz.db'}", secret_keys=[Fernet.generate_key().decode()])
_ORG = _LS.create_organisation("Fuzz Org")
_TOKEN = issue_key(_LS, _ORG, Role.OWNER, "fuzz").token
_LS.store.create_connection(_ORG, "xero", {"client_id": "x", "client_secret": "y", "redirect_uri": "http://h/cb"})
APP = create_app(_LS, settings=fast_settings())

schema = schemathesis.openapi.from_asgi("/v1/openapi.json", APP).include(path_regex=r"^/v1/")


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_answers_with_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_TOKEN}"}, checks=[not_a_server_error, status_code_conformance]
    )
