"""The Python API an application uses: its records by its own ids, connections, sync, states and health."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ledgersync.engine import connections, schedule
from ledgersync.engine.attach import AttachmentsAPI
from ledgersync.engine.check import CheckReport, check
from ledgersync.engine.connections import ChooseTenant, ConnectStart, TenantChoice
from ledgersync.engine.lease import ConnectionBusy, hold
from ledgersync.engine.settings import RELAY, EngineSettings, org_relay
from ledgersync.engine.sync import Cycle, CycleReport, run_cycle
from ledgersync.engine.verify import VerifyReport, last_verified
from ledgersync.engine.verify import verify as run_verify
from ledgersync.model import Contact, Entity, ErrorCode, Invoice, Item, Payment, ProviderError, Record, SyncError
from ledgersync.providers.base import Changes, Provider, ProviderSpec, ReceivesWebhooks
from ledgersync.providers.budget import BudgetBackend, InMemoryBudgetBackend
from ledgersync.providers.connect import DownloadFile

if TYPE_CHECKING:
    from ledgersync.engine.export import ExportSummary
from ledgersync.store import LeaseLost, SecretBox, Store, StoredRecord
from ledgersync.store.crypto import open_box
from ledgersync.store.tables import Connection, SyncState, utcnow


def budget_from_env() -> BudgetBackend:
    """The rate-budget backend the configuration names: LEDGERSYNC_BUDGET_URL (redis://...) shares every
    platform's windows between all processes using that Redis; unset, they are this process's alone."""
    url = os.environ.get("LEDGERSYNC_BUDGET_URL", "").strip()
    if not url:
        return InMemoryBudgetBackend()
    from ledgersync.providers.budget_redis import RedisBudgetBackend

    return RedisBudgetBackend.from_url(url)


def auto_migrate() -> bool:
    """Whether opening the store migrates it (LEDGERSYNC_AUTO_MIGRATE, default on)."""
    return os.environ.get("LEDGERSYNC_AUTO_MIGRATE", "1").strip().lower() not in ("0", "false", "no", "off")


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
    # How syncs happen when the platform calls us on its own schedule (the QuickBooks Web Connector):
    # "Web Connector, every 30 minutes". Such a connection is synced only when it calls, so Sync now waits.
    cadence: str | None = None
    # The schedule (engine/schedule.py): seconds between cycles (None: the platform calls in; 0: off), whether
    # that is the connection's own setting, and when the next scheduled cycle is due.
    sync_every_seconds: int | None = None
    own_cadence: bool = False
    next_sync_at: dt.datetime | None = None
    # The organisation's currency settings as its platform last told them (issue 16): "Home currency AUD ·
    # multicurrency on: USD, NZD"; None until read (at connect, on Refresh link, or when a cycle needs them).
    currencies: str | None = None
    # How deletions on the platform are found, where it has no delete feed (the capability's "deletes" note):
    # shown beside the schedule, since such deletions show only as often as that.
    deletions: str | None = None

    def schedule_phrase(self) -> str:
        """"Syncs every 5 minutes (Xero's default); next at 14:05 UTC" and the like."""
        from ledgersync.capabilities import cadence_phrase

        phrase = "Syncs " + cadence_phrase(self.sync_every_seconds)
        if self.sync_every_seconds:
            phrase += " (this connection's setting)" if self.own_cadence else f" ({self.display_name}'s default)"
        if self.next_sync_at is not None:
            phrase += f"; next at {self.next_sync_at:%Y-%m-%d %H:%M} UTC"
        return phrase

    @property
    def waits_for_platform(self) -> bool:
        return self.cadence is not None

    def last_sync_phrase(self, now: dt.datetime | None = None) -> str:
        how = f" ({self.cadence})" if self.cadence else ""
        if self.last_success_at is None:
            return f"No sync with {self.display_name} yet{how}"
        minutes = int(((now or utcnow()) - self.last_success_at).total_seconds() // 60)
        if minutes < 1:
            ago = "less than a minute ago"
        elif minutes < 120:
            ago = f"{minutes} minute{'s' if minutes != 1 else ''} ago"
        elif minutes < 48 * 60:
            ago = f"{minutes // 60} hours ago"
        else:
            ago = f"{minutes // 1440} days ago"
        return f"Last sync with {self.display_name} performed {ago}{how}"

    def sync_now_phrase(self) -> str | None:
        """What Sync now does for a connection the platform polls: the work waits for its next run."""
        if self.cadence is None:
            return None
        return f"The work waits for the next run ({self.cadence}); nothing is sent before it calls."


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


class LedgerSync(AttachmentsAPI):
    """One deployment: a store plus the platforms it can talk to."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        secret_keys: list[str] | None = None,
        key_file: Path | None = None,
        settings: EngineSettings | None = None,
        providers: dict[str, ProviderSpec] | None = None,
        budget: BudgetBackend | None = None,
        migrate: bool | None = None,
    ) -> None:
        """`budget`: where rate limits are counted (default: LEDGERSYNC_BUDGET_URL's Redis when set, else this
        process's memory). `migrate`: bring the schema to head on open (default: yes unless
        LEDGERSYNC_AUTO_MIGRATE=0); without it the store must already be at head (SchemaBehind otherwise), as
        for workers, which leave migrations to `ledgersync db upgrade`."""
        if providers is None:
            from ledgersync.providers.registry import installed

            providers = dict(installed())
        self.providers = providers
        self.settings = settings or EngineSettings()
        # Where every provider this instance builds counts its platform's rate limits, so that two syncs of
        # one organisation (a cycle and an action, say) share one budget.
        self.budget: BudgetBackend = budget if budget is not None else budget_from_env()
        # Without keys given, the key file sits beside the database, wherever the command runs from.
        box = (
            SecretBox(secret_keys, source="the keys given")
            if secret_keys
            else open_box(key_file, database_url=database_url)
        )
        self.store = Store.open(database_url, box, run_migrations=auto_migrate() if migrate is None else migrate)

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
        if n >= self.store.ANALYZE_AFTER:
            self.store.analyze("records")
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
    def connect(self, org_id: str, provider: str, config: Mapping[str, Any]) -> ConnectStart:
        """Start connecting: the settings are validated (ConfigError names what is wrong) and stored with their
        secrets encrypted; the answer says what to do next for this platform's connect flow (a consent URL
        carrying a `state` checked on return; credentials to submit; a Web Connector file and password)."""
        spec = self.spec(provider)
        conn_id = connections.create_connection(self.store, spec, org_id, config)
        started = connections.start(self.store, spec, conn_id)
        return connections.submit_if_given(self.store, spec, started, config)

    def refresh_link(self, conn_id: str) -> ConnectStart:
        """Reconnect an existing connection ("Refresh link"): links, states and cursors are kept."""
        return connections.start(self.store, self._spec_of(conn_id), conn_id)

    def complete_connect(self, state: str, code: str, choose_tenant: ChooseTenant | None = None) -> str:
        """Finish a consent: check `state`, trade the code for tokens, pick the tenant, save encrypted. `code`
        may be the callback's whole query string (QuickBooks needs the realmId that comes with it)."""
        return connections.complete_redirect(self.store, self.providers, state, code, choose_tenant)

    def complete_callback(self, callback: str, choose_tenant: ChooseTenant | None = None) -> str:
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

    # -- the business's own settings ---------------------------------------------------------------------
    def org_relay_setting(self, org_id: str) -> bool | None:
        """The organisation's own `relay_between_platforms` (None: it has none, the engine's default applies)."""
        return org_relay(self.store, org_id)

    def relay_between_platforms(self, org_id: str) -> bool:
        """Whether documents that came in from one of the organisation's platforms go to its others: its own
        setting, else `EngineSettings.relay_between_platforms`."""
        own = self.org_relay_setting(org_id)
        return self.settings.relay_between_platforms if own is None else own

    def set_relay_between_platforms(self, org_id: str, value: bool | None) -> None:
        """The organisation's own relay setting (None: back to the engine's default). Takes effect at the next
        plan of each of its connections; what was already sent stays."""
        self.store.set_org_setting(org_id, RELAY, value)
        state = "the engine's default" if value is None else ("on" if value else "off")
        self.store.log("action", org_id=org_id, message=f"relay between platforms: {state}")

    def pending_tenants(self, conn_id: str) -> list[TenantChoice]:
        """The organisations a consent reached when it reached several (Xero: one consent may add many) and the
        connection waits, `choose_organisation`, for the person to pick one; [] otherwise. Each says whether
        another of the business's connections already syncs with it."""
        return connections.pending_tenants(self.store, conn_id)

    def choose_tenant(self, conn_id: str, tenant_id: str) -> str:
        """Connect a `choose_organisation` connection to the organisation the person chose among its consent's
        (ValueError if it is not one of them, or is already connected). The token of that consent is used."""
        spec = self.spec(self.store.get_connection(conn_id).provider)
        return connections.choose_tenant(self.store, conn_id, tenant_id, spec)

    def cancel_connect(self, state: str) -> str | None:
        """A consent the person did not finish: forget its `state`; the connection it was for, if known."""
        return self.store.pop_oauth_state(state)

    def submit_credentials(self, conn_id: str, fields: Mapping[str, str]) -> str:
        """Finish a connection made with credentials (an account id and application key): they are checked with
        the platform (ProviderError if refused, ValueError if incomplete) and only then saved, encrypted."""
        return connections.submit_credentials(self.store, self._spec_of(conn_id), conn_id, fields)

    def authenticate_web_connector(self, user_name: str, password: str, company_file: str | None = None) -> str | None:
        """The Web Connector signing in: the connection id when the password is the one last issued for that
        user name (its first success makes the connection live), else None."""
        return connections.authenticate_web_connector(self.store, self.providers, user_name, password, company_file)

    def web_connector_file(self, conn_id: str) -> DownloadFile | None:
        """A Web Connector connection's .qwc file again (same OwnerID and FileID; no new password), for a
        download; None for a platform that connects otherwise."""
        return connections.web_connector_file(self.store, self._spec_of(conn_id), conn_id)

    def update_settings(self, conn_id: str, changes: Mapping[str, Any]) -> None:
        """Change a connection's settings (None removes one); validated first, secrets kept encrypted."""
        connections.update_settings(self.store, self._spec_of(conn_id), conn_id, changes)

    def setting_names(self, conn_id: str) -> list[str]:
        """Which settings a connection has, by name (values may be secret and are never shown)."""
        conn = self.store.get_connection(conn_id)
        return connections.setting_names(self.store, self.spec(conn.provider), conn)

    def open_provider(self, conn_id: str) -> Provider:
        """The connected provider of a connection (credentials decrypted); the caller closes it."""
        conn = self.store.get_connection(conn_id)
        return connections.open_provider(self.store, self.spec(conn.provider), conn, self.budget)

    def disconnect(self, conn_id: str) -> None:
        """Stop syncing; tokens and submitted credentials are dropped, every synced record and link is kept."""
        connections.disconnect(self.store, self._spec_of(conn_id), conn_id)

    def connect_kind(self, conn_id: str) -> str:
        """How this connection's platform connects: "redirect", "credentials" or "web_connector"."""
        return self._spec_of(conn_id).connect_flow.kind

    def check(self, conn_id: str) -> CheckReport:
        """Compare, field by field, what the app and the platform hold for this connection."""
        provider = self.open_provider(conn_id)
        provider.on_call = None
        try:
            return check(self.store, provider, conn_id)
        finally:
            provider.close()

    def verify(
        self,
        conn_id: str,
        *,
        sample: int | None = None,
        call_budget: int | None = None,
        entities: Iterable[Entity] | None = None,
        wait: float = 0,
    ) -> VerifyReport:
        """Check against the platform as a user command: every synced record that differs becomes `drifted`
        with both versions and the fixes; drifted ones that agree again are synced. `sample`: compare that many
        records picked at random (fetched by id) within `call_budget` platform calls (the scheduler's daily
        run); None: all of them. Holds the connection's lease (ConnectionBusy while a sync runs)."""
        conn = self.store.get_connection(conn_id)
        with hold(self.store, conn_id, self.settings, wait=wait) as (store, _lease):
            cycle = Cycle(store, self.spec(conn.provider), conn_id, self.settings, budget=self.budget)
            try:
                report = run_verify(
                    cycle, sample=sample, call_budget=call_budget, entities=tuple(entities) if entities else None
                )
            finally:
                cycle.provider.close()
            store.add_calls(conn_id, cycle.calls)
        return report

    def verify_due(self, every_seconds: float = 86400.0) -> int:
        """The scheduler's daily verify: each connected connection not verified for `every_seconds` is checked
        on a random sample (`EngineSettings.verify_sample`) within `verify_call_budget` calls. A busy
        connection is left for the next pass. Returns how many were verified."""
        ran = 0
        now = utcnow()
        for conn in self.connections():
            if conn.status != "connected":
                continue
            last = last_verified(self.store, conn.id)
            if last is not None and (now - last).total_seconds() < every_seconds:
                continue
            try:
                self.verify(
                    conn.id, sample=self.settings.verify_sample, call_budget=self.settings.verify_call_budget
                )
                ran += 1
            except (ConnectionBusy, LeaseLost):
                continue
        return ran

    def connection(self, conn_id: str) -> Connection:
        """One connection (KeyError if there is none)."""
        return self.store.get_connection(conn_id)

    def connections(self, org_id: str | None = None) -> list[Connection]:
        return self.store.connections(org_id)

    def _spec_of(self, conn_id: str) -> ProviderSpec:
        return self.spec(self.store.get_connection(conn_id).provider)

    # -- platform webhooks ---------------------------------------------------------------------------
    def webhook_providers(self) -> dict[str, ReceivesWebhooks]:
        """The platforms that send webhooks, by name."""
        return connections.webhook_providers(self.providers)

    def receive_webhook(
        self, provider: str, conn_id: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[Connection, Changes]:
        """Check an inbound platform webhook and read what changed (WebhookRefused if it is not provably from
        the platform for this connection; nothing is stored then)."""
        return connections.receive_webhook(self.store, self.providers, provider, conn_id, body, headers)

    def apply_platform_changes(
        self, conn_id: str, changes: Changes, *, wait: float = 60.0, raise_busy: bool = False
    ) -> bool:
        """A webhook's targeted pull: fetch the named records and apply them as a pull would, under the
        connection's lease. Ids not linked yet (new on the platform) are picked up by a pull of that entity.
        Idempotent: it reads the platform's current state, so duplicate or out-of-order events do no harm.
        Returns False when the connection stayed busy (the next scheduled sync covers it) or is not connected;
        with `raise_busy` a busy connection raises ConnectionBusy instead (a queued task retries it later)."""
        if not changes:
            return True
        conn = self.store.get_connection(conn_id)
        if conn.status not in ("connected", "parked"):
            return False
        try:
            with hold(self.store, conn_id, self.settings, wait=wait) as (store, _lease):
                cycle = Cycle(store, self.spec(conn.provider), conn_id, self.settings, budget=self.budget)
                try:
                    applied = 0
                    for entity in Entity.push_order():
                        ids = sorted(changes.get(entity, ()))
                        if not ids or entity not in cycle.caps.pull_entities:
                            continue
                        linked = [r for r in ids if cycle.to_app_id(entity, r) is not None]
                        cycle.refresh(entity, linked)
                        applied += len(linked)
                        if len(linked) < len(ids):
                            cycle.pull(entity)
                    self.store.log(
                        "webhook",
                        connection_id=conn_id,
                        org_id=conn.org_id,
                        message=f"platform webhook: refreshed {applied} record(s)",
                        details={e.value: sorted(ids) for e, ids in changes.items()},
                    )
                except ProviderError as exc:
                    self.store.log(
                        "webhook",
                        connection_id=conn_id,
                        org_id=conn.org_id,
                        outcome="failed",
                        message=f"platform webhook refresh failed: {exc.error.message}",
                    )
                    return False
                finally:
                    cycle.provider.close()
        except (ConnectionBusy, LeaseLost) as exc:
            if raise_busy:
                raise ConnectionBusy(conn_id) from exc
            busy = "connection busy" if isinstance(exc, ConnectionBusy) else "another worker took the connection over"
            self.store.log(
                "webhook",
                connection_id=conn_id,
                org_id=conn.org_id,
                outcome="deferred",
                message=f"platform webhook: {busy}; the next sync picks the changes up",
            )
            return False
        return True

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
        if conn.status == connections.CHOOSE:
            raise ProviderError(
                SyncError(
                    code=ErrorCode.AUTH_REVOKED,
                    message="no organisation is chosen yet: the consent reached several",
                    hint="Choose the organisation to connect, then sync.",
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
            budget=self.budget,
        )

    def export(
        self,
        conn_id: str,
        what: str,
        *,
        progress: Callable[[str, int, int | None], None] | None = None,
        wait: float = 0,
    ) -> ExportSummary:
        """The one-time export of every product / customer / supplier to the connection's platform."""
        from ledgersync.engine.export import export

        return export(self, conn_id, what, progress=progress, wait=wait)

    def health(self, conn_id: str) -> Health:
        conn = self.store.get_connection(conn_id)
        spec = self.spec(conn.provider)
        every = schedule.cadence(conn, spec)
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
            cadence=self._cadence(spec, conn),
            sync_every_seconds=every.seconds,
            own_cadence=every.own,
            next_sync_at=schedule.due_at(conn, every),
            currencies=settings.summary() if (settings := connections.org_settings(conn)) else None,
            deletions=spec.capabilities.notes.get("deletes"),
        )

    def refresh_org_settings(self, conn_id: str) -> str | None:
        """Read the organisation's settings (home currency, the currencies it takes) from the platform now and
        keep them on the connection; their one-line summary, or None where the platform has none to read."""
        settings = connections.read_org_settings(self.store, self._spec_of(conn_id), conn_id, self.budget)
        return settings.summary() if settings else None

    def _cadence(self, spec: ProviderSpec, conn: Connection) -> str | None:
        # The QuickBooks Web Connector (issue 10): the connection is synced when the Web Connector calls.
        if spec.connect_flow.kind != "web_connector":
            return None
        minutes = conn.config.get("run_every_minutes", 30)
        return f"Web Connector, every {minutes} minute{'s' if str(minutes) != '1' else ''}"

    def set_sync_every(self, conn_id: str, seconds: int | None) -> None:
        """This connection's own cadence in seconds (0: not scheduled; None: back to its platform's default)."""
        schedule.set_cadence(self.store, conn_id, seconds)

    def states(self, conn_id: str, entity: Entity | None = None, state: str | None = None) -> list[SyncState]:
        return self.store.states(conn_id, entity, state)
