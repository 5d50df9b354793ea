"""The Integrations page's one-time export (every product or customer to a connection's platform), run in a
background thread so the page can show its progress; one run per connection and kind at a time."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from ledgersync import ConnectionBusy, LedgerSync, ProviderError
from ledgersync.store import LeaseLost

log = logging.getLogger(__name__)

KINDS = ("products", "customers")


@dataclass
class ExportRun:
    conn_id: str
    what: str
    done: int = 0
    total: int | None = None
    running: bool = True
    line: str | None = None
    error: str | None = None

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if not self.running else 0
        return min(100, round(100 * self.done / self.total))


class ExportRuns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], ExportRun] = {}

    def get(self, conn_id: str, what: str) -> ExportRun | None:
        with self._lock:
            return self._runs.get((conn_id, what))

    def for_connection(self, conn_id: str) -> list[ExportRun]:
        with self._lock:
            return [r for (c, _), r in sorted(self._runs.items()) if c == conn_id]

    def start(self, ls: LedgerSync, conn_id: str, what: str) -> ExportRun:
        """Start an export unless the same one is running (then that run is returned)."""
        if what not in KINDS:
            raise ValueError(f"export what? one of {', '.join(KINDS)}")
        with self._lock:
            current = self._runs.get((conn_id, what))
            if current is not None and current.running:
                return current
            run = ExportRun(conn_id, what)
            self._runs[(conn_id, what)] = run

        def progress(_phase: str, n: int, total: int | None) -> None:
            with self._lock:
                run.done += n
                run.total = total

        def work() -> None:
            try:
                summary = ls.export(conn_id, what, progress=progress)
                line = summary.line()
                with self._lock:
                    run.line, run.done, run.total = line, summary.total, summary.total
            except ProviderError as exc:
                with self._lock:
                    run.error = " ".join(p for p in (exc.error.message, exc.error.hint) if p)
            except ValueError as exc:
                with self._lock:
                    run.error = str(exc)
            except ConnectionBusy:
                with self._lock:
                    run.error = (
                        "a sync of this connection was running, so nothing was exported. Export again when it has "
                        "finished."
                    )
            except LeaseLost:
                with self._lock:
                    run.error = "another worker took this connection over while it ran. Export again to finish it."
            except Exception:  # never a dead thread, and never a traceback on the page
                log.exception("export of %s on %s failed", what, conn_id)
                with self._lock:
                    run.error = (
                        "it failed on an unexpected error (the server log has the details). Export again; what "
                        "was sent already is not sent twice."
                    )
            finally:
                with self._lock:
                    run.running = False

        threading.Thread(target=work, name=f"export-{what}-{conn_id}", daemon=True).start()
        return run

    def view(self, run: ExportRun) -> dict[str, Any]:
        with self._lock:
            return {
                "conn_id": run.conn_id,
                "what": run.what,
                "done": run.done,
                "total": run.total,
                "percent": run.percent,
                "running": run.running,
                "line": run.line,
                "error": run.error,
            }
