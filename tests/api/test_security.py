"""Issue 9 over the REST API, each attack reproduced on loopback and shown refused: SSRF through webhook endpoints
and `base_url`, oversized and malformed bodies, control characters, unbounded pages, replayed inbound webhooks."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ledgersync.api import create_app, services
from ledgersync.demo import XeroSandboxHandle
from ledgersync.engine import LedgerSync
from ledgersync.engine.actions import Role
from ledgersync.model import Entity
from ledgersync.providers.webhooks import hmac_b64
from ledgersync.sandbox.server import RunningServer, serve_in_thread
from ledgersync.store.tables import Connection, InboundWebhook, WebhookEndpoint, utcnow

from .conftest import Api, fast_settings, make_api, queue_event
from .test_webhooks_in import KEY, event, post, set_key, synced_contact


@dataclass
class Receiver:
    """A loopback HTTP server that records every request it gets (what an attacker's target would see)."""

    server: RunningServer
    hits: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hits: list[tuple[str, dict[str, str], bytes]] = []

    async def anything(request: Request) -> Response:
        hits.append((request.url.path, dict(request.headers), await request.body()))
        if request.url.path == "/redirect":
            return RedirectResponse("/elsewhere", status_code=307)
        return Response(status_code=200)

    app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])
    with serve_in_thread(app) as server:
        yield Receiver(server, hits)


@pytest.fixture
def strict(tmp_path: Path, secret_key: str) -> Api:
    """The API as deployed: no private webhook targets, no operator-allowed base_url."""
    return make_api(tmp_path, secret_key, settings=fast_settings(allow_private_urls=False, allowed_base_urls=[]))


# -- SSRF: outbound webhook endpoints ----------------------------------------------------------------------------
PRIVATE_SPELLINGS = [
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://LOCALHOST:8080/hook",
    "http://[::1]/hook",
    "http://0.0.0.0/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
    "http://127.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[0:0:0:0:0:ffff:7f00:1]/hook",
    "http://[64:ff9b::7f00:1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://user:pw@127.0.0.1/hook",
]


@pytest.mark.parametrize("url", PRIVATE_SPELLINGS)
def test_a_webhook_endpoint_at_a_non_public_address_is_refused_however_it_is_spelt(strict: Api, url: str) -> None:
    r = strict.client.post("/v1/webhook-endpoints", headers=strict.a.h(Role.ADMIN), json={"url": url})
    assert r.status_code == 422, r.text
    assert "public addresses" in r.json()["detail"]
    assert strict.ls.store.webhook_endpoints(strict.a.id) == []


def test_a_webhook_endpoint_cannot_be_moved_to_a_private_address_either(strict: Api) -> None:
    created = strict.client.post(
        "/v1/webhook-endpoints", headers=strict.a.h(), json={"url": "https://93.184.215.14/hooks"}
    )
    assert created.status_code == 201, created.text
    moved = strict.client.patch(
        f"/v1/webhook-endpoints/{created.json()['id']}", headers=strict.a.h(), json={"url": "http://[::1]:9/x"}
    )
    assert moved.status_code == 422 and "loopback" in moved.json()["detail"]
    assert strict.ls.store.get_webhook_endpoint(created.json()["id"]).url == "https://93.184.215.14/hooks"  # type: ignore[union-attr]


def _planted_endpoint(api: Api, url: str) -> str:
    """An endpoint whose host pointed somewhere public when it was registered and now resolves inside (a DNS
    change after registration), planted in the store the way registration would have left it."""
    ep = api.ls.store.create_webhook_endpoint(api.a.id, url, services.new_webhook_secret(), [])
    queue_event(api.ls, api.a.id, "sync.failed", {"connection_id": "conn_x", "failed": {"contact": 1}})
    return ep.id


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_delivery_is_checked_again_after_dns_and_never_reaches_a_private_address(
    strict: Api, receiver: Receiver, host: str
) -> None:
    _planted_endpoint(strict, f"http://{host}:{receiver.server.port}/hook")
    assert services.deliver_webhooks(strict.ls, strict.settings) == 1
    (d,) = strict.client.get("/v1/webhook-deliveries", headers=strict.a.h()).json()["items"]
    assert d["status"] == "retrying" and d["response_code"] is None
    assert d["last_error"].startswith("refused:") and "loopback" in d["last_error"]
    assert receiver.hits == []


