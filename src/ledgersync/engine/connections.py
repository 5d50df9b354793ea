"""Connections: typed settings with their secrets encrypted, the connect flows run to the end, and providers
opened from a stored connection. The engine's one place that knows how each kind of flow finishes."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ledgersync.passwords import DUMMY_HASH, verify_password
from ledgersync.providers.base import Changes, Provider, ProviderSpec, ReceivesWebhooks, Tenant, WebhookRefused
from ledgersync.providers.budget import BudgetBackend
from ledgersync.providers.config import ConfigError, ProviderConfig, split_settings
from ledgersync.providers.connect import (
    PASSWORD_HASH_KEY,
    ApiKeyFlow,
    CredentialField,
    DownloadFile,
    OAuth2CodeFlow,
    WebConnectorFlow,
)
from ledgersync.providers.org import OrgSettings, ReadsOrgSettings
from ledgersync.store import Store, StoreTokenStore
from ledgersync.store.tables import Connection

ChooseTenant = Callable[[list[Tenant]], Tenant]


@dataclass(frozen=True)
class ConnectStart:
    """What to do next to connect, whatever the platform's flow (`kind`):

    - "redirect": send the person's browser to `authorization_url`; the platform comes back to the app's
      callback, which hands the query to `LedgerSync.complete_callback`.
    - "credentials": ask for `fields` and pass them to `LedgerSync.submit_credentials` (nothing is saved
      until the platform accepts them). `status` is already "connected" when they came with the settings.
    - "web_connector": offer `file` (the .qwc) for download and show `password` once; the person adds the
      file to the Web Connector and types the password there. The connection goes live on its first call.
    """

    connection_id: str
    kind: str
    status: str
    authorization_url: str | None = None
    state: str | None = None
    fields: tuple[CredentialField, ...] = ()
    file: DownloadFile | None = None
    user_name: str | None = None
    password: str | None = None

    @property
    def next_step(self) -> str:
        if self.kind == "redirect":
            return "Open the authorization URL and allow access; the platform returns to the callback."
        if self.kind == "credentials":
            if self.status == "connected":
                return "Connected: the credentials were accepted."
            return "Submit " + ", ".join(f.label for f in self.fields) + "."
        return (
            f"Add {self.file.name if self.file else 'the .qwc file'} to the QuickBooks Web Connector and enter "
            "the password there (it is shown only now)."
        )


# -- settings ---------------------------------------------------------------------------------------------------
def validate_settings(spec: ProviderSpec, values: Mapping[str, Any]) -> ProviderConfig:
    """The settings a person gave, validated: unknown keys and bad values raise ConfigError."""
    return spec.config_model.parse(values, unknown="error")


def load_config(store: Store, spec: ProviderSpec, conn: Connection) -> ProviderConfig:
    """A stored connection's settings with its secrets decrypted, as the platform's typed config. Keys a
    platform no longer has are ignored, so an old row still opens."""
    return spec.config_model.parse({**conn.config, **store.credentials(conn.id)})


def open_provider(
    store: Store, spec: ProviderSpec, conn: Connection | str, budget: BudgetBackend | None = None
) -> Provider:
    """The connected provider for a stored connection: credentials decrypted, typed config built, tokens from
    the store (refreshed single-flight), its rate limits counted in `budget`. The caller closes it."""
    row = store.get_connection(conn) if isinstance(conn, str) else conn
    tokens = StoreTokenStore(store, row.id)
    provider = spec.connect(load_config(store, spec, row), row.tenant_id or "", tokens, budget=budget)
    if isinstance(provider, ReadsOrgSettings) and row.platform_settings:
        provider.org_settings = OrgSettings.from_json(row.platform_settings)
    return provider


def org_settings(conn: Connection) -> OrgSettings | None:
    """The organisation's settings as its platform last told them (None: never read)."""
    return OrgSettings.from_json(conn.platform_settings) if conn.platform_settings else None


def keep_org_settings(store: Store, conn_id: str, provider: Provider) -> None:
    """Store the settings a provider read during its life, if they are newer than the stored ones."""
    if not isinstance(provider, ReadsOrgSettings) or provider.org_settings is None:
        return
    current = provider.org_settings
    stored = org_settings(store.get_connection(conn_id))
    if stored is not None and stored.read_at >= current.read_at:
        return
    store.save_platform_settings(conn_id, current.to_json())
    if not current.same_as(stored):
        store.log("connection", connection_id=conn_id, message=f"organisation settings read: {current.summary()}")


