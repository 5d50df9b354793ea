"""A BudgetBackend in Redis: every worker on every machine that uses one Redis counts against the same windows.

Why Lua and not the `limits` library (installed, and its Redis storage was the first choice): the budget's
contract (providers/budget.py, measured by benchmarks/pacing.py) is that a call takes a place in *every*
window that counts it at once, or in none, holds it while it is in flight (a concurrency window counts only
those), and from its answer keeps it for the window's span. `limits`' moving windows stamp an entry when it is
admitted and cannot move the stamp to the answer, test and take one key per call (taking the minute window and
then failing on the day window leaves the minute spent), and have no calls-in-flight notion, so neither the
all-or-nothing reservation nor Xero's five concurrent calls can be built on them. Four short scripts do it
here, each atomic in Redis:

- every window is two sorted sets: `f` holds the calls in flight (member the ticket, score the moment a
  worker that died mid-call stops holding it: `in_flight_ttl` after the send) and `d` the finished calls
  (score the moment each stops counting). A call in flight past its expiry is moved to `d` as if answered
  then, so a dead worker frees its concurrency slot and its call still counts for a span;
- `reserve` trims both, computes every window's wait exactly as `InMemoryBudgetBackend` does and, when all
  have room, adds the ticket to every `f` in the same script;
- `release` moves the ticket from each `f` to `d`, scored by its answer (or, with a `latency_cap`, at most
  that long after the send) plus the span;
- Redis's TIME is the clock, so workers on several machines agree on it without agreeing with each other.

Keys are `<prefix>:<window key>:f|d|h` plus `<prefix>:seq`; they expire once nothing in them can matter. A
script touches several keys, so on Redis Cluster give the prefix one hash tag (e.g. `{ledgersync}:budget`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis

from ledgersync.providers.budget import _EPSILON, _HISTORY, Reservation, Window

_TIME = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.6f', x) end
-- Calls in flight past their expiry belong to a worker that died: they stop holding a place in flight and
-- count as if answered at their expiry.
local function expire_in_flight(f, d, span)
  local dead = redis.call('ZRANGEBYSCORE', f, '-inf', fmt(now), 'WITHSCORES')
  for j = 1, #dead, 2 do
    if span > 0 then redis.call('ZADD', d, fmt(tonumber(dead[j + 1]) + span), dead[j]) end
  end
  if #dead > 0 then redis.call('ZREMRANGEBYSCORE', f, '-inf', fmt(now)) end
end
"""

# KEYS: seq, then per window f, d, h.  ARGV: n, in_flight_ttl, history, epsilon, then per window limit, span.
_RESERVE = (
    _TIME
    + """
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local history = tonumber(ARGV[3])
local eps = tonumber(ARGV[4])
local longest, blocked, in_flight_block = 0, 0, 0
for i = 1, n do
  local f, d, h = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  local limit, span = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  expire_in_flight(f, d, span)
  redis.call('ZREMRANGEBYSCORE', d, '-inf', fmt(now - history))
  local in_flight = redis.call('ZCARD', f)
  local finished = redis.call('ZCOUNT', d, '(' .. fmt(now), '+inf')
  local excess = in_flight + finished - limit + 1
  local wait, only_in_flight = 0, false
  if excess > 0 then
    if excess <= finished then
      local r = redis.call('ZRANGEBYSCORE', d, '(' .. fmt(now), '+inf', 'WITHSCORES', 'LIMIT', excess - 1, 1)
      wait = math.max(0, tonumber(r[2]) - now)
    elseif span > 0 then
      wait = span
    else
      only_in_flight = true
    end
  end
  local held = tonumber(redis.call('GET', h) or '0') - now
  if only_in_flight and held <= eps then
    if in_flight_block == 0 then in_flight_block = i end
  else
    wait = math.max(wait, held)
    if wait > longest then longest, blocked = wait, i end
  end
end
if longest > eps then return {0, fmt(now), fmt(longest), blocked} end
if in_flight_block > 0 then return {0, fmt(now), '-1', in_flight_block} end
local ticket = redis.call('INCR', KEYS[1])
for i = 1, n do
  local f, d, h = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  local span = tonumber(ARGV[4 + 2 * i])
  redis.call('ZADD', f, fmt(now + ttl), ticket)
  redis.call('EXPIRE', f, math.ceil(ttl + span + history))
  redis.call('EXPIRE', d, math.ceil(ttl + span + history))
end
return {ticket, fmt(now), '0', 0}
"""
)

# KEYS: per window f, d.  ARGV: ticket, started, history, n, then per window span, latency_cap (-1: none).
_RELEASE = (
    _TIME
    + """
local ticket, started, history, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 1, n do
  local f, d = KEYS[2 * i - 1], KEYS[2 * i]
  local span, cap = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  -- Not in flight any more (expired as a dead worker's): it already counts from its expiry.
  if redis.call('ZREM', f, ticket) == 1 and span > 0 then
    local anchor = now
    if cap >= 0 then anchor = math.min(now, started + cap) end
    redis.call('ZADD', d, fmt(anchor + span), ticket)
    redis.call('EXPIRE', d, math.ceil(span + history))
  end
end
return fmt(now)
"""
)

