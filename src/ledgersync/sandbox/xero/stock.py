"""Stock on hand as Xero keeps it for tracked inventory items. Xero's Items docs: an item is tracked as inventory
when it has an InventoryAssetAccountCode (and a COGSAccountCode in its PurchaseDetails); QuantityOnHand is
read-only and moves with the approved bills (ACCPAY, up) and sales invoices (ACCREC, down) that use the item's
code. The sandbox recomputes an item's quantity from those documents whenever one of them is saved.

Sandbox guesses (not in the sources consulted): an item's UpdatedDateUTC moves when its stock moves; credit notes
and inventory adjustments are not modelled."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import Tenant

_COUNTED = ("AUTHORISED", "PAID")


def on_item(rec: dict[str, Any], existing: dict[str, Any] | None) -> None:
    """Set IsTrackedAsInventory from the item's inventory account; QuantityOnHand is never taken from a write."""
    tracked = bool(rec.get("InventoryAssetAccountCode"))
    rec["IsTrackedAsInventory"] = tracked
    if tracked:
        rec["QuantityOnHand"] = (existing or {}).get("QuantityOnHand", Decimal("0"))
    else:
        rec.pop("QuantityOnHand", None)


def restock(t: Tenant, codes: Iterable[str]) -> None:
    """Recompute the stock of the tracked items with these codes from the documents that move it."""
    for code in {c for c in codes if c}:
        for item in t.lookup("Items", "Code", code):
            if not item.get("IsTrackedAsInventory"):
                continue
            qty = Decimal("0")
            for doc in t.data["Invoices"].values():
                if doc.get("Status") not in _COUNTED:
                    continue
                sign = {"ACCPAY": 1, "ACCREC": -1}.get(str(doc.get("Type")), 0)
                for line in doc.get("LineItems") or []:
                    if line.get("ItemCode") == code:
                        qty += sign * Decimal(str(line.get("Quantity") or 0))
            if qty != Decimal(str(item.get("QuantityOnHand") or 0)):
                t.put("Items", {**item, "QuantityOnHand": qty})
