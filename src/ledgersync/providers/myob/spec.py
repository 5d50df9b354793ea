"""MyobSpec: MYOB as the engine finds it (entry point `myob`): capabilities, typed config, OAuth2 flow, cadence.

MYOB has no webhooks, so the spec takes none (it is not a ReceivesWebhooks). Its default cadence is capability data
(`default_sync_seconds`: an hour, as MYOB users of Pinch and Workshop Software know it); a connection changes it
with its own schedule (`ledgersync schedule --every`, engine/schedule.py), and Sync now runs a cycle at any time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgersync.providers.base import Capabilities, TokenStore
from ledgersync.providers.budget import BudgetBackend
from ledgersync.providers.config import ProviderConfig
from ledgersync.providers.connect import OAuth2CodeFlow
from ledgersync.providers.myob.config import MyobConfig
from ledgersync.providers.myob.oauth import MyobOAuth
from ledgersync.providers.myob.provider import MYOB_CAPABILITIES, MyobProvider


class MyobSpec:
    """MYOB as the engine sees it before connecting."""

    name: str = "myob"
    capabilities: Capabilities = MYOB_CAPABILITIES
    config_model: type[ProviderConfig] = MyobConfig
    connect_flow: OAuth2CodeFlow = OAuth2CodeFlow(MyobOAuth)

    def oauth(self, config: ProviderConfig | Mapping[str, Any]) -> MyobOAuth:
        return MyobOAuth(config)

    def connect(
        self, config: ProviderConfig, tenant_id: str, tokens: TokenStore, *, budget: BudgetBackend | None = None
    ) -> MyobProvider:
        return MyobProvider(config, tenant_id, tokens, budget=budget)


__all__ = ["MyobSpec"]
