"""Failures to inject into a platform's API, as data every harness understands (the memory platform, sandboxes)."""

from __future__ import annotations

from dataclasses import dataclass

# The names fault counters use, on the memory platform and in the sandboxes' counters alike.
RATE_LIMITED = "429"
SERVER_ERROR = "500"
TIMEOUT_AFTER_COMMIT = "timeout_after_commit"
DROP_AFTER_COMMIT = "drop_after_commit"
FAULT_KINDS = (RATE_LIMITED, SERVER_ERROR, TIMEOUT_AFTER_COMMIT, DROP_AFTER_COMMIT)


@dataclass(frozen=True)
class Faults:
    """What fails, at what rate (0 to 1 per call), drawn from a generator seeded with `seed`.

    `rate_limited` and `server_error` answer before the platform does anything. `timeout_after_commit` and
    `drop_after_commit` let the platform commit and then lose the answer: the caller cannot tell whether a write
    landed. `latency_ms` slows every call; `hang_seconds` is how long an HTTP sandbox hangs on a timeout."""

    rate_limited: float = 0.0
    server_error: float = 0.0
    timeout_after_commit: float = 0.0
    drop_after_commit: float = 0.0
    latency_ms: float = 0.0
    hang_seconds: float = 1.5
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("rate_limited", "server_error", "timeout_after_commit", "drop_after_commit"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} is a rate between 0 and 1, not {rate}")
