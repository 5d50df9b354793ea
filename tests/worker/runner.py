"""`ledgersync <args>` in a worker process whose lease holds are written down, for the one-holder test.

With LEDGERSYNC_TEST_LEASE_LOG set, every hold of a connection's lease appends one JSON line
[connection, pid, acquired, releasing] (wall clock) to that file. Both instants lie inside the real hold
(taken after the lease was acquired, before it is released), so two lines for one connection that overlap
mean two processes really held it at once."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOG = os.environ.get("LEDGERSYNC_TEST_LEASE_LOG")

if sys.platform == "linux":  # die with the test run, even one killed by a timeout (no orphaned workers)
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

if LOG:
    import ledgersync.engine.sync as sync_module

    real_hold = sync_module.hold

    @contextmanager
    def recorded_hold(store: Any, conn_id: str, settings: Any = None, **kwargs: Any) -> Iterator[Any]:
        with real_hold(store, conn_id, settings, **kwargs) as held:
            acquired = time.time()
            try:
                yield held
            finally:
                line = json.dumps([conn_id, os.getpid(), acquired, time.time()])
                with open(LOG, "a") as f:
                    f.write(line + "\n")

    sync_module.hold = recorded_hold  # type: ignore[assignment]

from ledgersync.cli import app  # noqa: E402

app(sys.argv[1:])
