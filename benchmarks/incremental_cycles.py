"""What an incremental cycle costs as the corpus grows: 1k, 10k and 50k records (at --scale 1), Xero sandbox.

For each size: a fresh Xero sandbox process and store, the corpus exported (contacts : invoices : payments =
1 : 2 : 2, limits lifted), then two cycles, each after 10 app-side changes (4 contacts edited, 3 new invoices,
3 balance payments) and 10 platform-side changes (10 contacts edited by a person in Xero), with the default
settings (lookback 300 s). Prints calls, wall time and records pulled per cycle, and each size against the
smallest. The goal (issue 14): the same calls at every size, and at most 1.5x the wall time at 50k than at 1k.

Prints figures; asserts nothing about time. Reuses initial_export.py's corpus, sandbox and store set-up.

    python benchmarks/incremental_cycles.py --scale 0.1          # 100, 1,000 and 5,000 records
    python benchmarks/incremental_cycles.py --scale 0.002        # CI (at least 100 records per size)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))

from initial_export import Changes, connect, fresh_store, make_corpus, run_sync, sandbox

from ledgersync.engine import EngineSettings, LedgerSync
from ledgersync.model import Entity

SIZES = (1_000, 10_000, 50_000)


def platform_changes(ls: LedgerSync, org: str, conn: str, sb: Any, contact_ids: list[str], round_: int) -> None:
    """Ten contacts edited by a person in Xero (the sandbox's as-user API applies Xero's rules)."""
    for k in range(10):
        app_id = contact_ids[(round_ * 10 + k) * 13 % len(contact_ids)]
        view = ls.get(org, Entity.CONTACT, app_id, conn)
        assert view is not None and view.remote_id
        sb.as_user(f"Contacts/{view.remote_id}",
                   {"Contacts": [{"ContactID": view.remote_id, "EmailAddress": f"person{round_}.{k}@example.com"}]})


def run_size(records: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    n_contacts, n_invoices = max(4, records // 5), max(8, 2 * records // 5)
    corpus = make_corpus(n_contacts, n_invoices, args.seed)
    out: dict[str, Any] = {"records": len(corpus.contacts) + 2 * len(corpus.invoices), "cycles": []}
    client_id = f"BENCH{uuid.uuid4().hex[:10].upper()}"
    with fresh_store(args.db, workdir, f"inc{records}") as url, sandbox("process", client_id) as sbr:
        sb = sbr.handle
        ls = LedgerSync(url, secret_keys=[Fernet.generate_key().decode()],
                        settings=EngineSettings(retry_base_seconds=0))
        org, conn = connect(ls, sb)
        ls.upsert_many(org, [*corpus.contacts, *corpus.invoices, *corpus.payments])
        export = run_sync(ls, conn, sb, "export")
        out["export"] = {"calls": export.calls, "wall_s": export.wall, "status": export.status}
        changes = Changes(corpus, args.seed)
        contact_ids = [c.id for c in corpus.contacts]
        for r in range(2):
            time.sleep(1.1)  # Xero's If-Modified-Since has one-second precision
            changes.apply(ls, org)
            platform_changes(ls, org, conn, sb, contact_ids, r)
            prof = Path(f"{args.profile}.{out['records']}.cycle{r + 1}.pstats") if args.profile else None
            fig = run_sync(ls, conn, sb, f"cycle {r + 1}", prof)
            out["cycles"].append({"calls": fig.calls, "wall_s": fig.wall, "pulled": sum(fig.pulled.values()),
                                  "pushed": sum(fig.pushed.values()), "status": fig.status,
                                  "by_kind": fig.by_kind, "pulled_by_entity": fig.pulled})
        ls.store.engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000, 10,000 and 50,000 records")
    ap.add_argument("--db", help="store URL (default: a temporary SQLite file per size)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--profile", help="cProfile each cycle to PROFILE.<records>.cycle<n>.pstats")
    ap.add_argument("--sizes", type=int, nargs="+", help="record counts instead of 1k, 10k and 50k (x --scale)")
    args = ap.parse_args(argv)
    print(f"{os.cpu_count()} cores shared with other work: compare the ratios of one run")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes or SIZES:
            results.append(run_size(max(100, round(size * args.scale)), args, Path(tmp)))
            r = results[-1]
            print(f"{r['records']:>7} records: export {r['export']['calls']} calls {r['export']['wall_s']:.1f} s; "
                  + "; ".join(f"cycle {i + 1}: {c['calls']} calls, {c['wall_s']:.2f} s, pulled {c['pulled']}, "
                              f"pushed {c['pushed']} ({c['status']})" for i, c in enumerate(r["cycles"])))
    base = results[0]
    print("\nagainst the smallest corpus (calls ratio, wall ratio) per cycle:")
    for r in results:
        print(f"  {r['records']:>7} records: " + "; ".join(
            f"cycle {i + 1}: {c['calls'] / max(1, b['calls']):.2f}x calls, {c['wall_s'] / b['wall_s']:.2f}x wall"
            for i, (c, b) in enumerate(zip(r["cycles"], base["cycles"], strict=True))))
        for i, c in enumerate(r["cycles"]):
            print(f"      cycle {i + 1} calls by kind: {c['by_kind']}; pulled: {c['pulled_by_entity']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
