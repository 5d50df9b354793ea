"""Write-through persistence: a sandbox with --data saves each change to its file before it answers.

A platform never forgets what it confirmed, so the sandbox must not either: the engine's crash tests kill it
with SIGKILL and expect every record it answered 200 for to be there after a restart from --data. The save
runs in the event loop as the response starts, so it sees the state exactly as the handler left it and saves
happen in request order (an older snapshot can never replace a newer one)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .persistence import PersistedState


class WriteThrough:
    """ASGI middleware: when a request changed the state (`sb.dirty`), the --data file is rewritten (atomic
    replace, fsync) before the response's first byte is sent. Without --data it does nothing."""

    def __init__(self, app: ASGIApp, sb: PersistedState) -> None:
        self.app = app
        self.sb = sb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def saved_then_sent(message: Message) -> None:
            if message["type"] == "http.response.start" and self.sb.dirty and self.sb.data_path is not None:
                self.sb.save()
            await send(message)

        await self.app(scope, receive, saved_then_sent)
