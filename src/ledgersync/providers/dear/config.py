"""DearConfig: a DEAR / Cin7 Core connection's settings, validated (credentials, pacing, codes, webhooks, cadence)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from ledgersync.providers.config import ProviderConfig, UrlSetting

DEFAULT_API = "https://inventory.dearsystems.com/ExternalApi/v2/"

# The events we subscribe to: customers, the sale documents and payments, suppliers and purchases
# (nnhansg/dear-ruby models/webhook_type.rb).
DEFAULT_WEBHOOK_TYPES = (
    "Customer/Updated",
    "Sale/InvoiceAuthorised",
    "Sale/FullPaymentReceived",
    "Sale/PartialPaymentReceived",
    "Sale/Voided",
    "Sale/CreditNoteAuthorised",
    "Supplier/Updated",
    "Purchase/OrderAuthorised",
    "Purchase/InvoiceAuthorised",
)


class DearConfig(ProviderConfig):
    """Settings of one DEAR connection. The account id and application key come from DEAR's API page
    (https://inventory.dearsystems.com/ExternalAPI); they are submitted through the connect flow."""

    account_id: str | None = Field(None, min_length=1, max_length=100, description="DEAR Account ID")
    application_key: SecretStr | None = Field(None, description="DEAR Application Key")
    # 60 calls a minute per API application (openapi.yaml info.description), answered with 503 beyond it.
    per_minute: int = Field(60, ge=1, description="Calls a minute per API application")
    rate_limit_wait_seconds: float = Field(60, ge=0, description="How long every call waits after a 503")
    page_size: int = Field(1000, ge=1, le=1000, description="Records per page read (DEAR pages at most 1000)")
    # DEAR takes one record a call; a batch is the writes one push sends one after another.
    batch_size: int = Field(1, ge=1, le=50, description="Writes per push (each is its own call)")
    bank_account_code: str = Field("090", min_length=1, description="Account payments go to")
    default_tax_rule: str = Field("GST on Income", min_length=1, description="Tax rule of lines with no tax code")
    purchase_tax_rule: str = Field("GST on Expenses", min_length=1, description="Tax rule of purchase lines")
    # DEAR deletes a payment outright and lists no deletions: a pull compares each changed sale's payments with
    # the ones it saw on that sale before (the ids are kept in the payments' cursor), and every
    # `payment_check_seconds` it also reads again up to `payment_check_sales` sales with payments it has seen (in
    # turn), in case deleting a payment does not mark its sale as changed (DEAR does not say).
    payment_check_seconds: float = Field(
        3600, ge=0, description="How often sales with payments are read again to find payments deleted in DEAR"
    )
    payment_check_sales: int = Field(
        50, ge=0, le=1000, description="Sales read again per pull for that check (one call each)"
    )
    service_sku: str = Field(
        "LEDGERSYNC-SERVICE",
        min_length=1,
        max_length=50,
        description="The service product DEAR lines use when an app line names no item (created when missing)",
    )
    # Webhooks: where DEAR calls us (the API's /v1/webhooks/dear/{connection_id}) and the bearer token we give
    # it to send; with no URL, changes are found by polling alone.
    webhook_url: UrlSetting | None = Field(None, description="Where DEAR delivers webhooks (our inbound route)")
    webhook_token: SecretStr | None = Field(None, description="The bearer token DEAR sends with each webhook")


__all__ = ["DEFAULT_API", "DEFAULT_WEBHOOK_TYPES", "DearConfig"]
