"""The shipped conformance kit over DEAR / Cin7 Core against its local sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from ledgersync.demo import SandboxHandle, connect_dear, dear_sandbox
from ledgersync.engine import LedgerSync
from ledgersync.providers.dear.provider import cursor_stamp
from ledgersync.testing import Faults, PlatformTraits, ProviderConformance
from ledgersync.testing.protocol import cursor_position

# The sandbox's minute limit is raised (and the client's with it) so the kit runs at full speed; the 60-a-minute
# limit and its 503 are exercised in tests/sandbox/dear and tests/providers/dear. After a 503 (an injected
# rate-limit fault) the client waits 0.2 s instead of DEAR's minute.
SANDBOX_CONFIG = {"rate_limits": {"per_minute": 1_000_000}}
# The kit's lines name no tax code and expect totals without tax.
CLIENT_LIMITS = {
    "per_minute": "1000000",
    "rate_limit_wait_seconds": "0.2",
    "default_tax_rule": "GST Free Income",
    "purchase_tax_rule": "GST Free Expenses",
}


class DearHarness:
    def __init__(self, sb: SandboxHandle) -> None:
        self.sb = sb

    def user(
        self, path: str, body: dict[str, Any] | None = None, method: str = "POST", params: dict[str, str] | None = None
    ) -> Any:
        resp = self.sb.control.request(
            method, f"/_sandbox/accounts/{self.sb.tenant_id}/as-user/{path}", json=body, params=params
        )
        resp.raise_for_status()
        return resp.json()

    def sales(self) -> list[dict[str, Any]]:
        return self.sb.records("sale")

    def sale(self, sale_id: str) -> dict[str, Any]:
        return next(s for s in self.sales() if s["ID"] == sale_id)

    @staticmethod
    def invoice(sale: dict[str, Any]) -> dict[str, Any]:
        live = [i for i in sale["Invoices"] if i["Status"] != "VOIDED"]
        return (live or sale["Invoices"])[0]


class TestDear(ProviderConformance):
    provider_name = "dear"
    currency = "AUD"
    # API keys, no tokens; DEAR's ModifiedSince / UpdatedSince carry milliseconds.
    # A DEAR payment pays one invoice (its TaskID): the multi-invoice payment check is not carried to DEAR.
    traits = PlatformTraits(tokens=False, settle_seconds=0.05, multi_invoice_payments=False)
    h: DearHarness

    @contextmanager
    def start_platform(self) -> Iterator[None]:
        with dear_sandbox(config=SANDBOX_CONFIG) as sb:
            self.h = DearHarness(sb)
            yield

    def connect(self, ls: LedgerSync, org_id: str, config: dict[str, str]) -> str:
        return connect_dear(ls, org_id, self.h.sb, {**CLIENT_LIMITS, **config})

    def create_contact(self, name: str) -> str:
        return str(self.h.user("customer", {"Name": name})["CustomerList"][0]["ID"])

    def rename_contact(self, remote_id: str, name: str) -> None:
        self.h.user("customer", {"ID": remote_id, "Name": name}, method="PUT")

    def delete_payment(self, payment_remote_id: str) -> None:
        # A person deletes the payment in DEAR: it is gone, and nothing lists it as deleted.
        self.h.user("sale/payment", method="DELETE", params={"ID": payment_remote_id})

    def cursor_key(self, cursor: str) -> Any:
        return cursor_position(cursor_stamp(cursor) or "")

    def pay_invoice(self, invoice_remote_id: str, amount: Decimal) -> str:
        task = self.h.invoice(self.h.sale(invoice_remote_id))["TaskID"]
        body = {"TaskID": task, "Amount": str(amount), "Account": "090", "Reference": "Paid in DEAR"}
        return str(self.h.user("sale/payment", body)["ID"])

    # -- the vendor side (testing/vendor_suite.py's hooks) ---------------------------------------------
    def create_supplier(self, name: str) -> str:
        return str(self.h.user("supplier", {"Name": name})["SupplierList"][0]["ID"])

    def enter_bill(self, supplier_remote_id: str, number: str, amount: Decimal) -> str:
        sku = "DESK-EXP"
        if not any(p["SKU"] == sku for p in self.h.sb.records("product")):
            product = {"SKU": sku, "Name": "Desk expense", "Type": "Service", "Category": "General", "UOM": "Item"}
            self.h.user("product", {**product, "CostingMethod": "FIFO", "Status": "Active", "PriceTier1": 0})
        pid = str(self.h.user("purchase", {"SupplierID": supplier_remote_id, "Approach": "INVOICE"})["ID"])
        today = date.today().isoformat()
        line = {"SKU": sku, "Name": "Entered in DEAR", "Quantity": 1, "Price": str(amount), "Discount": 0}
        line |= {"TaxRule": "GST Free Expenses", "Total": str(amount), "Account": "400", "Comment": ""}
        invoice = {"TaskID": pid, "Status": "AUTHORISED", "InvoiceNumber": number, "InvoiceDate": today}
        self.h.user("purchase/invoice", {**invoice, "InvoiceDueDate": today, "Lines": [line]})
        return pid

    def supplier_names(self) -> list[str]:
        return [str(s["Name"]) for s in self.h.sb.records("supplier") if s.get("Status", "Active") == "Active"]

    def _purchase(self, remote_id: str) -> dict[str, Any]:
        return next(p for p in self.h.sb.records("purchase") if p["ID"] == remote_id)

    def bill_facts(self, remote_id: str) -> dict[str, Any]:
        purchase = self._purchase(remote_id)
        inv = purchase["Invoice"]
        total, paid = Decimal(str(inv["Total"])), Decimal(str(inv.get("Paid") or 0))
        if "VOIDED" in (purchase.get("Status"), inv.get("Status")):
            state = "void"
        else:
            state = "paid" if total > 0 and paid >= total else "open"
        ordered = (purchase.get("Order") or {}).get("Status") not in (None, "NOT AVAILABLE")
        # A DEAR purchase holds the order and its invoice (the bill) under one ID.
        return {"total": total, "state": state, "purchase_order": remote_id if ordered else None}

    def purchase_order_facts(self, remote_id: str) -> dict[str, Any]:
        purchase = self._purchase(remote_id)
        if purchase.get("Status") == "VOIDED":
            return {"total": Decimal(0), "state": "deleted"}
        billed = (purchase.get("Invoice") or {}).get("Status") in ("AUTHORISED", "PAID")
        return {"total": Decimal(str(purchase["Order"]["Total"])), "state": "billed" if billed else "open"}

    def platform_item_codes(self) -> list[str]:
        return [str(p["SKU"]) for p in self.h.sb.records("product")]

    def active_contact_names(self) -> list[str]:
        return [c["Name"] for c in self.h.sb.records("customer") if c["Status"] == "Active"]

    def live_invoice_numbers(self) -> list[str]:
        out = []
        for sale in self.h.sales():
            live = [i for i in sale["Invoices"] if i["Status"] != "VOIDED"]
            if sale["Status"] != "VOIDED" and live:
                out.append(sale["CustomerReference"] or live[0]["InvoiceNumber"])
        return out

    def invoice_total(self, remote_id: str) -> Decimal:
        return Decimal(str(self.h.invoice(self.h.sale(remote_id))["Total"]))

    def invoice_state(self, remote_id: str) -> str:
        sale = self.h.sale(remote_id)
        status = self.h.invoice(sale)["Status"]
        if sale["Status"] == "VOIDED" or status == "VOIDED":
            return "void"
        return "paid" if status == "PAID" else "open"

    def live_payment_count(self) -> int:
        return sum(len(i["Payments"]) for s in self.h.sales() for i in s["Invoices"])

    def inject_faults(self, faults: Faults) -> None:
        body: dict[str, Any] = {}
        rates = {"rate_limit": faults.rate_limited, "500": faults.server_error}
        if any(rates.values()):
            body["error_rates"] = {code: rate for code, rate in rates.items() if rate}
        if faults.timeout_after_commit:
            body["timeout_after_commit_rate"] = faults.timeout_after_commit
            body["hang_seconds"] = faults.hang_seconds
        if faults.drop_after_commit:
            body["drop_after_commit_rate"] = faults.drop_after_commit
        if faults.latency_ms:
            body["latency_ms"] = faults.latency_ms
        if faults.seed is not None:
            body["seed"] = faults.seed
        self.h.sb.control.put("/_sandbox/faults", json=body).raise_for_status()

    def clear_faults(self) -> None:
        self.h.sb.control.delete("/_sandbox/faults").raise_for_status()

    def faults_injected(self) -> Mapping[str, int]:
        found = {k: int(v) for k, v in self.h.sb.counters()["faults"].items()}
        # DEAR's rate limit is its 503; the kit counts rate-limit faults under "429".
        found["429"] = found.pop("rate_limit", 0)
        return found

    def calls_received(self) -> int:
        return int(self.h.sb.counters()["total_calls"])

    def test_a_supplier_named_like_a_customer_is_refused_with_the_platform_text(self, tmp_path: Any) -> None:
        """DEAR keeps customers and suppliers in lists of their own (a name is unique within one list), so a
        supplier may take a customer's name: here both sync, and a second supplier of that name is refused."""
        from ledgersync.engine.actions import ActionCentre
        from ledgersync.model import Contact, Entity, Supplier

        c = self.open(tmp_path)
        c.ls.upsert(c.org, Contact(id="c1", name="Sam Lee"))
        c.ls.upsert(c.org, Supplier(id="s1", name="Sam Lee"))
        c.ls.sync(c.conn)
        assert (c.state(Entity.CONTACT, "c1"), c.state(Entity.SUPPLIER, "s1")) == ("synced", "synced")
        c.ls.upsert(c.org, Supplier(id="s2", name="sam lee"))
        c.ls.sync(c.conn)
        assert c.state(Entity.SUPPLIER, "s2") == "failed"
        (err,) = ActionCentre(c.ls).errors(c.conn)
        assert err.code == "duplicate_name" and err.platform_message and err.hint

    def test_remove_then_pull_shows_the_record_removed(self, tmp_path: Any) -> None:
        """DEAR deletes a payment outright (DELETE /sale/payment) and lists no deleted payments, so a pull cannot
        show one "deleted": what is checked instead is that it is gone from its sale, that the voided sale comes
        back deleted and the deprecated customer archived (the kit's version checks all three the same way)."""
        from ledgersync.model import Entity
        from ledgersync.providers.base import Write

        with self.protocol(tmp_path) as checks:
            _, invoice, _ = checks._documents()
            leaving = checks.push_one(Entity.CONTACT, checks.contact("gone", "Leaving"))
            payment = checks.push_one(Entity.PAYMENT, checks.payment("gp", invoice.remote_id, "100.00"))
            cursors = {
                e: checks._last_cursor(checks._pull_all(e, None), None) for e in (Entity.INVOICE, Entity.CONTACT)
            }
            for entity, remote in ((Entity.PAYMENT, payment), (Entity.INVOICE, invoice), (Entity.CONTACT, leaving)):
                write = Write(
                    f"rm-{remote.remote_id}", remote.record, f"rm-{remote.remote_id}", remote.remote_id, remote.version
                )
                result = checks.provider.remove(entity, write)
                assert result.error is None, result.error
            assert checks.provider.fetch(Entity.PAYMENT, [payment.remote_id]) == []
            assert all(
                p.remote_id != payment.remote_id
                for page in checks._pull_all(Entity.PAYMENT, None)
                for p in page.records
            )
            latest = {
                r.remote_id: r
                for e in (Entity.INVOICE, Entity.CONTACT)
                for page in checks._pull_all(e, cursors[e])
                for r in page.records
            }
            assert latest[invoice.remote_id].deleted and latest[leaving.remote_id].archived