def test_a_redirect_from_a_receiver_is_not_followed(api: Api, receiver: Receiver) -> None:
    # Loopback allowed (the tests' opt-in): the receiver answers 307 towards another path, which is never asked.
    r = api.client.post("/v1/webhook-endpoints", headers=api.a.h(), json={"url": f"{receiver.url}/redirect"})
    assert r.status_code == 201, r.text
    queue_event(api.ls, api.a.id, "sync.failed", {"connection_id": "conn_x"})
    assert services.deliver_webhooks(api.ls, api.settings) == 1
    assert [h[0] for h in receiver.hits] == ["/redirect"]
    (d,) = api.client.get("/v1/webhook-deliveries", headers=api.a.h()).json()["items"]
    assert d["status"] == "retrying" and d["response_code"] == 307
    assert "redirects are not followed" in d["last_error"]


# -- SSRF: a connection's base_url -------------------------------------------------------------------------------
def test_an_api_caller_cannot_point_a_connection_at_their_own_server(strict: Api, receiver: Receiver) -> None:
    config = {
        "client_id": "app-id",
        "client_secret": "app-secret",
        "redirect_uri": "http://127.0.0.1:8000/v1/oauth/callback",
        "base_url": receiver.url,
    }
    r = strict.client.post("/v1/connections", headers=strict.a.h(), json={"provider": "xero", "config": config})
    assert r.status_code == 422 and "operator setting" in r.json()["detail"]
    with strict.ls.store.session() as s:
        assert s.query(Connection).count() == 0
    assert receiver.hits == []  # the client secret went nowhere


def test_base_url_cannot_be_changed_over_the_api_but_may_be_removed(
    tmp_path: Path, secret_key: str, sandbox: XeroSandboxHandle, receiver: Receiver
) -> None:
    # The operator allows this sandbox, and only it.
    api = make_api(tmp_path, secret_key, settings=fast_settings(allowed_base_urls=[sandbox.url]))
    conn = api.connect(sandbox)
    moved = api.client.patch(f"/v1/connections/{conn}", headers=api.a.h(), json={"config": {"base_url": receiver.url}})
    assert moved.status_code == 422 and "operator setting" in moved.json()["detail"]
    assert api.ls.store.get_connection(conn).config["base_url"] == sandbox.url
    removed = api.client.patch(f"/v1/connections/{conn}", headers=api.a.h(), json={"config": {"base_url": None}})
    assert removed.status_code == 200 and "base_url" not in removed.json()["config_keys"]
    assert receiver.hits == []


# -- bounded requests ---------------------------------------------------------------------------------------------
INVOICE: dict[str, Any] = {"contact_id": "c1", "number": "INV-1", "date": "2026-11-02"}


def _line(i: int) -> dict[str, str]:
    return {"description": f"Line {i}", "unit_amount": "1.00", "account_code": "200", "tax_type": "NONE"}


def test_a_body_over_the_limit_answers_413_before_it_is_read(strict: Api) -> None:
    # The 26.7 MB, 150,000-line invoice of the issue.
    body = json.dumps({**INVOICE, "lines": [_line(i) for i in range(150_000)]}).encode()
    assert len(body) > strict.settings.max_body_bytes
    started = time.monotonic()
    r = strict.client.put("/v1/invoices/i1", headers={**strict.a.h(), "content-type": "application/json"}, content=body)
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert time.monotonic() - started < 5
    assert strict.ls.store.get_record(strict.a.id, Entity.INVOICE, "i1") is None


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(strict: Api) -> None:
    chunk = b" " * 65536

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "x"'
        for _ in range(40):  # 2.5 MiB of whitespace, no Content-Length
            yield chunk
        yield b"}"

    r = strict.client.put(
        "/v1/contacts/c1", headers={**strict.a.h(), "content-type": "application/json"}, content=chunks()
    )
    assert r.status_code == 413


