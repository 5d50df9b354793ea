"""The provider-neutral moving-window pacer."""

from __future__ import annotations

import threading
import time

import pytest

from ledgersync.model import ErrorCode, ProviderError
from ledgersync.providers.pacing import AppWindow, Limits, MovingWindowPacer, pacer_for, reset_pacers


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(limits: Limits, t: FakeTime, app: AppWindow | None = None) -> MovingWindowPacer:
    return MovingWindowPacer(limits, app, clock=t.clock, sleep=t.sleep)


def test_calls_within_the_minute_budget_never_wait() -> None:
    t = FakeTime()
    p = pacer(Limits(per_minute=3), t)
    for _ in range(3):
        with p.acquire():
            pass
    assert t.slept == []


def test_the_call_over_the_minute_budget_waits_only_until_the_window_moves() -> None:
    t = FakeTime()
    p = pacer(Limits(per_minute=2), t)
    with p.acquire():
        pass
    t.now += 10
    with p.acquire():
        pass
    with p.acquire():
        pass
    assert t.slept == [50.0]


def test_a_spent_day_budget_raises_daily_limit_instead_of_sleeping() -> None:
    t = FakeTime()
    p = pacer(Limits(per_day=2), t)
    for _ in range(2):
        with p.acquire():
            pass
    with pytest.raises(ProviderError) as caught, p.acquire():
        pass
    assert caught.value.error.code is ErrorCode.DAILY_LIMIT
    assert caught.value.error.retry_after == pytest.approx(86_400)
    assert t.slept == []


def test_a_long_window_wait_raises_rate_limited_rather_than_blocking() -> None:
    t = FakeTime()
    p = pacer(Limits(per_minute=1, max_wait=5), t)
    with p.acquire():
        pass
    with pytest.raises(ProviderError) as caught, p.acquire():
        pass
    assert caught.value.error.code is ErrorCode.RATE_LIMITED


def test_remaining_headers_from_xero_tighten_the_local_budget() -> None:
    t = FakeTime()
    p = pacer(Limits(per_minute=60, per_day=5000), t)
    p.observe({"X-MinLimit-Remaining": "0", "X-DayLimit-Remaining": "4000"})
    with p.acquire():
        pass
    assert t.slept == [60.0]
    p.observe({"X-DayLimit-Remaining": "0"})
    with pytest.raises(ProviderError) as caught, p.acquire():
        pass
    assert caught.value.error.code is ErrorCode.DAILY_LIMIT


def test_a_day_problem_429_parks_every_later_call() -> None:
    t = FakeTime()
    p = pacer(Limits(), t)
    p.penalise(3600, "day")
    with pytest.raises(ProviderError) as caught, p.acquire():
        pass
    assert caught.value.error.retry_after == pytest.approx(3600)


def test_a_minute_retry_after_holds_the_next_call() -> None:
    t = FakeTime()
    p = pacer(Limits(), t)
    p.penalise(7, "minute")
    with p.acquire():
        pass
    assert t.slept == [7.0]


def test_the_app_wide_budget_is_shared_across_tenants() -> None:
    t = FakeTime()
    app = AppWindow(limit=2)
    a, b = pacer(Limits(app_per_minute=2), t, app), pacer(Limits(app_per_minute=2), t, app)
    with a.acquire():
        pass
    with b.acquire():
        pass
    with a.acquire():
        pass
    assert t.slept == [60.0]


def test_no_more_than_the_concurrency_limit_run_at_once() -> None:
    p = MovingWindowPacer(Limits(concurrent=2))
    peak = 0
    running = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal peak, running
        with p.acquire():
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
    assert p.in_flight == 0


def test_one_pacer_is_shared_per_app_and_tenant() -> None:
    reset_pacers()
    assert pacer_for("app", "t1") is pacer_for("app", "t1")
    assert pacer_for("app", "t1") is not pacer_for("app", "t2")
    reset_pacers()
