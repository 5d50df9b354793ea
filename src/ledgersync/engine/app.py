"""The Python API an application uses: its records by its own ids, connections, sync, states and health."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ledgersync.engine.settings import EngineSettings
from ledgersync.engine.sync import CycleReport, run_cycle
from ledgersync.model import Contact, Entity, ErrorCode, Invoice, Item, Payment, ProviderError, Record, SyncError
from ledgersync.providers.base import Provider, ProviderSpec, Tenant
from ledgersync.store import SecretBox, Store, StoredRecord, load_keys
from ledgersync.store.tables import Connection, SyncState, utcnow


@dataclass(frozen=True)
class ConnectStart:
    connection_id: str
    authorization_url: str
    state: str


@dataclass(frozen=True)
class Health:
    """A connection's health as a person sees it on the Integrations page."""

    connection_id: str
    provider: str
    display_name: str
    tenant_name: str | None
    status: str
    status_reason: str | None
    last_sync_at: dt.datetime | None
    last_success_at: dt.datetime | None
    stale: bool
    calls: int
    counts: dict[str, dict[str, int]]

    def last_sync_phrase(self, now: dt.datetime | None = None) -> str:
        if self.last_success_at is None:
            return f"No sync with {self.display_name} yet"
        minutes = int(((now or utcnow()) - self.last_success_at).total_seconds() // 60)
        if minutes < 1:
            ago = "less than a minute ago"
        elif minutes < 120:
            ago = f"{minutes} minute{'s' if minutes != 1 else ''} ago"
        elif minutes < 48 * 60:
            ago = f"{minutes // 60} hours ago"
        else:
            ago = f"{minutes // 1440} days ago"
        return f"Last sync with {self.display_name} performed {ago}"


@dataclass(frozen=True)
class RecordView:
    entity: Entity
    app_id: str
    record: Record
    deleted: bool
    state: str
    remote_id: str | None
    error: str | None
    hint: str | None
    actions: list[str]


class LedgerSync:
    """One deployment: a store plus the platforms it can talk to."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        secret_keys: list[str] | None = None,
        key_file: Path | None = None,
        settings: EngineSettings | None = None,
        providers: dict[str, ProviderSpec] | None = None,
    ) -> None:
        if providers is None:
            from ledgersync.providers.registry import PROVIDERS

            providers = dict(PROVIDERS)
        self.providers = providers
        self.settings = settings or EngineSettings()
        self.store = Store.open(database_url, SecretBox(secret_keys or load_keys(key_file)))

    def spec(self, name: str) -> ProviderSpec:
        try:
            return self.providers[name]
        except KeyError:
            raise ValueError(f"unknown provider {name!r}; known: {', '.join(sorted(self.providers))}") from None

    # -- organisations -------------------------------------------------------------------------------
    def create_organisation(self, name: str, org_id: str | None = None) -> str:
        return self.store.create_org(name, org_id)

    # -- the app's records ---------------------------------------------------------------------------
    def upsert(self, org_id: str, record: Record) -> int:
        """Create or update one of the app's records by its own id; returns its version."""
        version, _ = self.store.upsert_record(org_id, record)
        return version

    def upsert_contact(self, org_id: str, contact: Contact) -> int:
        return self.upsert(org_id, contact)

    def upsert_item(self, org_id: str, item: Item) -> int:
        return self.upsert(org_id, item)

    def upsert_invoice(self, org_id: str, invoice: Invoice) -> int:
        return self.upsert(org_id, invoice)

    def upsert_payment(self, org_id: str, payment: Payment) -> int:
        return self.upsert(org_id, payment)

    def upsert_many(self, org_id: str, records: Iterable[Record]) -> int:
        n = 0
        with self.store.session() as s:
            for record in records:
                self.store.upsert_record(org_id, record, s=s)
                n += 1
        return n

    def delete(self, org_id: str, entity: Entity, app_id: str) -> bool:
        """Delete in the app: on the next sync the platform copy is voided, deleted or archived."""
        return self.store.delete_record(org_id, entity, app_id)

    def get(self, org_id: str, entity: Entity, app_id: str, conn_id: str | None = None) -> RecordView | None:
        rec = self.store.get_record(org_id, entity, app_id)
        if rec is None:
            return None
        return self._view(rec, conn_id)

    def _view(self, rec: StoredRecord, conn_id: str | None) -> RecordView:
        st: SyncState | None = None
        remote_id = None
        if conn_id:
            st = self.store.get_state(conn_id, rec.entity, rec.app_id)
            link = self.store.links(conn_id, rec.entity, [rec.app_id]).get(rec.app_id)
            remote_id = link.remote_id if link else None
        return RecordView(
            entity=rec.entity,
            app_id=rec.app_id,
            record=rec.record,
            deleted=rec.deleted,
            state=st.state if st else "not_synced",
            remote_id=remote_id,
            error=st.error_message if st else None,
            hint=st.hint if st else None,
            actions=list(st.actions) if st else [],
        )

    def records(self, org_id: str, entity: Entity) -> list[StoredRecord]:
        return self.store.records(org_id, entity)

    # -- connections ---------------------------------------------------------------------------------
    def connect(self, org_id: str, provider: str, config: dict[str, str]) -> ConnectStart:
        """Start connecting: returns the platform's consent URL, carrying a `state` checked on return."""
        self.spec(provider)
        conn_id = self.store.create_connection(org_id, provider, config)
        return self._start_consent(conn_id)

    def refresh_link(self, conn_id: str) -> ConnectStart:
        """Reconnect an existing connection ("Refresh link"): links, states and cursors are kept."""
        return self._start_consent(conn_id)

    def _start_consent(self, conn_id: str) -> ConnectStart:
        conn = self.store.get_connection(conn_id)
        state = secrets.token_urlsafe(24)
        self.store.save_oauth_state(state, conn_id)
        url = self.spec(conn.provider).oauth(dict(conn.config)).authorization_url(state)
        return ConnectStart(connection_id=conn_id, authorization_url=url, state=state)

    def complete_connect(
        self, state: str, code: str, choose_tenant: Callable[[list[Tenant]], Tenant] | None = None
    ) -> str:
        """Finish the consent: check `state`, trade the code for tokens, pick the tenant, save encrypted."""
        conn_id = self.store.pop_oauth_state(state)
        if conn_id is None:
            raise ValueError("unknown or expired OAuth state: start connecting again")
        conn = self.store.get_connection(conn_id)
        flow = self.spec(conn.provider).oauth(dict(conn.config))
        token = flow.exchange(code)
        tenants = flow.tenants(token)
        if not tenants:
            raise ValueError("the consent gave access to no organisation")
        if conn.tenant_id:
            # Refresh link: the same organisation must come back, or links would point into another.
            match = [t for t in tenants if t.id == conn.tenant_id]
            if not match:
                raise ValueError(
                    f"this consent does not include {conn.tenant_name or conn.tenant_id}; choose that "
                    "organisation when reconnecting"
                )
            tenant = match[0]
        else:
            tenant = choose_tenant(tenants) if choose_tenant else tenants[0]
        self.store.save_token(conn_id, token)
        self.store.update_connection(
            conn_id,
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            status="connected",
            status_reason=None,
            parked_until=None,
        )
        self.store.log("connection", connection_id=conn_id, org_id=conn.org_id, message=f"connected to {tenant.name}")
        return conn_id

    def complete_callback(self, callback: str, choose_tenant: Callable[[list[Tenant]], Tenant] | None = None) -> str:
        """Finish a consent from the platform's redirect as it arrived (its URL or query string). The same call
        serves every platform: the provider reads what it needs from it (Xero: code; QuickBooks: code and
        realmId). A refusal on the consent page raises ValueError with the platform's reason."""
        query = urlsplit(callback).query if "?" in callback else callback.lstrip("?")
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if "error" in params:
            raise ValueError(f"the platform did not grant access: {params.get('error_description') or params['error']}")
        if "state" not in params or "code" not in params:
            raise ValueError("the callback is missing its code or state: start connecting again")
        return self.complete_connect(params["state"], query, choose_tenant)

    def disconnect(self, conn_id: str) -> None:
        """Stop syncing; tokens are dropped, every synced record and link is kept."""
        self.store.update_connection(conn_id, status="disconnected", token=None, status_reason="disconnected")
        self.store.log("connection", connection_id=conn_id, message="disconnected; synced data kept")

    def connections(self, org_id: str | None = None) -> list[Connection]:
        return self.store.connections(org_id)

    # -- sync ----------------------------------------------------------------------------------------
    def sync(
        self,
        conn_id: str,
        *,
        provider: Provider | None = None,
        entities: Iterable[Entity] | None = None,
        only: dict[Entity, set[str]] | None = None,
        wait: float = 0,
        progress: Callable[[str, int, int | None], None] | None = None,
    ) -> CycleReport:
        conn = self.store.get_connection(conn_id)
        if conn.status == "disconnected":
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message="the connection is disconnected",
                    hint="Connect again to resume syncing.",
                )
            )
        return run_cycle(
            self.store,
            self.spec(conn.provider),
            conn_id,
            self.settings,
            provider=provider,
            entities=entities,
            only=only,
            wait=wait,
            progress=progress,
        )

    def health(self, conn_id: str) -> Health:
        conn = self.store.get_connection(conn_id)
        spec = self.spec(conn.provider)
        stale_after = dt.timedelta(hours=self.settings.stale_after_hours)
        stale = conn.last_success_at is None or utcnow() - conn.last_success_at > stale_after
        return Health(
            connection_id=conn_id,
            provider=conn.provider,
            display_name=spec.capabilities.display_name,
            tenant_name=conn.tenant_name,
            status=conn.status,
            status_reason=conn.status_reason,
            last_sync_at=conn.last_sync_at,
            last_success_at=conn.last_success_at,
            stale=stale,
            calls=conn.calls,
            counts=self.store.state_counts(conn_id),
        )

    def states(self, conn_id: str, entity: Entity | None = None, state: str | None = None) -> list[SyncState]:
        return self.store.states(conn_id, entity, state)