def test_more_lines_than_a_document_may_have_are_refused_with_the_rule(strict: Api) -> None:
    r = strict.client.put(
        "/v1/invoices/i1", headers=strict.a.h(), json={**INVOICE, "lines": [_line(i) for i in range(1001)]}
    )
    assert r.status_code == 422
    assert "at most 1000 lines per document; got 1001" in r.json()["detail"]
    ok = strict.client.put(
        "/v1/invoices/i1", headers=strict.a.h(), json={**INVOICE, "lines": [_line(i) for i in range(1000)]}
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/contacts/c1", {"name": "Ann\x00Lee"}, "name"),
        ("/v1/contacts/c1", {"name": "Ann", "address": {"city": "Perth\x1b[31m"}}, "address.city"),
        ("/v1/invoices/i1", {**INVOICE, "reference": "PO\x0712"}, "reference"),
        ("/v1/invoices/i1", {**INVOICE, "lines": [{**_line(0), "description": "a\x00b"}]}, "lines.0.description"),
        ("/v1/items/it1", {"code": "A\x85", "name": "Bolt"}, "code"),
    ],
)
def test_control_characters_in_a_record_are_refused_with_the_rule(
    strict: Api, path: str, body: dict[str, Any], where: str
) -> None:
    r = strict.client.put(path, headers=strict.a.h(), json=body)
    assert r.status_code == 422, r.text
    assert f"{where}: control characters are not allowed" in r.json()["detail"]


def test_line_breaks_are_allowed_in_descriptions_but_not_in_names(strict: Api) -> None:
    ok = strict.client.put(
        "/v1/invoices/i1", headers=strict.a.h(), json={**INVOICE, "lines": [{**_line(0), "description": "a\nb\tc"}]}
    )
    assert ok.status_code == 200, ok.text
    bad = strict.client.put("/v1/contacts/c1", headers=strict.a.h(), json={"name": "Ann\nLee"})
    assert bad.status_code == 422


def test_a_text_longer_than_the_platforms_allow_is_refused(strict: Api) -> None:
    r = strict.client.put("/v1/contacts/c1", headers=strict.a.h(), json={"name": "Ann", "phone": "1" * 51})
    assert r.status_code == 422 and "phone: at most 50 characters" in r.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/api-keys", {"name": "ci\x00key"}),
        ("post", "/v1/webhook-endpoints", {"url": "https://93.184.215.14/h", "description": "x\x00"}),
        ("post", "/v1/connections", {"provider": "xero", "config": {"client_id": "a\x00b"}}),
        ("post", "/v1/connections", {"provider": "xero", "config": {"bad key!": "x"}}),
        ("post", "/v1/connections", {"provider": "xero", "config": {f"k{i}": "v" for i in range(51)}}),
    ],
)
def test_names_and_settings_outside_records_are_bounded_too(
    strict: Api, method: str, path: str, body: dict[str, Any]
) -> None:
    r = getattr(strict.client, method)(path, headers=strict.a.h(), json=body)
    assert r.status_code == 422, r.text


def test_organisation_names_refuse_control_characters(strict: Api) -> None:
    r = strict.client.post(
        "/v1/organisations", headers={"Authorization": "Bearer test-admin-token"}, json={"name": "Evil\x00Org"}
    )
    assert r.status_code == 422 and "control characters are not allowed in names" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/contacts", 201),
        ("/v1/invoices", 201),
        ("/v1/connections", 501),
        ("/v1/api-keys", 501),
        ("/v1/webhook-endpoints", 501),
        ("/v1/events", 501),
        ("/v1/app-events", 501),
        ("/v1/webhook-deliveries", 501),
    ],
)
def test_every_list_has_a_bounded_page_size(strict: Api, path: str, limit: int) -> None:
    assert strict.client.get(path, headers=strict.a.h(), params={"limit": limit}).status_code == 422
    assert strict.client.get(path, headers=strict.a.h(), params={"limit": limit - 1}).status_code == 200


def test_lists_that_were_whole_are_paged(strict: Api) -> None:
    for i in range(3):
        strict.client.post("/v1/api-keys", headers=strict.a.h(), json={"name": f"k{i}"}).raise_for_status()
    everything = strict.client.get("/v1/api-keys", headers=strict.a.h()).json()
    page = strict.client.get("/v1/api-keys", headers=strict.a.h(), params={"limit": 2, "offset": 1}).json()
    assert [k["id"] for k in page] == [k["id"] for k in everything[1:3]]


