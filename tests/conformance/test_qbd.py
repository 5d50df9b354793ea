"""QuickBooks Desktop under the conformance kit, against sandbox/qbd's emulated company file and Web Connector.

Two paths, both over real HTTP on loopback:
- the kit (`TestQuickBooksDesktop`): the kit calls `LedgerSync.sync` itself, so its connection's provider
  carries each qbXML document straight to the emulated company file (POST /_sandbox/qbxml, the same request
  processor the emulated Web Connector hands documents to). Faults are injected on that path as the Web
  Connector would bring them: a lock status (nothing saved), a failed request (hresult, nothing saved), or
  an answer lost after QuickBooks saved the write.
- the Web Connector (the functions below): `ledgersync`'s own /qbwc service polled by the sandbox's Web
  Connector ("Update Selected"), the sandbox validating every request set against qbxmlops130.xsd.
Both skip with a reason when ../shared/contracts/qbd is absent."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi import FastAPI

from ledgersync import Contact, Entity, Invoice, InvoiceLine, LedgerSync, ProviderError
from ledgersync.providers.base import ProviderSpec, TokenStore
from ledgersync.providers.budget import BudgetBackend
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.qbd import qbxml as x
from ledgersync.providers.qbd.errors import unavailable, unknown_outcome
from ledgersync.providers.qbd.provider import QbdProvider
from ledgersync.providers.qbd.qbxml import Node, Response
from ledgersync.providers.qbd.spec import QbdSpec
from ledgersync.providers.registry import installed
from ledgersync.testing import Faults, PlatformTraits, ProviderConformance

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO.parent / "shared" / "contracts" / "qbd"


def _need_contracts() -> None:
    if not (CONTRACTS / "qbxmlops130.xsd").exists():
        pytest.skip(f"the qbXML 13.0 schema is not at {CONTRACTS} (../shared/contracts/qbd)")


LOCKED = "This list has been modified by another user."
AS_USER = (
    '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">{}</QBXMLMsgsRq></QBXML>'
)


class Direct:
    """Carries qbXML documents to the emulated company file, with the kit's faults applied on the way."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.faults = Faults()
        self.rng = random.Random(0)
        self.injected: dict[str, int] = {}
        self.calls = 0
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def ask(self, requests: Sequence[Node], *, is_write: bool) -> list[Response]:
        doc = x.document(requests)
        with self.lock:
            self.calls += 1
            self.sent.append(doc)
            f = self.faults
            lock = self._hit(f.rate_limited)
            failed = self._hit(f.server_error)
            lost = self._hit(f.timeout_after_commit) or self._hit(f.drop_after_commit)
        if lock:
            # QuickBooks answers each request with a lock status: nothing was saved.
            self.injected["429"] = self.injected.get("429", 0) + 1
            return [
                Response(
                    rq.tag[:-2] + "Rs",
                    rq.get("requestID"),
                    3180,
                    "Error",
                    "This list has been modified by another user.",
                    [],
                )
                for rq in requests
            ]
        if failed:
            self.injected["500"] = self.injected.get("500", 0) + 1
            raise ProviderError(unavailable("The Web Connector reported 0x80040402: Unexpected error."))
        try:
            answer = self.handle.qbxml(doc)
        except RuntimeError as exc:  # the company file could not parse the request set (hresult)
            raise ProviderError(unavailable(str(exc))) from None
        if lost:
            self.injected["lost"] = self.injected.get("lost", 0) + 1
            if is_write:
                raise ProviderError(unknown_outcome("the Web Connector lost the answer"))
            raise ProviderError(unavailable("The Web Connector lost the answer."))
        by_id = {r.request_id: r for r in x.parse_response(answer)}
        return [by_id[rq.get("requestID")] for rq in requests]


class DirectSpec(QbdSpec):
    def __init__(self, direct: Direct) -> None:
        self.direct = direct

    def connect(
        self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, *, budget: BudgetBackend | None = None
    ) -> QbdProvider:
        return QbdProvider(config, self.direct)


