"""Benchmark: does the client run each platform's rate limits to the edge without a 429?

Drives the real connectors (provider -> client -> retry loop -> budget) from as many threads as the platform
lets run at once against the local Xero and QuickBooks Online sandboxes, at their real limits, and prints per
run: calls the sandbox accepted, 429s it sent, the busiest minute against its limit, and utilisation: 60 s /
(60 s + how long after the window had room each held call was sent, on average); beside it the run's time
against the least the published limits allow for the same calls (the greedy schedule with zero latency). The
sandboxes' rate windows run on the real clock (their /_sandbox/clock moves token lifetimes only), so a run
lasts `--windows` real minutes; `--scale` shrinks every limit (and so the number of
calls) for a quick run. Never asserts on time.

    .venv/bin/python benchmarks/pacing.py                      # Xero 60/min, QBO 500/min and 40 batches/min, 2 windows
    .venv/bin/python benchmarks/pacing.py --scale 0.1          # CI: 6/min, 50/min, 4 batches/min (about 2 minutes)
    .venv/bin/python benchmarks/pacing.py --only xero --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from ledgersync.demo import SandboxHandle, connect_sandbox, qbo_sandbox, xero_sandbox
from ledgersync.engine import LedgerSync
from ledgersync.providers.budget import MINUTE, Call, Policy
from ledgersync.providers.qbo.client import qbo_policies
from ledgersync.providers.xero.client import xero_policies


@dataclass
class Figures:
    run: str
    limit: str
    threads: int
    calls: int
    rate_limited: int
    refused_by: dict[str, int]
    busiest: int
    window_limit: int
    seconds: float
    ideal_seconds: float
    # least possible time / time taken (throughput of the machine in a burst counts against it)
    vs_least: float
    # how long after the minute window had room each held call was sent, on average and at most
    edge_wait_ms: float
    edge_wait_max_ms: float
    # the limit's allowance used while the window held the calls back: span / (span + mean edge wait)
    utilisation: float

    def line(self) -> str:
        return (
            f"{self.run:<16} {self.limit:<27} threads {self.threads:>2}  calls {self.calls:>5}"
            f"  429s {self.rate_limited:>3}{' ' + str(self.refused_by) if self.refused_by else ''}"
            f"  busiest minute {self.busiest:>4}/{self.window_limit:<4}  utilisation {self.utilisation:7.2%}"
            f"  (sent {self.edge_wait_ms:.1f} ms after the window had room, at most {self.edge_wait_max_ms:.0f} ms)"
            f"  {self.seconds:6.2f} s for a least possible {self.ideal_seconds:6.2f} s ({self.vs_least:.1%})"
        )


def busiest(stamps: Sequence[float], span: float) -> int:
    """The most instants any `span`-long stretch holds."""
    ordered = sorted(stamps)
    best = lo = 0
    for hi, stamp in enumerate(ordered):
        while stamp - ordered[lo] >= span:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def least_seconds(calls: Sequence[Call], policies: Sequence[Policy], prior: int = 0) -> float:
    """From the first call to the last, the least time these policies allow if calls took no time: each call
    starts as soon as every window that counts it has room (the greedy schedule, the fastest a moving window
    permits), after `prior` calls made just before the first. Written apart from the budget's own code so that
    it is an independent yardstick."""
    starts: list[float] = []
    # The connect flow ran seconds before the first call: only the minute-long windows still hold its calls.
    seen = {
        p.name: [0.0] * (prior if p.span >= MINUTE and p.counts(CONNECT_CALL) else 0) for p in policies if p.span > 0
    }
    for call in calls:
        start = starts[-1] if starts else 0.0
        windows = [p for p in policies if p.span > 0 and p.counts(call)]
        for p in windows:
            if len(seen[p.name]) >= p.limit:
                start = max(start, seen[p.name][-p.limit] + p.span)
        for p in windows:
            seen[p.name].append(start)
        starts.append(start)
    return starts[-1] - starts[0] if starts else 0.0


_SETUP = threading.Lock()
# What QuickBooks' connect flow sends (QboOAuth.tenants reads CompanyInfo).
CONNECT_CALL = Call("GET", "companyinfo")


@contextmanager
def connected(
    opener: Callable[..., Any], sandbox_limits: dict[str, Any], client_limits: dict[str, str], client_id: str
) -> Iterator[tuple[SandboxHandle, Any, int]]:
    limits = {"rate_limits": sandbox_limits}
    with tempfile.TemporaryDirectory() as tmp, opener(config=limits, client_id=client_id) as sb:
        # Alembic's migration context is process-global: open the stores one at a time.
        with _SETUP:
            ls = LedgerSync(f"sqlite:///{Path(tmp) / 'bench.db'}", secret_keys=[Fernet.generate_key().decode()])
        org = ls.create_organisation("Pacing benchmark")
        conn_id = connect_sandbox(ls, org, sb, client_limits)
        provider: Any = ls.open_provider(conn_id)
        provider.on_call = None
        # Connecting QuickBooks reads CompanyInfo (QboOAuth.tenants) outside any budget, and the platform counts
        # it: tell the budget, as a backend shared with the connect flow would know, or the first burst of the
        # run would be one call over. (Xero's connect flow calls only identity endpoints, which are not counted.)
        before = int(sb.control.get("/_sandbox/counters").json()["total_calls"])
        budget = provider.client.budget
        for policy in budget.policies:
            if before and policy.span > 0 and policy.counts(CONNECT_CALL):
                budget.backend.observe(budget.window(policy.name), policy.limit - before)
        try:
            yield sb, provider, before
        finally:
            provider.close()


def drive(client: Any, jobs: list[Callable[[int], object]], threads: int) -> list[float]:
    """Run the jobs from `threads` threads; returns when each HTTP request left (retries included)."""
    sent: list[float] = []
    lock = threading.Lock()

    def on_request(request: httpx.Request) -> None:
        with lock:
            sent.append(time.monotonic())

    client.http.event_hooks["request"] = [on_request]
    queue = iter(range(len(jobs)))
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                index = next(queue, None)
            if index is None:
                return
            try:
                jobs[index](index)
            except BaseException as exc:  # reported below
                errors.append(exc)
                return

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return sent


def figures(
    run: str, limit: str, threads: int, sb: SandboxHandle, sent: Sequence[float], ideal: float, window_limit: int
) -> Figures:
    counters = sb.control.get("/_sandbox/counters").json()
    refused = sum(int(v) for v in counters["rate_limited"].values())
    seconds = max(sent) - min(sent)
    ordered = sorted(sent)
    # Each call beyond the first window's worth may go once the call `limit` places before it leaves the
    # window; how much later it actually went is what pacing cost.
    waits = [ordered[j] - (ordered[j - window_limit] + MINUTE) for j in range(window_limit, len(ordered))]
    mean_wait = sum(waits) / len(waits) if waits else 0.0
    return Figures(
        run,
        limit,
        threads,
        int(counters["total_calls"]) - refused,
        refused,
        {k: int(v) for k, v in counters["rate_limited"].items() if v},
        busiest(sent, MINUTE),
        window_limit,
        round(seconds, 3),
        round(ideal, 3),
        round(ideal / seconds, 4) if seconds else 1.0,
        round(mean_wait * 1000, 2),
        round(max(waits, default=0.0) * 1000, 2),
        round(MINUTE / (MINUTE + mean_wait), 5),
    )


def scaled(value: int, scale: float) -> int:
    return max(1, round(value * scale))


def xero_run(scale: float, windows: int) -> Figures:
    per_minute = scaled(60, scale)
    sandbox = {"concurrent": 5, "minute": per_minute, "day": 5000, "app_minute": 10_000}
    client = {"per_minute": str(per_minute)}
    with connected(xero_sandbox, sandbox, client, "BENCHPACEXERO") as (sb, provider, prior):
        sb.control.post("/_sandbox/counters/reset").raise_for_status()
        n = per_minute * windows - prior
        sent = drive(provider.client, [lambda i: provider.client.get("Contacts", params={"page": "1"})] * n, 5)
        ideal = least_seconds([Call("GET", "Contacts")] * n, xero_policies(per_minute=per_minute), prior)
        return figures("xero requests", f"{per_minute}/min, 5 at once", 5, sb, sent, ideal, per_minute)


def qbo_limits(scale: float, per_second: bool = True) -> tuple[dict[str, Any], dict[str, str], tuple[Policy, ...]]:
    per_minute, batches = scaled(500, scale), scaled(40, scale)
    # The sandbox does not enforce Intuit's 10 a second; lifted, the run measures the limits it does enforce.
    second = scaled(10, scale) if per_second else 10**6
    sandbox = {
        "minute": per_minute,
        "concurrent": 10,
        "batch_minute": batches,
        "batch_realm_minute": scaled(120, scale),
    }
    client = {"per_minute": str(per_minute), "per_second": str(second), "batch_per_minute": str(batches)}
    return sandbox, client, qbo_policies(per_minute=per_minute, per_second=second, batch_per_minute=batches)


def qbo_requests(scale: float, windows: int, per_second: bool) -> Figures:
    sandbox, client, policies = qbo_limits(scale, per_second)
    per_minute = policies[0].limit
    limit = f"{per_minute}/min, " + (f"{policies[1].limit}/s, " if per_second else "") + "10 at once"
    app = "BENCHPACEQBO" + ("S" if per_second else "")
    with connected(qbo_sandbox, sandbox, client, app) as (sb, provider, prior):
        sb.control.post("/_sandbox/counters/reset").raise_for_status()
        # Every call of the connect flow counts, so the run makes that many fewer to fill whole windows.
        n = per_minute * windows - prior
        sent = drive(provider.client, [lambda i: provider.client.query("SELECT * FROM Customer MAXRESULTS 1")] * n, 10)
        ideal = least_seconds([Call("GET", "query")] * n, policies, prior)
        run = "qbo requests" + (" +1s" if per_second else "")
        return figures(run, limit, 10, sb, sent, ideal, per_minute)


def qbo_requests_run(scale: float, windows: int) -> Figures:
    return qbo_requests(scale, windows, per_second=False)


def qbo_per_second_run(scale: float, windows: int) -> Figures:
    return qbo_requests(scale, windows, per_second=True)


def qbo_batches_run(scale: float, windows: int) -> Figures:
    sandbox, client, policies = qbo_limits(scale)
    batches = policies[3].limit
    body = {"BatchItemRequest": [{"bId": "1", "Query": "SELECT * FROM Customer MAXRESULTS 1"}]}
    with connected(qbo_sandbox, sandbox, client, "BENCHPACEQBOBATCH") as (sb, provider, prior):
        sb.control.post("/_sandbox/counters/reset").raise_for_status()
        n = batches * windows
        job = lambda i: provider.client.write("batch", body, request_id=f"bench-{i}", batch=True)  # noqa: E731
        sent = drive(provider.client, [job] * n, 10)
        ideal = least_seconds([Call("POST", "batch", is_write=True)] * n, policies, prior)
        return figures("qbo batches", f"{batches} batches/min", 10, sb, sent, ideal, batches)


RUNS: dict[str, Callable[[float, int], Figures]] = {
    "xero": xero_run,
    "qbo": qbo_requests_run,
    "qbo-second": qbo_per_second_run,
    "qbo-batch": qbo_batches_run,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="limit factor (1.0 = the platforms' real limits)")
    parser.add_argument("--windows", type=int, default=2, help="minutes' worth of calls per run (at least 2)")
    parser.add_argument("--only", choices=sorted(RUNS), action="append", help="run only these (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    windows = max(2, args.windows)
    chosen = args.only or list(RUNS)
    results: dict[str, Figures] = {}
    # The runs share nothing (a sandbox, an app and a budget each), so they run side by side.
    def run(name: str) -> None:
        results[name] = RUNS[name](args.scale, windows)

    threads = [threading.Thread(target=run, args=(name,)) for name in chosen]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    missing = [name for name in chosen if name not in results]
    if missing:
        print(f"runs failed: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"pacing at scale {args.scale} over {windows} windows ({time.monotonic() - started:.0f} s):")
    for name in chosen:
        print("  " + results[name].line())
    if args.json:
        args.json.write_text(json.dumps({name: asdict(results[name]) for name in chosen}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
