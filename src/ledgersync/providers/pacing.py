"""Provider-neutral request pacing: moving-window budgets per tenant and per app, shared in-process."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

from ledgersync.model import ErrorCode, ProviderError, SyncError

MINUTE = 60.0
DAY = 86_400.0


@dataclass(frozen=True)
class Limits:
    """A platform's published budgets. Defaults are Xero's (per tenant: 5 in flight, 60/min, 5000/day;
    10,000/min per app across tenants)."""

    concurrent: int = 5
    per_minute: int = 60
    per_day: int = 5000
    app_per_minute: int = 10_000
    # Longest a caller is made to wait for a window to open; beyond it RATE_LIMITED is raised so a worker
    # thread is never parked for long (a fixed-window limiter that slept for days is the failure to avoid).
    max_wait: float = 90.0


class Budget(Protocol):
    """What a client needs from a pacer. An in-process pacer implements it now; a Redis-backed budget shared
    by several worker processes can implement it later without touching the clients."""

    def acquire(self) -> AbstractContextManager[None]:
        """Block until a call may start (raising DAILY_LIMIT / RATE_LIMITED instead of a long sleep)."""
        ...

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from the platform's own remaining-budget headers."""
        ...

    def penalise(self, retry_after: float, problem: str | None) -> None:
        """The platform refused a call (429): hold further calls for `retry_after` seconds."""
        ...


def daily_limit_error(retry_after: float) -> ProviderError:
    hours = max(1, round(retry_after / 3600))
    return ProviderError(
        SyncError(
            code=ErrorCode.DAILY_LIMIT,
            message="This organisation has used its daily allowance of API calls.",
            hint=f"Syncing resumes by itself in about {hours} hour{'s' if hours != 1 else ''}.",
            retry_after=retry_after,
        )
    )


def rate_limited_error(retry_after: float) -> ProviderError:
    return ProviderError(
        SyncError(
            code=ErrorCode.RATE_LIMITED,
            message="Too many calls to the platform in the last minute.",
            hint="This retries by itself shortly.",
            retry_after=retry_after,
        )
    )


class _Window:
    """Timestamps of calls started within the last `span` seconds."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self.stamps: deque[float] = deque()

    def prune(self, now: float) -> None:
        while self.stamps and self.stamps[0] <= now - self.span:
            self.stamps.popleft()

    def wait(self, now: float) -> float:
        self.prune(now)
        if len(self.stamps) < self.limit:
            return 0.0
        return self.stamps[len(self.stamps) - self.limit] + self.span - now

    def sync_remaining(self, remaining: int, now: float) -> None:
        # Calls made elsewhere (another process, another app instance) count against the same budget; pad the
        # window with synthetic calls at `now`, which is conservative: they expire a full span from now.
        self.prune(now)
        used = self.limit - remaining
        for _ in range(max(0, used - len(self.stamps))):
            self.stamps.append(now)


class AppWindow:
    """The app-wide per-minute budget, shared by every tenant's pacer of one app."""

    def __init__(self, limit: int) -> None:
        self.lock = threading.Lock()
        self.window = _Window(limit, MINUTE)


class MovingWindowPacer:
    """In-process Budget for one tenant: concurrency, per-minute, per-day and app-wide per-minute windows."""

    def __init__(
        self,
        limits: Limits | None = None,
        app_window: AppWindow | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits or Limits()
        self._app = app_window or AppWindow(self.limits.app_per_minute)
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._in_flight = 0
        self._minute = _Window(self.limits.per_minute, MINUTE)
        self._day = _Window(self.limits.per_day, DAY)
        self._hold_until = 0.0
        self._day_hold_until = 0.0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _day_wait(self, now: float) -> float:
        return max(self._day.wait(now), self._day_hold_until - now)

    def _try_start(self, now: float) -> float:
        """Start a call if every window allows it (0), else how long to wait (-1: until a call ends)."""
        day_wait = self._day_wait(now)
        if day_wait > 0:
            raise daily_limit_error(day_wait)
        wait = max(self._minute.wait(now), self._hold_until - now)
        with self._app.lock:
            wait = max(wait, self._app.window.wait(now))
            if wait <= 0 and self._in_flight < self.limits.concurrent:
                self._app.window.stamps.append(now)
                self._minute.stamps.append(now)
                self._day.stamps.append(now)
                self._in_flight += 1
                return 0.0
        # A negative answer means only the concurrency limit is in the way.
        return wait if wait > 0 else -1.0

    @contextmanager
    def _slot(self) -> Iterator[None]:
        waited = 0.0
        with self._cond:
            while True:
                now = self._clock()
                wait = self._try_start(now)
                if wait == 0.0:
                    break
                if wait > 0:
                    if waited + wait > self.limits.max_wait:
                        raise rate_limited_error(wait)
                    # Sleep outside the lock so other threads can still finish their calls.
                    self._cond.release()
                    try:
                        self._sleep(wait)
                    finally:
                        self._cond.acquire()
                    waited += wait
                else:
                    # Only the concurrency limit is in the way: wait for a call to finish.
                    self._cond.wait(timeout=1.0)
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()

    def acquire(self) -> AbstractContextManager[None]:
        return self._slot()

    def observe(self, headers: Mapping[str, str]) -> None:
        headers = {k.lower(): v for k, v in headers.items()}
        now = self._clock()
        with self._cond:
            for name, window in (("x-minlimit-remaining", self._minute), ("x-daylimit-remaining", self._day)):
                remaining = _int_header(headers, name)
                if remaining is not None:
                    window.sync_remaining(remaining, now)
            app_remaining = _int_header(headers, "x-applimit-remaining")
            if app_remaining is None:
                app_remaining = _int_header(headers, "x-appminlimit-remaining")
            if app_remaining is not None:
                with self._app.lock:
                    self._app.window.sync_remaining(app_remaining, now)

    def penalise(self, retry_after: float, problem: str | None) -> None:
        now = self._clock()
        with self._cond:
            if (problem or "").lower().startswith("day"):
                self._day_hold_until = max(self._day_hold_until, now + retry_after)
            else:
                self._hold_until = max(self._hold_until, now + retry_after)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


_registry_lock = threading.Lock()
_pacers: dict[tuple[str, str], Budget] = {}
_app_windows: dict[str, AppWindow] = {}


def pacer_for(app: str, tenant: str, limits: Limits | None = None) -> Budget:
    """The one pacer of (app, tenant) in this process, shared by every client of that tenant."""
    with _registry_lock:
        pacer = _pacers.get((app, tenant))
        if pacer is None:
            limits = limits or Limits()
            window = _app_windows.setdefault(app, AppWindow(limits.app_per_minute))
            pacer = MovingWindowPacer(limits, window)
            _pacers[(app, tenant)] = pacer
        return pacer


def reset_pacers() -> None:
    """Forget every shared pacer (tests, or after a process fork)."""
    with _registry_lock:
        _pacers.clear()
        _app_windows.clear()
