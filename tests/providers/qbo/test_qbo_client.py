"""The company client: minorversion and requestid on every call, bounded retries, 429 waits, faults, refresh."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from ledgersync.model import ErrorCode, ProviderError
from ledgersync.providers.base import CallInfo
from ledgersync.providers.budget import InMemoryBudgetBackend
from ledgersync.providers.qbo.client import QboClient, request_id_for
from ledgersync.providers.qbo.oauth import QboOAuth

from ..fakes import MemoryTokenStore, Script, json_response, token
from .test_qbo_oauth import CONFIG

OK = {"Customer": {"Id": "1", "SyncToken": "0", "DisplayName": "A"}, "time": "x"}
QUERY_OK = {"QueryResponse": {"Customer": [{"Id": "1"}], "startPosition": 1, "maxResults": 1}}


def make(script: Script, store: MemoryTokenStore | None = None, **kw: object) -> tuple[QboClient, list[float]]:
    slept: list[float] = []
    transport = script.transport()
    clock = lambda: 1000 + sum(slept)  # noqa: E731 - one fake timeline for backoff sleeps and budget waits
    client = QboClient(
        "9130",
        store or MemoryTokenStore(),
        QboOAuth(CONFIG, transport=transport),
        budget=InMemoryBudgetBackend(clock=clock),
        transport=transport,
        sleep=slept.append,
        clock=clock,
        jitter=lambda: 0.0,
        **kw,  # type: ignore[arg-type]
    )
    return client, slept


def test_every_call_carries_minorversion_75_and_a_bearer_token() -> None:
    script = Script([json_response(200, QUERY_OK)])
    client, _ = make(script)
    client.query("SELECT * FROM Customer")
    request = script.requests[0]
    assert request.url.path == "/v3/company/9130/query"
    assert request.url.params["minorversion"] == "75"
    assert request.url.params["query"] == "SELECT * FROM Customer"
    assert request.headers["authorization"] == "Bearer at-1"
    assert request.headers["accept"] == "application/json"


def test_a_write_without_a_requestid_is_refused() -> None:
    client, _ = make(Script())
    with pytest.raises(ValueError):
        client.request("POST", "customer", body={"DisplayName": "A"})


def test_request_ids_fit_qbos_limits_and_are_stable() -> None:
    long_key = "ls-" + "a" * 48
    assert len(request_id_for([long_key])) <= 50
    assert request_id_for([long_key]) == request_id_for([long_key])
    batch = request_id_for([long_key, long_key + "b"], 36)
    assert len(batch) <= 36 and batch != request_id_for([long_key + "b", long_key], 36)
    assert request_id_for(["short-key"]) == "short-key"


def test_a_write_retried_after_a_timeout_sends_the_same_requestid() -> None:
    script = Script([httpx.ReadTimeout("slow"), json_response(200, OK)])
    client, slept = make(script)
    client.write("customer", {"DisplayName": "A"}, request_id="rid-1")
    assert [r.url.params["requestid"] for r in script.requests] == ["rid-1", "rid-1"]
    assert len(slept) == 1


def test_a_write_whose_retries_run_out_after_a_timeout_has_an_unknown_outcome() -> None:
    script = Script([httpx.ReadTimeout("slow")] * 4)
    client, _ = make(script)
    with pytest.raises(ProviderError) as caught:
        client.write("customer", {"DisplayName": "A"}, request_id="rid-1")
    assert caught.value.error.code is ErrorCode.UNKNOWN_OUTCOME
    assert len(script.requests) == 4


def test_a_read_that_cannot_connect_is_unavailable_not_unknown() -> None:
    script = Script([httpx.ConnectError("down")] * 4)
    client, _ = make(script)
    with pytest.raises(ProviderError) as caught:
        client.query("SELECT * FROM Customer")
    assert caught.value.error.code is ErrorCode.UNAVAILABLE


def test_a_429_waits_a_minute_in_the_budget_then_succeeds() -> None:
    throttled = json_response(
        429, {"Fault": {"Error": [{"Message": "ThrottleExceeded", "code": "3001"}], "type": "ThrottleExceeded"}}
    )
    script = Script([throttled, json_response(200, QUERY_OK)])
    client, slept = make(script)
    client.query("SELECT * FROM Customer")
    assert len(script.requests) == 2
    assert sum(slept) == pytest.approx(60.0)


def test_429s_beyond_max_retry_seconds_give_up_as_rate_limited() -> None:
    throttled = json_response(429, {})
    script = Script([throttled, throttled, throttled])
    client, _ = make(script, max_retry_seconds=30)
    with pytest.raises(ProviderError) as caught:
        client.query("SELECT * FROM Customer")
    assert caught.value.error.code is ErrorCode.RATE_LIMITED
    assert len(script.requests) == 1


def test_a_fault_in_a_200_answer_is_raised_as_the_canonical_error() -> None:
    body = {"Fault": {"Error": [{"Message": "Duplicate Name Exists Error", "code": "6240"}], "type": "ValidationFault"}}
    client, _ = make(Script([json_response(200, body)]))
    with pytest.raises(ProviderError) as caught:
        client.write("customer", {"DisplayName": "A"}, request_id="r")
    assert caught.value.error.code is ErrorCode.DUPLICATE_NAME


def test_a_validation_fault_is_not_retried() -> None:
    body = {"Fault": {"Error": [{"Message": "Required param missing", "code": "2020"}], "type": "ValidationFault"}}
    script = Script([json_response(400, body)])
    client, _ = make(script)
    with pytest.raises(ProviderError) as caught:
        client.write("invoice", {}, request_id="r")
    assert caught.value.error.code is ErrorCode.VALIDATION
    assert len(script.requests) == 1


def test_a_500_on_a_write_retries_with_the_same_requestid_and_ends_unknown() -> None:
    script = Script([json_response(500, {})] * 4)
    client, _ = make(script)
    with pytest.raises(ProviderError) as caught:
        client.write("payment", {}, request_id="rid-5")
    assert caught.value.error.code is ErrorCode.UNKNOWN_OUTCOME
    assert {r.url.params["requestid"] for r in script.requests} == {"rid-5"}


def test_a_401_refreshes_the_token_once_and_retries() -> None:
    refreshed = json_response(200, {"access_token": "fresh", "refresh_token": "rt-2", "expires_in": 3600})
    script = Script([json_response(401, {}), refreshed, json_response(200, QUERY_OK)])
    store = MemoryTokenStore()
    client, _ = make(script, store)
    client.query("SELECT * FROM Customer")
    assert store.refreshes == 1
    assert script.requests[-1].headers["authorization"] == "Bearer fresh"
    assert store.token.refresh_token == "rt-2"


def test_a_revoked_refresh_token_marks_the_connection_for_reconnecting() -> None:
    script = Script([json_response(401, {}), json_response(400, {"error": "invalid_grant"})])
    store = MemoryTokenStore()
    client, _ = make(script, store)
    with pytest.raises(ProviderError) as caught:
        client.query("SELECT * FROM Customer")
    assert caught.value.error.code is ErrorCode.AUTH_REVOKED
    assert store.reconnect_reason is not None


def test_concurrent_calls_with_an_expiring_token_refresh_it_once() -> None:
    lock = threading.Lock()
    refreshes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tokens/bearer"):
            with lock:
                refreshes.append(1)
            time.sleep(0.05)
            return json_response(200, {"access_token": "fresh", "refresh_token": "rt-2", "expires_in": 3600})
        return json_response(200, QUERY_OK)

    store = MemoryTokenStore(token(seconds=10))
    client, _ = make(Script(fallback=handler), store)
    threads = [threading.Thread(target=client.query, args=("SELECT * FROM Customer",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(refreshes) == 1


def test_every_call_is_reported_with_its_requestid() -> None:
    calls: list[CallInfo] = []
    script = Script([httpx.ReadTimeout("slow"), json_response(200, OK, headers={"intuit_tid": "tid-1"})])
    client, _ = make(script, on_call=calls.append)
    client.write("customer", {"DisplayName": "A"}, request_id="rid-1")
    assert [(c.method, c.path, c.status, c.request_id) for c in calls] == [
        ("POST", "customer", None, "rid-1"),
        ("POST", "customer", 200, "tid-1"),
    ]


def test_money_goes_out_as_exact_numbers() -> None:
    from decimal import Decimal

    script = Script([json_response(200, OK)])
    client, _ = make(script)
    client.write("payment", {"TotalAmt": Decimal("0.10") + Decimal("0.20")}, request_id="r")
    assert script.requests[0].content == b'{"TotalAmt":0.30}'


def test_a_batch_call_waits_for_both_the_batch_and_the_request_budgets() -> None:
    script = Script(fallback=lambda r: json_response(200, {"BatchItemResponse": []}))
    client, slept = make(script)
    for _ in range(41):
        client.write("batch", {"BatchItemRequest": []}, request_id="b", batch=True)
    # The 41st batch in a minute waited for the batch window (10 a second alone would hold it about 4 s).
    assert sum(slept) >= 60
