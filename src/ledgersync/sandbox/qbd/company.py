"""The emulated QuickBooks company file: lists, transactions and the request processor answering qbXML 13.0.

One `Company` is one open .QBW file. `process()` takes a request set (QBXML/QBXMLMsgsRq) and answers the response
set QuickBooks would give, one *Rs per *Rq with requestID echoed and statusCode/statusSeverity/statusMessage.
Rules and texts: api-facts-wave2.md part A (sources named there); every behaviour no source gave is marked GUESS."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone
from decimal import Decimal
from typing import Any

from lxml import etree

from . import qbxml as q
from .kinds import (
    APPLIED_ORDER,
    ITEM_TYPES,
    LINKED_TXN_ORDER,
    LIST_COMPUTED,
    LIST_DEL_TYPES,
    LISTS,
    TXN_COMPUTED,
    TXN_DEL_TYPES,
    TXN_VOID_TYPES,
    TXNS,
    LineKind,
    ListKind,
    TxnKind,
)

Rec = dict[str, Any]
ZERO = Decimal(0)
# Children that repeat inside Add/Mod aggregates (everything else is read as a single value).
REPEATED = frozenset({
    "InvoiceLineAdd", "InvoiceLineMod", "CreditMemoLineAdd", "CreditMemoLineMod", "PurchaseOrderLineAdd",
    "PurchaseOrderLineMod", "ExpenseLineAdd", "ExpenseLineMod", "ItemLineAdd", "ItemLineMod", "AppliedToTxnAdd",
    "AppliedToTxnMod", "LinkToTxnID", "SetCredit", "ListID", "FullName", "TxnID", "RefNumber", "ListDelType",
    "TxnDelType", "IncludeRetElement", "OwnerID", "ShipToAddress", "TxnLineDetail",
})


@dataclass
class Iterator:
    id: str
    request: str  # the *QueryRq it belongs to
    ids: list[tuple[str, str]]  # (type, id) snapshot taken at Start
    pos: int
    session: str
    opts: dict[str, Any] = field(default_factory=dict)


# A hook the sandbox runs before each request (fault injection, a person's edit); it may raise q.Status.
BeforeHook = Callable[["Company", str, etree._Element], None]


class Company:
    """One company file. Not thread-safe by itself: the sandbox serialises calls with its lock."""

    def __init__(self, name: str = "Sandbox Company", file_path: str | None = None,
                 clock: Callable[[], float] = time.time, tz: timezone | None = None) -> None:
        self.name = name
        self.file_path = file_path or f"C:\\Users\\Public\\Documents\\Intuit\\QuickBooks\\Company Files\\{name}.QBW"
        self.clock = clock
        self.tz = tz or q.parse_offset("-05:00")
        self.lists: dict[str, dict[str, Rec]] = {k: {} for k in LISTS}
        self.txns: dict[str, dict[str, Rec]] = {k: {} for k in TXNS}
        self.deleted_lists: list[Rec] = []
        self.deleted_txns: list[Rec] = []
        self.list_seq = 0x80000000
        self.txn_seq = 0
        self.txn_number = 0
        self.line_seq = 0
        self.iterators: dict[str, Iterator] = {}
        # Derived figures (amounts applied per invoice, balances per customer), computed once per query request:
        # nothing changes while a query is answered. None while a request that writes is handled.
        self._cache: dict[str, Any] | None = None
        # casefolded FullName (Name where a list has no FullName) -> ListID, per list type
        self.by_name: dict[str, dict[str, str]] = {k: {} for k in LISTS}
        self.max_ref: dict[str, int] = {}  # largest numeric RefNumber per transaction type (computed on first use)
        self.seed()

    # ---- ids and stamps -------------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock()

    def stamp(self) -> str:
        return q.fmt_time(self.now(), self.tz)

    def _new_list_id(self) -> str:
        self.list_seq += 1
        return f"{self.list_seq:X}-{int(self.now())}"

    def _new_txn_id(self) -> str:
        self.txn_seq += 1
        return f"{self.txn_seq + 0x10:X}-{int(self.now())}"

    def _new_line_id(self) -> str:
        self.line_seq += 1
        return f"{self.line_seq + 0x10:X}-{int(self.now())}"

    def _edit_sequence(self, old: str | None) -> str:
        # QuickBooks' EditSequence is a Unix-time string; it must change with every edit, even within a second.
        now = int(self.now())
        return str(max(now, int(old) + 1)) if old and old.isdigit() else str(now)

    def touch(self, rec: Rec) -> None:
        rec["EditSequence"] = self._edit_sequence(rec.get("EditSequence"))
        rec["TimeModified"] = self.stamp()
        rec["_modified"] = self.now()

    def seed(self) -> None:
        """What a new US company file has: the sales tax codes Tax and Non, and a chart of accounts."""
        for name, taxable, desc in (("Tax", "true", "Taxable Sales"), ("Non", "false", "Non-Taxable Sales")):
            self._create_list("SalesTaxCode", {"Name": name, "IsActive": "true", "IsTaxable": taxable, "Desc": desc})
        self.seed_accounts()

    def seed_accounts(self) -> None:
        """GUESS: which accounts a new file has depends on the EasyStep interview's industry; these are the ones
        QuickBooks makes for itself (Accounts Receivable, Undeposited Funds, Inventory Asset, Accounts Payable,
        Sales Tax Payable, Opening Balance Equity, Cost of Goods Sold, the special types in qbxml130.xsd) and a
        service business's common ones."""
        for name, kind, special in (
            ("Checking", "Bank", None),
            ("Accounts Receivable", "AccountsReceivable", "AccountsReceivable"),
            ("Undeposited Funds", "OtherCurrentAsset", "UndepositedFunds"),
            ("Inventory Asset", "OtherCurrentAsset", "InventoryAssets"),
            ("Accounts Payable", "AccountsPayable", "AccountsPayable"),
            ("Sales Tax Payable", "OtherCurrentLiability", "SalesTaxPayable"),
            ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
            ("Sales", "Income", None),
            ("Services", "Income", None),
            ("Cost of Goods Sold", "CostOfGoodsSold", "CostOfGoodsSold"),
            ("Job Expenses", "Expense", None),
            ("Rent Expense", "Expense", None),
        ):
            fields: Rec = {"Name": name, "FullName": name, "IsActive": "true", "Sublevel": "0", "AccountType": kind}
            if special:
                fields["SpecialAccountType"] = special
            self._create_list("Account", fields)

    # ---- lookups --------------------------------------------------------------------------------------------------
    def find_list(self, types: tuple[str, ...], ref: dict[str, Any] | str | None) -> Rec | None:
        if ref is None:
            return None
        if isinstance(ref, str):
            ref = {"FullName": ref}
        lid, full = ref.get("ListID"), ref.get("FullName")
        for t in types:
            if lid:
                rec = self.lists[t].get(lid)
                if rec is not None:
                    return rec
            elif full:
                found = self.by_name[t].get(full.casefold())
                if found is not None:
                    return self.lists[t][found]
        return None

    def _index(self, t: str, rec: Rec, old_full: str | None = None) -> None:
        if old_full is not None and self.by_name[t].get(old_full.casefold()) == rec["ListID"]:
            del self.by_name[t][old_full.casefold()]
        self.by_name[t][self.full_name(rec).casefold()] = rec["ListID"]

    def full_name(self, rec: Rec) -> str:
        return str(rec.get("FullName") or rec["Name"])

    def ref_of(self, rec: Rec) -> dict[str, str]:
        return {"ListID": rec["ListID"], "FullName": self.full_name(rec)}

    def find_txn(self, tid: str) -> tuple[str, Rec] | None:
        for t, recs in self.txns.items():
            if tid in recs:
                return t, recs[tid]
        return None

    def _name_taken(self, kind: ListKind, full: str, except_id: str | None) -> bool:
        key = full.casefold()
        for k in LISTS.values():
            if k.namespace == kind.namespace:
                found = self.by_name[k.name].get(key)
                if found is not None and found != except_id:
                    return True
        return False

    def children(self, t: str, lid: str) -> list[Rec]:
        return [r for r in self.lists[t].values() if (r.get("ParentRef") or {}).get("ListID") == lid]

    def used_by_txn(self, lid: str) -> bool:
        def refs(obj: Any) -> bool:
            if isinstance(obj, dict):
                if obj.get("ListID") == lid:
                    return True
                return any(refs(v) for k, v in obj.items() if not k.startswith("_"))
            if isinstance(obj, list):
                return any(refs(v) for v in obj)
            return False

        return any(refs(rec) for recs in self.txns.values() for rec in recs.values())

    def used_by_list(self, lid: str, except_id: str) -> bool:
        for recs in self.lists.values():
            for rec in recs.values():
                if rec["ListID"] == except_id:
                    continue
                for k, v in rec.items():
                    if k.endswith("Ref") and isinstance(v, dict) and v.get("ListID") == lid:
                        return True
        return False

    # ---- the request processor ------------------------------------------------------------------------------------
    def process(self, raw: str | bytes, session: str = "direct", before: BeforeHook | None = None) -> str:
        """Answer a request set. Raises q.ParseError when QuickBooks would refuse the whole set (HRESULT
        0x80040400)."""
        msgs = q.parse_request_set(raw)
        on_error = msgs.get("onError")
        include = msgs.get("responseData", "includeAll") != "includeNone"
        requests = [el for el in msgs if isinstance(el.tag, str)]
        for el in requests:
            if not el.tag.endswith("Rq") or self._handler(el.tag) is None:
                raise q.ParseError(f"unknown request {el.tag}")
        out: list[etree._Element] = []
        for el in requests:
            rs = self.answer(el, session, before, include)
            out.append(rs)
            # stopOnError: processing stops at the first error; the answer holds the responses up to it (GUESS:
            # rollbackOnError is treated as stopOnError, nothing earlier in the set is rolled back).
            if on_error != "continueOnError" and rs.get("statusSeverity") == "Error":
                break
        return q.response_set(out)

    def answer(self, el: etree._Element, session: str, before: BeforeHook | None, include: bool = True
               ) -> etree._Element:
        tag = el.tag
        rs = etree.Element(tag[:-2] + "Rs")
        rid = el.get("requestID")
        if rid is not None:
            rs.set("requestID", rid)
        handler = self._handler(tag)
        assert handler is not None
        self._cache = {} if tag.endswith("QueryRq") else None
        try:
            if rid is not None and len(rid) > 50:
                # Status 1060 for a requestID over 50 characters (Intuit's status-code list; the text is a GUESS).
                raise q.Status(1060, f'The requestID "{rid[:50]}..." is longer than 50 characters.')
            if before is not None:
                before(self, tag, el)
            code, sev, msg, rets, extra = handler(el, session)
        except q.Status as st:
            code, sev, msg, extra = st.code, st.severity, st.message, {}
            rets = [st.ret] if st.ret is not None else []
        finally:
            self._cache = None
        rs.set("statusCode", str(code))
        rs.set("statusSeverity", sev)
        rs.set("statusMessage", msg)
        for k, v in extra.items():
            rs.set(k, str(v))
        if include:
            for r in rets:
                rs.append(r)
        return rs

    Result = tuple[int, str, str, list[etree._Element], dict[str, Any]]

    def _handler(self, tag: str) -> Callable[[etree._Element, str], Company.Result] | None:
        base = tag[:-2]
        fixed: dict[str, Callable[[etree._Element, str], Company.Result]] = {
            "HostQuery": self._host_query,
            "CompanyQuery": self._company_query,
            "PreferencesQuery": self._preferences_query,
            "ItemQuery": self._item_query,
            "ListDel": self._list_del,
            "TxnDel": self._txn_del,
            "TxnVoid": self._txn_void,
            "ListDeletedQuery": self._list_deleted_query,
            "TxnDeletedQuery": self._txn_deleted_query,
        }
        if base in fixed:
            return fixed[base]
        for op in ("Add", "Mod", "Query"):
            if base.endswith(op):
                t = base[: -len(op)]
                if t in LISTS:
                    return {"Add": self._list_add, "Mod": self._list_mod, "Query": self._list_query}[op]
                if t in TXNS:
                    return {"Add": self._txn_add, "Mod": self._txn_mod, "Query": self._txn_query}[op]
        return None

    @staticmethod
    def _ok(rets: list[etree._Element], extra: dict[str, Any] | None = None) -> Company.Result:
        return 0, "Info", q.STATUS_OK, rets, extra or {}

    # ---- Host / Company (the HCP response) ------------------------------------------------------------------------
    def _host_query(self, el: etree._Element, session: str) -> Result:
        ret = etree.Element("HostRet")
        for k, v in (("ProductName", "QuickBooks Pro 2024"), ("MajorVersion", "34"), ("MinorVersion", "0"),
                     ("Country", "US")):
            q.sub(ret, k, v)
        for v in ("1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1", "5.0", "6.0", "7.0", "8.0", "10.0", "11.0",
                  "12.0", "13.0"):
            q.sub(ret, "SupportedQBXMLVersion", v)
        q.sub(ret, "IsAutomaticLogin", "false")
        q.sub(ret, "QBFileMode", "SingleUser")
        return self._ok([ret])

    def _company_query(self, el: etree._Element, session: str) -> Result:
        ret = etree.Element("CompanyRet")
        q.sub(ret, "IsSampleCompany", "false")
        q.sub(ret, "CompanyName", self.name)
        q.sub(ret, "LegalCompanyName", self.name)
        return self._ok([ret])

    def _preferences_query(self, el: etree._Element, session: str) -> Result:
        """The preferences a sync reads: class tracking on (classes stand for the app's locations), accounts
        required, one currency. Sales tax preferences are left out: they need a default ItemSalesTax, which a new
        file lacks."""
        ret = etree.Element("PreferencesRet")
        acc = etree.SubElement(ret, "AccountingPreferences")
        for k, v in (("IsUsingAccountNumbers", "false"), ("IsRequiringAccounts", "true"),
                     ("IsUsingClassTracking", "true"), ("IsUsingAuditTrail", "true"),
                     ("IsAssigningJournalEntryNumbers", "true")):
            q.sub(acc, k, v)
        mc = etree.SubElement(ret, "MultiCurrencyPreferences")
        q.sub(mc, "IsMultiCurrencyOn", "false")
        return self._ok([ret])

    # ---- lists ----------------------------------------------------------------------------------------------------
    def _list_type(self, tag: str, op: str) -> ListKind:
        return LISTS[tag[: -len(op) - 2]]

    def _check_fields(self, kind_name: str, rec: Rec, name_max: int | None) -> None:
        if name_max is not None and "Name" in rec and len(rec["Name"]) > name_max:
            raise q.too_long(rec["Name"], "Name")
        for fld, limit in (("CompanyName", 41), ("Notes", 4095), ("AccountNumber", 99), ("Email", 1023),
                           ("Phone", 21), ("Memo", 4095), ("Desc", 31 if kind_name == "SalesTaxCode" else 4095)):
            v = rec.get(fld)
            if isinstance(v, str) and len(v) > limit:
                raise q.too_long(v, fld)

    def _resolve_refs(self, rec: Rec, where: str) -> None:
        """Refs to lists the company keeps (accounts among them) must name an element of them (3140); refs to
        lists it does not keep (terms, sales reps, currencies...) are kept as given: NOT MODELLED."""
        targets: dict[str, tuple[str, ...]] = {
            "ParentRef": (), "ClassRef": ("Class",), "SalesTaxCodeRef": ("SalesTaxCode",),
            "CustomerSalesTaxCodeRef": ("SalesTaxCode",), "PurchaseTaxCodeRef": ("SalesTaxCode",),
            "ItemSalesTaxRef": ("ItemSalesTax",), "ItemRef": ITEM_TYPES, "CustomerRef": ("Customer",),
            "VendorRef": ("Vendor",), "PrefVendorRef": ("Vendor",), "TaxVendorRef": ("Vendor",),
        }
        kinds = {"Class": "Class", "SalesTaxCode": "Sales Tax Code", "ItemSalesTax": "Item", "Customer": "Customer",
                 "Vendor": "Vendor"}
        for k in ("AccountRef", "DepositToAccountRef", "ARAccountRef", "APAccountRef", "IncomeAccountRef",
                  "ExpenseAccountRef", "COGSAccountRef", "AssetAccountRef"):
            targets[k] = ("Account",)
        kinds["Account"] = "Account"
        for nested in ("SalesOrPurchase", "SalesAndPurchase"):
            if isinstance(rec.get(nested), dict):
                self._resolve_refs(rec[nested], where)
        for k, v in list(rec.items()):
            if k in targets and targets[k] and isinstance(v, dict):
                found = self.find_list(targets[k], v)
                if found is None:
                    label = "Item" if targets[k] == ITEM_TYPES else kinds.get(targets[k][0], targets[k][0])
                    raise q.invalid_ref(label, str(v.get("FullName") or v.get("ListID")), where)
                rec[k] = self.ref_of(found)

    def _create_list(self, t: str, fields: Rec) -> Rec:
        now = self.stamp()
        rec: Rec = {"ListID": self._new_list_id(), "TimeCreated": now, "TimeModified": now,
                    "EditSequence": self._edit_sequence(None), "_created": self.now(), "_modified": self.now()}
        rec.update(fields)
        rec.setdefault("IsActive", "true")
        self.lists[t][rec["ListID"]] = rec
        self._index(t, rec)
        return rec

    def _place(self, kind: ListKind, rec: Rec, fields: Rec) -> None:
        """FullName and Sublevel from Name and ParentRef."""
        if not kind.hierarchical:
            return
        parent_ref = fields.get("ParentRef", rec.get("ParentRef"))
        if parent_ref:
            parent = self.find_list((kind.name,) if not kind.item else ITEM_TYPES, parent_ref)
            if parent is None:
                raise q.invalid_ref(kind.name if not kind.item else "Item",
                                    str(parent_ref.get("FullName") or parent_ref.get("ListID")), kind.name)
            if rec.get("ListID") and (parent["ListID"] == rec["ListID"] or self._is_descendant(kind.name, parent,
                                                                                                rec["ListID"])):
                raise q.invalid_value("ParentRef", self.full_name(parent), "A list element cannot be its own parent.")
            fields["ParentRef"] = self.ref_of(parent)
            fields["FullName"] = f"{self.full_name(parent)}:{fields.get('Name', rec.get('Name'))}"
            fields["Sublevel"] = str(int(parent.get("Sublevel", "0")) + 1)
        else:
            fields["FullName"] = str(fields.get("Name", rec.get("Name")))
            fields["Sublevel"] = "0"

    def _is_descendant(self, t: str, rec: Rec, ancestor_id: str) -> bool:
        seen = 0
        cur: Rec | None = rec
        while cur is not None and cur.get("ParentRef") and seen < 100:
            pid = cur["ParentRef"]["ListID"]
            if pid == ancestor_id:
                return True
            cur = self.lists[t].get(pid)
            seen += 1
        return False

    def _list_add(self, el: etree._Element, session: str) -> Result:
        kind = self._list_type(el.tag, "Add")
        add = el.find(f"{kind.name}Add")
        if add is None:
            raise q.ParseError(f"{el.tag} without {kind.name}Add")
        fields = {k: v for k, v in q.to_record(add, REPEATED, top=False).items() if k not in LIST_COMPUTED}
        if not fields.get("Name"):
            raise q.ParseError("Name is required")
        self._check_fields(kind.name, fields, kind.name_max)
        if kind.name == "SalesTaxCode" and "IsTaxable" not in fields:
            raise q.ParseError("IsTaxable is required")
        self._resolve_refs(fields, kind.name)
        self._place(kind, {}, fields)
        full = str(fields.get("FullName") or fields["Name"])
        if self._name_taken(kind, full, None):
            raise q.name_in_use(str(fields["Name"]))
        if kind.name == "ItemInventory":
            qoh, value = q.dec(fields.pop("QuantityOnHand", None)), q.dec(fields.pop("TotalValue", None))
            fields.pop("InventoryDate", None)
            fields["QuantityOnHand"] = q.fmt_num(qoh)
            fields["AverageCost"] = q.fmt_num(value / qoh if qoh else q.dec(fields.get("PurchaseCost")))
        fields.pop("OpenBalance", None)  # NOT MODELLED: an opening balance would be a transaction of its own
        fields.pop("OpenBalanceDate", None)
        rec = self._create_list(kind.name, fields)
        return self._ok([self.render_list(kind.name, rec)])

    def _list_mod(self, el: etree._Element, session: str) -> Result:
        kind = self._list_type(el.tag, "Mod")
        mod = el.find(f"{kind.name}Mod")
        if mod is None:
            raise q.ParseError(f"{el.tag} without {kind.name}Mod")
        fields = q.to_record(mod, REPEATED, top=False)
        lid, es = fields.get("ListID"), fields.get("EditSequence")
        if not lid or es is None:
            raise q.ParseError("ListID and EditSequence are required")
        lid = lid[0] if isinstance(lid, list) else lid
        rec = self.lists[kind.name].get(lid)
        if rec is None:
            raise q.not_found(lid)
        if es != rec["EditSequence"]:
            raise q.stale(es, self.render_list(kind.name, rec))
        changes = {k: v for k, v in fields.items() if k not in LIST_COMPUTED}
        self._check_fields(kind.name, changes, kind.name_max)
        self._resolve_refs(changes, kind.name)
        if "Name" in changes or "ParentRef" in changes:
            self._place(kind, rec, changes)
            full = str(changes.get("FullName") or changes.get("Name") or rec["Name"])
            if self._name_taken(kind, full, lid):
                raise q.name_in_use(str(changes.get("Name", rec["Name"])))
        old_full = self.full_name(rec)
        rec.update(changes)
        self._index(kind.name, rec, old_full)
        self.touch(rec)
        if "FullName" in changes:
            self._rename_children(kind, rec)
        return self._ok([self.render_list(kind.name, rec)])

    def _rename_children(self, kind: ListKind, parent: Rec) -> None:
        types = ITEM_TYPES if kind.item else (kind.name,)
        for t in types:
            for child in self.children(t, parent["ListID"]):
                child["ParentRef"] = self.ref_of(parent)
                old_full = self.full_name(child)
                child["FullName"] = f"{self.full_name(parent)}:{child['Name']}"
                self._index(t, child, old_full)
                child["Sublevel"] = str(int(parent.get("Sublevel", "0")) + 1)
                self.touch(child)
                self._rename_children(LISTS[t], child)

    def _list_query(self, el: etree._Element, session: str) -> Result:
        kind = self._list_type(el.tag, "Query")
        return self._query(el, session, (kind.name,))

    def _item_query(self, el: etree._Element, session: str) -> Result:
        return self._query(el, session, ITEM_TYPES)

    def _query(self, el: etree._Element, session: str, types: tuple[str, ...]) -> Result:
        opts = q.to_record(el, REPEATED)

        def select() -> list[tuple[str, str]]:
            recs = [(t, r) for t in types for r in self.lists[t].values()]
            if "ListID" in opts:
                wanted = set(opts["ListID"])
                return self._exact([(t, r) for t, r in recs if r["ListID"] in wanted], opts["ListID"])
            if "FullName" in opts:
                names = [n.casefold() for n in opts["FullName"]]
                hit = [(t, r) for t, r in recs if self.full_name(r).casefold() in names]
                return self._exact_names(hit, opts["FullName"])
            active = opts.get("ActiveStatus", "ActiveOnly")
            if active == "ActiveOnly":
                recs = [(t, r) for t, r in recs if r.get("IsActive", "true") == "true"]
            elif active == "InactiveOnly":
                recs = [(t, r) for t, r in recs if r.get("IsActive", "true") == "false"]
            recs = self._modified_filter(recs, opts.get("FromModifiedDate"), opts.get("ToModifiedDate"))
            nf = opts.get("NameFilter")
            if isinstance(nf, dict):
                crit, needle = nf.get("MatchCriterion", "StartsWith"), str(nf.get("Name", "")).casefold()
                test = {"StartsWith": str.startswith, "Contains": str.__contains__, "EndsWith": str.endswith}[
                    crit if crit in ("StartsWith", "Contains", "EndsWith") else "StartsWith"]
                recs = [(t, r) for t, r in recs if test(self.full_name(r).casefold(), needle)]
            # GUESS: lists come back in list order, i.e. sorted by FullName (a parent before its children).
            recs.sort(key=lambda tr: self.full_name(tr[1]).casefold())
            return [(t, r["ListID"]) for t, r in recs]

        return self._paged(el, opts, session, select, lambda t, i: self.render_list(t, self.lists[t][i], opts))

    def _exact(self, hits: list[tuple[str, Rec]], asked: list[str]) -> list[tuple[str, str]]:
        found = {r["ListID"] if "ListID" in r else r["TxnID"]: t for t, r in hits}
        missing = [a for a in asked if a not in found]
        if missing:
            raise _Partial([(found[a], a) for a in asked if a in found], missing[0])
        return [(found[a], a) for a in asked if a in found]

    def _exact_names(self, hits: list[tuple[str, Rec]], asked: list[str]) -> list[tuple[str, str]]:
        by = {self.full_name(r).casefold(): (t, r["ListID"]) for t, r in hits}
        missing = [a for a in asked if a.casefold() not in by]
        out = [by[a.casefold()] for a in asked if a.casefold() in by]
        if missing:
            raise _Partial(out, missing[0])
        return out

    def _modified_filter(self, recs: list[tuple[str, Rec]], frm: Any, to: Any) -> list[tuple[str, Rec]]:
        if isinstance(frm, str) and frm and isinstance(to, str) and to and \
                q.parse_time(frm, self.tz) > q.parse_time(to, self.tz, end_of_day=True):
            raise q.inverted_range("ModifiedDate")
        if isinstance(frm, str) and frm:
            lo = q.parse_time(frm, self.tz)
            recs = [(t, r) for t, r in recs if int(r["_modified"]) >= lo]
        if isinstance(to, str) and to:
            hi = q.parse_time(to, self.tz, end_of_day=True)
            recs = [(t, r) for t, r in recs if int(r["_modified"]) <= hi]
        return recs

    def _paged(self, el: etree._Element, opts: Rec, session: str, select: Callable[[], list[tuple[str, str]]],
               render: Callable[[str, str], etree._Element]) -> Result:
        """MaxReturned and iterators (Start / Continue / Stop with iteratorID and iteratorRemainingCount)."""
        mode = el.get("iterator")
        max_ret = opts.get("MaxReturned")
        limit = int(max_ret) if isinstance(max_ret, str) and max_ret.strip() else None
        if limit is not None and limit < 1:
            raise q.ParseError("MaxReturned must be at least 1")
        partial: str | None = None
        if mode in ("Continue", "Stop"):
            iid = el.get("iteratorID") or ""
            it = self.iterators.get(iid)
            if it is None or it.request != el.tag or it.session != session:
                raise q.bad_iterator(iid)
            if mode == "Stop":
                del self.iterators[iid]
                return 0, "Info", q.STATUS_OK, [], {"retCount": 0, "iteratorRemainingCount": 0, "iteratorID": iid}
            ids = it.ids
        else:
            try:
                ids = select()
            except _Partial as p:
                ids, partial = p.found, p.missing
            it = None
        start = it.pos if it is not None else 0
        # Records deleted since the iterator started are skipped (QuickBooks cannot return them).
        live = [(t, i) for t, i in ids[start:] if self._exists(t, i)] if it is not None else ids
        page = live[:limit] if limit is not None else live
        rets = [render(t, i) for t, i in page]
        extra: dict[str, Any] = {"retCount": len(rets)}
        if mode == "Start":
            iid = "{" + str(uuid.uuid4()) + "}"
            remaining = len(ids) - len(page)
            if remaining > 0:
                self.iterators[iid] = Iterator(iid, el.tag, ids, len(page), session)
            extra.update(iteratorRemainingCount=remaining, iteratorID=iid)
        elif mode == "Continue" and it is not None:
            it.pos = ids.index(page[-1]) + 1 if page else len(ids)
            remaining = max(len(ids) - it.pos, 0)
            if remaining == 0:
                self.iterators.pop(it.id, None)
            extra.update(iteratorRemainingCount=remaining, iteratorID=it.id)
        if partial is not None:
            # The 500 warning with the Rets that were found (the text is recalled from QuickBooks' answers; GUESS).
            return (500, "Warn", f'The query request has not been fully completed. There was a required element '
                    f'("{partial}") that could not be found in QuickBooks.', rets, extra)
        if not rets:
            return 1, "Info", q.NO_MATCH, [], extra
        return 0, "Info", q.STATUS_OK, rets, extra

    def _exists(self, t: str, i: str) -> bool:
        return i in (self.lists[t] if t in self.lists else self.txns[t])

    def end_session(self, session: str) -> int:
        """The Web Connector closed its connection to QuickBooks: that session's iterators are gone (3391)."""
        gone = [k for k, it in self.iterators.items() if it.session == session]
        for k in gone:
            del self.iterators[k]
        return len(gone)

    def render_list(self, t: str, rec: Rec, opts: Rec | None = None) -> etree._Element:
        out = dict(rec)
        if t == "Customer":
            own = self.customer_balance(rec["ListID"])
            out["Balance"] = q.fmt_amt(own)
            out["TotalBalance"] = q.fmt_amt(self._total_balance(rec["ListID"], 0))
        elif t == "Vendor":
            out["Balance"] = q.fmt_amt(sum((self._bill_open(b) for b in self.txns["Bill"].values()
                                            if (b.get("VendorRef") or {}).get("ListID") == rec["ListID"]), ZERO))
        return self._restrict(q.build(f"{t}Ret", out, LISTS[t].order), opts)

    @staticmethod
    def _restrict(el: etree._Element, opts: Rec | None) -> etree._Element:
        wanted = (opts or {}).get("IncludeRetElement")
        if wanted:
            keep = set(wanted)
            for child in list(el):
                if child.tag not in keep:
                    el.remove(child)
        return el

    def customer_balance(self, lid: str) -> Decimal:
        if self._cache is not None:
            if "balances" not in self._cache:
                self._cache["balances"] = self._all_balances()
            cached: Decimal = self._cache["balances"].get(lid, ZERO)
            return cached
        return self._all_balances(lid).get(lid, ZERO)

    def _all_balances(self, only: str | None = None) -> dict[str, Decimal]:
        """Each customer's own balance: open invoices, less credit memos and unused payments."""
        out: dict[str, Decimal] = {}
        amounts: tuple[tuple[str, Callable[[Rec], Decimal]], ...] = (
            ("Invoice", self.invoice_balance),
            ("CreditMemo", lambda cm: -q.dec(cm.get("_total"))),
            ("ReceivePayment", lambda p: -self.unused(p)),
        )
        for t, amount in amounts:
            for rec in self.txns[t].values():
                cid = (rec.get("CustomerRef") or {}).get("ListID")
                if cid is not None and (only is None or cid == only):
                    out[cid] = out.get(cid, ZERO) + amount(rec)
        return out

    def _total_balance(self, lid: str, depth: int) -> Decimal:
        total = self.customer_balance(lid)
        if depth < 100:
            for child in self.children("Customer", lid):
                total += self._total_balance(child["ListID"], depth + 1)
        return total

    # ---- ListDel --------------------------------------------------------------------------------------------------
    def _list_del(self, el: etree._Element, session: str) -> Result:
        t, lid = q.text_of(el, "ListDelType"), q.text_of(el, "ListID")
        if t not in LIST_DEL_TYPES or not lid:
            raise q.ParseError("ListDel needs a ListDelType of the schema and a ListID")
        rec = self.lists.get(t, {}).get(lid)
        if rec is None:
            raise q.not_found(lid)
        kind_label = {"Customer": "a Customer", "Vendor": "a Vendor", "Class": "a Class"}.get(t, f"an {t}")
        # QuickBooks will not delete a name or item a transaction uses, nor one that has sub-elements (GUESS: the
        # code and text of the refusal, see qbxml.in_use).
        if self.used_by_txn(lid) or self.children(t, lid) or (LISTS[t].item and any(
                self.children(it, lid) for it in ITEM_TYPES)) or self.used_by_list(lid, lid):
            raise q.in_use(kind_label, self.full_name(rec))
        del self.lists[t][lid]
        if self.by_name[t].get(self.full_name(rec).casefold()) == lid:
            del self.by_name[t][self.full_name(rec).casefold()]
        deleted = self.stamp()
        self.deleted_lists.append({"ListDelType": t, "ListID": lid, "TimeCreated": rec["TimeCreated"],
                                   "TimeDeleted": deleted, "FullName": self.full_name(rec), "_deleted": self.now()})
        ret = [self._el("ListDelType", t), self._el("ListID", lid), self._el("TimeDeleted", deleted),
               self._el("FullName", self.full_name(rec))]
        return self._ok(ret)

    @staticmethod
    def _el(tag: str, text: str) -> etree._Element:
        e = etree.Element(tag)
        e.text = text
        return e

    def _list_deleted_query(self, el: etree._Element, session: str) -> Result:
        opts = q.to_record(el, REPEATED)
        types = opts.get("ListDelType") or []
        if not types or any(t not in LIST_DEL_TYPES for t in types):
            raise q.ParseError("ListDeletedQuery needs ListDelType values of the schema")
        rows = [r for r in self.deleted_lists if r["ListDelType"] in types]
        rows = self._deleted_range(rows, opts.get("DeletedDateRangeFilter"))
        rets = [q.build("ListDeletedRet", r, ("ListDelType", "ListID", "TimeCreated", "TimeDeleted", "FullName"))
                for r in rows]
        if not rets:
            return 1, "Info", q.NO_MATCH, [], {"retCount": 0}
        return self._ok(rets, {"retCount": len(rets)})

    def _deleted_range(self, rows: list[Rec], flt: Any) -> list[Rec]:
        # GUESS: QuickBooks keeps deletions for a limited time (90 days is commonly cited); kept here for ever.
        if isinstance(flt, dict):
            if flt.get("FromDeletedDate"):
                lo = q.parse_time(flt["FromDeletedDate"], self.tz)
                rows = [r for r in rows if int(r["_deleted"]) >= lo]
            if flt.get("ToDeletedDate"):
                hi = q.parse_time(flt["ToDeletedDate"], self.tz, end_of_day=True)
                rows = [r for r in rows if int(r["_deleted"]) <= hi]
        return rows

    # ---- transactions ---------------------------------------------------------------------------------------------
    def _txn_type(self, tag: str, op: str) -> TxnKind:
        return TXNS[tag[: -len(op) - 2]]

    def _today(self) -> str:
        return datetime.fromtimestamp(self.now(), tz=UTC).astimezone(self.tz).date().isoformat()

    def _txn_add(self, el: etree._Element, session: str) -> Result:
        kind = self._txn_type(el.tag, "Add")
        add = el.find(f"{kind.name}Add")
        if add is None:
            raise q.ParseError(f"{el.tag} without {kind.name}Add")
        fields = q.to_record(add, REPEATED, top=False)
        if kind.required_entity and not fields.get(kind.entity_ref):
            raise q.ParseError(f"{kind.entity_ref} is required")
        head = {k: v for k, v in fields.items() if k not in TXN_COMPUTED and not k.endswith("LineAdd")
                and k not in ("AppliedToTxnAdd", "IsAutoApply", "LinkToTxnID", "SetCredit")}
        if kind.name == "ReceivePayment":
            head["TotalAmount"] = fields.get("TotalAmount")
        self._txn_head_rules(kind, head)
        now = self.stamp()
        rec: Rec = {"TxnID": self._new_txn_id(), "TimeCreated": now, "TimeModified": now,
                    "EditSequence": self._edit_sequence(None), "_created": self.now(), "_modified": self.now()}
        self.txn_number += 1
        rec["TxnNumber"] = str(self.txn_number)
        rec.update(head)
        rec.setdefault("TxnDate", self._today())
        if kind.numbered and not rec.get("RefNumber"):
            rec["RefNumber"] = self._next_ref(kind.name)
        if kind.name == "ReceivePayment":
            self._apply_payment(rec, fields, None)
        else:
            for lk in kind.lines:
                rec[lk.ret] = [self._line(kind, lk, ln, None) for ln in fields.get(lk.add, [])]
            self._totals(kind, rec)
        if kind.name == "Invoice" and "DueDate" not in rec:
            rec["DueDate"] = rec["TxnDate"]
        self.txns[kind.name][rec["TxnID"]] = rec
        self._note_ref(kind.name, rec.get("RefNumber"))
        return self._ok([self.render_txn(kind.name, rec, {"IncludeLineItems": "true"})])

    def _txn_head_rules(self, kind: TxnKind, head: Rec) -> None:
        ref = head.get("RefNumber")
        if isinstance(ref, str) and len(ref) > kind.ref_max:
            raise q.too_long(ref, "RefNumber")
        self._check_fields(kind.name, head, None)
        self._resolve_refs(head, kind.name)
        for d in ("TxnDate", "DueDate", "ShipDate", "ExpectedDate"):
            if isinstance(head.get(d), str) and head[d]:
                value = q.parse_date(head[d]).isoformat()
                if not "1970-01-02" <= value <= "2037-12-31":
                    raise q.date_out_of_range(head[d], d)
                head[d] = value

    def _next_ref(self, t: str) -> str:
        """The next number QuickBooks gives: one more than the largest numeric RefNumber of that type so far."""
        if t not in self.max_ref:
            nums = [int(r["RefNumber"]) for r in self.txns[t].values() if str(r.get("RefNumber", "")).isdigit()]
            self.max_ref[t] = max(nums, default=0)
        return str(self.max_ref[t] + 1)

    def _note_ref(self, t: str, ref: Any) -> None:
        if isinstance(ref, str) and ref.isdigit() and t in self.max_ref:
            self.max_ref[t] = max(self.max_ref[t], int(ref))

    def _line(self, kind: TxnKind, lk: LineKind, ln: Rec, old: Rec | None) -> Rec:
        line: Rec = dict(old or {})
        line.update({k: v for k, v in ln.items() if k != "TxnLineID"})
        line["TxnLineID"] = (old or {}).get("TxnLineID") or self._new_line_id()
        self._resolve_refs(line, kind.name)
        if lk.price_field == "":  # expense line: an amount against an account
            line["Amount"] = q.fmt_amt(q.dec(line.get("Amount")))
            return q.ordered(line, lk.order)
        item = self.find_list(ITEM_TYPES, line.get("ItemRef")) if line.get("ItemRef") else None
        price_key = lk.price_field
        qty = q.dec(line["Quantity"]) if line.get("Quantity") not in (None, "") else None
        rate = q.dec(line[price_key]) if line.get(price_key) not in (None, "") else None
        amount = q.dec(line["Amount"]) if ln.get("Amount") not in (None, "") else None
        if rate is None and amount is None and item is not None:
            rate = self._item_price(item, purchase=kind.entity_type == "Vendor")
        if amount is None:
            amount = (qty if qty is not None else Decimal(1)) * (rate or ZERO) if rate is not None else ZERO
        elif rate is None and qty:
            rate = amount / qty
        if rate is not None:
            line[price_key] = q.fmt_num(rate)
        if qty is not None:
            line["Quantity"] = q.fmt_num(qty)
        line["Amount"] = q.fmt_amt(amount)
        if kind.entity_type == "Customer":
            if not line.get("SalesTaxCodeRef"):
                code = self.find_list(("SalesTaxCode",), (item or {}).get("SalesTaxCodeRef")) or \
                    self.find_list(("SalesTaxCode",), "Non")
                if code is not None:
                    line["SalesTaxCodeRef"] = self.ref_of(code)
            code = self.find_list(("SalesTaxCode",), line.get("SalesTaxCodeRef"))
            line["IsTaxable"] = (code or {}).get("IsTaxable", "false")
        if item is not None and not line.get("Desc"):
            sp = item.get("SalesOrPurchase") or {}
            desc = sp.get("Desc") if isinstance(sp, dict) else None
            desc = desc or item.get("SalesDesc") or (item.get("SalesAndPurchase") or {}).get("SalesDesc")
            if desc:
                line["Desc"] = desc
        return q.ordered(line, lk.order)

    @staticmethod
    def _item_price(item: Rec, purchase: bool) -> Decimal | None:
        sp, sap = item.get("SalesOrPurchase"), item.get("SalesAndPurchase")
        if isinstance(sp, dict) and sp.get("Price"):
            return q.dec(sp["Price"])
        if isinstance(sap, dict):
            v = sap.get("PurchaseCost" if purchase else "SalesPrice")
            return q.dec(v) if v else None
        v = item.get("PurchaseCost" if purchase else "SalesPrice")
        return q.dec(v) if v else None

    def _totals(self, kind: TxnKind, rec: Rec) -> None:
        lines = [ln for lk in kind.lines for ln in rec.get(lk.ret, [])]
        subtotal = sum((q.dec(ln.get("Amount")) for ln in lines), ZERO)
        if kind.entity_type == "Customer":
            customer = self.find_list(("Customer",), rec.get("CustomerRef")) or {}
            tax_item = self.find_list(("ItemSalesTax",), rec.get("ItemSalesTaxRef") or customer.get("ItemSalesTaxRef"))
            cust_code = self.find_list(("SalesTaxCode",), rec.get("CustomerSalesTaxCodeRef")
                                       or customer.get("SalesTaxCodeRef"))
            pct = q.dec(tax_item.get("TaxRate")) if tax_item else ZERO
            taxable = sum((q.dec(ln.get("Amount")) for ln in lines if ln.get("IsTaxable") == "true"), ZERO)
            if cust_code is not None and cust_code.get("IsTaxable") == "false":
                taxable = ZERO
            tax = (taxable * pct / 100).quantize(q.CENT)
            rec["Subtotal"] = q.fmt_amt(subtotal)
            if tax_item is not None:
                rec["ItemSalesTaxRef"] = self.ref_of(tax_item)
            rec["SalesTaxPercentage"] = q.fmt_num(pct)
            rec["SalesTaxTotal"] = q.fmt_amt(tax)
            rec["_total"] = q.fmt_amt(subtotal + tax)
        else:
            rec["_total"] = q.fmt_amt(subtotal)

    # ---- payments -------------------------------------------------------------------------------------------------
    def applied_to(self, invoice_id: str, except_payment: str | None = None) -> Decimal:
        if except_payment is None and self._cache is not None:
            if "applied" not in self._cache:
                sums: dict[str, Decimal] = {}
                for p in self.txns["ReceivePayment"].values():
                    for a in p.get("_applied", []):
                        sums[a["TxnID"]] = sums.get(a["TxnID"], ZERO) + q.dec(a["Amount"])
                self._cache["applied"] = sums
            cached: Decimal = self._cache["applied"].get(invoice_id, ZERO)
            return cached
        total = ZERO
        for p in self.txns["ReceivePayment"].values():
            if p["TxnID"] == except_payment:
                continue
            for a in p.get("_applied", []):
                if a["TxnID"] == invoice_id:
                    total += q.dec(a["Amount"])
        return total

    def invoice_balance(self, inv: Rec, except_payment: str | None = None) -> Decimal:
        return q.dec(inv.get("_total")) - self.applied_to(inv["TxnID"], except_payment)

    def unused(self, p: Rec) -> Decimal:
        return q.dec(p.get("TotalAmount")) - sum((q.dec(a["Amount"]) for a in p.get("_applied", [])), ZERO)

    def _apply_payment(self, rec: Rec, fields: Rec, old_id: str | None) -> None:
        customer = rec["CustomerRef"]["ListID"]
        applications: list[tuple[str, Decimal | None]] = []
        rows: list[Rec] = fields.get("AppliedToTxnAdd") or fields.get("AppliedToTxnMod") or []
        for a in rows:
            applications.append((str(a.get("TxnID", "")), q.dec(a["PaymentAmount"]) if a.get("PaymentAmount")
                                 else None))
        total = q.dec(rec["TotalAmount"]) if rec.get("TotalAmount") not in (None, "") else None
        applied: list[Rec] = []
        if fields.get("IsAutoApply") == "true":
            # Oldest open invoices of the customer first (QuickBooks' auto-apply; GUESS: it ignores sub-customers).
            left = total if total is not None else ZERO
            opens = sorted((i for i in self.txns["Invoice"].values()
                            if i["CustomerRef"]["ListID"] == customer and self.invoice_balance(i, old_id) > 0),
                           key=lambda i: (i["TxnDate"], int(i["TxnNumber"])))
            for inv in opens:
                if left <= 0:
                    break
                amt = min(left, self.invoice_balance(inv, old_id))
                applied.append({"TxnID": inv["TxnID"], "Amount": q.fmt_amt(amt)})
                left -= amt
        else:
            remaining_total = total
            for tid, asked in applications:
                target = self.txns["Invoice"].get(tid)
                if target is None or target["CustomerRef"]["ListID"] != customer:
                    raise q.not_found(tid)
                due = self.invoice_balance(target, old_id)
                amt = asked if asked is not None else (min(due, remaining_total) if remaining_total is not None
                                                       else due)
                if amt > due:
                    raise q.overpaid(amt)
                applied.append({"TxnID": tid, "Amount": q.fmt_amt(amt)})
                if remaining_total is not None:
                    remaining_total -= amt
        applied_sum = sum((q.dec(a["Amount"]) for a in applied), ZERO)
        if total is None:
            total = applied_sum
        if applied_sum > total:
            # GUESS: the code and text when the amounts applied exceed the payment's TotalAmount.
            raise q.invalid_value("TotalAmount", q.fmt_amt(total),
                                  "The amount applied to transactions exceeds the payment amount.")
        rec["TotalAmount"] = q.fmt_amt(total)
        before = {a["TxnID"] for a in rec.get("_applied", [])}
        rec["_applied"] = applied
        # GUESS: an invoice a payment is applied to (or taken from) gets a new EditSequence and TimeModified, since
        # its balance changed; a delta pull of invoices sees it.
        for tid in before | {a["TxnID"] for a in applied}:
            touched = self.txns["Invoice"].get(tid)
            if touched is not None:
                self.touch(touched)

    # ---- Mod / Del / Void -----------------------------------------------------------------------------------------
    def _txn_mod(self, el: etree._Element, session: str) -> Result:
        kind = self._txn_type(el.tag, "Mod")
        mod = el.find(f"{kind.name}Mod")
        if mod is None:
            raise q.ParseError(f"{el.tag} without {kind.name}Mod")
        fields = q.to_record(mod, REPEATED, top=False)
        tid, es = fields.get("TxnID"), fields.get("EditSequence")
        if not tid or es is None:
            raise q.ParseError("TxnID and EditSequence are required")
        tid = tid[0] if isinstance(tid, list) else tid
        rec = self.txns[kind.name].get(tid)
        if rec is None:
            raise q.not_found(tid)
        if es != rec["EditSequence"]:
            raise q.stale(es, self.render_txn(kind.name, rec, {"IncludeLineItems": "true"}))
        head = {k: v for k, v in fields.items() if k not in TXN_COMPUTED and not k.endswith("LineMod")
                and k not in ("AppliedToTxnMod", "TxnID", "EditSequence")}
        if kind.name == "ReceivePayment" and "TotalAmount" in fields:
            head["TotalAmount"] = fields["TotalAmount"]
        self._txn_head_rules(kind, head)
        new = dict(rec)
        new.update(head)
        if kind.name == "ReceivePayment":
            if "AppliedToTxnMod" not in fields:
                fields["AppliedToTxnMod"] = [{"TxnID": a["TxnID"], "PaymentAmount": a["Amount"]}
                                             for a in rec.get("_applied", [])]
            self._apply_payment(new, fields, tid)
        else:
            for lk in kind.lines:
                mods = fields.get(lk.mod)
                if mods is None:
                    continue  # no line Mods: the lines stay as they are
                by_id = {ln["TxnLineID"]: ln for ln in rec.get(lk.ret, [])}
                lines = []
                for lm in mods:
                    lid = lm.get("TxnLineID", "")
                    if lid != "-1" and lid not in by_id:
                        raise q.not_found(lid)
                    # Lines left out of the Mod are deleted; a line given keeps the fields it does not name (GUESS).
                    lines.append(self._line(kind, lk, lm, None if lid == "-1" else by_id[lid]))
                new[lk.ret] = lines
            self._totals(kind, new)
            if kind.name == "Invoice" and q.dec(new["_total"]) < self.applied_to(tid):
                # GUESS: QuickBooks refuses to bring an invoice below what has been paid on it.
                raise q.invalid_value("Amount", new["_total"], "The invoice total is less than the payments "
                                      "applied to it.")
        rec.clear()
        rec.update(new)
        self._note_ref(kind.name, rec.get("RefNumber"))
        self.touch(rec)
        return self._ok([self.render_txn(kind.name, rec, {"IncludeLineItems": "true"})])

    def _unlink_payments(self, invoice_id: str) -> None:
        # GUESS: deleting or voiding an invoice leaves its payments in place, unapplied (their amount becomes
        # UnusedPayment, the customer's credit), as the QuickBooks UI does after its warning.
        for p in self.txns["ReceivePayment"].values():
            if any(a["TxnID"] == invoice_id for a in p.get("_applied", [])):
                p["_applied"] = [a for a in p["_applied"] if a["TxnID"] != invoice_id]
                self.touch(p)

    def _txn_del(self, el: etree._Element, session: str) -> Result:
        t, tid = q.text_of(el, "TxnDelType"), q.text_of(el, "TxnID")
        if t not in TXN_DEL_TYPES or not tid:
            raise q.ParseError("TxnDel needs a TxnDelType of the schema and a TxnID")
        rec = self.txns.get(t, {}).get(tid)
        if rec is None:
            raise q.not_found(tid)
        if t == "Invoice":
            self._unlink_payments(tid)
        del self.txns[t][tid]
        if t == "ReceivePayment":
            for a in rec.get("_applied", []):
                inv = self.txns["Invoice"].get(a["TxnID"])
                if inv is not None:
                    self.touch(inv)
        deleted = self.stamp()
        self.deleted_txns.append({"TxnDelType": t, "TxnID": tid, "TimeCreated": rec["TimeCreated"],
                                  "TimeDeleted": deleted, "RefNumber": rec.get("RefNumber"),
                                  "_deleted": self.now()})
        ret = [self._el("TxnDelType", t), self._el("TxnID", tid), self._el("TimeDeleted", deleted)]
        if rec.get("RefNumber"):
            ret.append(self._el("RefNumber", rec["RefNumber"]))
        return self._ok(ret)

    def _txn_void(self, el: etree._Element, session: str) -> Result:
        t, tid = q.text_of(el, "TxnVoidType"), q.text_of(el, "TxnID")
        if t not in TXN_VOID_TYPES or not tid:
            # PurchaseOrder, ReceivePayment, SalesOrder and Estimate are not in the schema's TxnVoidType: the
            # request set fails to parse, as it does in QuickBooks.
            raise q.ParseError("TxnVoid needs a TxnVoidType of the schema and a TxnID")
        rec = self.txns.get(t, {}).get(tid)
        if rec is None:
            raise q.not_found(tid)
        kind = TXNS[t]
        if t == "Invoice":
            self._unlink_payments(tid)
        # A voided transaction stays, with every amount zero and "VOID:" before its memo (QuickBooks' void).
        for lk in kind.lines:
            for ln in rec.get(lk.ret, []):
                ln["Amount"] = "0.00"
                if "Quantity" in ln:
                    ln["Quantity"] = "0"
        memo = rec.get("Memo") or ""
        if not memo.startswith("VOID:"):
            rec["Memo"] = ("VOID: " + memo).rstrip()
        rec["_voided"] = True
        self._totals(kind, rec)
        self.touch(rec)
        ret = [self._el("TxnVoidType", t), self._el("TxnID", tid), self._el("TimeCreated", rec["TimeCreated"]),
               self._el("TimeModified", rec["TimeModified"])]
        if rec.get("RefNumber"):
            ret.append(self._el("RefNumber", rec["RefNumber"]))
        return self._ok(ret)

    def _txn_deleted_query(self, el: etree._Element, session: str) -> Result:
        opts = q.to_record(el, REPEATED)
        types = opts.get("TxnDelType") or []
        if not types or any(t not in TXN_DEL_TYPES for t in types):
            raise q.ParseError("TxnDeletedQuery needs TxnDelType values of the schema")
        rows = self._deleted_range([r for r in self.deleted_txns if r["TxnDelType"] in types],
                                   opts.get("DeletedDateRangeFilter"))
        rets = [q.build("TxnDeletedRet", {k: v for k, v in r.items() if v is not None},
                        ("TxnDelType", "TxnID", "TimeCreated", "TimeDeleted", "RefNumber")) for r in rows]
        if not rets:
            return 1, "Info", q.NO_MATCH, [], {"retCount": 0}
        return self._ok(rets, {"retCount": len(rets)})

    # ---- transaction queries --------------------------------------------------------------------------------------
    def _txn_query(self, el: etree._Element, session: str) -> Result:
        kind = self._txn_type(el.tag, "Query")
        opts = q.to_record(el, REPEATED)

        def select() -> list[tuple[str, str]]:
            recs = [(kind.name, r) for r in self.txns[kind.name].values()]
            if "TxnID" in opts:
                return self._exact([(t, r) for t, r in recs if r["TxnID"] in set(opts["TxnID"])], opts["TxnID"])
            if "RefNumber" in opts:
                refs = {r.casefold() for r in opts["RefNumber"]}
                recs = [(t, r) for t, r in recs if str(r.get("RefNumber", "")).casefold() in refs]
            else:
                mdr = opts.get("ModifiedDateRangeFilter")
                if isinstance(mdr, dict):
                    recs = self._modified_filter(recs, mdr.get("FromModifiedDate"), mdr.get("ToModifiedDate"))
                tdr = opts.get("TxnDateRangeFilter")
                if isinstance(tdr, dict):
                    if tdr.get("FromTxnDate"):
                        lo = q.parse_date(tdr["FromTxnDate"]).isoformat()
                        recs = [(t, r) for t, r in recs if r["TxnDate"] >= lo]
                    if tdr.get("ToTxnDate"):
                        hi = q.parse_date(tdr["ToTxnDate"]).isoformat()
                        recs = [(t, r) for t, r in recs if r["TxnDate"] <= hi]
                ef = opts.get("EntityFilter")
                if isinstance(ef, dict):
                    recs = [(t, r) for t, r in recs if self._entity_match(kind, r, ef)]
                rf = opts.get("RefNumberFilter")
                if isinstance(rf, dict):
                    crit, needle = rf.get("MatchCriterion", "StartsWith"), str(rf.get("RefNumber", "")).casefold()
                    fn = {"StartsWith": str.startswith, "Contains": str.__contains__, "EndsWith": str.endswith}.get(
                        crit, str.startswith)
                    recs = [(t, r) for t, r in recs if fn(str(r.get("RefNumber", "")).casefold(), needle)]
                paid = opts.get("PaidStatus", "All")
                if kind.name == "Invoice" and paid != "All":
                    want = paid == "PaidOnly"
                    recs = [(t, r) for t, r in recs if (self.invoice_balance(r) == 0) == want]
            # GUESS: transactions come back by date, then in the order they were entered.
            recs.sort(key=lambda tr: (tr[1]["TxnDate"], int(tr[1]["TxnNumber"])))
            return [(t, r["TxnID"]) for t, r in recs]

        return self._paged(el, opts, session, select, lambda t, i: self.render_txn(t, self.txns[t][i], opts))

    def _entity_match(self, kind: TxnKind, rec: Rec, ef: Rec) -> bool:
        ref = rec.get(kind.entity_ref) or {}
        if ef.get("ListID"):
            return ref.get("ListID") in ef["ListID"]
        if ef.get("FullName"):
            return str(ref.get("FullName", "")).casefold() in {n.casefold() for n in ef["FullName"]}
        for key, field_ in (("ListIDWithChildren", "ListID"), ("FullNameWithChildren", "FullName")):
            if ef.get(key):
                target = self.find_list((kind.entity_type,), {field_: ef[key]})
                if target is None:
                    return False
                full = self.full_name(target).casefold()
                name = str(ref.get("FullName", "")).casefold()
                return name == full or name.startswith(full + ":")
        return True

    def render_txn(self, t: str, rec: Rec, opts: Rec | None = None) -> etree._Element:
        kind = TXNS[t]
        out = {k: v for k, v in rec.items() if not k.startswith("_")}
        lines = (opts or {}).get("IncludeLineItems") == "true"
        if not lines:
            for lk in kind.lines:
                out.pop(lk.ret, None)
        if t == "Invoice":
            applied = self.applied_to(rec["TxnID"])
            balance = q.dec(rec["_total"]) - applied
            out["AppliedAmount"] = q.fmt_amt(-applied)
            out["BalanceRemaining"] = q.fmt_amt(balance)
            out["IsPaid"] = "true" if balance <= 0 else "false"
            if (opts or {}).get("IncludeLinkedTxns") == "true":
                out["LinkedTxn"] = self._payment_links(rec["TxnID"])
        elif t == "CreditMemo":
            out["TotalAmount"] = rec["_total"]
            out["CreditRemaining"] = rec["_total"]  # NOT MODELLED: applying a credit memo (SetCredit)
        elif t == "ReceivePayment":
            out["UnusedPayment"] = q.fmt_amt(self.unused(rec))
            out["UnusedCredits"] = "0.00"
            out["AppliedToTxnRet"] = [self._applied_ret(a) for a in rec.get("_applied", [])]
        elif t == "PurchaseOrder":
            out["TotalAmount"] = rec["_total"]
            out.setdefault("IsManuallyClosed", "false")
            out["IsFullyReceived"] = "false"
        elif t == "Bill":
            out["AmountDue"] = rec["_total"]
            out["IsPaid"] = "true" if q.dec(rec["_total"]) == 0 and rec.get("_voided") else "false"
            out["OpenAmount"] = q.fmt_amt(self._bill_open(rec))
        return self._restrict(q.build(f"{t}Ret", out, kind.order), opts)

    def _bill_open(self, bill: Rec) -> Decimal:
        return q.dec(bill.get("_total"))  # NOT MODELLED: bill payments

    def _applied_ret(self, a: Rec) -> Rec:
        inv = self.txns["Invoice"].get(a["TxnID"])
        row: Rec = {"TxnID": a["TxnID"], "TxnType": "Invoice"}
        if inv is not None:
            row.update(TxnDate=inv["TxnDate"], RefNumber=inv.get("RefNumber"),
                       BalanceRemaining=q.fmt_amt(self.invoice_balance(inv)))
        row["Amount"] = q.fmt_amt(-q.dec(a["Amount"]))  # applications show as negative amounts
        return q.ordered({k: v for k, v in row.items() if v is not None}, APPLIED_ORDER)

    def _payment_links(self, invoice_id: str) -> list[Rec]:
        links = []
        for p in self.txns["ReceivePayment"].values():
            for a in p.get("_applied", []):
                if a["TxnID"] == invoice_id:
                    row = {"TxnID": p["TxnID"], "TxnType": "ReceivePayment", "TxnDate": p["TxnDate"],
                           "RefNumber": p.get("RefNumber"), "LinkType": "AMTTYPE",
                           "Amount": q.fmt_amt(-q.dec(a["Amount"]))}
                    links.append(q.ordered({k: v for k, v in row.items() if v is not None}, LINKED_TXN_ORDER))
        return links

    # ---- persistence ----------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "file_path": self.file_path, "lists": self.lists, "txns": self.txns,
            "deleted_lists": self.deleted_lists, "deleted_txns": self.deleted_txns,
            "seq": [self.list_seq, self.txn_seq, self.txn_number, self.line_seq],
        }

    def load_json(self, obj: dict[str, Any]) -> None:
        self.name, self.file_path = obj["name"], obj["file_path"]
        self.lists = {k: dict(obj["lists"].get(k, {})) for k in LISTS}
        self.txns = {k: dict(obj["txns"].get(k, {})) for k in TXNS}
        self.deleted_lists, self.deleted_txns = list(obj["deleted_lists"]), list(obj["deleted_txns"])
        self.list_seq, self.txn_seq, self.txn_number, self.line_seq = obj["seq"]
        self.iterators = {}  # iterators never outlive QuickBooks
        self.by_name = {k: {} for k in LISTS}
        self.max_ref = {}
        for t, recs in self.lists.items():
            for rec in recs.values():
                self._index(t, rec)
        if "Account" not in obj["lists"]:
            self.seed_accounts()  # a file saved before the sandbox kept a chart of accounts


class _Partial(Exception):
    """A ListID / FullName / TxnID query that did not find all it named (status 500, Warn, with what was found)."""

    def __init__(self, found: list[tuple[str, str]], missing: str) -> None:
        super().__init__(missing)
        self.found = found
        self.missing = missing
