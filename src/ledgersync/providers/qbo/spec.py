"""QboSpec: QuickBooks Online as the engine finds it (entry point `qbo`): capabilities, config, OAuth2, webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgersync.providers.base import Capabilities, Changes, TokenStore
from ledgersync.providers.budget import BudgetBackend
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.connect import OAuth2CodeFlow
from ledgersync.providers.qbo import webhooks
from ledgersync.providers.qbo.config import QboConfig
from ledgersync.providers.qbo.oauth import QboOAuth
from ledgersync.providers.qbo.provider import QBO_CAPABILITIES, QboProvider


class QboSpec:
    """QuickBooks Online as the engine sees it before connecting (the tenant id is the company's realmId, which
    the OAuth client reads from the callback beside the code)."""

    name: str = "qbo"
    capabilities: Capabilities = QBO_CAPABILITIES
    config_model: type[ProviderConfig] = QboConfig
    connect_flow: OAuth2CodeFlow = OAuth2CodeFlow(QboOAuth)
    webhook_auth: str = (
        f"{webhooks.SIGNATURE_HEADER}: base64 HMAC-SHA256 of the raw body with the connection's webhook_verifier"
    )

    def oauth(self, config: ProviderConfig | Mapping[str, Any]) -> QboOAuth:
        return QboOAuth(config)

    def connect(
        self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, *, budget: BudgetBackend | None = None
    ) -> QboProvider:
        return QboProvider(config, tenant_id, tokens, budget=budget)

    def receive_webhook(
        self, config: ProviderConfig, tenant_id: str | None, body: bytes, headers: Mapping[str, str]
    ) -> Changes:
        return webhooks.receive(config.secret("webhook_verifier"), tenant_id, body, headers)


__all__ = ["QboSpec"]
