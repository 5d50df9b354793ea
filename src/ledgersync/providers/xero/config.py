"""XeroConfig: a Xero connection's settings, validated (client, endpoints, paging, pacing, code maps, webhooks)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from ledgersync.providers.config import OAuthAppConfig
from ledgersync.providers.xero.mapping import DEFAULT_BANK_ACCOUNT


class XeroConfig(OAuthAppConfig):
    """Settings of one Xero connection. Limits default to Xero's published ones for a tenant."""

    timeout: float = Field(30, gt=0, description="Seconds per HTTP call")
    page_size: int = Field(1000, ge=1, le=1000, description="Records per page read (Xero pages at most 1000)")
    # Xero recommends up to 50 elements a request; smaller batches keep big documents under 3.5 MB.
    batch_size: int = Field(50, ge=1, le=50, description="Records per write call")
    max_retry_seconds: float = Field(60, ge=0)
    bank_account_code: str = Field(DEFAULT_BANK_ACCOUNT, min_length=1, description="Account payments go to")
    max_in_flight: int = Field(5, ge=1, description="Calls in flight per tenant")
    per_minute: int = Field(60, ge=1, description="Calls a minute per tenant")
    per_day: int = Field(5000, ge=1, description="Calls a day per tenant")
    app_per_minute: int = Field(10_000, ge=1, description="Calls a minute per app, across tenants")
    webhook_key: SecretStr | None = Field(None, description="The signing key of the app's Xero webhook")


__all__ = ["XeroConfig"]
