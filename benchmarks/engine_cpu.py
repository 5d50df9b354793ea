"""Engine CPU per pushed record, with the in-memory reference platform (no HTTP, no sandbox).

One export of 1,000 contacts, 2,000 invoices and 2,000 payments (at --scale 1) through `LedgerSync.sync` with
the memory provider, batches of 50. The platform's own work runs in this process too, so its CPU is timed
apart (every `MemoryPlatform.api_*` call) and taken off: what is left is the engine's (plan, execute's
bookkeeping, record, the store). Also counts the SQL statements by kind and the ORM flushes.

Prints figures; asserts nothing about time.

    python benchmarks/engine_cpu.py                     # 5,000 records
    python benchmarks/engine_cpu.py --scale 0.02        # CI
    python benchmarks/engine_cpu.py --profile out.pstats
    python benchmarks/engine_cpu.py --no-overlap        # batches recorded before the next is sent (no thread)
    python benchmarks/engine_cpu.py --against ../old-checkout --rounds 4   # A/B: that checkout's src/ vs this one
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import event
from sqlalchemy.orm import Session

from ledgersync import Allocation, Contact, EngineSettings, Invoice, InvoiceLine, LedgerSync, Payment
from ledgersync.testing import MemoryPlatform, MemorySpec, connect_memory

DAY = dt.date(2026, 11, 2)


def corpus(contacts: int, invoices: int, payments: int) -> list[Any]:
    out: list[Any] = [Contact(id=f"c{i}", name=f"Customer {i:05d}", email=f"c{i}@example.com") for i in range(contacts)]
    for i in range(invoices):
        out.append(
            Invoice(
                id=f"i{i}",
                contact_id=f"c{i % contacts}",
                number=f"INV-{i:06d}",
                date=DAY,
                lines=[InvoiceLine(description="Service", unit_amount=Decimal("100.00") + i % 7)],
            )
        )
    for i in range(payments):
        inv = i % invoices
        out.append(
            Payment(
                id=f"p{i}",
                date=DAY,
                amount=Decimal("50.00"),
                reference=f"R{i}",
                allocations=[Allocation(invoice_id=f"i{inv}", amount=Decimal("50.00"))],
            )
        )
    return out


class Counting:
    """SQL statements by kind and ORM flushes, on one engine."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.flushes = 0

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _sql(_conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, executemany: bool) -> None:
            kind = statement.lstrip().split(None, 1)[0].upper()
            self.statements[kind + (" (executemany)" if executemany else "")] += 1

        @event.listens_for(Session, "after_flush")
        def _flush(_s: Any, _ctx: Any) -> None:
            self.flushes += 1


