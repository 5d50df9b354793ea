"""What the company file answers, per list / transaction type and request, as the table README.md is generated from
(`python -m ledgersync.sandbox.readmes`)."""

from __future__ import annotations

from .kinds import LISTS, TXN_VOID_TYPES, TXNS

OTHER_REQUESTS = [
    ("HostQueryRq, CompanyQueryRq", "the HCP response of a session's first sendRequestXML; also answered directly"),
    ("ItemQueryRq", "ItemService, ItemNonInventory, ItemInventory and ItemSalesTax Rets, in one list"),
    ("ListDelRq", "Customer, Vendor, Class, SalesTaxCode, ItemSalesTax, ItemService, ItemNonInventory, ItemInventory; "
                  "refused (3171) while a transaction, a list element or a sub-element uses it"),
    ("TxnDelRq", ", ".join(sorted(TXNS))),
    ("TxnVoidRq", ", ".join(sorted(set(TXNS) & TXN_VOID_TYPES)) + " (the schema's TxnVoidType has no "
     "ReceivePayment or PurchaseOrder: such a request fails to parse, 0x80040400)"),
    ("ListDeletedQueryRq, TxnDeletedQueryRq", "every deletion, with DeletedDateRangeFilter; retCount, no iterator"),
]


def served_markdown() -> str:
    lines = ["| Type | Add | Mod | Query | Ret fields kept (schema order) |", "|---|---|---|---|---|"]
    for name, kind in LISTS.items():
        lines.append(f"| {name} | `{name}AddRq` | `{name}ModRq` | `{name}QueryRq` | "
                     + ", ".join(kind.order) + " |")
    for name, txn in TXNS.items():
        lines.append(f"| {name} | `{name}AddRq` | `{name}ModRq` | `{name}QueryRq` | "
                     + ", ".join(txn.order) + " |")
    lines += ["", "| Request | Notes |", "|---|---|"]
    lines += [f"| `{r}` | {n} |" for r, n in OTHER_REQUESTS]
    return "\n".join(lines) + "\n"
