"""xero_accounting.yaml as the tests read it: strict response checks (no field the schema lacks) and examples."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

from .conftest import contracts_dir

# Every response envelope carries these, as every example in the spec shows, though no schema lists them.
ENVELOPE = {
    "Id": {"type": "string"},
    "Status": {"type": "string"},
    "ProviderName": {"type": "string"},
    "DateTimeUTC": {"type": "string"},
}
# Xero's 400 Elements echo the whole element sent (the spec's examples do); the Element schema lists only ids.
OPEN_SCHEMAS = {"Element"}


@cache
def spec() -> dict[str, Any]:
    with open(contracts_dir() / "xero_accounting.yaml", encoding="utf-8") as fh:
        return dict(yaml.safe_load(fh))


@cache
def _strict() -> dict[str, Any]:
    doc = copy.deepcopy(spec())
    for name, schema in doc["components"]["schemas"].items():
        if "properties" in schema and name not in OPEN_SCHEMAS:
            schema["additionalProperties"] = False
    return doc


def response_schema(path: str, method: str, status: str) -> dict[str, Any]:
    doc = _strict()
    resp = doc["paths"][path][method.lower()]["responses"][status]
    if "$ref" in resp:
        resp = doc["components"]["responses"][resp["$ref"].rsplit("/", 1)[-1]]
    return dict(resp["content"]["application/json"]["schema"])


def check(path: str, method: str, status: str, body: bytes) -> None:
    """The body validates against the operation's response schema, with no field the schemas do not list."""
    doc = _strict()
    schema = response_schema(path, method, status)
    top = copy.deepcopy(doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
    if status.startswith("2"):
        top["properties"].update(ENVELOPE)
    root = {**doc, **top}
    errors = sorted(OAS30Validator(root).iter_errors(json.loads(body)), key=lambda e: list(e.path))
    assert not errors, f"{method} {path} -> {status}: " + "; ".join(
        f"{list(e.path)}: {e.message[:300]}" for e in errors[:5]
    )


def request_example(path: str, method: str) -> Any:
    """The request body the spec gives as its example for an operation (None when it has none)."""
    op = spec()["paths"][path][method.lower()]
    content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    return copy.deepcopy(content.get("example"))


def operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, ops in spec()["paths"].items()
        for method in ops
        if method in ("get", "put", "post", "delete")
    }