def test_an_organisation_may_not_pile_up_endpoints_without_bound(strict: Api) -> None:
    for i in range(50):
        r = strict.client.post(
            "/v1/webhook-endpoints", headers=strict.a.h(), json={"url": f"https://93.184.215.14/{i}"}
        )
        assert r.status_code == 201
    r = strict.client.post("/v1/webhook-endpoints", headers=strict.a.h(), json={"url": "https://93.184.215.14/51"})
    assert r.status_code == 409 and "at most 50" in r.json()["detail"]
    with strict.ls.store.session() as s:
        assert s.query(WebhookEndpoint).count() == 50


# -- replay-proof inbound webhooks --------------------------------------------------------------------------------
def _platform_calls(sandbox: XeroSandboxHandle) -> int:
    return int(sandbox.counters()["total_calls"])


def test_a_replayed_xero_notification_is_acted_on_once(connected: tuple[Api, str], sandbox: XeroSandboxHandle) -> None:
    api, conn = connected
    set_key(api, conn)
    rid = synced_contact(api, conn)
    sandbox.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "Name": "Renamed in Xero"}]})
    payload = {"events": [event(sandbox, rid, "2026-11-30T10:00:00.000Z")], "entropy": "RANDOMXYZ"}
    before = _platform_calls(sandbox)
    assert post(api, conn, payload).status_code == 200
    once = _platform_calls(sandbox) - before
    assert once > 0
    assert api.client.get("/v1/contacts/c1", headers=api.a.h()).json()["record"]["name"] == "Renamed in Xero"
    for _ in range(20):
        assert post(api, conn, payload).status_code == 200  # answered, so Xero stops retrying; nothing done
    assert _platform_calls(sandbox) - before == once


def test_a_replay_to_another_process_sharing_the_store_is_a_no_op(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle, secret_key: str
) -> None:
    api, conn = connected
    set_key(api, conn)
    rid = synced_contact(api, conn)
    payload = {"events": [event(sandbox, rid, "2026-11-30T11:00:00.000Z")], "entropy": "OTHERPROC"}
    assert post(api, conn, payload).status_code == 200
    # A second web process on the same database (another worker behind the load balancer).
    other_ls = LedgerSync(str(api.ls.store.engine.url), secret_keys=[secret_key])
    other = TestClient(create_app(other_ls, settings=api.settings))
    before = _platform_calls(sandbox)
    body = json.dumps(payload, separators=(",", ":")).encode()
    r = other.post(f"/v1/webhooks/xero/{conn}", content=body, headers={"x-xero-signature": hmac_b64(body, KEY)})
    assert r.status_code == 200 and _platform_calls(sandbox) == before
    digest = "body:" + hashlib.sha256(body).hexdigest()
    with api.ls.store.session() as s:
        assert s.get(InboundWebhook, (conn, digest)) is not None


def test_intuit_cloudevents_are_deduplicated_by_their_own_ids(api: Api) -> None:
    conn = api.ls.store.create_connection(api.a.id, "qbo", {})

    def fresh(events: Any) -> bool:
        return services.first_delivery(api.ls, conn, json.dumps(events).encode(), window=3600)

    first = {"id": "ev-1", "type": "qbo.customer.updated.v1", "intuitentityid": "58", "intuitaccountid": "9130"}
    second = {"id": "ev-2", "type": "qbo.invoice.created.v1", "intuitentityid": "130", "intuitaccountid": "9130"}
    assert fresh([first]) is True
    # The same event again, batched with a new one (another body): the new one makes it worth acting on.
    assert fresh([first, second]) is True
    # Every event already seen, in a body never seen before: a replay all the same.
    assert fresh([second, first]) is False
    # Intuit's legacy bodies carry no event ids: the signed body is the unit.
    legacy = {"eventNotifications": [{"realmId": "9130", "dataChangeEvent": {"entities": [{"id": "58"}]}}]}
    assert fresh(legacy) is True and fresh(legacy) is False