def read_org_settings(
    store: Store, spec: ProviderSpec, conn_id: str, budget: BudgetBackend | None = None
) -> OrgSettings | None:
    """Read the organisation's settings from the platform now (at connect and on Refresh link) and keep them.
    None where the platform has none to read; a refusal or an outage is logged and left for the next cycle,
    which reads them when it needs them."""
    provider = open_provider(store, spec, conn_id, budget)
    try:
        if not isinstance(provider, ReadsOrgSettings):
            return None
        try:
            provider.org_settings = provider.read_org_settings()
        except Exception as exc:
            store.log("connection", connection_id=conn_id, message=f"organisation settings not read: {exc}")
            return None
        keep_org_settings(store, conn_id, provider)
        return provider.org_settings
    finally:
        provider.close()


def setting_names(store: Store, spec: ProviderSpec, conn: Connection) -> list[str]:
    """Which settings a connection has (names only: values may be secret)."""
    fields = spec.config_model.setting_names()
    return sorted(set(conn.config) | {k for k in store.credentials(conn.id) if k in fields})


def create_connection(store: Store, spec: ProviderSpec, org_id: str, values: Mapping[str, Any]) -> str:
    """A new connection with validated settings; secret ones go to the encrypted column."""
    validate_settings(spec, values)
    plain, hidden = split_settings(spec.config_model, values)
    return store.create_connection(org_id, spec.name, plain, hidden)


def update_settings(store: Store, spec: ProviderSpec, conn_id: str, changes: Mapping[str, Any]) -> None:
    """Set settings (None removes one); the result is validated before anything is saved."""
    conn = store.get_connection(conn_id)
    model = spec.config_model
    names = model.setting_names()
    unknown = sorted(k for k in changes if k not in names)
    if unknown:
        raise ConfigError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    plain = dict(conn.config)
    hidden = store.credentials(conn_id)
    for key, value in changes.items():
        field = names[key]
        for alias in [k for k, f in names.items() if f == field]:
            plain.pop(alias, None)
            hidden.pop(alias, None)
        if value is not None:
            add_plain, add_hidden = split_settings(model, {field: value})
            plain.update(add_plain)
            hidden.update(add_hidden)
    model.parse({**plain, **hidden})
    store.save_credentials(conn_id, hidden, config=plain)


# -- starting a connect flow -------------------------------------------------------------------------------------
def start(store: Store, spec: ProviderSpec, conn_id: str) -> ConnectStart:
    """Begin (or, for a connection that exists, begin again: Refresh link) the platform's connect flow."""
    conn = store.get_connection(conn_id)
    flow = spec.connect_flow
    config = load_config(store, spec, conn)
    if isinstance(flow, OAuth2CodeFlow):
        state = secrets.token_urlsafe(24)
        url = flow.authorization_url(config, state)
        store.save_oauth_state(state, conn_id)
        return ConnectStart(conn_id, flow.kind, conn.status, authorization_url=url, state=state)
    if isinstance(flow, ApiKeyFlow):
        return ConnectStart(conn_id, flow.kind, conn.status, fields=flow.fields)
    if isinstance(flow, WebConnectorFlow):
        # The connection's id is the Web Connector's UserName: it names the connection on every call.
        setup = flow.setup(config, user_name=conn_id)
        hidden = {**store.credentials(conn_id), PASSWORD_HASH_KEY: setup.password_hash}
        plain = {**conn.config, "owner_id": setup.owner_id, "file_id": setup.file_id}
        store.save_credentials(conn_id, hidden, config=plain)
        store.log(
            "connection",
            connection_id=conn_id,
            org_id=conn.org_id,
            message="Web Connector file and a new password issued; the previous password no longer works",
        )
        return ConnectStart(
            conn_id,
            flow.kind,
            conn.status,
            file=setup.file,
            user_name=setup.user_name,
            password=setup.password,
        )
    raise TypeError(f"{spec.name} has an unknown connect flow {type(flow).__name__}")


def web_connector_file(store: Store, spec: ProviderSpec, conn_id: str) -> DownloadFile | None:
    """The .qwc of a Web Connector connection, from its stored OwnerID and FileID; the password that `setup`
    makes up is dropped (only `start` issues one)."""
    flow = spec.connect_flow
    if not isinstance(flow, WebConnectorFlow):
        return None
    conn = store.get_connection(conn_id)
    return flow.setup(load_config(store, spec, conn), user_name=conn_id).file


# -- finishing it ------------------------------------------------------------------------------------------------
CHOOSE = "choose_organisation"


def _reconnected(conn: Connection, tenants: list[Tenant]) -> Tenant:
    # Reconnecting: the same organisation must come back, or links would point into another.
    match = [t for t in tenants if t.id == conn.tenant_id]
    if not match:
        raise ValueError(
            f"this consent does not include {conn.tenant_name or conn.tenant_id}; choose that "
            "organisation when reconnecting"
        )
    return match[0]


