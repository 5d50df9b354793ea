"""QuickBooks Online's link from a bill to the purchase order it bills: a bill line's LinkedTxn
[{"TxnId": <PO Id>, "TxnType": "PurchaseOrder"}] (Intuit's Bill docs: "LinkedTxn ... Links to a PurchaseOrder
only"). The sandbox keeps the link on the line, shows it in the bill's LinkedTxn, shows the bill in the order's
LinkedTxn, and closes the order (POStatus "Closed") once bills linked to it cover its total; unlinking (the bill
edited or deleted) opens it again.

Sandbox guesses (not in the sources consulted): QuickBooks closes an order when its lines are fully received; the
sandbox compares the linked bills' line amounts with the order's total instead, and the refusal texts for a link
to another vendor's order or to a closed one reuse fault 620 "TxnID Cannot Be Linked"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import faults as F
from .util import ZERO, money, to_dec

if TYPE_CHECKING:
    from .entities import Ctx


def _ref_value(rec: dict[str, Any], key: str) -> str | None:
    ref = rec.get(key)
    return str(ref.get("value")) if isinstance(ref, dict) and ref.get("value") not in (None, "") else None


def po_links(raw_lines: Any) -> list[str | None]:
    """The purchase order each incoming bill line links to (None: none), in line order, read before the lines
    are normalised."""
    out: list[str | None] = []
    for line in raw_lines if isinstance(raw_lines, list) else []:
        if not isinstance(line, dict) or line.get("DetailType") == "SubTotalLineDetail":
            continue
        found = None
        for lt in line.get("LinkedTxn") or []:
            if isinstance(lt, dict) and lt.get("TxnType") == "PurchaseOrder" and lt.get("TxnId") not in (None, ""):
                found = str(lt["TxnId"])
        out.append(found)
    return out


def attach(ctx: Ctx, bill: dict[str, Any], links: list[str | None], old: dict[str, Any] | None) -> None:
    """Check each linked order (it exists, is the bill's vendor's, is open or already this bill's), keep the
    links on the bill's lines, and bring the orders' billed amounts and status up to date."""
    bill_id = str(bill["Id"])
    vendor = _ref_value(bill, "VendorRef")
    amounts: dict[str, Any] = {}
    for line, po_id in zip(bill.get("Line") or [], links, strict=False):
        if po_id is None:
            continue
        po = ctx.visible("PurchaseOrder", po_id)
        if po is None:
            raise F.invalid_ref("LinkedTxn")
        if _ref_value(po, "VendorRef") != vendor:
            raise F.cannot_link(f"PurchaseOrder {po_id} belongs to a different vendor.")
        if po.get("POStatus") == "Closed" and bill_id not in (po.get("_billed_by") or {}):
            raise F.cannot_link(f"PurchaseOrder {po_id} is closed.")
        line["LinkedTxn"] = [{"TxnId": po_id, "TxnType": "PurchaseOrder"}]
        amounts[po_id] = money(to_dec(amounts.get(po_id), ZERO) + to_dec(line.get("Amount"), ZERO))
    before = dict((old or {}).get("_po_links") or {})
    bill["_po_links"] = amounts
    for po_id in set(before) | set(amounts):
        _billed(ctx, po_id, bill_id, amounts.get(po_id))


def release(ctx: Ctx, bill: dict[str, Any]) -> None:
    """A bill deleted: its orders are no longer billed by it."""
    for po_id in bill.get("_po_links") or {}:
        _billed(ctx, po_id, str(bill["Id"]), None)


def _billed(ctx: Ctx, po_id: str, bill_id: str, amount: Any) -> None:
    c = ctx.company
    po = c.data["PurchaseOrder"].get(po_id)
    if po is None:
        return
    t = dict(po)
    billed = dict(t.get("_billed_by") or {})
    if amount is None:
        billed.pop(bill_id, None)
    else:
        billed[bill_id] = amount
    covered = sum((to_dec(v, ZERO) for v in billed.values()), ZERO) >= to_dec(t.get("TotalAmt"), ZERO)
    status = "Closed" if billed and covered else "Open"
    if billed == (po.get("_billed_by") or {}) and status == po.get("POStatus"):
        return
    t["_billed_by"] = billed
    t["POStatus"] = status
    t["SyncToken"] = str(int(t["SyncToken"]) + 1)
    c.put("PurchaseOrder", t)
    ctx.event("PurchaseOrder", po_id, "Update")


def render_links(entity: str, rec: dict[str, Any], out: dict[str, Any]) -> None:
    """The bill's LinkedTxn adds its orders; the order's lists the bills made from it."""
    if entity == "Bill":
        out["LinkedTxn"] = [
            *out.get("LinkedTxn", []),
            *({"TxnId": po_id, "TxnType": "PurchaseOrder"} for po_id in rec.get("_po_links") or {}),
        ]
    elif entity == "PurchaseOrder":
        out["LinkedTxn"] = [{"TxnId": bid, "TxnType": "Bill"} for bid in rec.get("_billed_by") or {}]