class TestQuickBooksDesktop(ProviderConformance):
    provider_name = "qbd"
    currency = "USD"
    # No OAuth tokens; a sync killed in a child process would need its own bridge to the company file.
    traits: ClassVar[PlatformTraits] = PlatformTraits(
        tokens=False, reachable_from_child_process=False, settle_seconds=1.05
    )
    handle: Any
    direct: Direct

    @contextmanager
    def start_platform(self) -> Iterator[None]:
        _need_contracts()
        from ledgersync.sandbox.qbd import start_qbd_sandbox

        with start_qbd_sandbox(schema_dir=CONTRACTS) as handle:
            self.handle = handle
            self.direct = Direct(handle)
            yield

    def provider_specs(self) -> dict[str, ProviderSpec] | None:
        return {**installed(), "qbd": DirectSpec(self.direct)}

    def connect(self, ls: LedgerSync, org_id: str, config: dict[str, str]) -> str:
        start = ls.connect(org_id, "qbd", {"app_url": "http://127.0.0.1:9/qbwc", **config})
        assert start.password
        assert ls.authenticate_web_connector(start.connection_id, start.password, "Sandbox Company.qbw")
        return start.connection_id

    # -- a person at QuickBooks -----------------------------------------------------------------------
    def _rq(self, body: str) -> Any:
        doc = AS_USER.format(body)
        r = self.handle.control.post(
            "/_sandbox/as-user/qbxml", content=doc.encode(), headers={"Content-Type": "text/xml"}
        )
        r.raise_for_status()
        return x.parse_response(r.text)[0]

    def create_contact(self, name: str) -> str:
        rs = self._rq(f"<CustomerAddRq><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq>")
        assert rs.ok, rs.message
        return str(x.text(rs.ret, "ListID"))

    def rename_contact(self, remote_id: str, name: str) -> None:
        out = self.handle.as_user("customer-edit", {"ListID": remote_id, "fields": {"Name": name}})
        assert out["statusCode"] == 0, out

    def pay_invoice(self, invoice_remote_id: str, amount: Decimal) -> str:
        inv = self._invoice(invoice_remote_id)
        out = self.handle.as_user(
            "payment",
            {
                "customer": inv["CustomerRef"]["ListID"],
                "total": str(amount),
                "applied": [{"TxnID": invoice_remote_id, "amount": str(amount)}],
            },
        )
        assert out["statusCode"] == 0, out
        return str(out["ret"]["TxnID"])

    # -- what QuickBooks holds ------------------------------------------------------------------------
    def _dump(self) -> dict[str, Any]:
        return dict(self.handle.dump())

    def _invoice(self, remote_id: str) -> dict[str, Any]:
        return next(i for i in self._dump()["Invoice"] if i["TxnID"] == remote_id)

    def active_contact_names(self) -> list[str]:
        return [c["Name"] for c in self._dump()["Customer"] if c.get("IsActive", "true") != "false"]

    def live_invoice_numbers(self) -> list[str]:
        return [
            i.get("RefNumber", "") for i in self._dump()["Invoice"] if not str(i.get("Memo", "")).startswith("VOID")
        ]

    def invoice_total(self, remote_id: str) -> Decimal:
        inv = self._invoice(remote_id)
        return Decimal(inv.get("Subtotal", "0")) + Decimal(inv.get("SalesTaxTotal", "0") or "0")

    def invoice_state(self, remote_id: str) -> str:
        inv = self._invoice(remote_id)
        if str(inv.get("Memo", "")).startswith("VOID"):
            return "void"
        return "paid" if inv.get("IsPaid") == "true" else "open"

    def live_payment_count(self) -> int:
        return len(self._dump()["ReceivePayment"])

    # -- the vendor side (testing/vendor_suite.py's hooks) ---------------------------------------------
    def create_supplier(self, name: str) -> str:
        rs = self._rq(f"<VendorAddRq><VendorAdd><Name>{name}</Name></VendorAdd></VendorAddRq>")
        assert rs.ok, rs.message
        return str(x.text(rs.ret, "ListID"))

    def enter_bill(self, supplier_remote_id: str, number: str, amount: Decimal) -> str:
        rs = self._rq(
            "<BillAddRq><BillAdd>"
            f"<VendorRef><ListID>{supplier_remote_id}</ListID></VendorRef>"
            f"<TxnDate>{date.today().isoformat()}</TxnDate><RefNumber>{number}</RefNumber>"
            "<ExpenseLineAdd><AccountRef><FullName>Job Expenses</FullName></AccountRef>"
            f"<Amount>{amount:.2f}</Amount><Memo>Entered at the desk</Memo></ExpenseLineAdd>"
            "</BillAdd></BillAddRq>"
        )
        assert rs.ok, rs.message
        return str(x.text(rs.ret, "TxnID"))

    def create_stocked_item(self, code: str, name: str, quantity: Decimal) -> None:
        rs = self._rq(
            "<ItemInventoryAddRq><ItemInventoryAdd>"
            f"<Name>{code}</Name><SalesDesc>{name}</SalesDesc><SalesPrice>10.00</SalesPrice>"
            "<IncomeAccountRef><FullName>Sales</FullName></IncomeAccountRef>"
            "<COGSAccountRef><FullName>Cost of Goods Sold</FullName></COGSAccountRef>"
            "<AssetAccountRef><FullName>Inventory Asset</FullName></AssetAccountRef>"
            f"<QuantityOnHand>{quantity}</QuantityOnHand>"
            "</ItemInventoryAdd></ItemInventoryAddRq>"
        )
        assert rs.ok, rs.message

    def supplier_names(self) -> list[str]:
        return [v["Name"] for v in self._dump()["Vendor"] if v.get("IsActive", "true") != "false"]

    def _txn(self, kind: str, remote_id: str) -> dict[str, Any]:
        return next(t for t in self._dump()[kind] if t["TxnID"] == remote_id)

    def bill_facts(self, remote_id: str) -> dict[str, Any]:
        bill = self._txn("Bill", remote_id)
        if str(bill.get("Memo", "")).startswith("VOID"):
            state = "void"
        else:
            state = "paid" if bill.get("IsPaid") == "true" else "open"
        linked = [t["TxnID"] for t in bill.get("LinkedTxn", []) if t.get("TxnType") == "PurchaseOrder"]
        return {"total": Decimal(bill["AmountDue"]), "state": state, "purchase_order": linked[0] if linked else None}

    def purchase_order_facts(self, remote_id: str) -> dict[str, Any]:
        dump = self._dump()
        po = next((t for t in dump["PurchaseOrder"] if t["TxnID"] == remote_id), None)
        if po is None:
            return {"total": Decimal(0), "state": "deleted"}
        closed = po.get("IsManuallyClosed") == "true" or po.get("IsFullyReceived") == "true"
        return {"total": Decimal(po["TotalAmount"]), "state": "billed" if closed else "open"}

    def platform_item_codes(self) -> list[str]:
        dump = self._dump()
        kinds = ("ItemService", "ItemNonInventory", "ItemInventory")
        return [str(i.get("FullName") or i["Name"]) for k in kinds for i in dump.get(k, [])]

    def invoice_home_total(self, remote_id: str) -> Decimal | None:
        # The provider holds no currency (capabilities' unheld_fields): the company file is single-currency.
        caps = self.capabilities()
        unheld = "currency" in caps.unheld_fields
        self.require(not unheld, f"{caps.display_name} syncs one currency (currency is unheld)")
        return None

    # -- faults and counts ----------------------------------------------------------------------------
    def inject_faults(self, faults: Faults) -> None:
        self.direct.faults = faults
        self.direct.rng = random.Random(faults.seed)

    def clear_faults(self) -> None:
        self.direct.faults = Faults()

    def faults_injected(self) -> Mapping[str, int]:
        return dict(self.direct.injected)

    def calls_received(self) -> int:
        return int(self.direct.calls)

    def settle(self) -> None:
        import time

        time.sleep(1.05)  # TimeModified has one-second precision


