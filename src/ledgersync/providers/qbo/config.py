"""QboConfig: a QuickBooks Online connection's settings, validated (client, paging, pacing, defaults, webhooks)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr

from ledgersync.providers.config import OAuthAppConfig


class QboConfig(OAuthAppConfig):
    """Settings of one QuickBooks Online connection. Limits default to Intuit's published ones for a realm."""

    environment: Literal["production", "sandbox", "development"] = Field(
        "production", description="production, or sandbox / development: Intuit's development companies"
    )
    timeout: float = Field(60, gt=0, description="Seconds per HTTP call")
    page_size: int = Field(1000, ge=1, le=1000, description="Records per query page (QuickBooks allows 1000)")
    batch_size: int = Field(30, ge=1, le=30, description="Operations per batch call (QuickBooks allows 30)")
    max_retry_seconds: float = Field(75, ge=0)
    max_in_flight: int = Field(10, ge=1, description="Calls in flight per realm")
    per_minute: int = Field(500, ge=1, description="Calls a minute per realm")
    per_second: int = Field(10, ge=1, description="Calls a second per realm and app")
    batch_per_minute: int = Field(40, ge=1, description="Batch calls a minute per realm")
    throttle_wait_seconds: float = Field(60, ge=0, description="Wait after a throttle answer without Retry-After")
    default_item_id: str | None = Field(None, description="The service item lines without an item are booked to")
    default_item_name: str = Field("Services", min_length=1, description="Its name, found or created if no id")
    income_account_id: str | None = None
    deposit_account_id: str | None = None
    home_currency: str | None = Field(None, min_length=3, max_length=3)
    webhook_verifier: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("webhook_verifier", "verifier_token", "webhook_key"),
        description="The verifier token of the app's QuickBooks webhook",
    )


__all__ = ["QboConfig"]
