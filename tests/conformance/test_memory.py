"""The shipped conformance kit over the in-memory reference platform, in two shapes of capabilities."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import ClassVar

from ledgersync.engine import LedgerSync
from ledgersync.model import Allocation, Contact, Entity
from ledgersync.providers.base import ProviderSpec
from ledgersync.testing import Faults, MemoryPlatform, MemorySpec, PlatformTraits, ProviderConformance, connect_memory


class MemoryConformance(ProviderConformance):
    """The kit's hooks answered by a MemoryPlatform made fresh for each test."""

    provider_name = "memory"
    platform_shape: ClassVar[dict[str, object]] = {}
    uses_tokens: ClassVar[bool] = True
    memory: MemoryPlatform

    @contextmanager
    def start_platform(self) -> Iterator[None]:
        self.memory = MemoryPlatform.with_capabilities(tokens=self.uses_tokens, **self.platform_shape)
        yield

    def provider_specs(self) -> dict[str, ProviderSpec]:
        return {"memory": MemorySpec(self.memory)}

    def connect(self, ls: LedgerSync, org_id: str, config: dict[str, str]) -> str:
        return connect_memory(ls, org_id, "memory", config)

    def create_contact(self, name: str) -> str:
        return self.memory.create(Contact(id="new", name=name))

    def rename_contact(self, remote_id: str, name: str) -> None:
        self.memory.edit(Entity.CONTACT, remote_id, name=name)

    def pay_invoice(self, invoice_remote_id: str, amount: Decimal) -> str:
        return self.memory.pay(invoice_remote_id, amount)

    def edit_invoice(self, remote_id: str, reference: str, first_line: str) -> None:
        found = self.memory.get(Entity.INVOICE, remote_id)
        assert found is not None
        lines = [line.model_copy() for line in found.record.lines]  # type: ignore[attr-defined]
        lines[0] = lines[0].model_copy(update={"description": first_line})
        self.memory.edit(Entity.INVOICE, remote_id, reference=reference, lines=lines)

    def delete_payment(self, remote_id: str) -> None:
        self.memory.remove(Entity.PAYMENT, remote_id)

    def pay_invoices(self, amounts: list[tuple[str, Decimal]]) -> str:
        raise NotImplementedError("the memory ledger takes one invoice per payment")

    def move_payment(self, payment_remote_id: str, invoice_remote_id: str) -> None:
        found = self.memory.get(Entity.PAYMENT, payment_remote_id)
        assert found is not None
        amount = found.record.amount  # type: ignore[attr-defined]
        self.memory.edit(
            Entity.PAYMENT, payment_remote_id, allocations=[Allocation(invoice_id=invoice_remote_id, amount=amount)]
        )

    def active_contact_names(self) -> list[str]:
        return [r.record.name for r in self.memory.records(Entity.CONTACT, live=True)]  # type: ignore[attr-defined]

    def platform_item_codes(self) -> list[str]:
        return [r.record.code for r in self.memory.records(Entity.ITEM, live=True)]  # type: ignore[attr-defined]

    def live_invoice_numbers(self) -> list[str]:
        return [r.doc_number or "" for r in self.memory.records(Entity.INVOICE, live=True)]

    def invoice_total(self, remote_id: str) -> Decimal:
        found = self.memory.get(Entity.INVOICE, remote_id)
        assert found is not None
        return found.record.total  # type: ignore[attr-defined,no-any-return]

    def invoice_state(self, remote_id: str) -> str:
        found = self.memory.get(Entity.INVOICE, remote_id)
        assert found is not None
        if found.deleted:
            return "void"
        return "paid" if found.record.status.value == "paid" else "open"  # type: ignore[attr-defined]

    def live_payment_count(self) -> int:
        return self.memory.count(Entity.PAYMENT)

    def count_records(self, entity: Entity) -> int:
        return self.memory.count(entity)

    def inject_faults(self, faults: Faults) -> None:
        self.memory.inject(faults)

    def clear_faults(self) -> None:
        self.memory.clear_faults()

    def faults_injected(self) -> Mapping[str, int]:
        return self.memory.faults_injected

    def calls_received(self) -> int:
        return self.memory.total_calls

    def expire_tokens(self) -> None:
        self.memory.expire_tokens()

    def revoke_tokens(self) -> None:
        self.memory.revoke_tokens()

    def token_refreshes(self) -> int:
        return self.memory.token_grants["refresh_token"]


class TestMemory(MemoryConformance):
    """Xero-like: payments can't be edited, excess becomes a separate credit; OAuth tokens."""

    traits = PlatformTraits(
        reachable_from_child_process=False, refuses_unknown_accounts=False, multi_invoice_payments=False
    )


class TestMemoryWithoutTokens(MemoryConformance):
    """QuickBooks-like: payments edited in place and holding credit, one write per call, no tokens."""

    traits = PlatformTraits(
        tokens=False, reachable_from_child_process=False, refuses_unknown_accounts=False, multi_invoice_payments=False
    )
    uses_tokens = False
    platform_shape = {"payments_editable": True, "payment_holds_credit": True, "batch_size": 1, "page_size": 3}
