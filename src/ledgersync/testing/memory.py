"""An in-memory accounting platform and its Provider: the reference implementation of the Provider protocol.

`MemoryPlatform` holds the platform's side (records, business rules, tokens, faults, counters), so a test can act
on it as a person would (`create`, `edit`, `pay`, `remove`) and read its truth (`records`, `count`). `MemoryProvider`
reaches it the way a connector reaches a platform's API, minus the HTTP: every call is counted, can be refused by
an injected fault, and can lose its answer after the platform committed. `MemorySpec` is the ProviderSpec a
`LedgerSync` is given, and `connect_memory` connects an organisation to it: through an OAuth2 consent granted at
once when the platform has tokens, else with its API key (the API-key connect flow)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import Field, SecretStr

from ledgersync.model import (
    RECORD_TYPES,
    Allocation,
    Contact,
    ContactStatus,
    CustomerCredit,
    Entity,
    ErrorCode,
    Invoice,
    InvoiceStatus,
    Item,
    Payment,
    PaymentStatus,
    ProviderError,
    Record,
    SyncError,
    money,
)
from ledgersync.providers.base import (
    CallInfo,
    Capabilities,
    OAuthToken,
    PullPage,
    RemoteRecord,
    Tenant,
    TokenStore,
    Write,
    WriteResult,
)
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.connect import ApiKeyFlow, ConnectFlow, CredentialField, OAuth2CodeFlow
from ledgersync.providers.util import unknown_outcome_error
from ledgersync.testing.faults import (
    DROP_AFTER_COMMIT,
    FAULT_KINDS,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT_AFTER_COMMIT,
    Faults,
)

if TYPE_CHECKING:
    from ledgersync.engine import LedgerSync

T = TypeVar("T")

DISPLAY_NAME = "Memory Ledger"
ENTITIES = (Entity.CONTACT, Entity.ITEM, Entity.INVOICE, Entity.PAYMENT, Entity.CREDIT)

MEMORY_CAPABILITIES = Capabilities(
    display_name=DISPLAY_NAME,
    contacts_both_ways=True,
    payments_both_ways=True,
    products=True,
    sub_customers=True,
    zero_invoices=True,
    overpayments=True,
    split_payments=False,
    one_payment_many_invoices=False,
    void_and_delete=True,
    payments_editable=False,
    payment_holds_credit=False,
    batch_size=10,
    page_size=100,
    pull_entities=ENTITIES,
    push_entities=ENTITIES,
    notes={"memory": "A reference platform held in this process; nothing leaves it."},
)

_ZERO = Decimal(0)


class PlatformRefusal(Exception):
    """The platform's business rules refused a change (a person's action, or one element of a push)."""

    def __init__(self, error: SyncError) -> None:
        super().__init__(error.message)
        self.error = error


# What crosses the wire between the platform and its provider: an answer refused before anything happened
# (429 / 500), an answer lost after the platform committed, or a token the platform does not accept.
class _Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(str(status))
        self.status = status


class _AnswerLost(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Unauthorized(Exception):
    pass


def _refuse(code: ErrorCode, message: str, hint: str) -> PlatformRefusal:
    return PlatformRefusal(SyncError(code=code, message=message, hint=hint, platform_message=message))


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass
class _Row:
    entity: Entity
    remote_id: str
    record: Record
    version: int
    seq: int
    updated_at: dt.datetime
    archived: bool = False
    deleted: bool = False
    external_id: str | None = None


@dataclass
class _Scripted:
    kind: str
    operation: str | None
    remaining: int


@dataclass
class MemoryPlatform:
    """One organisation on an accounting platform that lives in memory.

    Capabilities are data: pass a Capabilities, or override fields of MEMORY_CAPABILITIES by keyword
    (`MemoryPlatform(payments_editable=True, payment_holds_credit=True, batch_size=1)`); the platform's rules
    follow them (a payment that can't be edited is refused an update, an unapplied amount is refused unless
    payments hold credit, a payment over several invoices is refused unless allowed). With `tokens=False` the
    platform has no tokens: a connection submits the platform's `api_key` instead, checked on every call."""

    capabilities: Capabilities = MEMORY_CAPABILITIES
    tokens: bool = True
    organisation: str = "Memory Workshop"
    tenant_id: str = "memory-org-1"
    access_ttl: float = 1800.0
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    # Counters a test reads: calls by operation, faults injected by kind, token grants by grant type.
    calls: Counter[str] = field(default_factory=Counter)
    faults_injected: Counter[str] = field(default_factory=Counter)
    token_grants: Counter[str] = field(default_factory=Counter)
    replayed: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._rows: dict[Entity, dict[str, _Row]] = {e: {} for e in Entity}
        # Look-up aids, each a superset checked against the live rows when read (so a record that moved on,
        # or a row since deleted, can never count): invoice id -> payments that ever allocated to it, name key
        # -> contacts that ever bore it, invoice number -> invoices that ever bore it. Without them every
        # write scanned whole collections, and a 5,000-record export spent seconds here.
        self._pays_for: dict[str, set[str]] = {}
        self._named: dict[str, set[str]] = {}
        self._numbered: dict[str, set[str]] = {}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1001)
        self._numbers = itertools.count(1)
        self._last_stamp = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._answers: dict[str, WriteResult] = {}
        self._faults = Faults()
        self._rng = random.Random()
        self._scripted: list[_Scripted] = []
        self._codes: set[str] = set()
        self._access: dict[str, dt.datetime] = {}
        self._refresh: set[str] = set()
        self.api_key = secrets.token_urlsafe(16)

    @classmethod
    def with_capabilities(cls, *, tokens: bool = True, **overrides: Any) -> MemoryPlatform:
        """A platform whose capabilities are MEMORY_CAPABILITIES with these fields changed."""
        return cls(capabilities=dataclasses.replace(MEMORY_CAPABILITIES, **overrides), tokens=tokens)

    # ------------------------------------------------------------------ counters
    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    # ------------------------------------------------------------------ faults
    def inject(self, faults: Faults) -> None:
        """Fail calls at these rates from now on (the generator restarts from the faults' seed)."""
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = Faults()
            self._scripted.clear()

    def fail_next(self, kind: str, *, operation: str | None = None, times: int = 1) -> None:
        """Fail the next `times` calls (of `operation` only, when given: pull, fetch, push, find, remove, restore)
        with `kind`: '429', '500', 'timeout_after_commit' or 'drop_after_commit'."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._scripted.append(_Scripted(kind, operation, times))

    def _scripted_fault(self, operation: str, after_commit: bool) -> str | None:
        for item in self._scripted:
            if item.remaining <= 0 or (item.operation is not None and item.operation != operation):
                continue
            if (item.kind in (TIMEOUT_AFTER_COMMIT, DROP_AFTER_COMMIT)) is after_commit:
                item.remaining -= 1
                return item.kind
        return None

    def _fault_before(self, operation: str) -> str | None:
        scripted = self._scripted_fault(operation, after_commit=False)
        if scripted is not None:
            return scripted
        # One draw per rate, in a fixed order, so a seed always gives the same sequence of faults.
        for kind, rate in ((RATE_LIMITED, self._faults.rate_limited), (SERVER_ERROR, self._faults.server_error)):
            if rate and self._rng.random() < rate:
                return kind
        return None

    def _fault_after(self, operation: str) -> str | None:
        scripted = self._scripted_fault(operation, after_commit=True)
        if scripted is not None:
            return scripted
        if self._faults.timeout_after_commit and self._rng.random() < self._faults.timeout_after_commit:
            return TIMEOUT_AFTER_COMMIT
        if self._faults.drop_after_commit and self._rng.random() < self._faults.drop_after_commit:
            return DROP_AFTER_COMMIT
        return None

    # ------------------------------------------------------------------ tokens
    def grant_code(self) -> str:
        """A person approved access on the consent page: an authorization code to trade for tokens."""
        code = secrets.token_urlsafe(12)
        with self._lock:
            self._codes.add(code)
        return code

    def _issue(self) -> OAuthToken:
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        expires = self.clock() + dt.timedelta(seconds=self.access_ttl)
        self._access[access] = expires
        self._refresh.add(refresh)
        return OAuthToken(access_token=access, refresh_token=refresh, expires_at=expires, scope="memory")

    def exchange_code(self, code: str) -> OAuthToken:
        with self._lock:
            if code not in self._codes:
                raise ProviderError(
                    SyncError(
                        code=ErrorCode.AUTH_REVOKED,
                        message=f"{DISPLAY_NAME} did not accept the sign-in (the code was used or is unknown).",
                        hint="Start connecting again.",
                    )
                )
            self._codes.discard(code)
            self.token_grants["authorization_code"] += 1
            return self._issue()

    def refresh_access(self, refresh_token: str) -> OAuthToken:
        """Trade a refresh token for new tokens; the old refresh token is used up (rotation)."""
        with self._lock:
            if refresh_token not in self._refresh:
                raise ProviderError(
                    SyncError(
                        code=ErrorCode.AUTH_REVOKED,
                        message=f"{DISPLAY_NAME} refused to renew the connection's sign-in (access was revoked).",
                        hint="Use Refresh link to reconnect; links are kept and sync resumes.",
                        platform_code="invalid_grant",
                    )
                )
            self._refresh.discard(refresh_token)
            self.token_grants["refresh_token"] += 1
            return self._issue()

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working now (refresh tokens still do)."""
        with self._lock:
            now = self.clock()
            self._access = dict.fromkeys(self._access, now)

    def revoke_tokens(self) -> None:
        """The organisation withdrew access: no access or refresh token issued so far works again."""
        with self._lock:
            self._access.clear()
            self._refresh.clear()

    def verify_key(self, api_key: str | None) -> Tenant:
        """The organisation an API key opens (ProviderError when the key is not this platform's)."""
        if not api_key or not secrets.compare_digest(api_key, self.api_key):
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message=f"{DISPLAY_NAME} did not accept the API key.",
                    hint="Copy the key again from the platform's settings.",
                )
            )
        return Tenant(id=self.tenant_id, name=self.organisation)

    def rotate_key(self) -> str:
        """A new API key; the old one stops working (as a person regenerating it would)."""
        with self._lock:
            self.api_key = secrets.token_urlsafe(16)
            return self.api_key

    def _authorise(self, credential: str | None) -> None:
        if not self.tokens:
            if not credential or not secrets.compare_digest(credential, self.api_key):
                raise _Unauthorized()
            return
        expires = self._access.get(credential or "")
        if expires is None or expires <= self.clock():
            raise _Unauthorized()

    # ------------------------------------------------------------------ serving one API call
    def _serve(self, operation: str, access_token: str | None, run: Callable[[], T]) -> T:
        if self._faults.latency_ms:
            time.sleep(self._faults.latency_ms / 1000)
        with self._lock:
            self.calls[operation] += 1
            self._authorise(access_token)
            before = self._fault_before(operation)
            if before is not None:
                self.faults_injected[before] += 1
                raise _Refused(int(before))
            result = run()
            after = self._fault_after(operation)
            if after is not None:
                self.faults_injected[after] += 1
                raise _AnswerLost(after)
            return result

    def api_pull(
        self, access_token: str | None, entity: Entity, after: int, limit: int
    ) -> tuple[list[RemoteRecord], int | None, bool]:
        """Records changed after change number `after`, oldest change first: (records, last change, more?)."""

        def run() -> tuple[list[RemoteRecord], int | None, bool]:
            changed = sorted((r for r in self._rows[entity].values() if r.seq > after), key=lambda r: r.seq)
            page = changed[:limit]
            last = page[-1].seq if page else None
            return [self._remote(r) for r in page], last, len(changed) > limit

        return self._serve("pull", access_token, run)

    def api_fetch(self, access_token: str | None, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        def run() -> list[RemoteRecord]:
            rows = self._rows[entity]
            return [self._remote(rows[i]) for i in dict.fromkeys(remote_ids) if i in rows]

        return self._serve("fetch", access_token, run)

    def api_push(self, access_token: str | None, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        def run() -> list[WriteResult]:
            out: list[WriteResult] = []
            for write in writes:
                first = self._answers.get(write.idempotency_key)
                if first is not None:
                    # A repeated key: the first answer again, and nothing changes.
                    self.replayed += 1
                    out.append(WriteResult(write.key, remote=first.remote, error=first.error))
                    continue
                result = self._apply_write(entity, write)
                self._answers[write.idempotency_key] = result
                out.append(result)
            return out

        return self._serve("push", access_token, run)

    def api_find(self, access_token: str | None, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        def run() -> dict[str, RemoteRecord]:
            out: dict[str, RemoteRecord] = {}
            claimed: set[str] = set()
            for write in writes:
                row = self._natural_match(entity, write, claimed)
                if row is not None:
                    claimed.add(row.remote_id)
                    out[write.key] = self._remote(row)
            return out

        return self._serve("find", access_token, run)

    def api_remove(self, access_token: str | None, entity: Entity, write: Write) -> WriteResult:
        return self._serve("remove", access_token, lambda: self._as_result(write.key, self._remove, entity, write))

    def api_restore(self, access_token: str | None, entity: Entity, write: Write) -> WriteResult:
        return self._serve("restore", access_token, lambda: self._as_result(write.key, self._restore, entity, write))

    def _as_result(
        self, key: str, change: Callable[[Entity, str | None], _Row], entity: Entity, write: Write
    ) -> WriteResult:
        try:
            return WriteResult(key, remote=self._remote(change(entity, write.remote_id)))
        except PlatformRefusal as refusal:
            return WriteResult(key, error=refusal.error)

    def _apply_write(self, entity: Entity, write: Write) -> WriteResult:
        record = write.record
        if isinstance(record, Payment) and record.status is PaymentStatus.DELETED:
            # A payment deleted in the app arrives as a write: it is a removal here.
            return self._as_result(write.key, self._remove, entity, write)
        try:
            row = self._save(entity, record, write.remote_id, external_id=write.key)
        except PlatformRefusal as refusal:
            return WriteResult(write.key, error=refusal.error)
        return WriteResult(write.key, remote=self._remote(row))

    # ------------------------------------------------------------------ acting as a person on the platform
    def create(self, record: Record) -> str:
        """Enter a record as a person would (its `id` is ignored; references are this platform's ids)."""
        with self._lock:
            return self._save(record.entity, record, None, external_id=None).remote_id

    def edit(self, entity: Entity, remote_id: str, **changes: Any) -> RemoteRecord:
        """Change fields of a record as a person would; the platform's rules apply."""
        with self._lock:
            row = self._row(entity, remote_id)
            data = {**row.record.model_dump(), **changes}
            record = RECORD_TYPES[entity].model_validate(data)
            return self._remote(self._save(entity, record, remote_id, external_id=None))

    def pay(
        self, invoice_id: str, amount: Decimal | str, *, date: dt.date | None = None, reference: str | None = None
    ) -> str:
        """Record a payment of `amount` on the invoice, as a person would."""
        with self._lock:
            invoice = self._row(Entity.INVOICE, invoice_id).record
            assert isinstance(invoice, Invoice)
            value = money(Decimal(amount))
            payment = Payment(
                id="new",
                date=date or self.clock().date(),
                amount=value,
                currency=invoice.currency,
                reference=reference,
                allocations=[Allocation(invoice_id=invoice_id, amount=value)],
            )
            return self.create(payment)

    def remove(self, entity: Entity, remote_id: str) -> RemoteRecord:
        """Archive a contact or item, void an invoice, delete a payment or credit, as a person would."""
        with self._lock:
            return self._remote(self._remove(entity, remote_id))

    def restore(self, entity: Entity, remote_id: str) -> RemoteRecord:
        with self._lock:
            return self._remote(self._restore(entity, remote_id))

    # ------------------------------------------------------------------ reading the platform's truth
    def get(self, entity: Entity, remote_id: str) -> RemoteRecord | None:
        with self._lock:
            row = self._rows[entity].get(remote_id)
            return self._remote(row) if row is not None else None

    def records(self, entity: Entity, *, live: bool = False) -> list[RemoteRecord]:
        """Every record of the entity, oldest first (`live`: leaving out archived, voided and deleted ones)."""
        with self._lock:
            rows = sorted(self._rows[entity].values(), key=lambda r: int(r.remote_id.rsplit("-", 1)[-1]))
            return [self._remote(r) for r in rows if not live or not (r.archived or r.deleted)]

    def count(self, entity: Entity) -> int:
        """Live records of the entity: not archived, voided or deleted."""
        with self._lock:
            return sum(1 for r in self._rows[entity].values() if not (r.archived or r.deleted))

    # ------------------------------------------------------------------ rules
    def _row(self, entity: Entity, remote_id: str | None) -> _Row:
        row = self._rows[entity].get(remote_id or "")
        if row is None:
            raise _refuse(
                ErrorCode.NOT_FOUND,
                f"There is no {entity.value} {remote_id} in {DISPLAY_NAME}.",
                "It may have been deleted there; link another record or skip.",
            )
        return row

    def _tick(self) -> dt.datetime:
        # Strictly increasing, so two changes never share an updated-at time.
        now = self.clock()
        if now <= self._last_stamp:
            now = self._last_stamp + dt.timedelta(microseconds=1)
        self._last_stamp = now
        return now

    def _touch(self, row: _Row) -> None:
        row.version += 1
        row.seq = next(self._seq)
        row.updated_at = self._tick()

    def _save(self, entity: Entity, record: Record, remote_id: str | None, external_id: str | None) -> _Row:
        if entity not in self.capabilities.push_entities or not isinstance(record, RECORD_TYPES[entity]):
            raise _refuse(
                ErrorCode.VALIDATION,
                f"{DISPLAY_NAME} does not keep a {type(record).__name__} as a {entity.value}.",
                "This is a bug in the integration; skip the record and report it.",
            )
        current = self._row(entity, remote_id) if remote_id is not None else None
        current_record = current.record if current is not None else None
        checked = self._check(entity, record, current)
        if current is None:
            rid = f"m{entity.value[:3]}-{next(self._ids)}"
            row = _Row(
                entity,
                rid,
                checked.model_copy(update={"id": rid}),
                version=1,
                seq=next(self._seq),
                updated_at=self._tick(),
                external_id=external_id if entity is Entity.CONTACT else None,
            )
            self._rows[entity][rid] = row
        else:
            row = current
            row.record = checked.model_copy(update={"id": row.remote_id})
            self._touch(row)
        self._index(row)
        if isinstance(row.record, Invoice):
            row.record = self._with_totals(row.record)
        if isinstance(row.record, Payment):
            before = current_record if isinstance(current_record, Payment) else None
            self._recompute_invoices(row.record, before)
        return row

    def _index(self, row: _Row) -> None:
        record = row.record
        if isinstance(record, Payment):
            for a in record.allocations:
                self._pays_for.setdefault(a.invoice_id, set()).add(row.remote_id)
        elif isinstance(record, Contact):
            self._named.setdefault(_name_key(record.name), set()).add(row.remote_id)
        elif isinstance(record, Invoice) and record.number:
            self._numbered.setdefault(record.number, set()).add(row.remote_id)

    def _check(self, entity: Entity, record: Record, current: _Row | None) -> Record:
        if isinstance(record, Contact):
            return self._check_contact(record, current)
        if isinstance(record, Item):
            return self._check_item(record, current)
        if isinstance(record, Invoice):
            return self._check_invoice(record, current)
        if isinstance(record, Payment):
            return self._check_payment(record, current)
        if isinstance(record, CustomerCredit):
            return self._check_credit(record, current)
        raise _refuse(ErrorCode.VALIDATION, f"{DISPLAY_NAME} does not keep {entity.value} records.", "Skip it.")

    def _name_taken(self, name: str, but: str | None) -> bool:
        key = _name_key(name)
        rows = self._rows[Entity.CONTACT]
        return any(
            not r.archived and r.remote_id != but and _name_key(getattr(r.record, "name", "")) == key
            for r in (rows[rid] for rid in self._named.get(key, ()))
        )

    def _check_contact(self, record: Contact, current: _Row | None) -> Contact:
        own = current.remote_id if current is not None else None
        if self._name_taken(record.name, own):
            raise _refuse(
                ErrorCode.DUPLICATE_NAME,
                f"The contact name {record.name} is already assigned to another contact.",
                "Merge into the existing contact, link to it, or rename this one.",
            )
        if record.parent_id is not None:
            parent = self._row(Entity.CONTACT, record.parent_id)
            if parent.remote_id == own:
                raise _refuse(ErrorCode.VALIDATION, "A contact can't be its own parent.", "Choose another parent.")
        archived = current is not None and current.archived
        return record.model_copy(update={"status": ContactStatus.ARCHIVED if archived else ContactStatus.ACTIVE})

    def _check_item(self, record: Item, current: _Row | None) -> Item:
        own = current.remote_id if current is not None else None
        key = record.code.casefold()
        if any(
            not r.archived and r.remote_id != own and getattr(r.record, "code", "").casefold() == key
            for r in self._rows[Entity.ITEM].values()
        ):
            raise _refuse(
                ErrorCode.VALIDATION, f"An item with code {record.code} already exists.", "Use another item code."
            )
        return record

    def _live_contact(self, remote_id: str) -> _Row:
        contact = self._row(Entity.CONTACT, remote_id)
        if contact.archived:
            raise _refuse(
                ErrorCode.ARCHIVED_CONTACT,
                f"The contact {getattr(contact.record, 'name', remote_id)} is archived; un-archive it first.",
                "Restore the contact, or link this record to another contact.",
            )
        return contact

    def _paid_on(self, invoice_id: str, leaving_out: str | None = None) -> Decimal:
        total = _ZERO
        rows = self._rows[Entity.PAYMENT]
        for row in (rows[rid] for rid in self._pays_for.get(invoice_id, ())):
            if row.deleted or row.remote_id == leaving_out:
                continue
            pay = row.record
            assert isinstance(pay, Payment)
            total += sum((a.amount for a in pay.allocations if a.invoice_id == invoice_id), _ZERO)
        return money(total)

    def _check_invoice(self, record: Invoice, current: _Row | None) -> Invoice:
        self._live_contact(record.contact_id)
        own = current.remote_id if current is not None else None
        if current is not None:
            if current.deleted:
                raise _refuse(ErrorCode.DOCUMENT_LOCKED, "This invoice is voided, so it can't be changed.", "Skip it.")
            if self._paid_on(current.remote_id) > 0:
                raise _refuse(
                    ErrorCode.DOCUMENT_LOCKED,
                    "This invoice has payments, so it can't be edited.",
                    "Remove the payment on the platform and retry, or skip.",
                )
        if record.status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED):
            raise _refuse(ErrorCode.VALIDATION, "An invoice is voided by removing it, not by saving it.", "Skip it.")
        number = record.number or (getattr(current.record, "number", None) if current else None) or self._next_number()
        invoices = self._rows[Entity.INVOICE]
        if any(
            not r.deleted and r.remote_id != own and getattr(r.record, "number", None) == number
            for r in (invoices[rid] for rid in self._numbered.get(number, ()))
        ):
            raise _refuse(
                ErrorCode.DUPLICATE_NUMBER,
                f"Invoice # must be unique: {number} is taken.",
                "Give the invoice another number, or link it to the existing one.",
            )
        status = InvoiceStatus.AUTHORISED if record.status is InvoiceStatus.PAID else record.status
        return record.model_copy(update={"number": number, "status": status})

    def _next_number(self) -> str:
        taken = {getattr(r.record, "number", None) for r in self._rows[Entity.INVOICE].values()}
        while True:
            number = f"INV-{next(self._numbers):04d}"
            if number not in taken:
                return number

    def _with_totals(self, invoice: Invoice) -> Invoice:
        """What the platform computes: totals (no tax is kept here), amount paid and due, paid status."""
        total = invoice.subtotal
        paid = self._paid_on(invoice.id)
        status = invoice.status
        if status in (InvoiceStatus.AUTHORISED, InvoiceStatus.PAID):
            status = InvoiceStatus.PAID if total > 0 and paid >= total else InvoiceStatus.AUTHORISED
        due = _ZERO if status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED) else money(total - paid)
        return invoice.model_copy(
            update={"total": total, "total_tax": _ZERO, "amount_paid": paid, "amount_due": due, "status": status}
        )

    def _recompute_invoices(self, *payments: Payment | None) -> None:
        for invoice_id in dict.fromkeys(a.invoice_id for p in payments if p is not None for a in p.allocations):
            row = self._rows[Entity.INVOICE].get(invoice_id)
            if row is None:
                continue
            assert isinstance(row.record, Invoice)
            fresh = self._with_totals(row.record)
            if fresh != row.record:
                row.record = fresh
                self._touch(row)

    def _check_payment(self, record: Payment, current: _Row | None) -> Payment:
        caps = self.capabilities
        if current is not None and not caps.payments_editable:
            raise _refuse(
                ErrorCode.VALIDATION,
                "Payments can only be deleted, not updated.",
                "Delete the payment and enter it again, or skip.",
            )
        if current is not None and current.deleted:
            raise _refuse(ErrorCode.NOT_FOUND, "This payment was deleted.", "Enter it again, or skip.")
        if not record.allocations:
            raise _refuse(ErrorCode.VALIDATION, "A payment must pay an invoice.", "Allocate it to an invoice.")
        by_invoice: dict[str, Decimal] = {}
        for alloc in record.allocations:
            if alloc.amount <= 0:
                raise _refuse(ErrorCode.VALIDATION, "A payment's allocations must be positive.", "Correct it.")
            by_invoice[alloc.invoice_id] = by_invoice.get(alloc.invoice_id, _ZERO) + alloc.amount
        if len(by_invoice) > 1 and not caps.one_payment_many_invoices:
            raise _refuse(
                ErrorCode.VALIDATION,
                f"{DISPLAY_NAME} takes one invoice per payment.",
                "Split the payment into one per invoice.",
            )
        own = current.remote_id if current is not None else None
        customers: set[str] = set()
        for invoice_id, amount in by_invoice.items():
            row = self._row(Entity.INVOICE, invoice_id)
            invoice = row.record
            assert isinstance(invoice, Invoice)
            if row.deleted or invoice.status not in (InvoiceStatus.AUTHORISED, InvoiceStatus.PAID):
                raise _refuse(
                    ErrorCode.VALIDATION,
                    "Payments can only be made against authorised invoices.",
                    "Approve the invoice first, or skip.",
                )
            due = money((invoice.total or _ZERO) - self._paid_on(invoice_id, leaving_out=own))
            if amount > due:
                raise _refuse(
                    ErrorCode.OVERPAYMENT,
                    f"Payment amount exceeds the amount outstanding on {invoice.number} ({due}).",
                    "Record the excess as customer credit, or correct the amount.",
                )
            customers.add(invoice.contact_id)
        if len(customers) > 1:
            raise _refuse(ErrorCode.VALIDATION, "A payment's invoices must share one customer.", "Split it.")
        unapplied = money(record.amount - sum(by_invoice.values(), _ZERO))
        if unapplied < 0:
            raise _refuse(ErrorCode.VALIDATION, "The allocations come to more than the payment.", "Correct it.")
        if unapplied > 0 and not caps.payment_holds_credit:
            raise _refuse(
                ErrorCode.VALIDATION,
                f"{DISPLAY_NAME} applies a payment in full; {unapplied} is left over.",
                "Record the excess as customer credit.",
            )
        return record.model_copy(update={"contact_id": customers.pop(), "status": PaymentStatus.ACTIVE})

    def _check_credit(self, record: CustomerCredit, current: _Row | None) -> CustomerCredit:
        if current is not None:
            raise _refuse(
                ErrorCode.VALIDATION,
                "Customer credit can't be changed once recorded.",
                "Allocate or refund the credit on the platform, or skip.",
            )
        self._live_contact(record.contact_id)
        return record.model_copy(update={"remaining_credit": record.amount})

    def _remove(self, entity: Entity, remote_id: str | None) -> _Row:
        row = self._row(entity, remote_id)
        record = row.record
        if entity in (Entity.CONTACT, Entity.ITEM):
            if not row.archived:
                row.archived = True
                if isinstance(record, Contact):
                    row.record = record.model_copy(update={"status": ContactStatus.ARCHIVED})
                self._touch(row)
            return row
        if row.deleted:
            return row
        if isinstance(record, Invoice):
            if self._paid_on(row.remote_id) > 0:
                raise _refuse(
                    ErrorCode.DOCUMENT_LOCKED,
                    "This invoice has payments, so it can't be voided.",
                    "Remove the payment on the platform and retry, or skip.",
                )
            draft = record.status in (InvoiceStatus.DRAFT, InvoiceStatus.SUBMITTED)
            status = InvoiceStatus.DELETED if draft else InvoiceStatus.VOIDED
            row.record = self._with_totals(record.model_copy(update={"status": status}))
        elif isinstance(record, Payment):
            row.record = record.model_copy(update={"status": PaymentStatus.DELETED})
        row.deleted = True
        self._touch(row)
        if isinstance(record, Payment):
            self._recompute_invoices(record)
        return row

    def _restore(self, entity: Entity, remote_id: str | None) -> _Row:
        row = self._row(entity, remote_id)
        if entity not in (Entity.CONTACT, Entity.ITEM):
            raise _refuse(ErrorCode.VALIDATION, "Only an archived contact or item can be restored.", "Skip it.")
        if row.archived:
            record = row.record
            if isinstance(record, Contact):
                if self._name_taken(record.name, row.remote_id):
                    raise _refuse(
                        ErrorCode.DUPLICATE_NAME,
                        f"The contact name {record.name} is already assigned to another contact.",
                        "Rename one of them first.",
                    )
                row.record = record.model_copy(update={"status": ContactStatus.ACTIVE})
            row.archived = False
            self._touch(row)
        return row

    def _natural_match(self, entity: Entity, write: Write, claimed: set[str]) -> _Row | None:
        """The record an earlier write of `write` would have made: contact by the app id it carries or by name,
        item by code, invoice by number, payment on its invoice (amount, date, reference), credit by reference."""
        rows = sorted(self._rows[entity].values(), key=lambda r: r.seq)
        record = write.record
        if isinstance(record, Contact):
            by_key = [r for r in rows if r.external_id == write.key]
            if by_key:
                return by_key[0]
            key = _name_key(record.name)
            return next((r for r in rows if not r.archived and _name_key(getattr(r.record, "name", "")) == key), None)
        if isinstance(record, Item):
            code = record.code.casefold()
            return next((r for r in rows if getattr(r.record, "code", "").casefold() == code), None)
        if isinstance(record, Invoice):
            if not record.number:
                return None
            return next((r for r in rows if not r.deleted and getattr(r.record, "number", None) == record.number), None)
        if isinstance(record, Payment):
            wanted = sorted((a.invoice_id, a.amount) for a in record.allocations)
            for row in rows:
                found = row.record
                assert isinstance(found, Payment)
                if (
                    not row.deleted
                    and row.remote_id not in claimed
                    and sorted((a.invoice_id, a.amount) for a in found.allocations) == wanted
                    and found.amount == record.amount
                    and found.date == record.date
                    and (found.reference or None) == (record.reference or None)
                ):
                    return row
            return None
        if isinstance(record, CustomerCredit):
            if not record.reference:
                return None
            return next(
                (r for r in rows if not r.deleted and getattr(r.record, "reference", None) == record.reference), None
            )
        return None

    def _remote(self, row: _Row) -> RemoteRecord:
        record = row.record
        doc: str | None = None
        if isinstance(record, Invoice):
            doc = record.number
        elif isinstance(record, Payment) and record.allocations:
            invoice = self._rows[Entity.INVOICE].get(record.allocations[0].invoice_id)
            doc = getattr(invoice.record, "number", None) if invoice is not None else None
        elif isinstance(record, CustomerCredit):
            doc = record.reference
        return RemoteRecord(
            entity=row.entity,
            remote_id=row.remote_id,
            version=str(row.version),
            record=record.model_copy(deep=True),
            updated_at=row.updated_at,
            archived=row.archived,
            deleted=row.deleted,
            doc_number=doc,
            external_id=row.external_id,
        )


class MemoryConsent:
    """The memory platform's connect flow in today's OAuth shape: the consent is granted at once, so the
    authorization URL already carries the code and `LedgerSync.complete_callback` can take it as it is."""

    def __init__(self, platform: MemoryPlatform) -> None:
        self.platform = platform

    def authorization_url(self, state: str) -> str:
        query = urlencode({"code": self.platform.grant_code(), "state": state})
        return f"memory://{self.platform.tenant_id}/consent?{query}"

    def exchange(self, code: str) -> OAuthToken:
        if "code=" in code:
            code = parse_qs(urlsplit(code).query if "?" in code else code)["code"][0]
        return self.platform.exchange_code(code)

    def tenants(self, token: OAuthToken) -> list[Tenant]:
        return [Tenant(id=self.platform.tenant_id, name=self.platform.organisation)]

    def refresh(self, token: OAuthToken) -> OAuthToken:
        return self.platform.refresh_access(token.refresh_token)


class MemoryConfig(ProviderConfig):
    """Settings of one memory connection. `max_attempts` (from the base) is the tries per call on a 429, a 500
    or a lost answer: a write whose answer was lost is retried under its idempotency key, so the platform
    replays the first answer. Timeouts and retry times are accepted and unused (nothing here waits)."""

    batch_size: int | None = Field(None, ge=1, description="Writes per push (default: the platform's)")
    page_size: int | None = Field(None, ge=1, description="Records per pull page (default: the platform's)")
    api_key: SecretStr | None = Field(None, description="The platform's API key, where it has no tokens")


class MemoryProvider:
    """A connection to the memory platform, as a connector is to a platform's API."""

    def __init__(
        self, platform: MemoryPlatform, config: ProviderConfig | Mapping[str, Any], tenant_id: str, tokens: TokenStore
    ) -> None:
        cfg = MemoryConfig.coerce(config)
        self.platform = platform
        self.tenant_id = tenant_id
        self.tokens = tokens
        self._api_key = cfg.secret("api_key")
        caps = platform.capabilities
        batch, page = cfg.batch_size or caps.batch_size, cfg.page_size or caps.page_size
        self.capabilities: Capabilities = (
            dataclasses.replace(caps, batch_size=batch, page_size=page)
            if (batch, page) != (caps.batch_size, caps.page_size)
            else caps
        )
        self.max_attempts = cfg.max_attempts
        self.on_call: Callable[[CallInfo], None] | None = None
        self._dead: SyncError | None = None

    # ------------------------------------------------------------------ the protocol
    def pull(self, entity: Entity, cursor: str | None, resume: str | None = None) -> Iterator[PullPage]:
        # A change number is an exact position, so a page's resume state is just the last change it held.
        after = self._position(resume if resume is not None else cursor)
        while True:

            def page(token: str | None, after: int = after) -> tuple[list[RemoteRecord], int | None, bool]:
                return self.platform.api_pull(token, entity, after, self.capabilities.page_size)

            records, last, more = self._call("GET", "pull", entity, page, write=False)
            if last is not None:
                after, cursor = last, str(last)
            yield PullPage(records, cursor, str(after) if more else None)
            if not more:
                return

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        if not remote_ids:
            return []
        return self._call(
            "GET", "fetch", entity, lambda token: self.platform.api_fetch(token, entity, remote_ids), write=False
        )

    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        if len(writes) > self.capabilities.batch_size:
            raise ValueError(f"at most {self.capabilities.batch_size} writes per push")
        if not writes:
            return []
        return self._call(
            "POST", "push", entity, lambda token: self.platform.api_push(token, entity, writes), write=True
        )

    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        if not writes:
            return {}
        return self._call(
            "GET", "find", entity, lambda token: self.platform.api_find(token, entity, writes), write=False
        )

    def remove(self, entity: Entity, write: Write) -> WriteResult:
        return self._call(
            "POST", "remove", entity, lambda token: self.platform.api_remove(token, entity, write), write=True
        )

    def restore(self, entity: Entity, write: Write) -> WriteResult:
        return self._call(
            "POST", "restore", entity, lambda token: self.platform.api_restore(token, entity, write), write=True
        )

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ one call, its token and its retries
    @staticmethod
    def _position(cursor: str | None) -> int:
        if cursor is None:
            return 0
        try:
            return int(cursor)
        except ValueError:
            raise ProviderError(
                SyncError(
                    code=ErrorCode.VALIDATION,
                    message=f"The saved sync position {cursor!r} is not a {DISPLAY_NAME} change number.",
                    hint="Reset the sync position for this record type to re-read everything deliberately.",
                )
            ) from None

    def _report(self, method: str, path: str, status: int | None, started: float, error: str | None = None) -> None:
        if self.on_call is not None:
            self.on_call(CallInfo(method, path, status, (time.perf_counter() - started) * 1000, error=error))

    def _token(self) -> OAuthToken | None:
        if not self.platform.tokens:
            return None
        token = self.tokens.load()
        if token.expires_within(60):
            token = self._refresh(token)
        return token

    def _refresh(self, stale: OAuthToken) -> OAuthToken:
        try:
            return self.tokens.refresh(stale, lambda current: self.platform.refresh_access(current.refresh_token))
        except ProviderError as exc:
            if exc.error.code is ErrorCode.AUTH_REVOKED and self._dead is None:
                # After a refused refresh no further call goes out: the connection needs a person.
                self._dead = exc.error
                self.tokens.mark_needs_reconnect(exc.error.message)
            raise

    def _call(self, method: str, operation: str, entity: Entity, send: Callable[[str | None], T], *, write: bool) -> T:
        path = f"/{operation}/{entity.value}"
        attempt = 0
        refreshed = False
        outcome_unknown = False
        while True:
            if self._dead is not None:
                raise ProviderError(self._dead)
            attempt += 1
            token = self._token()
            started = time.perf_counter()
            try:
                result = send(token.access_token if token is not None else self._api_key)
            except _Unauthorized:
                self._report(method, path, 401, started)
                if not refreshed and token is not None:
                    refreshed = True
                    attempt -= 1
                    self._refresh(token)
                    continue
                if token is None:
                    # A refused API key: nothing to renew, the connection needs a person.
                    self._dead = SyncError(
                        code=ErrorCode.AUTH_REVOKED,
                        message=f"{DISPLAY_NAME} did not accept the connection's API key.",
                        hint="Connect again with the platform's current API key.",
                        platform_code="401",
                    )
                    self.tokens.mark_needs_reconnect(self._dead.message)
                    raise ProviderError(self._dead) from None
                raise ProviderError(
                    SyncError(
                        code=ErrorCode.AUTH_EXPIRED,
                        message=f"{DISPLAY_NAME} refused this connection's sign-in even after renewing it.",
                        hint="Use Refresh link to reconnect.",
                        platform_code="401",
                    )
                ) from None
            except _Refused as refused:
                self._report(method, path, refused.status, started)
                # A 500 may come after the platform saved a write, as on a real platform.
                outcome_unknown = outcome_unknown or (write and refused.status >= 500)
                if refused.status == 429:
                    failure = SyncError(
                        code=ErrorCode.RATE_LIMITED,
                        message=f"{DISPLAY_NAME} is limiting calls; this retries by itself.",
                        hint="Nothing to do.",
                        platform_code="429",
                        retry_after=1.0,
                    )
                else:
                    failure = SyncError(
                        code=ErrorCode.UNAVAILABLE,
                        message=f"{DISPLAY_NAME} had an internal error; this retries by itself.",
                        hint="Nothing to do.",
                        platform_code=str(refused.status),
                    )
            except _AnswerLost as lost:
                self._report(method, path, None, started, error=lost.kind)
                outcome_unknown = outcome_unknown or write
                failure = SyncError(
                    code=ErrorCode.UNAVAILABLE,
                    message=f"{DISPLAY_NAME} did not answer.",
                    hint="This retries by itself.",
                    platform_code=lost.kind,
                )
            else:
                self._report(method, path, 200, started)
                return result
            if attempt >= self.max_attempts:
                if outcome_unknown:
                    raise ProviderError(unknown_outcome_error(DISPLAY_NAME, failure.message, failure.platform_code))
                raise ProviderError(failure)


class MemorySpec:
    """The memory platform as the engine sees it before connecting: capabilities, typed config, connect flow
    (OAuth2 consent when the platform has tokens, else its API key) and the factory of connected providers."""

    config_model: type[ProviderConfig] = MemoryConfig

    def __init__(self, platform: MemoryPlatform, name: str = "memory") -> None:
        self.platform = platform
        self.name = name
        self.capabilities = platform.capabilities
        self.connect_flow: ConnectFlow = (
            OAuth2CodeFlow(lambda config: MemoryConsent(platform))
            if platform.tokens
            else ApiKeyFlow(
                [CredentialField("api_key", "API key")], lambda config: platform.verify_key(config.secret("api_key"))
            )
        )

    def connect(self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, **_: object) -> MemoryProvider:
        # Extra keywords (a rate budget, say) are accepted and unused: the memory platform has no rate limit.
        return MemoryProvider(self.platform, config, tenant_id, tokens)


def connect_memory(
    ls: LedgerSync, org_id: str, provider: str = "memory", config: Mapping[str, Any] | None = None
) -> str:
    """Connect the organisation to the memory platform registered in `ls` under `provider`, through the
    platform's connect flow (a consent granted at once, or its API key); the connection's id."""
    spec = ls.spec(provider)
    if not isinstance(spec, MemorySpec):
        raise TypeError(f"{provider!r} is not a memory platform")
    settings = dict(config or {})
    if isinstance(spec.connect_flow, ApiKeyFlow):
        settings["api_key"] = spec.platform.api_key
        start = ls.connect(org_id, provider, settings)
        if start.status != "connected":
            raise RuntimeError(f"the memory platform's API key was not accepted: {start.next_step}")
        return start.connection_id
    start = ls.connect(org_id, provider, settings)
    assert start.authorization_url is not None
    return ls.complete_callback(start.authorization_url)
