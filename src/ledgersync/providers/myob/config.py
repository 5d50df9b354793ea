"""MyobConfig: a MYOB connection's settings, validated (app, endpoints, paging, limits, code maps, cadence)."""

from __future__ import annotations

from pydantic import Field

from ledgersync.providers.config import CodeMapSetting, OAuthAppConfig

# One hour, as Pinch and Workshop Software tell their MYOB users ("every hour").
DEFAULT_CADENCE_SECONDS = 3600


class MyobConfig(OAuthAppConfig):
    """Settings of one MYOB connection. `client_id` is the app's API key (also sent as x-myobapi-key)."""

    page_size: int = Field(1000, ge=1, le=1000, description="Records per page read (MYOB pages at most 1000)")
    # MYOB has no batch endpoint: one record per call.
    batch_size: int = Field(1, ge=1, le=1, description="Records per write call (MYOB writes one at a time)")
    per_second: int = Field(8, ge=1, description="Calls a second per API key")
    per_day: int = Field(1_000_000, ge=1, description="Calls a day per API key")
    income_account: str = Field("4-2000", min_length=1, description="Account of lines that name none")
    deposit_account: str = Field("1-1110", min_length=1, description="Account payments and credit go to")
    expense_account: str = Field("6-1000", min_length=1, description="Account of purchase lines that name none")
    tax_code: str = Field("N-T", min_length=1, description="Tax code of lines that name none")
    no_tax_code: str = Field("N-T", min_length=1, description="Tax code of lines of a no-tax invoice")
    home_currency: str = Field("AUD", min_length=3, max_length=3, description="The company file's currency")
    category_codes: CodeMapSetting = Field(
        default_factory=dict, description="The app's tracking options -> MYOB category IDs"
    )
    # MYOB has no delete feed: deletions are found by listing every id and comparing with the last list.
    delete_check_seconds: float = Field(
        3600, ge=0, description="How often a pull lists every id to find records deleted in MYOB (0: every pull)"
    )


__all__ = ["DEFAULT_CADENCE_SECONDS", "MyobConfig"]
