"""What the QBO sandbox serves, per entity and operation, as a table the README is generated from."""

from __future__ import annotations

from .reports import REPORTS
from .state import NOT_IN_CDC, OPERATIONS

_OPS = ("create", "read", "update", "delete", "void", "query", "cdc")
_HOW = {
    "create": "`POST /{e}`",
    "read": "`GET /{e}/{{id}}`",
    "update": "`POST /{e}` with `Id`+`SyncToken` (`sparse`)",
    "delete": "`POST /{e}?operation=delete`",
    "void": "`?operation=void` (invoice) or `?operation=update&include=void`",
    "query": "`query`",
    "cdc": "`cdc`",
}
OTHER_ROUTES = [
    ("GET/POST", "/v3/company/{realmId}/query", "`SELECT *` or `SELECT COUNT(*)` `FROM ...` (grammar below)"),
    ("GET", "/v3/company/{realmId}/cdc?entities=&changedSince=", "every entity marked cdc above"),
    ("POST", "/v3/company/{realmId}/batch", "create/update/delete/void and Query items"),
    ("GET", "/v3/company/{realmId}/preferences", "the Preferences entity (also `SELECT * FROM Preferences`)"),
    ("GET", "/v3/company/{realmId}/companyinfo/{realmId}", "the CompanyInfo entity (also queryable)"),
    ("POST", "/v3/company/{realmId}/upload", "multipart: `file_metadata_<n>` + `file_content_<n>` (attachables.py)"),
    ("GET/POST", "/v3/company/{realmId}/attachable[/{id}]", "read; note-only create; update; `?operation=delete`"),
    ("GET", "/v3/company/{realmId}/download/{id}", "the TempDownloadUri (text/plain), served at `/_files/{token}`"),
    ("GET/POST", "/v3/company/{realmId}/query", "`SELECT * FROM Attachable WHERE AttachableRef.EntityRef.Value = ..`"),
    ("GET", "/v3/company/{realmId}/query?query=SELECT * FROM CompanyCurrency", "the currencies added (read-only)"),
    *(("GET", f"/v3/company/{{realmId}}/reports/{name}", "computed from the company's postings") for name in REPORTS),
]
# Entities and routes of the QuickBooks Online API the sandbox does not serve (they answer Fault 4000 or 500).
NOT_SERVED = [
    (
        "CompanyCurrency create/update, ExchangeRate",
        "currencies are added through the control API; a document carries its own rate",
    ),
    ("CreditCardPayment, ItemReceipt, InventoryAdjustment", "not modelled"),
    ("RecurringTransaction, JournalCode, TaxService/Taxcode, TaxClassification", "not modelled"),
    ("POST /preferences", "preferences are set through the control API"),
    ("send (email) and pdf routes", "no documents are rendered or sent"),
    ("reports other than " + ", ".join(REPORTS), "not computed"),
]


def served_markdown() -> str:
    """The README's table of entities and operations, generated from OPERATIONS so that it stays true."""
    lines = ["| Entity | " + " | ".join(_OPS) + " |", "|---|" + "---|" * len(_OPS)]
    for entity in sorted(OPERATIONS):
        ops = OPERATIONS[entity]
        cells = ["yes" if op in ops else ("not in CDC" if op == "cdc" and entity in NOT_IN_CDC else "") for op in _OPS]
        lines.append(f"| {entity} | " + " | ".join(cells) + " |")
    lines += ["", "How: " + "; ".join(f"{op}: {how.format(e='{entity}')}" for op, how in _HOW.items()) + ".", ""]
    lines += ["| Method | Route | Notes |", "|---|---|---|"]
    lines += [f"| {m} | `{p}` | {n} |" for m, p, n in OTHER_ROUTES]
    lines += ["", "Not served:", ""]
    lines += [f"- **{what}**: {why}" for what, why in NOT_SERVED]
    return "\n".join(lines) + "\n"
