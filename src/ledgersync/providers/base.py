"""The Provider protocol: everything the engine may ask of an accounting platform, in canonical terms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, overload, runtime_checkable

from ledgersync.model import Entity, Record, SyncError

if TYPE_CHECKING:
    from ledgersync.providers.budget import BudgetBackend
    from ledgersync.providers.config import ProviderConfig
    from ledgersync.providers.connect import ConnectFlow


@dataclass(frozen=True)
class RemoteRecord:
    """A record as the platform holds it, mapped to the canonical model in the platform's namespace."""

    entity: Entity
    remote_id: str
    version: str
    record: Record
    updated_at: dt.datetime | None = None
    # A contact archived / made inactive on the platform, or a document deleted or voided there.
    archived: bool = False
    deleted: bool = False
    # The document number a person knows the record by (invoice number; a payment's invoice number).
    doc_number: str | None = None
    # The app's id, where the platform keeps one for us (Xero ContactNumber): lets a lost link be found.
    external_id: str | None = None


@dataclass(frozen=True)
class Write:
    """One record to create (remote_id None) or update on the platform.

    `key` is the app's id and only correlates results; `record` is in the platform's namespace.
    `idempotency_key` is derived from (connection, entity, app id, version) so a replay never duplicates.
    """

    key: str
    record: Record
    idempotency_key: str
    remote_id: str | None = None
    remote_version: str | None = None


@dataclass
class WriteResult:
    key: str
    remote: RemoteRecord | None = None
    error: SyncError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.remote is not None


@dataclass(frozen=True)
class Head:
    """What a pulled record's payload says of it before it is mapped: its platform id, version and whether the
    platform deleted it, exactly as the mapped RemoteRecord will say."""

    remote_id: str
    version: str
    deleted: bool


class MappedOnRead(Sequence[RemoteRecord]):
    """A page's records, each mapped from its payload only when read (once). `heads()` gives every record's id,
    version and deleted flag without mapping any, so a reader that skips by id and version (the engine skips our
    own writes coming back, and what it applied already) maps only what it applies; any other reader sees a
    plain sequence. An item is a RemoteRecord mapped already, or a Head and how to map it."""

    def __init__(self, items: Sequence[RemoteRecord | tuple[Head, Callable[[], RemoteRecord]]]) -> None:
        self._items = list(items)

    def heads(self) -> list[Head]:
        return [
            Head(i.remote_id, i.version, i.deleted) if isinstance(i, RemoteRecord) else i[0] for i in self._items
        ]

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> RemoteRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[RemoteRecord]: ...

    def __getitem__(self, index: int | slice) -> RemoteRecord | list[RemoteRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self._items))[index]]
        item = self._items[index]
        if isinstance(item, RemoteRecord):
            return item
        head, build = item
        remote = build()
        if (remote.remote_id, remote.version, remote.deleted) != (head.remote_id, head.version, head.deleted):
            raise AssertionError(f"the head {head} of a pulled record does not say what its mapping says")
        self._items[index] = remote
        return remote


@dataclass(frozen=True)
class PullPage:
    """One page of changed records and the cursor to save once the page has been stored.

    `resume` is where the same pull continues after this page (the provider's opaque page or iterator state),
    None on the last page. The engine saves it with the page, so a driver may stop after any page (one page per
    SOAP call or task) and go on later, after a restart too, with `pull(entity, cursor, resume=...)`."""

    records: Sequence[RemoteRecord]  # a list, or MappedOnRead where the provider maps only what is read
    cursor: str | None
    resume: str | None = None
    # Invoices (platform ids) whose payments this page of payments lists whole, for a platform that deletes a
    # payment outright and lists no deletions: a linked payment of one of them missing from the page was
    # deleted on the platform.
    listed_whole: tuple[str, ...] = ()


