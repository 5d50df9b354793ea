"""The DEAR sandbox on loopback, one company with one API application, and the Cin7 Core OpenAPI document."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ledgersync.sandbox.dear import create_app
from ledgersync.sandbox.server import RunningServer, serve_in_thread

CONTRACT = Path(__file__).resolve().parents[3].parent / "shared" / "contracts" / "dear" / "openapi.yaml"


@dataclass
class Sandbox:
    server: RunningServer
    control: httpx.Client
    api: httpx.Client
    account_id: str
    key: str

    @property
    def url(self) -> str:
        return self.server.url

    def headers(self) -> dict[str, str]:
        return {"api-auth-accountid": self.account_id, "api-auth-applicationkey": self.key}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    server = serve_in_thread(create_app())
    control = httpx.Client(base_url=server.url, timeout=30)
    made = control.post("/_sandbox/accounts", json={"name": "Demo Company (AU)"}).json()
    api = httpx.Client(
        base_url=f"{server.url}/ExternalApi/v2/",
        headers={"api-auth-accountid": made["account_id"], "api-auth-applicationkey": made["application_key"]},
        timeout=30,
    )
    try:
        yield Sandbox(server, control, api, made["account_id"], made["application_key"])
    finally:
        api.close()
        control.close()
        server.stop()


@cache
def _document() -> dict[str, Any]:
    with open(CONTRACT, "rb") as fh:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return dict(yaml.load(fh, Loader=loader))


# The document's schemas were generated from its examples (it came through a code generator): where an example
# list was empty, the generator typed it as a list of strings, or as a string. Its own field tables say these are
# lists of models (e.g. "`Payments` | [] Sale Payment Line Model" in the Sale tag), so such a property is read as
# a list of objects. Nothing else is loosened.
LIST_OF_MODELS = frozenset(
    {
        "Addresses",
        "Contacts",
        "Payments",
        "Lines",
        "AdditionalCharges",
        "Refunds",
        "Restock",
        "Invoices",
        "CreditNotes",
        "Transactions",
        "InventoryMovements",
        "ProductPrices",
        "RoundingTable",
    }
)


def _loosen(node: Any) -> None:
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for name, schema in props.items():
                if (
                    name in LIST_OF_MODELS
                    and isinstance(schema, dict)
                    and (
                        schema.get("type") == "string"
                        or (schema.get("type") == "array" and schema.get("items") == {"type": "string"})
                    )
                ):
                    props[name] = {"type": "array", "items": {"type": "object"}}
        for value in node.values():
            _loosen(value)
    elif isinstance(node, list):
        for value in node:
            _loosen(value)


@cache
def _loosened() -> dict[str, Any]:
    doc = copy.deepcopy(_document())
    _loosen(doc["components"])
    return doc


def contract() -> dict[str, Any]:
    if not CONTRACT.exists():
        pytest.skip(f"the Cin7 Core OpenAPI document is not at {CONTRACT} (expected ../shared/contracts/dear/)")
    return _loosened()


def normalise(key: str) -> str:
    """A path key without its query template ("/customer?Page={Page}&..." -> "customer"), lower case."""
    return key.split("?", 1)[0].strip("/").lower()


def response_schema(method: str, path: str) -> dict[str, Any] | None:
    """The 200 response schema of an operation, or None where the document has none."""
    doc = contract()
    for key, item in doc["paths"].items():
        if normalise(key) == path.lower() and method.lower() in item:
            response = item[method.lower()].get("responses", {}).get("200", {})
            schema = (response.get("content") or {}).get("application/json", {}).get("schema")
            return dict(schema) if schema else None
    return None


def json_body(response: httpx.Response) -> Any:
    return json.loads(response.content)
