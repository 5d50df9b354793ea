"""A scripted QuickBooks company for the provider's own tests, written from the qbXML 13.0 schema and the
status texts in api-facts-wave2.md A.7 (the full emulator is sandbox/qbd, built beside this provider).

It answers the requests QbdProvider sends: Add / Mod / Query of customers, vendors, service items, invoices,
payments, credit memos, purchase orders and bills, ItemQuery, iterators, List/TxnDeletedQuery, TxnVoid,
TxnDel, with QuickBooks' rules that matter to a sync: unique names (3100), EditSequence (3200), no paying
more than is due (3210), unknown ids (3120 / 500), and iterators forgotten when a session ends (3391)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from decimal import Decimal
from typing import Any

from lxml import etree

LIST_OBJECTS = {"Customer", "Vendor", "ItemService"}
TXN_OBJECTS = {"Invoice", "ReceivePayment", "CreditMemo", "PurchaseOrder", "Bill"}


def _d(text: str | None) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def _money(v: Decimal) -> str:
    return format(v.quantize(Decimal("0.01")), "f")


class FakeCompany:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[str, dict[str, Any]] = {}  # id -> {"type", "ret"}
        self.deleted: list[tuple[str, str, str]] = []  # (type, id, when)
        self.iterators: dict[str, list[Any]] = {}
        self.counter = itertools.count(0x80000001)
        self.clock = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
        self.requests: list[str] = []  # every request document received
        self.counts: dict[str, int] = {}
        self.stale_next_mod = 0

    # -- helpers -----------------------------------------------------------------------------------------
    def _tick(self) -> dt.datetime:
        self.clock += dt.timedelta(seconds=1)
        return self.clock

    def _stamp(self) -> str:
        return self._tick().isoformat()

    def _new_id(self) -> str:
        return f"{next(self.counter):X}-{int(self.clock.timestamp())}"

    def of_type(self, obj: str) -> list[Any]:
        return [o["ret"] for o in self.objects.values() if o["type"] == obj]

    def end_session(self) -> None:
        """The Web Connector session ended: QuickBooks forgets its iterators."""
        with self.lock:
            self.iterators.clear()

    # -- the request processor ------------------------------------------------------------------------------
    def handle(self, request: str) -> str:
        with self.lock:
            self.requests.append(request)
            body = request[request.index("<QBXML") :]
            root = etree.fromstring(body.encode())
            msgs = root.find("QBXMLMsgsRq")
            out = etree.Element("QBXML")
            rs_parent = etree.SubElement(out, "QBXMLMsgsRs")
            for rq in msgs:
                self.counts[rq.tag] = self.counts.get(rq.tag, 0) + 1
                rs = self._one(rq)
                if rq.get("requestID") is not None:
                    rs.set("requestID", rq.get("requestID"))
                rs_parent.append(rs)
            return '<?xml version="1.0" ?>\n' + etree.tostring(out, encoding="unicode")

    def _status(self, tag: str, code: int = 0, message: str = "Status OK", severity: str = "Info") -> Any:
        rs = etree.Element(tag)
        rs.set("statusCode", str(code))
        rs.set("statusSeverity", severity if code in (0, 1) or (code >= 500 and code < 1000) else "Error")
        rs.set("statusMessage", message)
        return rs

    def _one(self, rq: Any) -> Any:
        tag = rq.tag[:-2]
        if tag.endswith("Add"):
            return self._add(tag[:-3], rq[0])
        if tag.endswith("Mod"):
            return self._mod(tag[:-3], rq[0])
        if tag in ("ListDeletedQuery", "TxnDeletedQuery"):
            return self._deleted_query(tag, rq)
        if tag.endswith("Query"):
            return self._query(tag[:-5], rq)
        if tag == "TxnVoid":
            return self._void(rq)
        if tag in ("TxnDel", "ListDel"):
            return self._delete(tag, rq)
        return self._status(tag + "Rs", 3000, f"unsupported request {tag} in this fake")

    def _find_name(self, obj: str, name: str, parent: str | None) -> Any:
        names = ("Customer", "Vendor") if obj in ("Customer", "Vendor") else (obj,)
        for o in self.objects.values():
            ret = o["ret"]
            if o["type"] in names and ret.findtext("Name") == name and ret.findtext("ParentRef/ListID") == parent:
                return ret
        return None

    def _add(self, obj: str, add: Any) -> Any:
        rs = self._status(obj + "AddRs")
        ret = etree.Element(obj + "Ret")
        now = self._stamp()
        key = "ListID" if obj in LIST_OBJECTS else "TxnID"
        rid = self._new_id()
        if obj in LIST_OBJECTS:
            name = add.findtext("Name")
            parent = add.findtext("ParentRef/ListID")
            if self._find_name(obj, name, parent) is not None:
                return self._status(
                    obj + "AddRs", 3100, f'The name "{name}" of the list element is already in use.', "Error"
                )
        for k, v in ((key, rid), ("TimeCreated", now), ("TimeModified", now), ("EditSequence", now[11:19])):
            etree.SubElement(ret, k).text = v
        for child in add:
            ret.append(_copy(child))
        if obj in LIST_OBJECTS:
            full = add.findtext("Name") or ""
            parent = add.findtext("ParentRef/ListID")
            if parent:
                full = self.objects[parent]["ret"].findtext("FullName") + ":" + full
            etree.SubElement(ret, "FullName").text = full
        err = self._compute(obj, ret)
        if err is not None:
            return err
        self.objects[rid] = {"type": obj, "ret": ret}
        rs.append(_copy(ret))
        return rs

    def _compute(self, obj: str, ret: Any) -> Any:
        """Totals, balances and applications, as QuickBooks computes them."""
        if obj in ("Invoice", "CreditMemo", "PurchaseOrder", "Bill"):
            suffix = {"Invoice": "InvoiceLine", "CreditMemo": "CreditMemoLine", "PurchaseOrder": "PurchaseOrderLine"}
            total = Decimal(0)
            if obj == "Bill":
                for line in list(ret.findall("ExpenseLineAdd")):
                    line.tag = "ExpenseLineRet"
                    total += _d(line.findtext("Amount"))
                for line in list(ret.findall("ItemLineAdd")):
                    line.tag = "ItemLineRet"
                    amt = _d(line.findtext("Quantity") or "1") * _d(line.findtext("Cost"))
                    etree.SubElement(line, "Amount").text = _money(amt)
                    total += amt
                etree.SubElement(ret, "AmountDue").text = _money(total)
                etree.SubElement(ret, "IsPaid").text = "false"
                return None
            for line in list(ret.findall(suffix[obj] + "Add")) + list(ret.findall(suffix[obj] + "Mod")):
                line.tag = suffix[obj] + "Ret"
                amt = _d(line.findtext("Quantity") or "1") * _d(line.findtext("Rate"))
                etree.SubElement(line, "Amount").text = _money(amt)
                total += amt
            if obj == "Invoice":
                etree.SubElement(ret, "Subtotal").text = _money(total)
                etree.SubElement(ret, "SalesTaxTotal").text = "0.00"
                etree.SubElement(ret, "AppliedAmount").text = "0.00"
                etree.SubElement(ret, "BalanceRemaining").text = _money(total)
                etree.SubElement(ret, "IsPaid").text = "false" if total else "true"
            elif obj == "CreditMemo":
                etree.SubElement(ret, "Subtotal").text = _money(total)
                etree.SubElement(ret, "TotalAmount").text = _money(total)
                etree.SubElement(ret, "CreditRemaining").text = _money(total)
            else:
                etree.SubElement(ret, "TotalAmount").text = _money(total)
            return None
        if obj == "ReceivePayment":
            total = _d(ret.findtext("TotalAmount"))
            applied = Decimal(0)
            for a in list(ret.findall("AppliedToTxnAdd")):
                inv = self.objects.get(a.findtext("TxnID") or "")
                amt = _d(a.findtext("PaymentAmount"))
                if inv is None or inv["type"] != "Invoice":
                    return self._status("ReceivePaymentAddRs", 3120, "Object specified in the request cannot be found.")
                bal = _d(inv["ret"].findtext("BalanceRemaining"))
                if amt > bal:
                    return self._status(
                        "ReceivePaymentAddRs",
                        3210,
                        f'The "AppliedToTxnAdd payment amount" field has an invalid value "{amt}".  QuickBooks '
                        "error message: You cannot pay more than the amount due.",
                    )
            for a in list(ret.findall("AppliedToTxnAdd")):
                inv = self.objects[a.findtext("TxnID")]["ret"]
                amt = _d(a.findtext("PaymentAmount"))
                bal = _d(inv.findtext("BalanceRemaining")) - amt
                inv.find("BalanceRemaining").text = _money(bal)
                inv.find("IsPaid").text = "true" if bal == 0 else "false"
                self._touch(inv)
                a.tag = "AppliedToTxnRet"
                a.find("PaymentAmount").tag = "Amount"
                etree.SubElement(a, "TxnType").text = "Invoice"
                etree.SubElement(a, "RefNumber").text = inv.findtext("RefNumber") or ""
                applied += amt
            for e in ret.findall("IsAutoApply"):
                ret.remove(e)
            etree.SubElement(ret, "UnusedPayment").text = _money(total - applied)
        return None

    def _touch(self, ret: Any) -> None:
        now = self._stamp()
        ret.find("TimeModified").text = now
        ret.find("EditSequence").text = now[11:19] + str(next(self.counter) % 97)

    def _mod(self, obj: str, mod: Any) -> Any:
        key = "ListID" if obj in LIST_OBJECTS else "TxnID"
        rid = mod.findtext(key)
        found = self.objects.get(rid or "")
        if found is None:
            return self._status(obj + "ModRs", 3120, f'Object "{rid}" specified in the request cannot be found.')
        ret = found["ret"]
        if self.stale_next_mod:
            self.stale_next_mod -= 1
            self._touch(ret)  # a person edited it first
        if mod.findtext("EditSequence") != ret.findtext("EditSequence"):
            rs = self._status(
                obj + "ModRs", 3200, f'The provided edit sequence "{mod.findtext("EditSequence")}" is out-of-date. '
            )
            rs.append(_copy(ret))
            return rs
        if obj in LIST_OBJECTS and mod.find("Name") is not None:
            other = self._find_name(obj, mod.findtext("Name"), mod.findtext("ParentRef/ListID"))
            if other is not None and other is not ret:
                return self._status(
                    obj + "ModRs", 3100, f'The name "{mod.findtext("Name")}" of the list element is already in use.'
                )
        line_tags = {c.tag for c in mod if c.tag.endswith("LineMod")}
        if line_tags:
            for c in list(ret):
                if c.tag.endswith("LineRet"):
                    ret.remove(c)
        for child in mod:
            if child.tag in (key, "EditSequence"):
                continue
            if child.tag in ("SalesOrPurchaseMod",):
                old = ret.find("SalesOrPurchase")
                if old is not None:
                    ret.remove(old)
                new = _copy(child)
                new.tag = "SalesOrPurchase"
                ret.append(new)
                continue
            if not child.tag.endswith("LineMod"):
                old = ret.find(child.tag)
                if old is not None:
                    ret.remove(old)
            line = _copy(child)
            ret.append(line)
        for tag in (
            "Subtotal",
            "SalesTaxTotal",
            "AppliedAmount",
            "BalanceRemaining",
            "IsPaid",
            "TotalAmount",
            "CreditRemaining",
            "AmountDue",
        ):
            for e in ret.findall(tag):
                ret.remove(e)
        for line in ret.findall("*"):
            if line.tag.endswith("LineMod"):
                tid = line.find("TxnLineID")
                if tid is not None:
                    line.remove(tid)
        self._compute(obj, ret)
        self._touch(ret)
        rs = self._status(obj + "ModRs")
        rs.append(_copy(ret))
        return rs

    def _query(self, obj: str, rq: Any) -> Any:
        tag = obj + "QueryRs"
        if rq.get("iterator") == "Continue":
            it = rq.get("iteratorID") or ""
            if it not in self.iterators:
                return self._status(tag, 3391, f'The iteratorID "{it}" is not valid.')
            rows = self.iterators.pop(it)
            return self._page(tag, rows, rq, it)
        types = ("ItemService",) if obj == "Item" else (obj,)
        rows = [o["ret"] for o in self.objects.values() if o["type"] in types]
        ids = rq.findall("ListID") + rq.findall("TxnID")
        if ids:
            wanted = [i.text for i in ids]
            rows = [self.objects[i]["ret"] for i in wanted if i in self.objects and self.objects[i]["type"] in types]
            if len(rows) < len(wanted):
                rs = self._status(tag, 500, "One or more objects cannot be found.", "Warn")
                for r in rows:
                    rs.append(_copy(r))
                return rs
        for ref in rq.findall("RefNumber"):
            rows = [r for r in rows if r.findtext("RefNumber") == ref.text]
        since = rq.findtext("FromModifiedDate") or rq.findtext("ModifiedDateRangeFilter/FromModifiedDate")
        if since:
            cut = dt.datetime.fromisoformat(since)
            rows = [r for r in rows if dt.datetime.fromisoformat(r.findtext("TimeModified")) >= cut]
        name = rq.findtext("NameFilter/Name")
        if name is not None:
            rows = [r for r in rows if (r.findtext("FullName") or "").endswith(name)]
        frm = rq.findtext("TxnDateRangeFilter/FromTxnDate")
        if frm:
            rows = [
                r for r in rows if frm <= (r.findtext("TxnDate") or "") <= rq.findtext("TxnDateRangeFilter/ToTxnDate")
            ]
        rows = sorted(rows, key=lambda r: r.findtext("TimeModified"))
        if rq.get("iterator") == "Start":
            return self._page(tag, rows, rq, "{" + f"{next(self.counter):08x}" + "-it}")
        if not rows:
            return self._status(tag, 1, "A query request did not find a matching object in QuickBooks")
        rs = self._status(tag)
        for r in rows:
            rs.append(_copy(r))
        return rs

    def _page(self, tag: str, rows: list[Any], rq: Any, it: str) -> Any:
        size = int(rq.findtext("MaxReturned") or "100")
        page, rest = rows[:size], rows[size:]
        rs = (
            self._status(tag)
            if page
            else self._status(tag, 1, "A query request did not find a matching object in QuickBooks")
        )
        rs.set("iteratorRemainingCount", str(len(rest)))
        rs.set("iteratorID", it)
        if rest:
            self.iterators[it] = rest
        for r in page:
            rs.append(_copy(r))
        return rs

    def _deleted_query(self, tag: str, rq: Any) -> Any:
        types = {t.text for t in rq.findall("ListDelType") + rq.findall("TxnDelType")}
        since = rq.findtext("DeletedDateRangeFilter/FromDeletedDate")
        rows = [d for d in self.deleted if d[0] in types and (not since or d[2] >= since)]
        rs = (
            self._status(tag + "Rs")
            if rows
            else self._status(tag + "Rs", 1, "A query request did not find a matching object in QuickBooks")
        )
        key = "ListID" if tag.startswith("List") else "TxnID"
        for t, rid, when in rows:
            ret = etree.SubElement(rs, tag.replace("Query", "Ret").replace("Deleted", "Deleted"))
            ret.tag = "ListDeletedRet" if key == "ListID" else "TxnDeletedRet"
            etree.SubElement(ret, "ListDelType" if key == "ListID" else "TxnDelType").text = t
            etree.SubElement(ret, key).text = rid
            etree.SubElement(ret, "TimeDeleted").text = when
        return rs

    def _void(self, rq: Any) -> Any:
        rid = rq.findtext("TxnID")
        found = self.objects.get(rid or "")
        if found is None:
            return self._status("TxnVoidRs", 3120, "Object specified in the request cannot be found.")
        ret = found["ret"]
        memo = ret.find("Memo")
        if memo is None:
            memo = etree.SubElement(ret, "Memo")
            memo.text = ""
        memo.text = "VOID: " + (memo.text or "")
        for line in ret:
            if line.tag.endswith("LineRet"):
                for f in ("Rate", "Amount", "Cost"):
                    e = line.find(f)
                    if e is not None:
                        e.text = "0.00"
        for f in ("Subtotal", "BalanceRemaining", "TotalAmount", "CreditRemaining", "AmountDue"):
            e = ret.find(f)
            if e is not None:
                e.text = "0.00"
        self._touch(ret)
        rs = self._status("TxnVoidRs")
        etree.SubElement(rs, "TxnVoidType").text = rq.findtext("TxnVoidType")
        etree.SubElement(rs, "TxnID").text = rid
        return rs

    def _delete(self, tag: str, rq: Any) -> Any:
        key = "ListID" if tag == "ListDel" else "TxnID"
        rid = rq.findtext(key)
        found = self.objects.pop(rid or "", None)
        if found is None:
            return self._status(tag + "Rs", 3120, "Object specified in the request cannot be found.")
        if found["type"] == "ReceivePayment":
            for a in found["ret"].findall("AppliedToTxnRet"):
                inv = self.objects.get(a.findtext("TxnID") or "")
                if inv is not None:
                    bal = _d(inv["ret"].findtext("BalanceRemaining")) + _d(a.findtext("Amount"))
                    inv["ret"].find("BalanceRemaining").text = _money(bal)
                    inv["ret"].find("IsPaid").text = "false"
                    self._touch(inv["ret"])
        self.deleted.append((found["type"], rid or "", self._stamp()))
        rs = self._status(tag + "Rs")
        ret = etree.SubElement(rs, tag + "Ret")
        etree.SubElement(ret, tag + "Type").text = found["type"]
        etree.SubElement(ret, key).text = rid
        return rs

    # -- a person at the keyboard ---------------------------------------------------------------------------
    def edit_customer(self, name: str, **fields: str) -> None:
        with self.lock:
            ret = next(r for r in self.of_type("Customer") if r.findtext("Name") == name)
            for k, v in fields.items():
                e = ret.find(k)
                if e is None:
                    e = etree.SubElement(ret, k)
                e.text = v
            self._touch(ret)


def _copy(node: Any) -> Any:
    return etree.fromstring(etree.tostring(node))
