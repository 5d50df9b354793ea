"""The Xero sandbox's stamp index (Tenant.modified_since) answers If-Modified-Since as a scan of the collection
would: the records stamped after the time, in creation order, whatever was restamped, deleted or loaded."""

from __future__ import annotations

import random
from typing import Any

from ledgersync.sandbox.xero.state import Tenant


def scan(t: Tenant, coll: str, since: int) -> list[str]:
    return [r["ContactID"] for r in t.data[coll].values() if r.get("_updated_ms", 0) > since]


def ids(recs: list[dict[str, Any]]) -> list[str]:
    return [r["ContactID"] for r in recs]


def test_modified_since_is_the_scan_after_puts_restamps_deletes_and_a_reload() -> None:
    rnd = random.Random(14)
    t = Tenant("Stamps", seed=False)
    for i in range(300):
        t.put("Contacts", {"ContactID": f"c{i}", "Name": f"C {i}"})
    for _ in range(3000):  # enough restamps to compact the index more than once
        rid = f"c{rnd.randrange(300)}"
        if rnd.random() < 0.02:
            t.delete("Contacts", rid)
        elif (rec := t.get("Contacts", rid)) is not None:
            t.put("Contacts", rec if rnd.random() < 0.5 else dict(rec))
    stamps = sorted(int(r["_updated_ms"]) for r in t.data["Contacts"].values())
    for since in [0, stamps[0], stamps[len(stamps) // 2], stamps[-1] - 1, stamps[-1]]:
        assert ids(t.modified_since("Contacts", since)) == scan(t, "Contacts", since)

    again = Tenant.from_json(t.to_json())  # loaded with the stamps it had, in whatever order
    for since in [0, stamps[len(stamps) // 3], stamps[-1]]:
        assert ids(again.modified_since("Contacts", since)) == scan(again, "Contacts", since)