def test_a_replayed_intuit_webhook_answers_200_and_is_recorded_once(api: Api) -> None:
    config = {"client_id": "x", "client_secret": "s", "redirect_uri": "http://127.0.0.1:9/cb", "webhook_verifier": "v"}
    conn = api.ls.connect(api.a.id, "qbo", config).connection_id
    events = [{"id": "ev-9", "type": "qbo.customer.updated.v1", "intuitentityid": "58", "intuitaccountid": "9130"}]
    body = json.dumps(events).encode()
    for _ in range(5):
        r = api.client.post(f"/v1/webhooks/qbo/{conn}", content=body, headers={"intuit-signature": hmac_b64(body, "v")})
        assert r.status_code == 200
    with api.ls.store.session() as s:
        assert [row.key for row in s.query(InboundWebhook).filter_by(connection_id=conn)] == ["event:ev-9"]


def test_seen_events_are_forgotten_only_after_the_window(api: Api) -> None:
    conn = api.ls.store.create_connection(api.a.id, "xero", {})
    assert api.ls.store.first_seen(conn, ["body:abc"], window=3600) == ["body:abc"]
    assert api.ls.store.first_seen(conn, ["body:abc"], window=3600) == []
    with api.ls.store.session() as s:
        row = s.get(InboundWebhook, (conn, "body:abc"))
        assert row is not None
        row.received_at = utcnow().replace(year=utcnow().year - 1)
    assert api.ls.store.first_seen(conn, ["body:abc"], window=3600) == ["body:abc"]


def test_a_refresh_storm_is_one_refresh_at_a_time_per_connection(
    connected: tuple[Api, str], sandbox: XeroSandboxHandle
) -> None:
    api, conn = connected
    for i in range(10):
        api.client.put(f"/v1/contacts/c{i}", headers=api.a.h(), json={"name": f"Person {i}"}).raise_for_status()
    api.client.post(f"/v1/connections/{conn}/sync", headers=api.a.h()).raise_for_status()
    remote = {f"c{i}": api.client.get(f"/v1/contacts/c{i}", headers=api.a.h()).json()["remote_id"] for i in range(10)}
    for app_id, rid in remote.items():
        sandbox.as_user(f"Contacts/{rid}", {"Contacts": [{"ContactID": rid, "Name": f"{app_id} renamed"}]})
    # Ten webhooks, one contact each, arrive before the first refresh has run: one refresh is started, the
    # other nine join it.
    started = [services.queue_platform_changes(conn, {Entity.CONTACT: {rid}}) for rid in remote.values()]
    assert started == [True] + [False] * 9
    assert services.drain_platform_changes(api.ls, conn, wait=10) == 1
    names = {i: api.client.get(f"/v1/contacts/{i}", headers=api.a.h()).json()["record"]["name"] for i in remote}
    assert names == {i: f"{i} renamed" for i in remote}
    # Drained: the next webhook starts a refresh of its own again.
    assert services.queue_platform_changes(conn, {Entity.CONTACT: {remote["c0"]}}) is True
    assert services.drain_platform_changes(api.ls, conn, wait=10) == 1


def test_the_hourly_prune_drops_ended_sessions_old_failures_and_old_event_keys(api: Api) -> None:
    from ledgersync.api.scheduler import Scheduler
    from ledgersync.store.tables import SignInThrottle, WebSession
    from ledgersync.web import create_user

    store = api.ls.store
    user = create_user(store, "pat@example.com", "password-123", api.a.id)
    old_sid, live_sid = store.create_web_session(user), store.create_web_session(user)
    store.sign_in_attempt([("account:old@example.com", 5)], base=1, cap=1, window=60)
    store.sign_in_attempt([("account:new@example.com", 5)], base=1, cap=1, window=60)
    store.first_seen("conn_x", ["body:old", "body:new"], window=3600)
    long_ago = utcnow().replace(year=utcnow().year - 1)
    with store.session() as s:
        for row in s.query(WebSession):
            if row.id == hashlib.sha256(old_sid.encode()).hexdigest():
                row.created_at = long_ago
        s.get(SignInThrottle, "account:old@example.com").last_failed_at = long_ago  # type: ignore[union-attr]
        s.get(InboundWebhook, ("conn_x", "body:old")).received_at = long_ago  # type: ignore[union-attr]
    Scheduler(api.ls, api.settings).prune_due(now=10_000.0)
    with store.session() as s:
        assert [r.id for r in s.query(WebSession)] == [hashlib.sha256(live_sid.encode()).hexdigest()]
        assert [r.key for r in s.query(SignInThrottle)] == ["account:new@example.com"]
        assert [r.key for r in s.query(InboundWebhook)] == ["body:new"]
