"""The ASGI app both sandboxes build: routes plus a lifespan that persists state and stops webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from .durable import WriteThrough
from .persistence import PersistedState, persist_loop


class _Closable(Protocol):
    async def close(self) -> None: ...


class SandboxRuntime(Protocol):
    """What the app factory needs of a platform's Runtime (its live, unpersisted objects)."""

    @property
    def sb(self) -> PersistedState: ...

    @property
    def webhooks(self) -> _Closable: ...


def fault_rng(faults: dict[str, Any]) -> random.Random:
    """The fault-injection RNG: reproducible when the faults config sets a seed."""
    seed = faults.get("seed")
    return random.Random(seed) if seed is not None else random.Random()


def build_app(
    rt: SandboxRuntime,
    routes: Sequence[BaseRoute],
    on_startup: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> ASGIApp:
    """A Starlette app over `routes`; `app.state.rt` / `app.state.sandbox` give handlers the runtime and state."""
    sb = rt.sb

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        tasks = [asyncio.create_task(on_startup())] if on_startup is not None else []
        if sb.data_path is not None:
            tasks.append(asyncio.create_task(persist_loop(sb)))
        try:
            yield {}
        finally:
            for t in tasks:
                t.cancel()
            await rt.webhooks.close()
            if sb.data_path is not None:
                sb.save()

    app = Starlette(routes=list(routes), lifespan=lifespan)
    # Each confirmed change is on disk before it is confirmed (with --data), so a SIGKILL loses nothing.
    app.add_middleware(WriteThrough, sb=sb)
    app.state.rt = rt
    app.state.sandbox = sb
    return app
