"""DearSpec: DEAR / Cin7 Core as the engine finds it (entry point `dear`): capabilities, config, the API-key
connect flow (checked with /me before anything is saved) and inbound webhooks authenticated by our token."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from ledgersync.providers.base import Changes, Tenant, TokenStore
from ledgersync.providers.budget import BudgetBackend
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.connect import ApiKeyFlow, CredentialField, Grant
from ledgersync.providers.dear import webhooks
from ledgersync.providers.dear.client import DearClient
from ledgersync.providers.dear.config import DearConfig
from ledgersync.providers.dear.provider import DEAR_CAPABILITIES, DearProvider

FIELDS = (
    CredentialField(
        "account_id", "Account ID", secret=False, help="DEAR > Integrations > API: the Account ID of your company"
    ),
    CredentialField(
        "application_key",
        "Application Key",
        secret=True,
        help="DEAR > Integrations > API: the key of the application you created for ledgersync",
    ),
)


def verify(config: ProviderConfig) -> Tenant:
    """One cheap call (/me) that proves the keys and names the company."""
    cfg = DearConfig.coerce(config)
    client = DearClient(cfg)
    try:
        me = client.me()
    finally:
        client.close()
    return Tenant(cfg.account_id or "", str(me.get("Company") or cfg.account_id or "DEAR"))


class DearKeyFlow(ApiKeyFlow):
    """The API-key flow, which also issues the secret bearer token DEAR's webhooks will carry (kept with the
    keys, encrypted, and dropped with them on disconnect)."""

    def __init__(self) -> None:
        super().__init__(FIELDS, verify)
        self.grant_keys = (*self.grant_keys, "webhook_token")

    def complete(self, config: ProviderConfig, submitted: Mapping[str, str]) -> Grant:
        grant = super().complete(config, submitted)
        token = config.secret("webhook_token") or secrets.token_urlsafe(32)
        return Grant(grant.tenants, grant.token, {**grant.secrets, "webhook_token": token}, grant.settings)


class DearSpec:
    """DEAR as the engine sees it before connecting."""

    name: str = "dear"
    capabilities = DEAR_CAPABILITIES
    config_model: type[ProviderConfig] = DearConfig
    connect_flow: DearKeyFlow = DearKeyFlow()
    webhook_auth: str = "Authorization: Bearer <the connection's webhook_token> (registered with DEAR by us)"

    def connect(
        self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, *, budget: BudgetBackend | None = None
    ) -> DearProvider:
        return DearProvider(config, tenant_id, tokens, budget=budget)

    def receive_webhook(
        self, config: ProviderConfig, tenant_id: str | None, body: bytes, headers: Mapping[str, str]
    ) -> Changes:
        return webhooks.receive(config.secret("webhook_token"), body, headers)


__all__ = ["DearKeyFlow", "DearSpec", "verify"]