# KEYS: f, d, seq.  ARGV: limit, span, remaining, as_of ('' = now), history.
_OBSERVE = (
    _TIME
    + """
local f, d = KEYS[1], KEYS[2]
local limit, span, remaining = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local as_of = now
if ARGV[4] ~= '' then as_of = tonumber(ARGV[4]) end
expire_in_flight(f, d, span)
local ours = redis.call('ZCARD', f) + redis.call('ZCOUNT', d, '(' .. fmt(as_of), '+inf')
local elsewhere = math.min(limit, (limit - remaining) - ours)
if elsewhere > 0 and span > 0 then
  for j = 1, elsewhere do
    redis.call('ZADD', d, fmt(now + span), 'o' .. redis.call('INCR', KEYS[3]))
  end
  redis.call('EXPIRE', d, math.ceil(span + tonumber(ARGV[5])))
end
return elsewhere
"""
)

# KEYS: h.  ARGV: seconds.
_PENALISE = (
    _TIME
    + """
local till = now + math.max(0, tonumber(ARGV[1]))
if till > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], fmt(till), 'PX', math.ceil((till - now) * 1000) + 1000)
end
return fmt(till)
"""
)

# KEYS: f, d.  ARGV: span.
_USAGE = (
    _TIME
    + """
expire_in_flight(KEYS[1], KEYS[2], tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1]) + redis.call('ZCOUNT', KEYS[2], '(' .. fmt(now), '+inf')
"""
)


class RedisBudgetBackend:
    """BudgetBackend shared through Redis by every process given the same URL and prefix.

    `in_flight_ttl`: how long after its send a call still in flight is taken to belong to a dead worker (its
    place in flight freed, the call counted as answered then); keep it above a call's longest attempt (the
    connectors' timeout is 30 s). `poll`: how often a caller waiting for a call in flight looks again."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "ledgersync:budget",
        in_flight_ttl: float = 120.0,
        poll: float = 0.02,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.in_flight_ttl = in_flight_ttl
        self.poll = poll
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._observe = client.register_script(_OBSERVE)
        self._penalise = client.register_script(_PENALISE)
        self._usage = client.register_script(_USAGE)
        # The windows of each ticket this process holds (the process that reserved is the one that releases).
        self._tickets: dict[int, tuple[float, tuple[Window, ...]]] = {}
        self._guard = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisBudgetBackend:
        """`redis://host:port/db?prefix=...&in_flight_ttl=...` (prefix and in_flight_ttl are ours, the rest
        is redis-py's)."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if "prefix" in query:
            kwargs.setdefault("prefix", query.pop("prefix")[0])
        if "in_flight_ttl" in query:
            kwargs.setdefault("in_flight_ttl", float(query.pop("in_flight_ttl")[0]))
        rest = "&".join(f"{k}={v}" for k, vs in query.items() for v in vs)
        client = redis.Redis.from_url(urlunsplit(parts._replace(query=rest)))
        return cls(client, **kwargs)

    def _keys(self, key: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{key}"
        return f"{base}:f", f"{base}:d", f"{base}:h"

    def reserve(self, windows: Sequence[Window]) -> Reservation:
        keys: list[str] = [f"{self.prefix}:seq"]
        args: list[Any] = [len(windows), self.in_flight_ttl, _HISTORY, _EPSILON]
        for w in windows:
            keys.extend(self._keys(w.key))
            args.extend((w.limit, w.span))
        ticket, now, wait, blocked = self._reserve(keys=keys, args=args)
        started = float(now)
        if int(ticket):
            with self._guard:
                self._tickets[int(ticket)] = (started, tuple(windows))
            return Reservation(int(ticket), started)
        by = windows[int(blocked) - 1].key if int(blocked) else None
        waited = float(wait)
        return Reservation(None, started, None if waited < 0 else waited, by)

    def release(self, ticket: int) -> None:
        with self._guard:
            started, windows = self._tickets.pop(ticket, (0.0, ()))
        if not windows:
            return
        keys: list[str] = []
        args: list[Any] = [ticket, started, _HISTORY, len(windows)]
        for w in windows:
            f, d, _ = self._keys(w.key)
            keys.extend((f, d))
            args.extend((w.span, -1 if w.latency_cap is None else w.latency_cap))
        self._release(keys=keys, args=args)

    def wait_for_release(self, key: str, timeout: float) -> None:
        # A short poll: a call in flight lasts tens to hundreds of milliseconds, and a wake-up channel would
        # need a subscriber connection per waiting thread for the same effect.
        time.sleep(max(0.0, min(timeout, self.poll)))

    def observe(self, window: Window, remaining: int, as_of: float | None = None) -> None:
        f, d, _ = self._keys(window.key)
        self._observe(
            keys=[f, d, f"{self.prefix}:seq"],
            args=[window.limit, window.span, remaining, "" if as_of is None else repr(as_of), _HISTORY],
        )

    def penalise(self, key: str, seconds: float) -> None:
        self._penalise(keys=[self._keys(key)[2]], args=[seconds])

    def usage(self, window: Window) -> int:
        f, d, _ = self._keys(window.key)
        return int(self._usage(keys=[f, d], args=[window.span]))

    def clear(self) -> int:
        """Delete every key under this backend's prefix (tests and benchmarks start clean). Returns keys removed."""
        removed = 0
        for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=500):
            removed += int(self.redis.delete(key))
        return removed


__all__ = ["RedisBudgetBackend"]