def test_every_request_the_connector_sent_in_the_kit_is_schema_valid() -> None:
    """The kit's requests went to a company file that validates each against qbxmlops130.xsd (an invalid one
    fails to parse there); this checks the same with xmlschema on a fresh run."""
    _need_contracts()
    import xmlschema

    from ledgersync.sandbox.qbd import start_qbd_sandbox

    schema = xmlschema.XMLSchema(str(CONTRACTS / "qbxmlops130.xsd"))
    with start_qbd_sandbox(schema_dir=CONTRACTS) as handle:
        direct = Direct(handle)
        provider = QbdProvider({"app_url": "http://127.0.0.1:9/qbwc"}, direct)
        from ledgersync.providers.base import Write

        w = Write(key="c1", record=Contact(id="c1", name="Schema Check"), idempotency_key="k-1")
        [res] = provider.push(Entity.CONTACT, [w])
        assert res.ok
        list(provider.pull(Entity.CONTACT, None))
        provider.find(Entity.CONTACT, [w])
    assert direct.sent
    for doc in direct.sent:
        schema.validate(doc[doc.index("<QBXML") :])


# -- the Web Connector path ----------------------------------------------------------------------------------
@pytest.fixture
def wc(tmp_path: Path, secret_key: str) -> Iterator[dict[str, Any]]:
    _need_contracts()
    from ledgersync.providers.qbd.asgi import mount
    from ledgersync.providers.qbd.mailbox import MailboxSettings
    from ledgersync.providers.qbd.service import ServiceSettings
    from ledgersync.sandbox.qbd import start_qbd_sandbox
    from ledgersync.sandbox.server import serve_in_thread

    ls = LedgerSync(f"sqlite:///{tmp_path / 'ls.db'}", secret_keys=[secret_key])
    app = FastAPI()
    fast = ServiceSettings(send_wait_seconds=0.5, settle_seconds=0.5, mailbox=MailboxSettings(poll_seconds=0.01))
    service = mount(app, ls, fast)
    with serve_in_thread(app) as server:
        org = ls.create_organisation("Sample business")
        start = ls.connect(org, "qbd", {"app_url": f"{server.url}/qbwc"})
        assert start.file is not None and start.password
        with start_qbd_sandbox(
            f"{server.url}/qbwc",
            qwc=start.file.content,
            password=start.password,
            noop_wait_seconds=0.05,
            schema_dir=CONTRACTS,
        ) as handle:
            yield {"ls": ls, "org": org, "conn": start.connection_id, "sb": handle, "service": service}


