"""ledgersync against the naive integration: one official-SDK create call per record, same records, same sandbox.

For each platform (Xero with xero-python, QuickBooks Online with python-quickbooks) and each round, the two
variants run alternately (A/B, then B/A in the next round), each in a fresh process against a fresh sandbox
process of its own (`ledgersync sandbox xero|qbo --port ...` on 127.0.0.1), with the sandbox's and the client's
rate limits lifted. The corpus is 1,000 contacts, 2,000 invoices and 2,000 payments (half of each invoice)
at --scale 1. Per run it prints:

- calls: requests that reached the platform API (the sandbox's counters, before and after the export);
- wall: the export's wall time; records/s;
- client CPU (user + system of the client process during the export) and sandbox CPU (of the sandbox process,
  from /proc); peak RSS of each.

Only figures: nothing here asserts on time. The machine's other work skews absolute times, so compare the
ratios of one run (the variants alternate, so drift hits both).

    python benchmarks/naive_vs_engine.py --scale 0.2
    python benchmarks/naive_vs_engine.py --scale 0.004 --rounds 1     # CI
    python benchmarks/naive_vs_engine.py --only xero --json out.json
    python benchmarks/naive_vs_engine.py --against ../old-checkout     # also ledgersync from that checkout's src/
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

HOST = "127.0.0.1"
REDIRECT = "http://127.0.0.1:8000/callback"
DAY = dt.date(2026, 10, 1)
LIMITS = {
    "xero": {"rate_limits": {"concurrent": 5, "minute": 1_000_000, "day": 10_000_000, "app_minute": 10_000_000}},
    "qbo": {
        "rate_limits": {
            "minute": 1_000_000,
            "concurrent": 10,
            "batch_minute": 1_000_000,
            "batch_realm_minute": 1_000_000,
        }
    },
}
CLIENT_LIMITS = {
    "xero": {"per_minute": "1000000", "per_day": "10000000", "app_per_minute": "10000000"},
    "qbo": {"per_minute": "1000000", "per_second": "1000000", "batch_per_minute": "1000000"},
}


def sizes(scale: float) -> tuple[int, int]:
    """(contacts, invoices); one payment per invoice."""
    return max(1, round(1000 * scale)), max(1, round(2000 * scale))


# ------------------------------------------------------------------------------------------- the sandbox process
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@dataclass
class Sandbox:
    platform: str
    url: str
    pid: int
    tenant_id: str
    client_id: str
    client_secret: str
    control: httpx.Client

    def _mine(self) -> dict[str, Any]:
        data = self.control.get("/_sandbox/counters").json()
        by_tenant = data.get("by_tenant") or {}
        return dict(by_tenant.get(self.tenant_id) or by_tenant.get(self.tenant_id.lower()) or data)

    def calls(self) -> int:
        return int(self._mine().get("total_calls", 0))

    def by_endpoint(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in (self._mine().get("calls") or {}).items()}


@contextmanager
def sandbox(platform: str) -> Iterator[Sandbox]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledgersync.cli", "sandbox", platform, "--host", HOST, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{HOST}:{port}"
    control = httpx.Client(base_url=url, timeout=120)
    try:
        for _ in range(300):
            try:
                control.get("/_sandbox/counters")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"the {platform} sandbox did not start on {url}")
        control.put("/_sandbox/config", json=LIMITS[platform]).raise_for_status()
        tenant = control.post("/_sandbox/tenants", json={"name": "Benchmark Company"}).json()
        client_id, secret = f"BENCH{platform.upper()}", f"bench-secret-{platform}"
        control.post(
            "/_sandbox/apps", json={"client_id": client_id, "client_secret": secret, "redirect_uris": [REDIRECT]}
        ).raise_for_status()
        yield Sandbox(platform, url, proc.pid, str(tenant["tenantId"]), client_id, secret, control)
    finally:
        control.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ------------------------------------------------------------------------------------------- the two variants
def run_engine(sb: Sandbox, n_contacts: int, n_invoices: int) -> dict[str, Any]:
    from cryptography.fernet import Fernet

    from ledgersync import Allocation, Contact, Invoice, InvoiceLine, LedgerSync, Payment
    from ledgersync.demo import consent_callback

    xero = sb.platform == "xero"
    records: list[Any] = [Contact(id=f"c{i}", name=f"Customer {i:05d}") for i in range(n_contacts)]
    for i in range(n_invoices):
        line = InvoiceLine(description="Service", unit_amount=Decimal("100.00"))
        if xero:
            line = line.model_copy(update={"account_code": "200", "tax_type": "OUTPUT"})
        # The QuickBooks sandbox's company is American with multicurrency off: it takes USD only.
        records.append(Invoice(id=f"i{i}", contact_id=f"c{i % n_contacts}", number=f"B-{i:06d}", date=DAY,
                               currency="AUD" if xero else "USD", lines=[line]))
    for i in range(n_invoices):
        records.append(Payment(id=f"p{i}", contact_id=f"c{i % n_contacts}", date=DAY, amount=Decimal("50.00"),
                               currency="AUD" if xero else "USD", reference=f"R{i}",
                               account_code="090" if xero else None,
                               allocations=[Allocation(invoice_id=f"i{i}", amount=Decimal("50.00"))]))
    with tempfile.TemporaryDirectory() as tmp:
        ls = LedgerSync(f"sqlite:///{Path(tmp) / 'bench.db'}", secret_keys=[Fernet.generate_key().decode()])
        org = ls.create_organisation("Bench")
        config = {"client_id": sb.client_id, "client_secret": sb.client_secret, "redirect_uri": REDIRECT,
                  "base_url": sb.url, **CLIENT_LIMITS[sb.platform]}
        start = ls.connect(org, sb.platform, config)
        assert start.authorization_url is not None
        field = "tenantId" if xero else "realmId"
        conn = ls.complete_callback(consent_callback(start.authorization_url, choose={field: sb.tenant_id}))
        ls.upsert_many(org, records)
        return measure(sb, lambda: _sync_ok(ls, conn), len(records))


def _sync_ok(ls: Any, conn: str) -> None:
    report = ls.sync(conn)
    if report.status != "ok" or report.failed:
        raise RuntimeError(f"sync {report.status}: {report.message} failed={report.failed}")


def _tokens(sb: Sandbox) -> dict[str, Any]:
    """Consent and code exchange as the SDK's own OAuth flow would do them (tokens for the naive loop)."""
    xero = sb.platform == "xero"
    authorize = f"{sb.url}/identity/connect/authorize" if xero else f"{sb.url}/connect/oauth2"
    scope = "offline_access accounting.transactions accounting.contacts" if xero else "com.intuit.quickbooks.accounting"
    from ledgersync.demo import consent_callback

    url = httpx.URL(authorize, params={"response_type": "code", "client_id": sb.client_id, "redirect_uri": REDIRECT,
                                       "scope": scope, "state": "bench"})
    query = parse_qs(consent_callback(str(url), choose={"tenantId" if xero else "realmId": sb.tenant_id}))
    token_url = f"{sb.url}/connect/token" if xero else f"{sb.url}/oauth2/v1/tokens/bearer"
    r = httpx.post(token_url, auth=(sb.client_id, sb.client_secret),
                   data={"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT})
    r.raise_for_status()
    return dict(r.json())


def run_naive_xero(sb: Sandbox, n_contacts: int, n_invoices: int) -> dict[str, Any]:
    from xero_python.accounting import AccountingApi
    from xero_python.accounting.models import Account, Contact, Contacts, Invoice, Invoices, LineItem, Payment
    from xero_python.api_client import ApiClient
    from xero_python.api_client.configuration import Configuration
    from xero_python.api_client.oauth2 import OAuth2Token

    token = _tokens(sb)
    client = ApiClient(Configuration(oauth2_token=OAuth2Token(client_id=sb.client_id,
                                                              client_secret=sb.client_secret)), pool_threads=1)
    store = {"token": token}
    client.oauth2_token_getter(lambda: dict(store["token"]))
    client.oauth2_token_saver(lambda t: store.update(token=dict(t)))
    client.set_oauth2_token(dict(token))
    api = AccountingApi(client, base_url=f"{sb.url}/api.xro/2.0")
    tid = sb.tenant_id

    def export() -> None:
        contact_ids = []
        for i in range(n_contacts):
            made = api.create_contacts(tid, Contacts(contacts=[Contact(name=f"Customer {i:05d}")]))
            contact_ids.append(made.contacts[0].contact_id)
        for i in range(n_invoices):
            inv = Invoice(type="ACCREC", contact=Contact(contact_id=contact_ids[i % n_contacts]), date=DAY,
                          due_date=DAY, invoice_number=f"B-{i:06d}", status="AUTHORISED",
                          line_items=[LineItem(description="Service", quantity=1.0, unit_amount=100.0,
                                               account_code="200", tax_type="OUTPUT")])
            made_inv = api.create_invoices(tid, Invoices(invoices=[inv])).invoices[0]
            api.create_payment(tid, Payment(invoice=Invoice(invoice_id=made_inv.invoice_id),
                                            account=Account(code="090"), amount=50.0, date=DAY, reference=f"R{i}"))

    return measure(sb, export, n_contacts + 2 * n_invoices)


def run_naive_qbo(sb: Sandbox, n_contacts: int, n_invoices: int) -> dict[str, Any]:
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # loopback http
    from intuitlib.client import AuthClient
    from quickbooks import QuickBooks
    from quickbooks.objects.base import LinkedTxn, Ref
    from quickbooks.objects.customer import Customer
    from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
    from quickbooks.objects.invoice import Invoice
    from quickbooks.objects.payment import Payment, PaymentLine

    token = _tokens(sb)
    auth = AuthClient(sb.client_id, sb.client_secret, REDIRECT,
                      environment=f"{sb.url}/.well-known/openid_configuration",
                      access_token=token["access_token"], refresh_token=token["refresh_token"])
    qb = QuickBooks(auth_client=auth, refresh_token=token["refresh_token"], company_id=sb.tenant_id,
                    minorversion=75, use_decimal=True)
    qb.api_url_v3 = f"{sb.url}/v3"

    def export() -> None:
        customers = []
        for i in range(n_contacts):
            c = Customer()
            c.DisplayName = f"Customer {i:05d}"
            customers.append(c.save(qb=qb))
        for i in range(n_invoices):
            inv = Invoice()
            line = SalesItemLine()
            line.Amount = Decimal("100.00")
            line.SalesItemLineDetail = SalesItemLineDetail()
            line.SalesItemLineDetail.ItemRef = Ref()
            line.SalesItemLineDetail.ItemRef.value = "1"
            inv.Line = [line]
            inv.DocNumber = f"B-{i:06d}"
            inv.CustomerRef = customers[i % n_contacts].to_ref()
            inv = inv.save(qb=qb)
            pay = Payment()
            pay.CustomerRef = customers[i % n_contacts].to_ref()
            pay.TotalAmt = Decimal("50.00")
            pl = PaymentLine()
            pl.Amount = Decimal("50.00")
            lt = LinkedTxn()
            lt.TxnId, lt.TxnType = inv.Id, "Invoice"
            pl.LinkedTxn = [lt]
            pay.Line = [pl]
            pay.save(qb=qb)

    return measure(sb, export, n_contacts + 2 * n_invoices)


def measure(sb: Sandbox, export: Any, records: int) -> dict[str, Any]:
    calls0, sb_cpu0, ends0 = sb.calls(), proc_cpu(sb.pid), sb.by_endpoint()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    export()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    ends = {k: v - ends0.get(k, 0) for k, v in sb.by_endpoint().items() if v != ends0.get(k, 0)}
    return {
        "by_endpoint": ends,
        "records": records,
        "calls": sb.calls() - calls0,
        "wall_s": wall,
        "records_per_s": records / wall if wall else 0.0,
        "client_cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "sandbox_cpu_s": proc_cpu(sb.pid) - sb_cpu0,
        "client_peak_rss_kb": ru1.ru_maxrss,
        "sandbox_peak_rss_kb": proc_peak_rss_kb(sb.pid),
    }


def one(variant: str, platform: str, scale: float) -> dict[str, Any]:
    n_contacts, n_invoices = sizes(scale)
    with sandbox(platform) as sb:
        if variant == "ledgersync":
            return run_engine(sb, n_contacts, n_invoices)
        naive = run_naive_xero if platform == "xero" else run_naive_qbo
        return naive(sb, n_contacts, n_invoices)


# ------------------------------------------------------------------------------------------- the driver
AGAINST = "ledgersync (A)"


def child(variant: str, platform: str, scale: float, against: str | None = None) -> dict[str, Any]:
    """One run in a fresh process, so each variant's peak RSS and imports are its own. The A side of an A/B
    (`--against`) is ledgersync imported from the other checkout's src/ (its sandbox too)."""
    path = os.pathsep.join(p for p in sys.path if p)
    if variant == AGAINST:
        assert against is not None
        path, variant = str(Path(against).resolve() / "src"), "ledgersync"
    env = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run(
        [sys.executable, __file__, "--one", f"{variant}:{platform}", "--scale", str(scale)],
        capture_output=True, text=True, env=env, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{variant} on {platform} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000 contacts, 2,000 invoices, 2,000 payments")
    ap.add_argument("--rounds", type=int, default=2, help="A/B rounds per platform (the order flips each round)")
    ap.add_argument("--only", choices=("xero", "qbo"))
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--against", help="A/B: also run ledgersync from another checkout (its src/), alternating")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        variant, platform = args.one.split(":")
        print(json.dumps(one(variant, platform, args.scale)))
        return 0
    n_contacts, n_invoices = sizes(args.scale)
    print(f"corpus: {n_contacts} contacts, {n_invoices} invoices, {n_invoices} payments; limits lifted; "
          f"{os.cpu_count()} cores shared with other work (compare ratios within this run)")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for platform in ("xero", "qbo"):
        if args.only and platform != args.only:
            continue
        variants = ("ledgersync", "naive", AGAINST) if args.against else ("ledgersync", "naive")
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        for r in range(args.rounds):
            order = variants if r % 2 == 0 else variants[::-1]
            for variant in order:
                runs[variant].append(child(variant, platform, args.scale, args.against))
        results[platform] = runs
        print(f"\n{platform} ({'xero-python' if platform == 'xero' else 'python-quickbooks'}), "
              f"median of {args.rounds}:")
        print(f"  {'':<15}{'calls':>8}{'wall s':>9}{'rec/s':>9}{'client CPU s':>14}{'sandbox CPU s':>15}"
              f"{'client RSS MB':>15}{'sandbox RSS MB':>16}")
        med: dict[str, dict[str, float]] = {}
        for variant, items in runs.items():
            med[variant] = {
                k: statistics.median(float(i[k]) for i in items) for k in items[0] if k != "by_endpoint"
            }
            m = med[variant]
            print(f"  {variant:<15}{m['calls']:>8.0f}{m['wall_s']:>9.2f}{m['records_per_s']:>9.0f}"
                  f"{m['client_cpu_s']:>14.2f}{m['sandbox_cpu_s']:>15.2f}{m['client_peak_rss_kb'] / 1024:>15.0f}"
                  f"{m['sandbox_peak_rss_kb'] / 1024:>16.0f}")
        print(f"  ledgersync's calls by endpoint: {runs['ledgersync'][0]['by_endpoint']}")
        e, n = med["ledgersync"], med["naive"]
        print(f"  ledgersync / naive: calls {e['calls'] / n['calls']:.3f}, wall {e['wall_s'] / n['wall_s']:.2f}, "
              f"client CPU {e['client_cpu_s'] / n['client_cpu_s']:.2f}, "
              f"sandbox CPU {e['sandbox_cpu_s'] / max(n['sandbox_cpu_s'], 1e-9):.2f}")
        if args.against:
            a = med[AGAINST]
            print(f"  ledgersync (A) / naive: wall {a['wall_s'] / n['wall_s']:.2f}, client CPU "
                  f"{a['client_cpu_s'] / n['client_cpu_s']:.2f}; ledgersync / ledgersync (A): wall "
                  f"{e['wall_s'] / a['wall_s']:.2f}, client CPU {e['client_cpu_s'] / a['client_cpu_s']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
