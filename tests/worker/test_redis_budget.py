"""RedisBudgetBackend against a real Redis: the same answers as the in-memory backend, shared by processes,
with Redis's clock; a dead worker's call in flight frees its slot. Short windows keep it quick."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator

import pytest

from ledgersync.providers.budget import Budget, Call, Policy
from ledgersync.providers.budget_redis import RedisBudgetBackend

CALL = Call("GET", "Invoices")


@pytest.fixture
def backend(redis_url: str) -> Iterator[RedisBudgetBackend]:
    b = RedisBudgetBackend.from_url(f"{redis_url}?prefix=lstest-unit-{uuid.uuid4().hex[:8]}")
    try:
        yield b
    finally:
        b.clear()


def test_a_call_takes_every_window_or_none(backend: RedisBudgetBackend) -> None:
    budget = Budget([Policy("second", 5, 1.0), Policy("few", 2, 30.0)], app="a", tenant="t", backend=backend)
    windows = budget.windows_for(CALL)
    first, second = backend.reserve(windows), backend.reserve(windows)
    assert first.ticket and second.ticket
    third = backend.reserve(windows)
    # "few" is full (2 in flight): refused, and the roomy "second" window was not charged for it.
    assert third.ticket is None and third.blocked_by == budget.window("few").key
    assert budget.usage("second") == 2
    backend.release(first.ticket)
    backend.release(second.ticket)
    # Answered calls keep counting for the span from their answer.
    again = backend.reserve(windows)
    assert again.ticket is None and again.wait is not None and 29 < again.wait <= 30


def test_a_window_opens_a_span_after_the_answer(backend: RedisBudgetBackend) -> None:
    budget = Budget([Policy("second", 2, 1.0)], app="a", tenant="t", backend=backend)
    started = time.monotonic()
    for _ in range(5):
        with budget.slot(CALL):
            pass
    # 5 calls, 2 a second: the 3rd and 5th each waited for a window to open.
    assert time.monotonic() - started >= 1.9
    assert budget.usage("second") <= 2


def test_in_flight_limit_is_a_semaphore_that_a_dead_worker_frees(redis_url: str) -> None:
    prefix = f"lstest-sem-{uuid.uuid4().hex[:8]}"
    url = f"{redis_url}?prefix={prefix}&in_flight_ttl=1.0"
    backend = RedisBudgetBackend.from_url(url)
    try:
        budget = Budget([Policy("concurrent", 2, 0.0)], app="a", tenant="t", backend=backend)
        ctx = multiprocessing.get_context("spawn")
        # Another process takes both slots and dies without releasing them.
        proc = ctx.Process(target=_take_and_die, args=(url,))
        proc.start()
        proc.join(30)
        assert proc.exitcode == 0
        assert budget.usage("concurrent") == 2
        refused = backend.reserve(budget.windows_for(CALL))
        assert refused.ticket is None and refused.wait is None  # only calls in flight in the way
        time.sleep(1.2)
        assert budget.usage("concurrent") == 0
        with budget.slot(CALL):
            assert budget.usage("concurrent") == 1
    finally:
        backend.clear()


def _take_and_die(url: str) -> None:
    backend = RedisBudgetBackend.from_url(url)
    budget = Budget([Policy("concurrent", 2, 0.0)], app="a", tenant="t", backend=backend)
    for _ in range(2):
        assert backend.reserve(budget.windows_for(CALL)).ticket


def test_processes_sharing_a_window_never_exceed_it(redis_url: str) -> None:
    prefix = f"lstest-share-{uuid.uuid4().hex[:8]}"
    url = f"{redis_url}?prefix={prefix}"
    ctx = multiprocessing.get_context("spawn")
    stamps = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(url, stamps, 8)) for _ in range(3)]
    for p in procs:
        p.start()
    got: list[float] = []
    for _ in range(24):
        got.append(stamps.get(timeout=60))
    for p in procs:
        p.join(30)
    RedisBudgetBackend.from_url(url).clear()
    got.sort()
    # 24 calls through a window of 6 a second (stamped in flight, Redis's clock): no second holds more.
    busiest = max(sum(1 for t in got if s <= t < s + 1.0) for s in got)
    assert busiest <= 6, busiest
    assert got[-1] - got[0] >= 3.0


def _hammer(url: str, stamps: multiprocessing.Queue[float], n: int) -> None:
    backend = RedisBudgetBackend.from_url(url)
    budget = Budget([Policy("second", 6, 1.0)], app="a", tenant="t", backend=backend)
    for _ in range(n):
        with budget.slot(CALL):
            # The call's instant: somewhere between its send and its answer, as a platform stamps it.
            seconds, micros = backend.redis.time()
        stamps.put(seconds + micros / 1e6)


def test_a_refusal_holds_the_window_and_foreign_calls_are_counted(backend: RedisBudgetBackend) -> None:
    budget = Budget([Policy("minute", 10, 60.0, remaining_headers=("X-Left",))], app="a", tenant="t", backend=backend)
    budget.penalise(0.5, "minute")
    held = backend.reserve(budget.windows_for(CALL))
    assert held.ticket is None and held.wait is not None and 0 < held.wait <= 0.5
    time.sleep(0.55)
    # The platform says 4 are left although we made none: 6 were made elsewhere and count now.
    budget.observe({"X-Left": "4"})
    assert budget.usage("minute") == 6
