"""The tenant client: tokens, retries with the same Idempotency-Key, rate limits, single-flight refresh."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs

import httpx
import pytest

from ledgersync.model import ErrorCode, ProviderError
from ledgersync.providers.base import CallInfo
from ledgersync.providers.budget import Budget, InMemoryBudgetBackend
from ledgersync.providers.xero.client import XeroClient, idempotency_key_for, xero_policies
from ledgersync.providers.xero.oauth import XeroOAuth

from ..fakes import CONFIG, MemoryTokenStore, Script, json_response, token

OK = {"Contacts": []}


def token_endpoint(counter: list[int], delay: float = 0.0) -> httpx.Response:
    counter.append(1)
    if delay:
        time.sleep(delay)
    n = len(counter)
    return json_response(
        200, {"access_token": f"fresh-{n}", "refresh_token": f"rt-{n + 1}", "expires_in": 1800}
    )


def make(
    script: Script, store: MemoryTokenStore | None = None, **kw: object
) -> tuple[XeroClient, list[float]]:
    slept: list[float] = []
    transport = script.transport()
    # One fake timeline for the client's backoff sleeps and the budget's window waits.
    client = XeroClient(
        "tenant-1",
        store or MemoryTokenStore(),
        XeroOAuth(CONFIG, transport=transport),
        budget=InMemoryBudgetBackend(clock=lambda: 1000 + sum(slept)),
        max_wait=30,
        transport=transport,
        sleep=slept.append,
        jitter=lambda: 0.0,
        **kw,  # type: ignore[arg-type]
    )
    return client, slept


def test_every_call_carries_tenant_accept_and_bearer_headers() -> None:
    script = Script([json_response(200, OK)])
    client, _ = make(script)
    client.get("Contacts", params={"page": "1"})
    request = script.requests[0]
    assert request.headers["xero-tenant-id"] == "tenant-1"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == "Bearer at-1"
    assert str(request.url) == "http://xero.test/api.xro/2.0/Contacts?page=1"


def test_a_write_without_an_idempotency_key_is_refused() -> None:
    client, _ = make(Script())
    with pytest.raises(ValueError):
        client.request("PUT", "Contacts", body={"Contacts": []})


def test_a_write_retried_after_a_timeout_sends_the_same_idempotency_key() -> None:
    script = Script([httpx.ReadTimeout("slow"), json_response(200, OK)])
    client, slept = make(script)
    client.write("PUT", "Contacts", {"Contacts": []}, idempotency_key="key-1")
    assert [r.headers["idempotency-key"] for r in script.requests] == ["key-1", "key-1"]
    assert len(slept) == 1


def test_a_write_whose_retries_run_out_after_a_timeout_has_an_unknown_outcome() -> None:
    script = Script([httpx.ReadTimeout("slow")] * 4)
    client, _ = make(script)
    with pytest.raises(ProviderError) as caught:
        client.write("POST", "Invoices", {"Invoices": []}, idempotency_key="k")
    assert caught.value.error.code is ErrorCode.UNKNOWN_OUTCOME
    assert len(script.requests) == 4


def test_a_write_that_never_connected_is_unavailable_not_unknown() -> None:
    script = Script([httpx.ConnectError("refused")] * 4)
    client, _ = make(script)
    with pytest.raises(ProviderError) as caught:
        client.write("POST", "Invoices", {"Invoices": []}, idempotency_key="k")
    assert caught.value.error.code is ErrorCode.UNAVAILABLE


def test_a_read_that_times_out_every_time_is_unavailable() -> None:
    client, _ = make(Script([httpx.ReadTimeout("slow")] * 4))
    with pytest.raises(ProviderError) as caught:
        client.get("Contacts")
    assert caught.value.error.code is ErrorCode.UNAVAILABLE


def test_server_errors_are_retried_with_growing_backoff() -> None:
    script = Script(
        [json_response(503, {}), json_response(502, {}), json_response(500, {}), json_response(200, OK)]
    )
    client, slept = make(script, backoff_base=1.0)
    assert client.get("Contacts") == OK
    assert slept == [0.5, 1.0, 2.0]


def test_retries_stop_within_the_total_time_budget() -> None:
    script = Script([json_response(503, {})] * 10)
    client, slept = make(script, backoff_base=10.0, max_retry_seconds=12, max_attempts=10)
    with pytest.raises(ProviderError) as caught:
        client.get("Contacts")
    assert caught.value.error.code is ErrorCode.UNAVAILABLE
    assert sum(slept) <= 12


def test_a_minute_429_honours_retry_after_then_succeeds() -> None:
    limited = json_response(429, {}, {"Retry-After": "3", "X-Rate-Limit-Problem": "minute"})
    script = Script([limited, json_response(200, OK)])
    client, slept = make(script)
    client.get("Contacts")
    assert slept == [3.0]


def test_a_daily_429_raises_daily_limit_at_once_and_parks_the_pacer() -> None:
    limited = json_response(429, {}, {"Retry-After": "50000", "X-Rate-Limit-Problem": "day"})
    script = Script([limited])
    client, slept = make(script)
    with pytest.raises(ProviderError) as caught:
        client.get("Contacts")
    assert caught.value.error.code is ErrorCode.DAILY_LIMIT
    assert caught.value.error.retry_after == 50000
    assert slept == []
    with pytest.raises(ProviderError) as again:
        client.get("Contacts")
    assert again.value.error.code is ErrorCode.DAILY_LIMIT
    assert len(script.requests) == 1


def test_a_401_refreshes_once_and_retries_with_the_new_token() -> None:
    refreshes: list[int] = []
    script = Script(
        [
            json_response(401, {"Title": "Unauthorized"}),
            lambda r: token_endpoint(refreshes),
            json_response(200, OK),
        ]
    )
    store = MemoryTokenStore()
    client, _ = make(script, store)
    client.get("Contacts")
    assert store.refreshes == 1
    assert script.requests[-1].headers["authorization"] == "Bearer fresh-1"
    refresh_request = script.requests[1]
    assert refresh_request.url.path == "/connect/token"
    assert refresh_request.headers["authorization"].startswith("Basic ")
    assert parse_qs(refresh_request.content.decode())["grant_type"] == ["refresh_token"]


def test_a_second_401_after_refreshing_is_an_auth_error() -> None:
    refreshes: list[int] = []
    script = Script([json_response(401, {}), lambda r: token_endpoint(refreshes), json_response(401, {})])
    client, _ = make(script)
    with pytest.raises(ProviderError) as caught:
        client.get("Contacts")
    assert caught.value.error.code is ErrorCode.AUTH_EXPIRED


def test_a_token_about_to_expire_is_refreshed_before_the_call() -> None:
    refreshes: list[int] = []
    script = Script([lambda r: token_endpoint(refreshes), json_response(200, OK)])
    store = MemoryTokenStore(token(seconds=30))
    client, _ = make(script, store)
    client.get("Contacts")
    assert store.refreshes == 1
    assert script.requests[-1].headers["authorization"] == "Bearer fresh-1"


def test_a_refused_refresh_marks_the_connection_and_stops_all_calls() -> None:
    script = Script([json_response(400, {"error": "invalid_grant"})])
    store = MemoryTokenStore(token(seconds=10))
    client, _ = make(script, store)
    with pytest.raises(ProviderError) as caught:
        client.get("Contacts")
    assert caught.value.error.code is ErrorCode.AUTH_REVOKED
    assert "Refresh link" in caught.value.error.hint
    assert store.reconnect_reason
    with pytest.raises(ProviderError):
        client.get("Contacts")
    assert len(script.requests) == 1


def test_twenty_threads_with_an_expired_token_cause_exactly_one_refresh() -> None:
    refreshes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/connect/token":
            return token_endpoint(refreshes, delay=0.05)
        if request.headers["authorization"] != "Bearer fresh-1":
            return json_response(401, {})
        return json_response(200, OK)

    script = Script(fallback=handler)
    store = MemoryTokenStore(token(access="old", seconds=-5))
    client, _ = make(script, store)
    client.budget = Budget(xero_policies(concurrent=50, per_minute=1000), app="xero:app-1", tenant="tenant-1")
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def call() -> None:
        barrier.wait()
        try:
            client.get("Contacts")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(refreshes) == 1


def test_batch_idempotency_keys_are_stable_short_and_order_sensitive() -> None:
    keys = [f"conn:invoice:{i}:v1" for i in range(50)]
    one = idempotency_key_for(keys)
    assert one == idempotency_key_for(list(keys))
    assert len(one) <= 128
    assert one != idempotency_key_for(list(reversed(keys)))
    assert idempotency_key_for(["single"]) == "single"
    assert len(idempotency_key_for(["x" * 300])) <= 128


def test_every_http_call_is_reported_to_the_engine() -> None:
    seen: list[CallInfo] = []
    script = Script([json_response(503, {}), json_response(200, OK, {"Xero-Correlation-Id": "corr-1"})])
    client, _ = make(script, on_call=seen.append)
    client.get("Contacts")
    assert [(c.method, c.path, c.status) for c in seen] == [
        ("GET", "Contacts", 503),
        ("GET", "Contacts", 200),
    ]
    assert seen[-1].request_id == "corr-1"
