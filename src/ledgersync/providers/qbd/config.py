"""QbdConfig: a QuickBooks Desktop connection's settings (the Web Connector's .qwc and our reading of the file)."""

from __future__ import annotations

from pydantic import Field

from ledgersync.providers.connect import WebConnectorConfig


class QbdConfig(WebConnectorConfig):
    """Settings of one QuickBooks Desktop company file reached through the Web Connector."""

    page_size: int = Field(100, ge=1, le=1000, description="MaxReturned of each iterator page")
    batch_size: int = Field(10, ge=1, le=50, description="Writes sent in one qbXML document")
    lookback_seconds: float = Field(
        300, ge=0, description="Deltas re-read this far back: QuickBooks stamps TimeModified from the workstation clock"
    )
    answer_seconds: float = Field(300, gt=0, description="How long a sync waits for one response from QuickBooks")
    max_attempts: int = Field(3, ge=1, le=10, description="Sends of one request while QuickBooks reports a lock")
    max_retry_seconds: float = Field(10, ge=0, description="Most time spent waiting out locks for one request")
    income_account: str = Field("Sales", min_length=1, description="Income account of items created without one")
    expense_account: str = Field("Cost of Goods Sold", min_length=1, description="Bill lines without an account")
    default_item: str = Field("Services", min_length=1, description="The item lines without one are booked to")
    deposit_account: str | None = Field(None, description="Where payments are deposited (default Undeposited Funds)")
    class_category: str = Field("Class", min_length=1, description="The app's tracking category QuickBooks classes are")


__all__ = ["QbdConfig"]
