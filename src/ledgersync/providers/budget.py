"""One rate budget per connection: a platform's named limits (policies) kept in a shared backend (this process's
memory, or Redis for every process: providers/budget_redis.py)."""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ledgersync.model import ErrorCode, ProviderError, SyncError

SECOND = 1.0
MINUTE = 60.0
DAY = 86_400.0

# A finished call is remembered this long after it stopped counting, so that a platform's remaining-calls
# header can be compared with what we had counted when that call was sent (see `observe`).
_HISTORY = 600.0
# Waits shorter than this are rounding, not a full window.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Call:
    """What is being asked of the platform: what the budget's policies match and the error interpreters read."""

    method: str
    path: str
    is_write: bool = False
    # A 404 is an answer ("no such record"), not a failure.
    allow_not_found: bool = False


def every_call(call: Call) -> bool:
    return True


@dataclass(frozen=True)
class PathIs:
    """Matches calls to one endpoint (the path without a leading slash), optionally only some methods."""

    path: str
    methods: frozenset[str] = frozenset()

    def __call__(self, call: Call) -> bool:
        if call.path.strip("/").lower() != self.path.strip("/").lower():
            return False
        return not self.methods or call.method.upper() in self.methods


@dataclass(frozen=True)
class Policy:
    """One published limit: at most `limit` calls counted in any `span` seconds.

    A call counts from the moment it is sent until `span` seconds after its answer arrived: the platform
    counts it at some instant in between, so its window can never hold a call that ours has let go.
    `span` 0 is a concurrency limit (calls in flight). `name` is also the platform's word for the limit in a
    429 (Xero's X-Rate-Limit-Problem), so a refusal holds the right window."""

    name: str
    limit: int
    span: float
    # "tenant": each organisation has its own window; "app": one window across every tenant of the app.
    scope: Literal["tenant", "app"] = "tenant"
    counts: Callable[[Call], bool] = field(default=every_call, compare=False)
    # Response headers in which the platform says how many calls of this window are left.
    remaining_headers: tuple[str, ...] = ()
    # A spent window that parks the connection (DAILY_LIMIT) instead of making the caller wait.
    park: bool = False
    # At most how long after its send a call starts its `span` (None: at its answer). Counting from the answer
    # costs a call's latency per span: nothing for a minute, but a large share of a one-second window, so a
    # short window may start at most this long after the send; that is safe while the platform receives our
    # calls within this much of each other's delay.
    latency_cap: float | None = None
    source: str = ""


@dataclass(frozen=True)
class Window:
    """One policy's window for one key (platform, app and, for tenant policies, the organisation)."""

    key: str
    limit: int
    span: float
    latency_cap: float | None = None


@dataclass(frozen=True)
class Reservation:
    """A backend's answer to `reserve`: a ticket (release it when the call has its answer), or how long to wait.

    `wait` is None when only calls in flight are in the way (wait for one to finish)."""

    ticket: int | None
    started: float
    wait: float | None = 0.0
    blocked_by: str | None = None


class BudgetBackend(Protocol):
    """Where the windows live, shared by every client that should count against the same limits.

    In memory for one process (`InMemoryBudgetBackend`), or in Redis for every worker of a deployment
    (`budget_redis.RedisBudgetBackend`: each window two sorted sets, calls in flight and finished calls scored
    by when they stop counting, `reserve` one Lua script over every key, Redis's TIME as the clock so that
    workers on several machines agree on it).

    The `limits` library's moving windows (memory and Redis) were considered as the backend and do not fit: they
    stamp a call when it is admitted and cannot move the stamp to its answer, have no notion of calls in flight
    (concurrency limits), admit one window at a time rather than all of a call's windows at once, and read
    time.time() with no clock to inject."""

    def reserve(self, windows: Sequence[Window]) -> Reservation:
        """Atomically take one place in every window, or say how long until all of them have one."""
        ...

    def release(self, ticket: int) -> None:
        """The call has its answer: from now, its places count for each window's span and then lapse."""
        ...

    def wait_for_release(self, key: str, timeout: float) -> None:
        """Block until some call in flight finishes (or `timeout` seconds pass)."""
        ...

    def observe(self, window: Window, remaining: int, as_of: float | None = None) -> None:
        """The platform says `remaining` calls of this window were left when it counted a call we sent at
        `as_of`: count any calls made elsewhere (another process, another installation of the app)."""
        ...

    def penalise(self, key: str, seconds: float) -> None:
        """The platform refused a call (429): hold this window for `seconds`."""
        ...

    def usage(self, window: Window) -> int:
        """Calls this window counts now (in flight or recently finished)."""
        ...