def _state(env: dict[str, Any], entity: Entity, app_id: str) -> str:
    view = env["ls"].get(env["org"], entity, app_id, conn_id=env["conn"])
    assert view is not None
    return str(view.state)


def test_the_sandbox_web_connector_syncs_through_our_service(wc: dict[str, Any]) -> None:
    import datetime as dt

    ls, org = wc["ls"], wc["org"]
    ls.upsert(org, Contact(id="c1", name="Harbour Holdings"))
    ls.upsert(org, Contact(id="c2", name="Harbour Cafe", parent_id="c1"))
    ls.upsert(
        org,
        Invoice(
            id="i1",
            contact_id="c2",
            number="INV-2001",
            date=dt.date.today(),
            currency="USD",
            lines=[InvoiceLine(description="Repairs", unit_amount=Decimal("120.00"))],
        ),
    )
    first = wc["sb"].run_now()
    assert first["outcome"] == "done", first
    for entity, app_id in ((Entity.CONTACT, "c1"), (Entity.CONTACT, "c2"), (Entity.INVOICE, "i1")):
        view = ls.get(org, entity, app_id, conn_id=wc["conn"])
        assert view is not None and view.state == "synced", (app_id, view and view.error)
    dump = wc["sb"].dump()
    assert sorted(c["FullName"] for c in dump["Customer"]) == ["Harbour Holdings", "Harbour Holdings:Harbour Cafe"]
    # A person records a payment in QuickBooks; the next run brings it into the app.
    inv = dump["Invoice"][0]
    wc["sb"].as_user(
        "payment",
        {
            "customer": inv["CustomerRef"]["ListID"],
            "total": "120.00",
            "applied": [{"TxnID": inv["TxnID"], "amount": "120.00"}],
        },
    )
    second = wc["sb"].run_now()
    assert second["outcome"] == "done", second
    assert any(p.record.amount == Decimal("120.00") for p in ls.records(org, Entity.PAYMENT))
    view = ls.get(org, Entity.INVOICE, "i1", conn_id=wc["conn"])
    assert view is not None and str(view.record.status) in ("paid", "InvoiceStatus.PAID")
    notes = [e for e in wc["sb"].session_log() if e.get("method") == "note"]
    assert notes == [], notes  # no request set failed the schema


def test_a_session_that_ends_mid_iterator_resumes_on_the_next_run(wc: dict[str, Any]) -> None:
    ls, org = wc["ls"], wc["org"]
    for i in range(7):
        r = wc["sb"].control.post(
            "/_sandbox/as-user/qbxml",
            content=(
                '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
                f"<CustomerAddRq><CustomerAdd><Name>Walk-in {i}</Name></CustomerAdd></CustomerAddRq>"
                "</QBXMLMsgsRq></QBXML>"
            ).encode(),
            headers={"Content-Type": "text/xml"},
        )
        r.raise_for_status()
    ls.update_settings(wc["conn"], {"page_size": "3"})
    wc["sb"].faults(end_session_mid_iterator=1)
    first = wc["sb"].run_now()
    assert first["outcome"] in ("ended_mid_iterator", "done", "stopped"), first
    second = wc["sb"].run_now()
    assert second["outcome"] == "done", second
    names = sorted(r.record.name for r in ls.records(org, Entity.CONTACT))  # type: ignore[attr-defined]
    assert names == sorted(f"Walk-in {i}" for i in range(7))