@dataclass(frozen=True)
class NameRule:
    """One platform rule on a name field: its length and the characters it refuses, with the source."""

    entity: Entity
    field: str
    label: str
    max_length: int | None = None
    forbidden: str = ""
    # Characters XML 1.0 cannot carry (control characters other than tab, newline, carriage return).
    no_control_characters: bool = False
    source: str = ""

    def problems(self, value: str) -> list[str]:
        found: list[str] = []
        bad = sorted({c for c in value if c in self.forbidden})
        if bad:
            found.append("it contains " + ", ".join(repr(c) for c in bad))
        if self.no_control_characters and any(ord(c) < 32 and c not in "\t\n\r" for c in value):
            found.append("it contains control characters")
        if self.max_length is not None and len(value) > self.max_length:
            found.append(f"it is {len(value)} characters long (at most {self.max_length})")
        return found

    def clean(self, value: str) -> str:
        out = "".join(
            " " if c in self.forbidden else c
            for c in value
            if not (self.no_control_characters and ord(c) < 32 and c not in "\t\n\r")
        )
        out = " ".join(out.split())
        return out[: self.max_length] if self.max_length is not None else out


@dataclass(frozen=True)
class AttachmentRules:
    """What a platform takes as a document's attached files (the app's invoice PDF), checked before sending so a
    file it would refuse is refused here with the platform's rule as the reason."""

    max_bytes: int
    # Files one document may hold on the platform (None: no stated limit).
    max_per_document: int | None
    # File types by extension (lower case, no dot) -> the content types the platform takes for it (empty: any).
    types: Mapping[str, tuple[str, ...]]
    # Putting a file name the document already holds replaces that file (Xero); otherwise a changed file is
    # uploaded anew and the old one deleted (QuickBooks Online).
    same_name_replaces: bool
    entities: tuple[Entity, ...] = (Entity.INVOICE,)
    source: str = ""

    def problems(self, filename: str, content_type: str, size: int) -> list[tuple[str, str]]:
        """(kind, reason) for each rule the file breaks; kind is "too_large" or "unsupported_type"."""
        found: list[tuple[str, str]] = []
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        allowed = self.types.get(ext)
        if allowed is None:
            found.append(("unsupported_type", f"it is a .{ext} file" if ext else "its name has no file type"))
        elif allowed and content_type.lower() not in allowed:
            found.append(("unsupported_type", f"a .{ext} file must be sent as {' or '.join(allowed)}"))
        if size > self.max_bytes:
            said, limit = megabytes(size), megabytes(self.max_bytes)
            if round(size / 1048576, 1) == round(self.max_bytes / 1048576, 1):  # just over: the MB would read alike
                said, limit = f"{size:,} bytes", f"{self.max_bytes:,} bytes"
            found.append(("too_large", f"it is {said} (at most {limit})"))
        return found


def megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n % (1024 * 1024) else f"{n // (1024 * 1024)} MB"


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, as data: the engine reads this instead of branching on provider names."""

    display_name: str
    live_updates: bool = False
    contacts_both_ways: bool = True
    payments_both_ways: bool = True
    purchase_orders_and_bills: bool = False
    products: bool = True
    classes_or_tracking: bool = False
    sub_customers: bool = False
    zero_invoices: bool = True
    tax_groups: bool = False
    overpayments: bool = False
    split_payments: bool = False
    one_payment_many_invoices: bool = False
    moved_payments: bool = False
    refunds: bool = False
    # Whether a credit note's allocations to invoices go both ways (Xero: the credit note's Allocations;
    # QuickBooks Online: a payment that links the credit memo and the invoices).
    credit_note_allocations: bool = False
    void_and_delete: bool = True
    initial_import_export: bool = True
    # What the platform refuses in names, checked before sending so the reason is exact and local.
    name_rules: tuple[NameRule, ...] = ()
    # Canonical fields the platform has no place for ("lines.account_code": QuickBooks books a line to its
    # item's account). They are sent where they can be and never compared by the agreement checker. A path may
    # be scoped to one entity: "purchase_order:lines.account_code".
    unheld_fields: frozenset[str] = frozenset()
    batch_size: int = 1
    # Whether a synced payment can be edited in place; if not, the engine deletes and re-enters it.
    payments_editable: bool = False
    # Whether a payment can carry an unapplied amount as customer credit (QuickBooks); if not (Xero), the
    # engine records the excess as a separate customer-credit record (a Xero overpayment).
    payment_holds_credit: bool = False
    page_size: int = 100
    pull_entities: tuple[Entity, ...] = (Entity.CONTACT, Entity.INVOICE, Entity.PAYMENT)
    push_entities: tuple[Entity, ...] = (Entity.CONTACT, Entity.INVOICE, Entity.PAYMENT)
    notes: dict[str, str] = field(default_factory=dict)
    # How often the scheduler (`ledgersync beat`, the in-process scheduler) syncs a connection unless its own
    # setting says otherwise. None: the platform drives its own schedule (QuickBooks Desktop's Web Connector
    # calls in when it is set to), so the scheduler never starts a cycle for it.
    default_sync_seconds: int | None = 3600
    # Files attached to documents (the app's invoice PDF); None: the platform takes none through its API.
    attachments: AttachmentRules | None = None


@dataclass
class OAuthToken:
    access_token: str
    refresh_token: str
    expires_at: dt.datetime
    scope: str = ""
    token_type: str = "Bearer"

    def expires_within(self, seconds: float, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        return (self.expires_at - now).total_seconds() <= seconds


class TokenStore(Protocol):
    """Where a connection's tokens live. Implemented by the store with encryption at rest."""

    def load(self) -> OAuthToken:
        """The current token; raises ProviderError(AUTH_REVOKED) when the connection needs reconnecting."""
        ...

    def refresh(self, stale: OAuthToken, do_refresh: Callable[[OAuthToken], OAuthToken]) -> OAuthToken:
        """Single-flight refresh: under the connection's lock, reload; if someone else already replaced
        `stale`, return theirs; otherwise call `do_refresh` and save its result atomically before returning."""
        ...

    def mark_needs_reconnect(self, reason: str) -> None: ...


@dataclass(frozen=True)
class CallInfo:
    """One HTTP call a provider made, for the event log and the calls-used figures."""

    method: str
    path: str
    status: int | None
    duration_ms: float
    request_id: str | None = None
    error: str | None = None


@runtime_checkable
class Finds(Protocol):
    """A provider that can look records up by natural key, so a write whose outcome was unknown is found
    before it is sent again."""

    def find(self, entity: Entity, writes: Sequence[Write]) -> dict[str, RemoteRecord]:
        """Look the records up by natural key (contact number/name, invoice number, payment on its invoice)
        to learn whether an earlier write whose outcome was unknown took effect. Keyed by Write.key."""
        ...


@runtime_checkable
class Restores(Protocol):
    """A provider that can bring an archived / inactive record back into use."""

    def restore(self, entity: Entity, write: Write) -> WriteResult:
        """Bring an archived / inactive record back into use (e.g. un-archive a contact)."""
        ...


@dataclass(frozen=True)
class RemoteAttachment:
    """A file attached to a document on the platform."""

    remote_id: str
    filename: str
    size: int
    content_type: str
    # What we wrote beside the file to know it again (QuickBooks' Attachable Note: "ledgersync sha256:<hex>");
    # None where the platform keeps nothing of ours (Xero): the bytes are compared instead.
    sha256: str | None = None


@dataclass(frozen=True)
class AttachmentUpload:
    filename: str
    content_type: str
    data: bytes
    sha256: str
    idempotency_key: str
    # Shown with the document where the platform offers it (Xero's IncludeOnline, QuickBooks' IncludeOnSend).
    include_online: bool = False


@runtime_checkable
class Attaches(Protocol):
    """A provider that attaches files to documents (`Capabilities.attachments` says which and the limits)."""

    def attachments(self, entity: Entity, remote_id: str) -> list[RemoteAttachment]:
        """The files the document holds on the platform now."""
        ...

    def attach(self, entity: Entity, remote_id: str, upload: AttachmentUpload) -> RemoteAttachment:
        """Upload one file to the document (ProviderError on refusal; UNKNOWN_OUTCOME when the answer was lost)."""
        ...

    def detach(self, entity: Entity, remote_id: str, attachment: RemoteAttachment) -> None:
        """Delete a file from the document (one already gone counts as done)."""
        ...

    def attachment_content(self, entity: Entity, remote_id: str, attachment: RemoteAttachment) -> bytes: ...


