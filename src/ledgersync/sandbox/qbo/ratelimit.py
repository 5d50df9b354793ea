"""QBO throttles: requests/minute and concurrent requests per realm, batch requests/minute per realm+app and realm."""

from __future__ import annotations

import time
from collections import deque
from typing import Any


class _Window:
    __slots__ = ("stamps",)

    def __init__(self) -> None:
        self.stamps: deque[float] = deque()

    def count(self, now: float, span: float = 60.0) -> int:
        while self.stamps and self.stamps[0] <= now - span:
            self.stamps.popleft()
        return len(self.stamps)


class RateLimiter:
    """Rolling 60 s windows; a throttled request does not consume quota. QBO sends no rate-limit headers."""

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = {}
        self.minute: dict[str, _Window] = {}
        self.batch_app: dict[tuple[str, str], _Window] = {}
        self.batch_realm: dict[str, _Window] = {}

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def acquire(self, client_id: str, realm: str, limits: dict[str, Any], batch: bool) -> str | None:
        """None when allowed (and counted), else the limit hit: minute | concurrent | batch."""
        now = time.monotonic()
        mw = self.minute.setdefault(realm, _Window())
        if mw.count(now) >= int(limits.get("minute", 500)):
            return "minute"
        if self.in_flight.get(realm, 0) >= int(limits.get("concurrent", 10)):
            return "concurrent"
        if batch:
            bw = self.batch_app.setdefault((realm, client_id), _Window())
            rw = self.batch_realm.setdefault(realm, _Window())
            if bw.count(now) >= int(limits.get("batch_minute", 40)) or rw.count(now) >= int(
                limits.get("batch_realm_minute", 120)
            ):
                return "batch"
            bw.stamps.append(now)
            rw.stamps.append(now)
        mw.stamps.append(now)
        self.in_flight[realm] = self.in_flight.get(realm, 0) + 1
        return None

    def release(self, realm: str) -> None:
        self.in_flight[realm] = max(0, self.in_flight.get(realm, 0) - 1)
