"""The abuse walk: every /v1 operation, read from the API's own OpenAPI document, called with malformed JSON, the
wrong types, a huge body and another organisation's ids. Never a 5xx, never an undocumented status, never a
byte of the other organisation's data, and the other organisation's rows exactly as they were."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from ledgersync.api import services
from ledgersync.model import Contact, Entity, Invoice
from ledgersync.store.tables import ApiKey, AppRecord, Connection, WebhookEndpoint

from .conftest import Api, make_api, queue_event

B_SECRETS = ("b-secret-customer", "b-secret-tenant", "b-secret-hook", "b-secret-client")


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Api, dict[str, str]]:
    from cryptography.fernet import Fernet

    api = make_api(Path(tmp_path_factory.mktemp("abuse")), Fernet.generate_key().decode())
    ls, b = api.ls, api.b.id
    ls.upsert_contact(b, Contact(id="c1", name="b-secret-customer"))
    # An invoice of B's at the app id the walk uses, with a file: A's attachment calls must not reach it.
    ls.upsert_invoice(b, Invoice(id="c1", contact_id="c1", number="B-1", date=dt.date(2026, 11, 2), lines=[]))
    ls.attach(b, Entity.INVOICE, "c1", "b.pdf", "application/pdf", b"%PDF b-secret-customer")
    conn = ls.store.create_connection(b, "xero", {"client_id": "b-secret-client", "webhook_key": "k"})
    ls.store.update_connection(conn, status="connected", tenant_name="b-secret-tenant")
    ep = ls.store.create_webhook_endpoint(b, "https://93.184.215.14/b-secret-hook", services.new_webhook_secret(), [])
    queue_event(ls, b, "sync.failed", {"connection_id": conn})
    ls.store.fan_out_app_events()
    (delivery,), _ = ls.store.webhook_deliveries(b)
    key = next(k for k in ls.store.api_keys(b))
    ids = {
        "connection_id": conn,
        "endpoint_id": ep.id,
        "delivery_id": str(delivery.id),
        "key_id": key.id,
        "app_id": "c1",
        "entity": "contact",
        "filename": "b.pdf",
    }
    return api, ids


def snapshot(api: Api) -> Any:
    """Organisation B's rows, as they must stay whatever A does."""
    b = api.b.id
    with api.ls.store.session() as s:
        return (
            sorted((r.entity, r.app_id, r.version, r.deleted) for r in s.query(AppRecord).filter_by(org_id=b)),
            sorted((c.id, c.status, sorted(c.config.items())) for c in s.query(Connection).filter_by(org_id=b)),
            sorted((e.id, e.url, e.active) for e in s.query(WebhookEndpoint).filter_by(org_id=b)),
            sorted((k.id, k.revoked_at is None) for k in s.query(ApiKey).filter_by(org_id=b)),
        )


def operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    spec = api.app.openapi()
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        if path.startswith("/v1/")
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def call(api: Api, method: str, url: str, **kw: Any) -> Any:
    headers = {**api.a.h(), **kw.pop("headers", {})}
    return api.client.request(method.upper(), url, headers=headers, follow_redirects=False, **kw)


ATTACKS: dict[str, dict[str, Any]] = {
    "no body": {},
    "malformed JSON": {"content": b'{"name": "x", ', "headers": {"content-type": "application/json"}},
    "a JSON array": {"json": [1, 2, 3]},
    "wrong types": {"json": {"name": 5, "config": "x", "url": 7, "role": [], "lines": "many", "now": "yes"}},
    "NUL bytes": {"json": {"name": "a\x00b", "description": "\x00", "config": {"client_id": "\x00"}}},
    "a huge body": {
        "content": b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        "headers": {"content-type": "application/json"},
    },
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_every_operation_survives_the_attack_on_another_organisations_ids(
    walk: tuple[Api, dict[str, str]], attack: str
) -> None:
    api, ids = walk
    before = snapshot(api)
    seen: list[str] = []
    for method, path, op in operations(api):
        r = call(api, method, fill(path, ids), **dict(ATTACKS[attack]))
        where = f"{method.upper()} {path} with {attack}"
        seen.append(where)
        assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
        assert str(r.status_code) in op["responses"], f"{where}: undocumented {r.status_code}"
        # A file may be larger than a record (up to max_file_bytes; its own cap is in test_attachments.py).
        if attack == "a huge body" and method in ("post", "put", "patch") and "{filename}" not in path:
            assert r.status_code == 413, where
        if attack == "no body" and method == "get" and re.search(r"\{(connection|endpoint|delivery)_id\}", path):
            assert r.status_code == 404, f"{where}: organisation B's resource answered {r.status_code}"
        leaked = [secret for secret in B_SECRETS if secret in r.text]
        assert not leaked, f"{where} answered with organisation B's {leaked}"
    assert len(seen) > 40
    assert snapshot(api) == before