def _tenant(conn: Connection, tenants: list[Tenant], choose: ChooseTenant | None) -> Tenant | None:
    """The tenant the consent connects, or None when the person is to choose among several."""
    if not tenants:
        raise ValueError("the consent gave access to no organisation")
    if conn.tenant_id:
        return _reconnected(conn, tenants)
    if choose is not None:
        return choose(tenants)
    return tenants[0] if len(tenants) == 1 else None


def _connected(store: Store, conn: Connection, tenant: Tenant, how: str) -> None:
    store.update_connection(
        conn.id,
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        status="connected",
        status_reason=None,
        parked_until=None,
        pending_tenants=None,
    )
    store.log("connection", connection_id=conn.id, org_id=conn.org_id, message=f"connected to {tenant.name} ({how})")


def _to_choose(store: Store, conn: Connection, tenants: list[Tenant]) -> None:
    """Several organisations in one consent: keep them (the token is saved) until the person picks one."""
    store.update_connection(
        conn.id,
        status=CHOOSE,
        status_reason=f"Choose the organisation to connect ({len(tenants)} in this consent)",
        pending_tenants=[{"id": t.id, "name": t.name} for t in tenants],
    )
    store.log(
        "connection",
        connection_id=conn.id,
        org_id=conn.org_id,
        message=f"consent reached {len(tenants)} organisations: " + ", ".join(t.name for t in tenants),
    )


def complete_redirect(
    store: Store,
    providers: Mapping[str, ProviderSpec],
    state: str,
    callback_query: str,
    choose: ChooseTenant | None = None,
) -> str:
    """Finish an OAuth2 consent: the single-use `state` names the connection; its platform's client reads the
    rest of the callback (the code, and e.g. QuickBooks' realmId). Tokens are saved encrypted. A new
    connection whose consent reached several organisations (Xero) and no `choose` is left
    `choose_organisation`, the tenants kept, for `choose_tenant`."""
    conn_id = store.pop_oauth_state(state)
    if conn_id is None:
        raise ValueError("unknown or expired OAuth state: start connecting again")
    conn = store.get_connection(conn_id)
    spec = providers[conn.provider]
    flow = spec.connect_flow
    if not isinstance(flow, OAuth2CodeFlow):
        raise ValueError(f"{spec.capabilities.display_name} does not connect through a redirect")
    grant = flow.complete(load_config(store, spec, conn), callback_query)
    tenant = _tenant(conn, grant.tenants, choose)
    if grant.token is not None:
        store.save_token(conn_id, grant.token)
    if tenant is None:
        _to_choose(store, conn, grant.tenants)
    else:
        _connected(store, conn, tenant, "consent")
        read_org_settings(store, spec, conn_id)
    return conn_id


@dataclass(frozen=True)
class TenantChoice:
    """One organisation a pending consent reached, and the business's connection already syncing with it (the
    same platform), if any: choosing that one again is refused."""

    id: str
    name: str
    connected_by: str | None = None


def pending_tenants(store: Store, conn_id: str) -> list[TenantChoice]:
    """The organisations to choose from while the connection is `choose_organisation` (else [])."""
    conn = store.get_connection(conn_id)
    if conn.status != CHOOSE or not conn.pending_tenants:
        return []
    taken = {
        c.tenant_id: c.id
        for c in store.connections(conn.org_id)
        if c.id != conn.id and c.provider == conn.provider and c.tenant_id and c.status != "disconnected"
    }
    return [TenantChoice(t["id"], t["name"], taken.get(t["id"])) for t in conn.pending_tenants]


def choose_tenant(store: Store, conn_id: str, tenant_id: str, spec: ProviderSpec | None = None) -> str:
    """Complete a consent that reached several organisations with the one the person chose. ValueError when the
    connection is not waiting for a choice, the organisation was not in its consent, or another of the
    business's connections already syncs with it."""
    conn = store.get_connection(conn_id)
    if conn.status != CHOOSE:
        raise ValueError("this connection is not waiting for an organisation to be chosen")
    choice = next((t for t in pending_tenants(store, conn_id) if t.id == tenant_id), None)
    if choice is None:
        raise ValueError("that organisation was not in this consent; choose one of those listed")
    if choice.connected_by is not None:
        raise ValueError(f"{choice.name} is already connected (connection {choice.connected_by}); choose another")
    _connected(store, conn, Tenant(choice.id, choice.name), "organisation chosen")
    if spec is not None:
        read_org_settings(store, spec, conn_id)
    return conn_id


