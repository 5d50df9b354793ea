"""The rate budget: named policies over a backend, each counting only the calls it names."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import httpx
import pytest

from ledgersync.model import ErrorCode, ProviderError
from ledgersync.providers.budget import (
    MINUTE,
    Budget,
    Call,
    InMemoryBudgetBackend,
    PathIs,
    Policy,
)
from ledgersync.providers.qbo.client import qbo_policies
from ledgersync.providers.xero.client import XeroClient, xero_policies
from ledgersync.providers.xero.oauth import XeroOAuth

from .fakes import CONFIG, MemoryTokenStore, json_response

GET = Call("GET", "Contacts")
BATCH = Call("POST", "batch", is_write=True)
QUERY = Call("GET", "query")


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def budget(
    policies: Sequence[Policy],
    t: FakeTime,
    backend: InMemoryBudgetBackend | None = None,
    *,
    tenant: str = "t1",
    max_wait: float = 90.0,
) -> Budget:
    return Budget(
        policies,
        app="xero:app",
        tenant=tenant,
        backend=backend or InMemoryBudgetBackend(clock=t.clock),
        sleep=t.sleep,
        max_wait=max_wait,
    )


def call(b: Budget, what: Call = GET, times: int = 1) -> None:
    for _ in range(times):
        with b.slot(what):
            pass


def test_calls_within_the_minute_budget_never_wait() -> None:
    t = FakeTime()
    call(budget(xero_policies(per_minute=3), t), times=3)
    assert t.slept == []


def test_the_call_over_the_minute_budget_waits_only_until_the_window_moves() -> None:
    t = FakeTime()
    b = budget(xero_policies(per_minute=2), t)
    call(b)
    t.now += 10
    call(b, times=2)
    assert t.slept == [50.0]


def test_a_call_counts_from_its_answer_not_from_when_it_was_sent() -> None:
    t = FakeTime()
    b = budget(xero_policies(per_minute=1), t)
    with b.slot(GET):
        t.now += 5  # the answer takes 5 s; the platform counted the call somewhere in between
    call(b)
    assert t.slept == [60.0]


def test_a_spent_day_budget_raises_daily_limit_instead_of_sleeping() -> None:
    t = FakeTime()
    b = budget(xero_policies(per_day=2), t)
    call(b, times=2)
    with pytest.raises(ProviderError) as caught:
        call(b)
    assert caught.value.error.code is ErrorCode.DAILY_LIMIT
    assert caught.value.error.retry_after == pytest.approx(86_400)
    assert t.slept == []


def test_a_long_window_wait_raises_rate_limited_rather_than_blocking() -> None:
    t = FakeTime()
    b = budget(xero_policies(per_minute=1), t, max_wait=5)
    call(b)
    with pytest.raises(ProviderError) as caught:
        call(b)
    assert caught.value.error.code is ErrorCode.RATE_LIMITED


def test_remaining_headers_from_xero_tighten_the_local_budget() -> None:
    t = FakeTime()
    b = budget(xero_policies(), t)
    b.observe({"X-MinLimit-Remaining": "0", "X-DayLimit-Remaining": "4000"})
    call(b)
    assert t.slept == [60.0]
    b.observe({"X-DayLimit-Remaining": "0"})
    with pytest.raises(ProviderError) as caught:
        call(b)
    assert caught.value.error.code is ErrorCode.DAILY_LIMIT


def test_remaining_headers_that_only_count_our_own_calls_add_nothing() -> None:
    t = FakeTime()
    b = budget(xero_policies(per_minute=3), t)
    for _ in range(2):
        with b.slot(GET) as slot:
            t.now += 1
        # Xero counted this call and the earlier ones: 3 - used remain.
        b.observe({"X-MinLimit-Remaining": str(3 - b.usage("minute"))}, as_of=slot.started)
    assert b.usage("minute") == 2
    call(b)
    assert t.slept == []


def test_a_day_problem_429_parks_every_later_call() -> None:
    t = FakeTime()
    b = budget(xero_policies(), t)
    b.penalise(3600, "day")
    with pytest.raises(ProviderError) as caught:
        call(b)
    assert caught.value.error.retry_after == pytest.approx(3600)


def test_a_minute_retry_after_holds_the_next_call() -> None:
    t = FakeTime()
    b = budget(xero_policies(), t)
    b.penalise(7, "minute")
    call(b)
    assert t.slept == [7.0]


def test_the_app_wide_budget_is_shared_across_tenants() -> None:
    t = FakeTime()
    backend = InMemoryBudgetBackend(clock=t.clock)
    a = budget(xero_policies(app_per_minute=2), t, backend, tenant="t1")
    b = budget(xero_policies(app_per_minute=2), t, backend, tenant="t2")
    call(a)
    call(b)
    call(a)
    assert t.slept == [60.0]


def test_tenant_budgets_of_different_tenants_are_separate() -> None:
    t = FakeTime()
    backend = InMemoryBudgetBackend(clock=t.clock)
    call(budget(xero_policies(per_minute=2), t, backend, tenant="t1"), times=2)
    call(budget(xero_policies(per_minute=2), t, backend, tenant="t2"), times=2)
    assert t.slept == []


def test_no_more_than_the_concurrency_limit_run_at_once() -> None:
    b = Budget(xero_policies(concurrent=2), app="xero:app", tenant="t1")
    peak = 0
    running = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal peak, running
        with b.slot(GET):
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.02)
            with lock:
                running -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2
    assert b.usage("concurrent") == 0


def test_the_batch_policy_counts_only_batch_calls() -> None:
    t = FakeTime()
    b = budget(qbo_policies(per_second=10**6, batch_per_minute=2), t)
    call(b, BATCH, times=2)
    call(b, QUERY, times=5)
    assert t.slept == []
    assert b.usage("batch") == 2
    call(b, BATCH)
    assert t.slept == [60.0]


def test_batch_calls_count_against_the_request_limit_too() -> None:
    t = FakeTime()
    b = budget(qbo_policies(per_minute=3, per_second=10**6), t)
    call(b, BATCH, times=2)
    call(b, QUERY)
    assert b.usage("minute") == 3
    call(b, QUERY)
    assert t.slept == [60.0]


def test_a_path_matcher_names_one_endpoint_and_its_methods() -> None:
    batch = PathIs("batch", frozenset({"POST"}))
    assert batch(Call("POST", "/batch"))
    assert not batch(Call("GET", "batch"))
    assert not batch(Call("POST", "invoice"))
    assert PathIs("Invoices")(Call("PUT", "invoices"))


def test_qbo_holds_ten_calls_a_second() -> None:
    t = FakeTime()
    call(budget(qbo_policies(), t), QUERY, times=11)
    assert t.slept == [1.0]


def test_policy_names_must_be_unique() -> None:
    with pytest.raises(ValueError):
        Budget([Policy("minute", 1, MINUTE), Policy("minute", 2, MINUTE)], app="a", tenant="t")


# -- two clients, one backend -------------------------------------------------------------------------------


def client(handler: httpx.MockTransport, backend: InMemoryBudgetBackend, policies: Sequence[Policy]) -> XeroClient:
    return XeroClient(
        "tenant-1",
        MemoryTokenStore(),
        XeroOAuth(CONFIG, transport=handler),
        budget=backend,
        policies=policies,
        transport=handler,
    )


def arrivals_transport(arrivals: list[float], lock: threading.Lock) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            arrivals.append(time.monotonic())
        time.sleep(0.002)
        return json_response(200, {"Contacts": []})

    return httpx.MockTransport(handler)


def test_two_clients_sharing_a_backend_never_exceed_the_tenants_limit_together() -> None:
    span = 0.3
    policies = (Policy("burst", 5, span), Policy("concurrent", 5, 0.0))
    backend = InMemoryBudgetBackend()
    arrivals: list[float] = []
    transport = arrivals_transport(arrivals, threading.Lock())
    clients = [client(transport, backend, policies) for _ in range(2)]

    def work(c: XeroClient) -> None:
        for _ in range(12):
            c.get("Contacts")

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(arrivals)
    assert len(ordered) == 24
    # No 0.3 s stretch holds more than 5 of the calls the platform received.
    assert all(ordered[i + 5] - ordered[i] >= span for i in range(len(ordered) - 5))


def test_a_client_sharing_a_backend_waits_for_the_calls_of_the_other() -> None:
    t = FakeTime()
    backend = InMemoryBudgetBackend(clock=t.clock)
    first, second = budget(xero_policies(per_minute=3), t, backend), budget(xero_policies(per_minute=3), t, backend)
    call(first, times=3)
    call(second)
    assert t.slept == [60.0]


def test_clients_with_separate_backends_do_not_share_a_budget() -> None:
    t = FakeTime()
    first, second = budget(xero_policies(per_minute=3), t), budget(xero_policies(per_minute=3), t)
    call(first, times=3)
    call(second, times=3)
    assert t.slept == []


def test_a_short_window_starts_at_most_its_latency_cap_after_the_send() -> None:
    t = FakeTime()
    b = budget([Policy("second", 1, 1.0, latency_cap=0.1)], t)
    with b.slot(GET):
        t.now += 0.5  # a slow answer
    call(b)
    # Counted from send + 0.1 s, the window opened 1.1 s after the send: 0.6 s after the answer.
    assert t.slept == [pytest.approx(0.6)]


def test_an_answer_sooner_than_the_latency_cap_starts_the_window_at_the_answer() -> None:
    t = FakeTime()
    b = budget([Policy("second", 1, 1.0, latency_cap=0.1)], t)
    with b.slot(GET):
        t.now += 0.02
    call(b)
    assert t.slept == [pytest.approx(1.0)]
