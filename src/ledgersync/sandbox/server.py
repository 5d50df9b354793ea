"""Run an ASGI app with uvicorn on a background thread (ephemeral port) for tests, demos and benchmarks."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class RunningServer:
    """A uvicorn server on a daemon thread; `.url` is its base URL, `.stop()` shuts it down."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int) -> None:
        self.server = server
        self.thread = thread
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 15.0,
    log_level: str = "warning",
) -> RunningServer:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=1,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{host}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn exited during startup")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError("uvicorn did not start in time")
        time.sleep(0.01)
    bound = port
    for srv in server.servers:
        for sock in srv.sockets:
            bound = int(sock.getsockname()[1])
            break
    return RunningServer(server, thread, host, bound)