def submit_credentials(store: Store, spec: ProviderSpec, conn_id: str, submitted: Mapping[str, str]) -> str:
    """Finish an API-key connection: the values are checked with the platform first and saved (secrets
    encrypted) only if it accepts them. ProviderError carries the platform's refusal; nothing changes then."""
    conn = store.get_connection(conn_id)
    flow = spec.connect_flow
    if not isinstance(flow, ApiKeyFlow):
        raise ValueError(f"{spec.capabilities.display_name} does not connect with submitted credentials")
    values = flow.check(submitted)
    hidden = store.credentials(conn_id)
    config = spec.config_model.parse({**conn.config, **hidden, **values})
    grant = flow.complete(config, values)
    tenant = _tenant(conn, grant.tenants, None) or grant.tenants[0]
    store.save_credentials(conn_id, {**hidden, **grant.secrets}, config={**conn.config, **grant.settings})
    _connected(store, conn, tenant, "credentials checked")
    read_org_settings(store, spec, conn_id)
    return conn_id


def submit_if_given(store: Store, spec: ProviderSpec, start_: ConnectStart, values: Mapping[str, Any]) -> ConnectStart:
    """For an API-key flow whose fields all came with the settings: submit them now."""
    flow = spec.connect_flow
    if not isinstance(flow, ApiKeyFlow) or not all(values.get(f.name) for f in flow.fields):
        return start_
    submit_credentials(store, spec, start_.connection_id, {f.name: str(values[f.name]) for f in flow.fields})
    return ConnectStart(start_.connection_id, start_.kind, "connected", fields=start_.fields)


def authenticate_web_connector(
    store: Store,
    providers: Mapping[str, ProviderSpec],
    user_name: str,
    password: str,
    company_file: str | None = None,
) -> str | None:
    """The Web Connector's authenticate: the connection id if the password is the one issued last, else None
    (an unknown user takes as long as a wrong password). The first success makes the connection live."""
    try:
        conn = store.get_connection(user_name)
    except KeyError:
        conn = None
    spec = providers.get(conn.provider) if conn is not None else None
    stored = store.credentials(conn.id).get(PASSWORD_HASH_KEY) if conn is not None else None
    if conn is None or spec is None or not isinstance(spec.connect_flow, WebConnectorFlow) or not stored:
        verify_password(password, DUMMY_HASH)
        return None
    if not verify_password(password, stored) or conn.status == "disconnected":
        return None
    if conn.status != "connected" or (company_file and company_file != conn.tenant_name):
        name = company_file or conn.tenant_name or "QuickBooks company file"
        _connected(store, conn, Tenant(conn.config.get("file_id") or conn.id, name), "Web Connector")
    return conn.id


def disconnect(store: Store, spec: ProviderSpec, conn_id: str) -> None:
    """Drop what the connect flow granted (tokens, submitted keys, the Web Connector password); the app's own
    settings, every synced record and link are kept."""
    kept = {k: v for k, v in store.credentials(conn_id).items() if k not in spec.connect_flow.grant_keys}
    store.save_credentials(
        conn_id, kept, status="disconnected", token=None, status_reason="disconnected", pending_tenants=None
    )
    store.log("connection", connection_id=conn_id, message="disconnected; synced data kept")


# -- inbound webhooks --------------------------------------------------------------------------------------------
def receive_webhook(
    store: Store,
    providers: Mapping[str, ProviderSpec],
    provider: str,
    conn_id: str,
    body: bytes,
    headers: Mapping[str, str],
) -> tuple[Connection, Changes]:
    """Check an inbound webhook against the connection's settings and read what changed. WebhookRefused for
    anything not provably from the platform, an unknown connection included (no oracle)."""
    spec = providers.get(provider)
    if spec is None or not isinstance(spec, ReceivesWebhooks):
        raise WebhookRefused(f"{provider} sends no webhooks")
    try:
        conn = store.get_connection(conn_id)
    except KeyError:
        raise WebhookRefused("unknown connection") from None
    if conn.provider != provider:
        raise WebhookRefused("connection is for another platform")
    try:
        config = load_config(store, spec, conn)
    except ConfigError:
        raise WebhookRefused("the connection's settings do not validate") from None
    return conn, spec.receive_webhook(config, conn.tenant_id, body, headers)


def webhook_providers(providers: Mapping[str, ProviderSpec]) -> dict[str, ReceivesWebhooks]:
    """The platforms that take inbound webhooks, by name."""
    return {name: spec for name, spec in providers.items() if isinstance(spec, ReceivesWebhooks)}


__all__ = [
    "CHOOSE",
    "ConnectStart",
    "TenantChoice",
    "authenticate_web_connector",
    "choose_tenant",
    "complete_redirect",
    "create_connection",
    "disconnect",
    "keep_org_settings",
    "load_config",
    "open_provider",
    "org_settings",
    "pending_tenants",
    "read_org_settings",
    "receive_webhook",
    "setting_names",
    "start",
    "submit_credentials",
    "submit_if_given",
    "update_settings",
    "validate_settings",
    "web_connector_file",
    "webhook_providers",
]
