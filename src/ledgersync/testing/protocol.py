"""Protocol-level checks any Provider must pass, called directly on a connected Provider (no engine involved).

Each check makes its own records (names and numbers carry a fresh tag, so checks can share a platform), calls the
provider the way the engine does, and raises AssertionError saying what the protocol promised and what came back.
`count_records` is the platform's own count of live records of an entity (read on the platform side, not through
the provider), so a replayed write that created a second record cannot hide."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledgersync.model import Allocation, Contact, Entity, ErrorCode, Invoice, InvoiceLine, Payment, Record
from ledgersync.providers.base import Provider, PullPage, RemoteRecord, Write, WriteResult


def cursor_position(cursor: str) -> Any:
    """An order for cursors that are change numbers, ISO timestamps or `PullWindow` JSON (ordered by its newest
    stamp); override for any other kind."""
    try:
        return int(cursor)
    except ValueError:
        pass
    if cursor.startswith("{"):
        newest = json.loads(cursor).get("newest")
        return cursor_position(newest) if newest else dt.datetime.min.replace(tzinfo=dt.UTC)
    try:
        stamp = dt.datetime.fromisoformat(cursor)
    except ValueError:
        raise AssertionError(
            f"cursor {cursor!r} is neither a number nor a timestamp: give the suite a cursor_key that orders it"
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _chunks(items: Sequence[Write], size: int) -> Iterable[Sequence[Write]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + max(1, size)]


@dataclass
class ProtocolChecks:
    """The checks, bound to one connected provider and a platform-side record count."""

    provider: Provider
    count_records: Callable[[Entity], int]
    currency: str = "USD"
    cursor_key: Callable[[str], Any] = cursor_position
    duplicate_names_refused: bool = True
    tag: str = field(default_factory=lambda: "K" + secrets.token_hex(3).upper())
    today: dt.date = field(default_factory=dt.date.today)

    # ------------------------------------------------------------------ records in the platform's namespace
    def write(self, key: str, record: Record, remote: RemoteRecord | None = None) -> Write:
        return Write(
            key=f"{self.tag}-{key}",
            record=record,
            idempotency_key=f"ls-kit-{self.tag}-{key}",
            remote_id=remote.remote_id if remote else None,
            remote_version=remote.version if remote else None,
        )

    def contact(self, key: str, name: str) -> Write:
        return self.write(key, Contact(id=f"{self.tag}-{key}", name=f"{self.tag} {name}"))

    def invoice(self, key: str, contact_id: str, amount: str = "100.00") -> Write:
        return self.write(
            key,
            Invoice(
                id=f"{self.tag}-{key}",
                contact_id=contact_id,
                number=f"{self.tag}-{key}",
                date=self.today,
                currency=self.currency,
                lines=[InvoiceLine(description=f"Job {key}", unit_amount=Decimal(amount))],
            ),
        )

    def payment(self, key: str, invoice_id: str, amount: str) -> Write:
        return self.write(
            key,
            Payment(
                id=f"{self.tag}-{key}",
                date=self.today,
                amount=Decimal(amount),
                currency=self.currency,
                reference=f"{self.tag}-{key}",
                allocations=[Allocation(invoice_id=invoice_id, amount=Decimal(amount))],
            ),
        )

    def push_one(self, entity: Entity, write: Write) -> RemoteRecord:
        results = self.provider.push(entity, [write])
        assert len(results) == 1, f"push of one {entity.value} gave {len(results)} results"
        (result,) = results
        assert result.ok and result.remote is not None, f"push of {entity.value} {write.key} failed: {result.error}"
        return result.remote

    def _documents(self) -> tuple[RemoteRecord, RemoteRecord, Write]:
        contact = self.push_one(Entity.CONTACT, self.contact("c", "Docs Customer"))
        inv_write = self.invoice("i", contact.remote_id)
        return contact, self.push_one(Entity.INVOICE, inv_write), inv_write

    def _pull_all(self, entity: Entity, cursor: str | None) -> list[PullPage]:
        return list(self.provider.pull(entity, cursor))

    def _last_cursor(self, pages: Sequence[PullPage], start: str | None) -> str | None:
        cursor = start
        for page in pages:
            if page.cursor is not None:
                cursor = page.cursor
        return cursor

    # ------------------------------------------------------------------ the checks
    def push_returns_one_result_per_write_in_order(self) -> None:
        """One result per write, in the writes' order, keyed by Write.key, with a refused element in the middle
        answered in its place (where the platform refuses a duplicate name)."""
        self.push_one(Entity.CONTACT, self.contact("x", "Existing"))
        writes = [self.contact("k3", "Zed"), self.contact("k1", "Existing"), self.contact("k2", "Amy")]
        if not self.duplicate_names_refused:
            writes[1] = self.contact("k1", "Mid")
        results: list[WriteResult] = []
        for batch in _chunks(writes, self.provider.capabilities.batch_size):
            answer = self.provider.push(Entity.CONTACT, batch)
            assert len(answer) == len(batch), f"{len(batch)} writes gave {len(answer)} results"
            assert [r.key for r in answer] == [w.key for w in batch], "results are not in the writes' order"
            results.extend(answer)
        for write, result in zip(writes, results, strict=True):
            if self.duplicate_names_refused and write is writes[1]:
                assert not result.ok and result.error is not None, "a duplicate name was not refused"
                assert result.error.code is ErrorCode.DUPLICATE_NAME, f"refused as {result.error.code}"
                continue
            assert result.ok and result.remote is not None, f"{write.key} failed: {result.error}"
            assert getattr(result.remote.record, "name", None) == getattr(write.record, "name", None), (
                f"result {result.key} carries another write's record"
            )

    def cursors_never_go_backwards(self, records: int = 5) -> None:
        """Page cursors only move forward within a pull and across pulls, and a pull from the last cursor brings
        what changed since."""
        writes = [self.contact(f"p{i}", f"Paged {i}") for i in range(records)]
        pushed: set[str] = set()
        for batch in _chunks(writes, self.provider.capabilities.batch_size):
            for result in self.provider.push(Entity.CONTACT, batch):
                assert result.ok and result.remote is not None, result.error
                pushed.add(result.remote.remote_id)
        positions: list[Any] = []

        def walk(cursor: str | None) -> tuple[str | None, set[str]]:
            seen: set[str] = set()
            pages = self._pull_all(Entity.CONTACT, cursor)
            for page in pages:
                seen.update(r.remote_id for r in page.records)
                if page.cursor is None:
                    assert not positions, "a page cursor went back to None after a cursor was given"
                    continue
                positions.append(self.cursor_key(page.cursor))
            return self._last_cursor(pages, cursor), seen

        first, seen = walk(None)
        assert pushed <= seen, f"a full pull missed {sorted(pushed - seen)}"
        assert first is not None, "a pull that returned records gave no cursor"
        again, _ = walk(first)
        latest = self.push_one(Entity.CONTACT, self.contact("p-new", "Paged later"))
        last, seen_after = walk(again)
        assert latest.remote_id in seen_after, "a pull from the last cursor missed a record created after it"
        assert positions == sorted(positions), f"cursors went backwards: {positions}"
        assert last is not None and self.cursor_key(last) >= self.cursor_key(first)

    def a_pull_resumed_after_a_page_brings_the_rest(self, records: int = 5) -> bool:
        """A page's `resume` continues the same pull after that page: the pages that follow bring every other
        record, none of that page's again, with cursors no older. False when the provider's pages carry no
        resume (it is read to the end in one go), so there is nothing to check."""
        writes = [self.contact(f"r{i}", f"Resumed {i}") for i in range(records)]
        for batch in _chunks(writes, self.provider.capabilities.batch_size):
            for result in self.provider.push(Entity.CONTACT, batch):
                assert result.ok, result.error
        everything = {r.remote_id for page in self._pull_all(Entity.CONTACT, None) for r in page.records}
        pages = self.provider.pull(Entity.CONTACT, None)
        try:
            first = next(iter(pages))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()
        if first.resume is None:
            return False
        assert first.cursor is not None, "a page that can be resumed gave no cursor to save with it"
        rest = list(self.provider.pull(Entity.CONTACT, first.cursor, resume=first.resume))
        head = {r.remote_id for r in first.records}
        tail = {r.remote_id for page in rest for r in page.records}
        assert not head & tail, f"the resumed pull read the first page's records again: {sorted(head & tail)}"
        assert head | tail == everything, f"the resumed pull missed {sorted(everything - head - tail)}"
        positions = [self.cursor_key(p.cursor) for p in rest if p.cursor is not None]
        assert all(p >= self.cursor_key(first.cursor) for p in positions), "a resumed pull's cursor went back"
        assert rest[-1].resume is None, "the last page of a pull still carries resume state"
        return True

    def find_finds_what_push_created(self) -> None:
        """find, given the writes push took, names the records push created (keyed by Write.key); it finds
        nothing for a write that never landed."""
        contact_write = self.contact("fc", "Findable")
        contact = self.push_one(Entity.CONTACT, contact_write)
        invoice_write = self.invoice("fi", contact.remote_id)
        invoice = self.push_one(Entity.INVOICE, invoice_write)
        pushed = [(Entity.CONTACT, contact_write, contact), (Entity.INVOICE, invoice_write, invoice)]
        if Entity.PAYMENT in self.provider.capabilities.push_entities:
            payment_write = self.payment("fp", invoice.remote_id, "40.00")
            pushed.append((Entity.PAYMENT, payment_write, self.push_one(Entity.PAYMENT, payment_write)))
        for entity, write, remote in pushed:
            found = self.provider.find(entity, [write])
            assert write.key in found, f"find did not find the {entity.value} push created"
            assert found[write.key].remote_id == remote.remote_id, (
                f"find named {entity.value} {found[write.key].remote_id}, push created {remote.remote_id}"
            )
        never = self.contact("fn", "Never Pushed")
        assert self.provider.find(Entity.CONTACT, [never]) == {}, "find found a contact that was never pushed"

    def a_replayed_idempotency_key_creates_nothing_new(self) -> None:
        """The same write again (same idempotency key) answers with the same record and creates nothing."""
        contact_write = self.contact("rc", "Replayed")
        contact = self.push_one(Entity.CONTACT, contact_write)
        invoice_write = self.invoice("ri", contact.remote_id)
        invoice = self.push_one(Entity.INVOICE, invoice_write)
        pushed = [(Entity.CONTACT, contact_write, contact), (Entity.INVOICE, invoice_write, invoice)]
        if Entity.PAYMENT in self.provider.capabilities.push_entities:
            # A part payment: the same payment twice is not refused as an overpayment, so only the key can stop it.
            payment_write = self.payment("rp", invoice.remote_id, "30.00")
            pushed.append((Entity.PAYMENT, payment_write, self.push_one(Entity.PAYMENT, payment_write)))
        for entity, write, remote in pushed:
            before = self.count_records(entity)
            (again,) = self.provider.push(entity, [write])
            assert self.count_records(entity) == before, f"a replayed {entity.value} write created another record"
            if again.ok:
                assert again.remote is not None and again.remote.remote_id == remote.remote_id, (
                    f"a replayed {entity.value} write answered with another record"
                )

    def fetch_returns_what_was_pushed(self) -> None:
        """fetch returns the named records as pushed (once each, however often named)."""
        contact, invoice, invoice_write = self._documents()
        other = self.push_one(Entity.CONTACT, self.contact("c2", "Docs Other"))
        contacts = self.provider.fetch(Entity.CONTACT, [contact.remote_id, other.remote_id, contact.remote_id])
        assert sorted(r.remote_id for r in contacts) == sorted([contact.remote_id, other.remote_id])
        by_id = {r.remote_id: r for r in contacts}
        assert getattr(by_id[contact.remote_id].record, "name", None) == f"{self.tag} Docs Customer"
        (fetched,) = self.provider.fetch(Entity.INVOICE, [invoice.remote_id])
        record = fetched.record
        assert isinstance(record, Invoice) and fetched.remote_id == invoice.remote_id
        assert record.number == getattr(invoice_write.record, "number", None)
        assert record.total == Decimal("100.00") and record.contact_id == contact.remote_id

    def remove_then_pull_shows_it_removed(self) -> None:
        """After remove, a pull from a cursor taken before it shows the contact archived and the invoice and
        payment deleted (voided)."""
        _, invoice, _ = self._documents()
        leaving = self.push_one(Entity.CONTACT, self.contact("gone", "Leaving"))
        removed: list[tuple[Entity, RemoteRecord]] = []
        if Entity.PAYMENT in self.provider.capabilities.push_entities:
            payment = self.push_one(Entity.PAYMENT, self.payment("gp", invoice.remote_id, "100.00"))
            removed.append((Entity.PAYMENT, payment))
        removed += [(Entity.INVOICE, invoice), (Entity.CONTACT, leaving)]
        cursors = {e: self._last_cursor(self._pull_all(e, None), None) for e, _ in removed}
        for entity, remote in removed:
            write = Write(
                key=f"{self.tag}-rm-{remote.remote_id}",
                record=remote.record,
                idempotency_key=f"ls-kit-{self.tag}-rm-{remote.remote_id}",
                remote_id=remote.remote_id,
                remote_version=remote.version,
            )
            result = self.provider.remove(entity, write)
            assert result.error is None, f"remove of {entity.value} failed: {result.error}"
            assert result.key == write.key
        for entity, remote in removed:
            latest: RemoteRecord | None = None
            for page in self._pull_all(entity, cursors[entity]):
                for record in page.records:
                    if record.remote_id == remote.remote_id:
                        latest = record
            assert latest is not None, f"a pull after removing {entity.value} {remote.remote_id} did not show it"
            if entity is Entity.CONTACT:
                assert latest.archived, "a removed contact did not come back archived"
            else:
                assert latest.deleted, f"a removed {entity.value} did not come back deleted"
