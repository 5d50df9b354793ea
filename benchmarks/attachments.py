"""Attachments (the invoice PDF) against the Xero and QuickBooks Online sandboxes: what keeping a file costs the
store, what sending it costs a sync, and what files already synced cost a cycle that has nothing to send.

Prints figures, asserts nothing about time. The no-change cycles are measured A/B alternating in one run (one
database whose invoices hold synced files, one whose invoices hold none), so machine noise falls on both.

    python benchmarks/attachments.py                 # 20 invoices, a 1 MB PDF each
    python benchmarks/attachments.py --files 50 --kb 200 --rounds 7
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet

from ledgersync import Contact, EngineSettings, Entity, Invoice, InvoiceLine, LedgerSync
from ledgersync.demo import SandboxHandle, connect_sandbox, qbo_sandbox, xero_sandbox

LIMITS = {"rate_limits": {"minute": 100_000, "day": 1_000_000, "concurrent": 50, "app_minute": 1_000_000}}
# The connections' own budgets raised too, so the figures are the work, not the platforms' per-minute pacing.
CLIENT = {
    "xero": {"per_minute": "100000", "per_day": "1000000", "app_per_minute": "1000000"},
    "qbo": {"per_minute": "100000", "per_second": "100000", "batch_per_minute": "100000"},
}


@contextmanager
def platform(name: str) -> Iterator[SandboxHandle]:
    if name == "xero":
        with xero_sandbox(config=LIMITS) as sb:
            yield sb
    else:
        with qbo_sandbox(config={"rate_limits": {"minute": 100_000, "concurrent": 50, "batch_minute": 100_000,
                                                 "batch_realm_minute": 100_000}}) as sb:
            yield sb


def store_with_invoices(sb: SandboxHandle, folder: Path, tag: str, n: int) -> tuple[LedgerSync, str, str]:
    ls = LedgerSync(
        f"sqlite:///{folder / f'{tag}.db'}",
        secret_keys=[Fernet.generate_key().decode()],
        settings=EngineSettings(retry_base_seconds=0),
    )
    org = ls.create_organisation(f"Bench {tag}")
    conn = connect_sandbox(ls, org, sb, CLIENT[sb.provider])
    currency = "AUD" if sb.provider == "xero" else "USD"
    ls.upsert_contact(org, Contact(id="c1", name=f"Bench customer {tag}"))
    line = InvoiceLine(description="Work", unit_amount=Decimal("10.00"))
    today = dt.date.today()
    ls.upsert_many(
        org,
        [
            Invoice(id=f"i{i}", contact_id="c1", number=f"{tag}-{i}", date=today, currency=currency, lines=[line])
            for i in range(n)
        ],
    )
    ls.sync(conn)
    return ls, org, conn


def run(name: str, files: int, kb: int, rounds: int) -> None:
    pdf = lambda i: (b"%PDF-1.4\n" + bytes([i % 251]) * (kb * 1024))  # noqa: E731
    with platform(name) as sb, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with_files, org, conn = store_with_invoices(sb, folder, "F", files)
        without, _org2, conn2 = store_with_invoices(sb, folder, "N", files)
        started = time.perf_counter()
        for i in range(files):
            with_files.attach(org, Entity.INVOICE, f"i{i}", f"F-{i}.pdf", "application/pdf", pdf(i))
        keep = (time.perf_counter() - started) / files
        started = time.perf_counter()
        report = with_files.sync(conn)
        send = time.perf_counter() - started
        views = [v for i in range(files) for v in with_files.attachments(org, Entity.INVOICE, f"i{i}")]
        synced = sum(s.state == "synced" for v in views for s in v.states)
        a: list[float] = []
        b: list[float] = []
        for _ in range(rounds):  # A/B alternating
            t = time.perf_counter()
            with_files.sync(conn)
            a.append(time.perf_counter() - t)
            t = time.perf_counter()
            without.sync(conn2)
            b.append(time.perf_counter() - t)
        print(f"{name}: {files} files of {kb} KB")
        print(f"  keep in the store (attach)    {keep * 1000:8.1f} ms a file")
        per = send / files * 1000
        print(f"  first sync, sending them      {send:8.2f} s ({per:.0f} ms a file, {report.calls} calls)")
        print(f"  synced afterwards             {synced:8d} of {files}")
        print(f"  no-change cycle, with files   {statistics.median(a) * 1000:8.1f} ms (median of {rounds})")
        print(f"  no-change cycle, none         {statistics.median(b) * 1000:8.1f} ms (median of {rounds})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=20)
    p.add_argument("--kb", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--platform", choices=["xero", "qbo", "both"], default="both")
    args = p.parse_args()
    for name in ("xero", "qbo") if args.platform == "both" else (args.platform,):
        run(name, args.files, args.kb, args.rounds)


if __name__ == "__main__":
    main()