@runtime_checkable
class Provider(Finds, Protocol):
    """A connection to one organisation on one platform. All records are in the platform's namespace.

    Optional abilities are protocols of their own, checked with isinstance: Restores here, ReceivesWebhooks
    on the spec. Finds is still a base of Provider because the sync cycle's reconcile step calls `find`
    on every provider; once that step checks isinstance(provider, Finds) it can become optional too."""

    capabilities: Capabilities
    # Set by the engine; the provider calls it after every HTTP call it makes (may be None).
    on_call: Callable[[CallInfo], None] | None

    def pull(self, entity: Entity, cursor: str | None, resume: str | None = None) -> Iterator[PullPage]:
        """Records changed since `cursor` (None: everything), oldest first, a page at a time; with `resume`
        (a page's `resume`), the pages after that one. A provider whose pages carry no `resume` is read to the
        end in one go."""
        ...

    def fetch(self, entity: Entity, remote_ids: Sequence[str]) -> list[RemoteRecord]:
        """The named records, as they are now (missing ones are left out)."""
        ...

    def push(self, entity: Entity, writes: Sequence[Write]) -> list[WriteResult]:
        """Create or update up to `capabilities.batch_size` records in one call; one result per write.

        Raises ProviderError when the call as a whole fails; if its outcome is unknown (timeout, dropped
        connection) the error code is UNKNOWN_OUTCOME and the engine reconciles with `find` before retrying."""
        ...

    def remove(self, entity: Entity, write: Write) -> WriteResult:
        """Take the record out of use the way the platform allows: void or delete a document, delete a
        payment, archive a contact."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Tenant:
    """An organisation / company file a consent gave access to."""

    id: str
    name: str


class OAuthFlow(Protocol):
    """A platform's OAuth2 client for one app (client id, secret, redirect URI): what OAuth2CodeFlow drives
    to connect and what the platform client uses to refresh."""

    def authorization_url(self, state: str) -> str: ...

    def exchange(self, code: str) -> OAuthToken:
        """Trade an authorization code for tokens (ProviderError on a bad or used code). `code` may be the
        callback's whole query string: the platform reads what else it needs from it (QuickBooks' realmId)."""
        ...

    def tenants(self, token: OAuthToken) -> list[Tenant]: ...

    def refresh(self, token: OAuthToken) -> OAuthToken:
        """Use the refresh token; raises ProviderError(AUTH_REVOKED) when the platform refuses it."""
        ...


# Records a platform says changed, per entity, by the platform's ids.
Changes = dict[Entity, set[str]]


class WebhookRefused(Exception):
    """An inbound webhook that is not provably from the platform for this connection (nothing is stored)."""


@runtime_checkable
class ReceivesWebhooks(Protocol):
    """A platform spec that takes inbound webhooks: it checks they come from the platform and names what
    changed. The API has one route per such platform, `/v1/webhooks/{name}/{connection_id}`."""

    # How the platform authenticates its calls, for the API's documentation.
    webhook_auth: str

    def receive_webhook(
        self, config: ProviderConfig, tenant_id: str | None, body: bytes, headers: Mapping[str, str]
    ) -> Changes:
        """Check the call against the connection's settings (raise WebhookRefused) and read the records that
        changed, leaving out other tenants'. A valid call naming nothing (Xero's intent to receive) is {}."""
        ...


class ProviderSpec(Protocol):
    """A platform as the engine sees it before connecting: name, capabilities, typed config, connect flow and
    the factory of connected providers. Found through the `ledgersync.providers` entry-point group.

    `config_model` validates a connection's settings (client id and secret, redirect URI, and optionally a
    `base_url` that points every endpoint at a local sandbox); `connect` receives them with every secret
    decrypted, and the connection's tokens. `budget` is where the platform's rate limits are counted: whoever
    builds providers owns it and gives the same one to every provider that must share them (None: a budget of
    the provider's own)."""

    name: str
    capabilities: Capabilities
    config_model: type[ProviderConfig]
    connect_flow: ConnectFlow

    def connect(
        self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, *, budget: BudgetBackend | None = None
    ) -> Provider: ...