def timed_platform(platform: MemoryPlatform) -> Callable[[], float]:
    """Wrap the platform's API methods so their CPU is summed; returns a reader of the sum."""
    spent = [0.0]
    for name in ("api_pull", "api_fetch", "api_push", "api_find", "api_remove", "api_restore"):
        original = getattr(platform, name)

        @functools.wraps(original)
        def wrapper(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[0] += time.thread_time() - t0

        setattr(platform, name, wrapper)
    return lambda: spent[0]


def run(scale: float, batch: int, profile: str | None, db: str | None, overlap: bool = True) -> dict[str, Any]:
    contacts, invoices, payments = (max(1, round(n * scale)) for n in (1000, 2000, 2000))
    records = corpus(contacts, invoices, payments)
    with tempfile.TemporaryDirectory() as tmp:
        url = db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        platform = MemoryPlatform.with_capabilities(batch_size=batch, page_size=1000)
        platform_cpu = timed_platform(platform)
        ls = LedgerSync(
            url,
            secret_keys=[Fernet.generate_key().decode()],
            settings=EngineSettings(retry_base_seconds=0, overlap_batches=overlap),
            providers={"memory": MemorySpec(platform)},
        )
        org = ls.create_organisation("Bench")
        conn = connect_memory(ls, org, "memory")
        ls.upsert_many(org, records)
        counting = Counting()
        counting.attach(ls.store.engine)
        calls0 = platform.total_calls
        prof = cProfile.Profile() if profile else None
        cpu0, wall0, plat0 = time.process_time(), time.perf_counter(), platform_cpu()
        if prof:
            prof.enable()
        report = ls.sync(conn)
        if prof:
            prof.disable()
        cpu, wall, plat = time.process_time() - cpu0, time.perf_counter() - wall0, platform_cpu() - plat0
        pushed = sum(report.pushed.values())
        engine_cpu = cpu - plat
        out = {
            "records": len(records),
            "status": report.status,
            "pushed": pushed,
            "calls": platform.total_calls - calls0,
            "wall_s": wall,
            "process_cpu_s": cpu,
            "platform_cpu_s": plat,
            "engine_cpu_s": engine_cpu,
            "engine_cpu_ms_per_record": 1000 * engine_cpu / max(1, pushed),
            "statements": dict(counting.statements),
            "flushes": counting.flushes,
            "calls_by_operation": dict(platform.calls),
        }
        if prof:
            prof.dump_stats(profile)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        ls.close() if hasattr(ls, "close") else None
        return out


def against(other: str, rounds: int, scale: float, batch: int, overlap: bool = True) -> int:
    """A/B in one run: this script in a fresh process on `other`'s src/ (A) and on this checkout's (B), alternating
    (A B, B A, ...), so the machine's drift hits both; prints each run and the medians."""
    here = str(Path(__file__).resolve().parent.parent / "src")
    sides = {"A": str(Path(other).resolve() / "src"), "B": here}
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    for r in range(rounds):
        for side in ("A", "B") if r % 2 == 0 else ("B", "A"):
            env = {**os.environ, "PYTHONPATH": sides[side]}
            cmd = [sys.executable, __file__, "--scale", str(scale), "--batch", str(batch), "--json-line"]
            cmd += [] if overlap else ["--no-overlap"]
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            out = json.loads(done.stdout.strip().splitlines()[-1])
            runs[side].append(out)
            print(
                f"{side}  engine CPU {out['engine_cpu_ms_per_record']:.3f} ms/record  "
                f"statements {sum(out['statements'].values())}  flushes {out['flushes']}  wall {out['wall_s']:.2f} s",
                flush=True,
            )
    med = {k: statistics.median(o["engine_cpu_ms_per_record"] for o in v) for k, v in runs.items()}
    ratio = med["B"] / med["A"]
    print(f"median engine CPU per pushed record: A {med['A']:.3f} ms, B {med['B']:.3f} ms (B/A {ratio:.2f})")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=50, help="writes per push (Xero's 50)")
    ap.add_argument("--profile", help="cProfile the sync into this file and print the top functions")
    ap.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    ap.add_argument("--against", help="A/B: another checkout (its src/ is side A, this one's side B)")
    ap.add_argument("--rounds", type=int, default=4, help="A/B rounds with --against")
    ap.add_argument(
        "--no-overlap",
        dest="overlap",
        action="store_false",
        help="EngineSettings.overlap_batches=False: record each batch before the next is sent (CPU without threads)",
    )
    ap.add_argument("--json-line", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.against:
        return against(args.against, args.rounds, args.scale, args.batch, args.overlap)
    out = run(args.scale, args.batch, args.profile, args.db, args.overlap)
    if args.json_line:
        print(json.dumps(out, default=str))
        return 0 if out["status"] == "ok" else 1
    print(f"records {out['records']}  pushed {out['pushed']}  status {out['status']}  calls {out['calls']}")
    print(
        f"wall {out['wall_s']:.2f} s  process CPU {out['process_cpu_s']:.2f} s  "
        f"platform CPU {out['platform_cpu_s']:.2f} s  engine CPU {out['engine_cpu_s']:.2f} s"
    )
    print(f"engine CPU per pushed record: {out['engine_cpu_ms_per_record']:.3f} ms")
    print(f"ORM flushes: {out['flushes']}")
    for kind, n in sorted(out["statements"].items()):
        print(f"  {kind:<28} {n}")
    print(f"(machine: {os.cpu_count()} cores shared with other work; compare runs made together)")
    return 0 if out["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
