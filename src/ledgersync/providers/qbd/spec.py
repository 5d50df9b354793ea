"""QbdSpec: QuickBooks Desktop as the engine finds it (entry point `qbd`): capabilities, config, Web Connector."""

from __future__ import annotations

from ledgersync.providers.base import Capabilities, TokenStore
from ledgersync.providers.budget import BudgetBackend
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.connect import WebConnectorFlow
from ledgersync.providers.qbd.config import QbdConfig
from ledgersync.providers.qbd.provider import QBD_CAPABILITIES, QbdProvider


class QbdSpec:
    """QuickBooks Desktop, reached only through the QuickBooks Web Connector polling our SOAP service at
    /qbwc. `connect` gives a provider with no open session: its calls say the work waits for the next Web
    Connector run. The service builds the session-bound provider itself (`service.WebConnectorService`)."""

    name: str = "qbd"
    capabilities: Capabilities = QBD_CAPABILITIES
    config_model: type[ProviderConfig] = QbdConfig
    connect_flow: WebConnectorFlow = WebConnectorFlow(
        app_name="ledgersync",
        description="Two-way sync between your business app and this QuickBooks company file",
    )

    def connect(
        self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, *, budget: BudgetBackend | None = None
    ) -> QbdProvider:
        return QbdProvider(config)


__all__ = ["QbdSpec"]