class _Log:
    """One window's calls: how many are in flight, and when each finished one stops counting (sorted)."""

    __slots__ = ("ends", "in_flight")

    def __init__(self) -> None:
        self.in_flight = 0
        self.ends: list[float] = []

    def trim(self, now: float) -> None:
        cut = bisect.bisect_right(self.ends, now - _HISTORY)
        if cut:
            del self.ends[:cut]

    def counted_after(self, instant: float) -> int:
        return len(self.ends) - bisect.bisect_right(self.ends, instant)

    def wait(self, now: float, limit: int, span: float) -> float | None:
        """0 when a call may start now; else seconds until one may, or None if only calls in flight block it."""
        first = bisect.bisect_right(self.ends, now)
        finished = len(self.ends) - first
        excess = self.in_flight + finished - limit + 1
        if excess <= 0:
            return 0.0
        if excess <= finished:
            return max(0.0, self.ends[first + excess - 1] - now)
        # Calls in flight must finish first; one finishing now still counts for a whole span.
        return span if span > 0 else None


class InMemoryBudgetBackend:
    """BudgetBackend for one process: every client given this object shares its windows."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._logs: dict[str, _Log] = {}
        self._holds: dict[str, float] = {}
        self._tickets: dict[int, tuple[float, tuple[Window, ...]]] = {}
        self._ids = itertools.count(1)

    def _log(self, key: str) -> _Log:
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = _Log()
        return log

    def reserve(self, windows: Sequence[Window]) -> Reservation:
        with self._cond:
            now = self._clock()
            longest = 0.0
            blocked_by: str | None = None
            in_flight_block: str | None = None
            for window in windows:
                wait = self._log(window.key).wait(now, window.limit, window.span)
                held = self._holds.get(window.key, 0.0) - now
                if wait is None and held <= _EPSILON:
                    in_flight_block = in_flight_block or window.key
                    continue
                wait = max(wait or 0.0, held)
                if wait > longest:
                    longest, blocked_by = wait, window.key
            if longest > _EPSILON:
                return Reservation(None, now, longest, blocked_by)
            if in_flight_block is not None:
                return Reservation(None, now, None, in_flight_block)
            for window in windows:
                self._log(window.key).in_flight += 1
            ticket = next(self._ids)
            self._tickets[ticket] = (now, tuple(windows))
            return Reservation(ticket, now)

    def release(self, ticket: int) -> None:
        with self._cond:
            now = self._clock()
            started, windows = self._tickets.pop(ticket, (now, ()))
            for window in windows:
                log = self._log(window.key)
                log.in_flight = max(0, log.in_flight - 1)
                if window.span > 0:
                    anchor = now if window.latency_cap is None else min(now, started + window.latency_cap)
                    bisect.insort(log.ends, anchor + window.span)
                log.trim(now)
            self._cond.notify_all()

    def wait_for_release(self, key: str, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)

    def observe(self, window: Window, remaining: int, as_of: float | None = None) -> None:
        with self._cond:
            now = self._clock()
            log = self._log(window.key)
            # Everything of ours the platform can have counted by then: calls in flight, and calls that still
            # counted at `as_of`. Only what exceeds that was made elsewhere.
            ours = log.in_flight + log.counted_after(now if as_of is None else as_of)
            elsewhere = (window.limit - remaining) - ours
            if elsewhere > 0 and window.span > 0:
                # We don't know when those calls were made: assume just now, so they lapse last.
                log.ends.extend([now + window.span] * elsewhere)
                log.ends.sort()

    def penalise(self, key: str, seconds: float) -> None:
        with self._cond:
            until = self._clock() + max(0.0, seconds)
            self._holds[key] = max(self._holds.get(key, 0.0), until)

    def usage(self, window: Window) -> int:
        with self._cond:
            log = self._log(window.key)
            return log.in_flight + log.counted_after(self._clock())


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


class Budget:
    """One connection's view of its platform's limits: the policies that count a call, kept in a backend.

    Every client of the same (app, tenant) given the same backend shares the same windows; `app`-scoped
    policies are shared by every tenant of the app."""

    def __init__(
        self,
        policies: Sequence[Policy],
        *,
        app: str,
        tenant: str,
        backend: BudgetBackend | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 90.0,
    ) -> None:
        self.policies = tuple(policies)
        if len({p.name for p in self.policies}) != len(self.policies):
            raise ValueError("policy names must be unique")
        self.backend: BudgetBackend = backend if backend is not None else InMemoryBudgetBackend()
        self._sleep = sleep
        # Longest a caller is made to wait for a window to open; beyond it RATE_LIMITED is raised so a worker
        # thread is never parked for long.
        self.max_wait = max_wait
        self._windows = {
            p.name: Window(f"{app}|{'*' if p.scope == 'app' else tenant}|{p.name}", p.limit, p.span, p.latency_cap)
            for p in self.policies
        }
        self._by_key = {self._windows[p.name].key: p for p in self.policies}

    def window(self, name: str) -> Window:
        return self._windows[name]

    def windows_for(self, call: Call) -> list[Window]:
        return [self._windows[p.name] for p in self.policies if p.counts(call)]

    @contextmanager
    def slot(self, call: Call) -> Iterator[Reservation]:
        """Hold a place in every window that counts `call` while it runs (raising DAILY_LIMIT for a spent
        parking window, RATE_LIMITED rather than a wait beyond `max_wait`)."""
        windows = self.windows_for(call)
        waited = 0.0
        while True:
            reservation = self.backend.reserve(windows)
            if reservation.ticket is not None:
                break
            policy = self._by_key.get(reservation.blocked_by or "")
            wait = reservation.wait
            if wait is None:
                # Only the concurrency limit is in the way: wait for a call to finish.
                self.backend.wait_for_release(reservation.blocked_by or "", 1.0)
                continue
            if policy is not None and policy.park:
                raise daily_limit_error(wait)
            if waited + wait > self.max_wait:
                raise rate_limited_error(wait)
            self._sleep(wait)
            waited += wait
        try:
            yield reservation
        finally:
            self.backend.release(reservation.ticket)

    def observe(self, headers: Mapping[str, str], *, as_of: float | None = None) -> None:
        """Learn from the platform's remaining-calls headers (answered to a call sent at `as_of`)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        for policy in self.policies:
            for name in policy.remaining_headers:
                remaining = _int_header(lowered, name.lower())
                if remaining is not None:
                    self.backend.observe(self._windows[policy.name], remaining, as_of)
                    break

    def penalise(self, retry_after: float, problem: str | None = None) -> None:
        """The platform refused a call: hold the window it named (or, unnamed, the first policy's) for
        `retry_after` seconds."""
        wanted = (problem or "").strip().lower()
        policy = next((p for p in self.policies if p.name.lower() == wanted), None)
        if policy is None and wanted.startswith("day"):
            policy = next((p for p in self.policies if p.park), None)
        policy = policy or self.policies[0]
        self.backend.penalise(self._windows[policy.name].key, retry_after)

    def usage(self, name: str) -> int:
        return self.backend.usage(self._windows[name])


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


__all__ = [
    "DAY",
    "MINUTE",
    "SECOND",
    "Budget",
    "BudgetBackend",
    "Call",
    "InMemoryBudgetBackend",
    "PathIs",
    "Policy",
    "Reservation",
    "Window",
    "daily_limit_error",
    "every_call",
    "rate_limited_error",
]
