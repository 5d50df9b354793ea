"""The platforms ledgersync can connect to, by name: each a ProviderSpec the engine drives."""

from __future__ import annotations

from ledgersync.providers.base import Capabilities, ProviderSpec, TokenStore
from ledgersync.providers.qbo.oauth import QboOAuth
from ledgersync.providers.qbo.provider import QBO_CAPABILITIES, QboProvider
from ledgersync.providers.xero.oauth import XeroOAuth
from ledgersync.providers.xero.provider import XERO_CAPABILITIES, XeroProvider


class XeroSpec:
    """Xero as the engine sees it before connecting."""

    name: str = "xero"
    capabilities: Capabilities = XERO_CAPABILITIES

    def oauth(self, config: dict[str, str]) -> XeroOAuth:
        return XeroOAuth(config)

    def connect(self, config: dict[str, str], tenant_id: str, tokens: TokenStore) -> XeroProvider:
        return XeroProvider(config, tenant_id, tokens)


class QboSpec:
    """QuickBooks Online as the engine sees it before connecting (the tenant id is the company's realmId)."""

    name: str = "qbo"
    capabilities: Capabilities = QBO_CAPABILITIES

    def oauth(self, config: dict[str, str]) -> QboOAuth:
        return QboOAuth(config)

    def connect(self, config: dict[str, str], tenant_id: str, tokens: TokenStore) -> QboProvider:
        return QboProvider(config, tenant_id, tokens)


PROVIDERS: dict[str, ProviderSpec] = {
    "xero": XeroSpec(),
    "qbo": QboSpec(),
}
