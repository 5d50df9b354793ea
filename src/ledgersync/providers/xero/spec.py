"""XeroSpec: Xero as the engine finds it (entry point `xero`): capabilities, config, OAuth2 flow, webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgersync.providers.base import Capabilities, Changes, TokenStore
from ledgersync.providers.budget import BudgetBackend
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.connect import OAuth2CodeFlow
from ledgersync.providers.xero import webhooks
from ledgersync.providers.xero.config import XeroConfig
from ledgersync.providers.xero.oauth import XeroOAuth
from ledgersync.providers.xero.provider import XERO_CAPABILITIES, XeroProvider


class XeroSpec:
    """Xero as the engine sees it before connecting."""

    name: str = "xero"
    capabilities: Capabilities = XERO_CAPABILITIES
    config_model: type[ProviderConfig] = XeroConfig
    connect_flow: OAuth2CodeFlow = OAuth2CodeFlow(XeroOAuth)
    webhook_auth: str = (
        f"{webhooks.SIGNATURE_HEADER}: base64 HMAC-SHA256 of the raw body with the connection's webhook_key"
    )

    def oauth(self, config: ProviderConfig | Mapping[str, Any]) -> XeroOAuth:
        return XeroOAuth(config)

    def connect(
        self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, *, budget: BudgetBackend | None = None
    ) -> XeroProvider:
        return XeroProvider(config, tenant_id, tokens, budget=budget)

    def receive_webhook(
        self, config: ProviderConfig, tenant_id: str | None, body: bytes, headers: Mapping[str, str]
    ) -> Changes:
        return webhooks.receive(config.secret("webhook_key"), tenant_id, body, headers)


__all__ = ["XeroSpec"]
