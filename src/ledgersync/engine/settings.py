"""Engine settings: conflict policy, which contacts sync, retry and lease timings, event retention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ledgersync.store import Store

# The organisation's own setting (organisations.settings) that overrides EngineSettings.relay_between_platforms.
RELAY = "relay_between_platforms"


def org_relay(store: Store, org_id: str) -> bool | None:
    """An organisation's own relay setting; None when it has none (or no such organisation)."""
    org = store.get_org(org_id)
    value = (org.settings or {}).get(RELAY) if org is not None else None
    return value if isinstance(value, bool) else None


class EngineSettings(BaseModel):
    # Which side wins when both changed a record (contact, invoice, payment) since the last sync: the newer edit
    # by default; "ask" settles none, every such record becomes a `conflict` a person resolves.
    conflict_policy: Literal["newest", "app_wins", "platform_wins", "ask"] = "newest"
    # Under "newest": edits on the two sides closer together than this are not ordered (the two clocks are not
    # one); such a record becomes a `conflict`. 0 orders every pair.
    conflict_window_seconds: float = Field(default=0.0, ge=0)
    # One organisation on several platforms: a record that came in from one platform is sent to the others
    # only when this is on (the organisation's own setting of the same name overrides it).
    relay_between_platforms: bool = False
    # The daily verify (scheduler): records compared per connection (a random sample) and the calls it may use.
    verify_sample: int = Field(default=200, ge=1)
    verify_call_budget: int = Field(default=50, ge=1)
    # "all" contacts, or only those with invoices or payments (keeps a platform free of leads).
    contacts: Literal["all", "with_transactions"] = "all"
    # Transient failures (429, 5xx, timeouts) retry with backoff; past this many attempts they show as Failed.
    transient_failure_limit: int = Field(default=5, ge=1)
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    lease_seconds: float = 600.0
    # A connection with no successful sync for this long is shown as stale.
    stale_after_hours: float = 24.0
    event_retention_days: int = 90
    log_calls: bool = True
    # The in-process driver sends the next batch of writes while it records the previous one (one call in flight
    # beside the recording; see engine/sync.Cycle._executed). False: strictly one batch after another.
    overlap_batches: bool = True
    # A payment larger than what its invoices owe: record the excess as customer credit automatically, or
    # fail it with "Record the excess as credit" offered as the fix.
    overpayments: Literal["record_credit", "ask"] = "record_credit"
    # Names a platform refuses (characters, length): fail with the exact rule (False), or clean them on the
    # way out (True: the app keeps its own spelling).
    clean_names: bool = False
    # After pushing payments, invoices they touched are read back by id up to this many, else by a delta pull.
    readback_by_id_limit: int = 200
