"""Xero's API rate limits: concurrent, per-minute and per-day per (app, tenant), and app-wide per minute."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Window:
    stamps: deque[float] = field(default_factory=deque)

    def trim(self, now: float, span: float) -> None:
        while self.stamps and self.stamps[0] <= now - span:
            self.stamps.popleft()


@dataclass
class Decision:
    problem: str | None  # concurrent | minute | day | appminute, or None when allowed
    retry_after: int
    headers: dict[str, str]


class RateLimiter:
    """Rolling windows; only accepted requests consume quota (a 429 does not count against you)."""

    def __init__(self) -> None:
        self.in_flight: dict[tuple[str, str], int] = {}
        self.minute: dict[tuple[str, str], _Window] = {}
        self.day: dict[tuple[str, str], _Window] = {}
        self.app_minute: dict[str, _Window] = {}

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def acquire(self, client_id: str, tenant_id: str, limits: dict[str, Any]) -> Decision:
        now = time.monotonic()
        key = (client_id, tenant_id)
        mw = self.minute.setdefault(key, _Window())
        dw = self.day.setdefault(key, _Window())
        aw = self.app_minute.setdefault(client_id, _Window())
        mw.trim(now, 60.0)
        dw.trim(now, 86400.0)
        aw.trim(now, 60.0)
        lim_c = int(limits.get("concurrent", 5))
        lim_m = int(limits.get("minute", 60))
        lim_d = int(limits.get("day", 5000))
        lim_a = int(limits.get("app_minute", 10000))

        def headers() -> dict[str, str]:
            return {
                "X-MinLimit-Remaining": str(max(0, lim_m - len(mw.stamps))),
                "X-DayLimit-Remaining": str(max(0, lim_d - len(dw.stamps))),
                "X-AppMinLimit-Remaining": str(max(0, lim_a - len(aw.stamps))),
            }

        def wait(w: _Window, span: float) -> int:
            return max(1, math.ceil(w.stamps[0] + span - now)) if w.stamps else 1

        if len(dw.stamps) >= lim_d:
            return Decision("day", wait(dw, 86400.0), headers())
        if len(aw.stamps) >= lim_a:
            return Decision("appminute", wait(aw, 60.0), headers())
        if len(mw.stamps) >= lim_m:
            return Decision("minute", wait(mw, 60.0), headers())
        if self.in_flight.get(key, 0) >= lim_c:
            return Decision("concurrent", 1, headers())
        mw.stamps.append(now)
        dw.stamps.append(now)
        aw.stamps.append(now)
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        return Decision(None, 0, headers())

    def release(self, client_id: str, tenant_id: str) -> None:
        key = (client_id, tenant_id)
        self.in_flight[key] = max(0, self.in_flight.get(key, 0) - 1)
