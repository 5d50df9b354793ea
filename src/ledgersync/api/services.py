"""Service functions shared by the REST API and the dashboard: sync now, health, actions, outbound webhooks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from standardwebhooks import Webhook

from ledgersync import (
    ActionCentre,
    ActionError,
    Actor,
    ConnectionBusy,
    CycleReport,
    Entity,
    LedgerSync,
    VerifyReport,
)
from ledgersync.api import outbound
from ledgersync.api.schemas import VerifyOut
from ledgersync.api.settings import ApiSettings
from ledgersync.store.tables import WebhookDelivery, utcnow

log = logging.getLogger(__name__)

ACTIONS = (
    "retry",
    "skip",
    "exclude",
    "include",
    "merge",
    "link",
    "record_credit",
    "restore",
    "keep_app",
    "keep_platform",
    "create_new",
)


# -- sync, with the app told when it fails or needs a person ---------------------------------------------------
def sync_connection(ls: LedgerSync, conn_id: str, *, wait: float = 0, **kwargs: Any) -> CycleReport:
    """`LedgerSync.sync` (which queues sync.failed / connection.needs_reconnect itself). Raises ConnectionBusy
    when another worker holds the connection (after `wait` seconds) and ProviderError when it is disconnected."""
    return ls.sync(conn_id, wait=wait, **kwargs)


def sync_now(
    ls: LedgerSync,
    actor: Actor,
    conn_id: str,
    entity: Entity | None = None,
    app_id: str | None = None,
    *,
    everything_not_synced: bool = False,
) -> CycleReport:
    """ "Sync now" for a record (with what it depends on), a connection, or everything not yet synced."""
    org_id = ls.connection(conn_id).org_id
    if entity is not None and app_id is not None and ls.store.get_record(org_id, entity, app_id) is None:
        raise LookupError(f"no {entity.value} {app_id!r}")
    return ActionCentre(ls).sync_now(actor, conn_id, entity, app_id, everything_not_synced=everything_not_synced)


# -- health --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HealthView:
    """What the Integrations page shows for one connection."""

    connection_id: str
    provider: str
    display_name: str
    tenant_name: str | None
    status: str
    status_reason: str | None
    last_sync_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_sync_phrase: str
    stale: bool
    calls: int
    counts: dict[str, dict[str, int]]
    failed_count: int
    # "Home currency AUD · multicurrency on: USD, NZD" (issue 16); None until the settings are read.
    currencies: str | None = None


def health_view(ls: LedgerSync, conn_id: str) -> HealthView:
    """Last sync phrase ("Last sync with Xero performed 5 minutes ago"), stale, status, counts, failures."""
    h = ls.health(conn_id)
    failed = sum(c.get("failed", 0) + c.get("needs_review", 0) for c in h.counts.values())
    return HealthView(
        connection_id=h.connection_id,
        provider=h.provider,
        display_name=h.display_name,
        tenant_name=h.tenant_name,
        status=h.status,
        status_reason=h.status_reason,
        last_sync_at=h.last_sync_at,
        last_success_at=h.last_success_at,
        last_sync_phrase=h.last_sync_phrase(),
        stale=h.stale,
        calls=h.calls,
        counts=h.counts,
        failed_count=failed,
        currencies=h.currencies,
    )


# -- the action centre's fixes, by name -------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionOutcome:
    state: str
    remote_id: str | None = None
    credit_id: str | None = None
    report: CycleReport | None = None


def run_action(
    ls: LedgerSync,
    actor: Actor,
    conn_id: str,
    entity: Entity,
    app_id: str,
    action: str,
    *,
    remote_id: str | None = None,
    now: bool = True,
) -> ActionOutcome:
    """Apply one fix by name; raises PermissionDenied, ActionError, LookupError (no such record) or
    ProviderError. merge and restore apply to contacts, record_credit to payments, link needs remote_id."""
    ac = ActionCentre(ls)
    org = ls.connection(conn_id).org_id
    if ls.store.get_record(org, entity, app_id) is None:
        raise LookupError(f"no {entity.value} {app_id!r} in this organisation")
    for name, wanted in (("merge", Entity.CONTACT), ("restore", Entity.CONTACT), ("record_credit", Entity.PAYMENT)):
        if action == name and entity is not wanted:
            raise ActionError(f"{name.replace('_', ' ')} applies to a {wanted.value}, not a {entity.value}")
    report: CycleReport | None = None
    credit: str | None = None
    if action == "retry":
        report = ac.retry(actor, conn_id, entity, app_id, now=now)
    elif action == "skip":
        ac.skip(actor, conn_id, entity, app_id)
    elif action == "exclude":
        ac.exclude(actor, conn_id, entity, app_id)
    elif action == "include":
        ac.include(actor, conn_id, entity, app_id)
    elif action == "merge":
        remote_id = ac.merge(actor, conn_id, app_id, remote_id)
    elif action == "link":
        if not remote_id:
            raise ActionError("link needs the platform record's id (remote_id)")
        ac.link(actor, conn_id, entity, app_id, remote_id)
    elif action == "record_credit":
        credit = ac.record_credit(actor, conn_id, app_id)
    elif action == "restore":
        ac.restore(actor, conn_id, app_id)
    elif action == "create_new":
        report = ac.create_new(actor, conn_id, entity, app_id)
    elif action == "keep_app":
        ac.keep_app(actor, conn_id, entity, app_id, now=now)
    elif action == "keep_platform":
        ac.keep_platform(actor, conn_id, entity, app_id)
    else:
        raise ActionError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    view = ls.get(org, entity, app_id, conn_id)
    return ActionOutcome(
        state=view.state if view else "not_synced",
        remote_id=view.remote_id if view else remote_id,
        credit_id=credit,
        report=report,
    )


# -- inbound platform webhooks: each event once, one refresh at a time per connection ------------------------------
Changes = dict[Entity, set[str]]


def cloudevent_ids(body: bytes) -> list[str] | None:
    """The ids of a CloudEvents batch (a JSON array of events, each with its `id` and `type`; Intuit's newer
    webhooks), or None for any other body (Xero's, Intuit's legacy eventNotifications): those have no id of
    their own per event, so the signed body is the unit."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, list) or not payload:
        return None
    ids = [ev.get("id") if isinstance(ev, dict) and isinstance(ev.get("type"), str) else None for ev in payload]
    return [str(i) for i in ids] if all(isinstance(i, str | int) and str(i) for i in ids) else None


def first_delivery(ls: LedgerSync, conn_id: str, body: bytes, window: float) -> bool:
    """Whether a verified webhook body carries anything not acted on within `window` seconds: by its events'
    own ids where the platform gives them (a batch whose every event was seen is a replay), else by the
    SHA-256 of the signed body. The keys are kept in the store, so a replay to another process, or after a
    restart, is a no-op too."""
    ids = cloudevent_ids(body)
    keys = [f"event:{i}" for i in ids] if ids is not None else ["body:" + hashlib.sha256(body).hexdigest()]
    return bool(ls.store.first_seen(conn_id, keys, window))


# A refresh storm (many webhooks for one connection at once) becomes one refresh at a time per connection:
# what arrives while one is pending or running is merged and fetched by the same worker.
_pending: dict[str, Changes] = {}
_draining: set[str] = set()
_pending_guard = threading.Lock()


def queue_platform_changes(conn_id: str, changes: Changes) -> bool:
    """Merge changes into the connection's pending refresh. True when nobody is draining it yet: the
    caller must then run `drain_platform_changes` (in the background)."""
    with _pending_guard:
        merged = _pending.setdefault(conn_id, {})
        for entity, ids in changes.items():
            merged.setdefault(entity, set()).update(ids)
        if conn_id in _draining:
            return False
        _draining.add(conn_id)
        return True


def drain_platform_changes(ls: LedgerSync, conn_id: str, *, wait: float = 60.0) -> int:
    """Apply the connection's pending changes until none are left; returns the number of refreshes run."""
    runs = 0
    try:
        while True:
            with _pending_guard:
                changes = _pending.pop(conn_id, None)
                if not changes:
                    _draining.discard(conn_id)
                    return runs
            ls.apply_platform_changes(conn_id, changes, wait=wait)
            runs += 1
    except BaseException:
        with _pending_guard:
            _draining.discard(conn_id)
        raise


# -- outbound webhooks to the app ------------------------------------------------------------------------------
def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign_delivery(secret: str, message_id: str, at: dt.datetime, body: str) -> dict[str, str]:
    """Standard Webhooks headers for one attempt (the timestamp is the attempt's, as the spec asks)."""
    signature = Webhook(secret).sign(message_id, at, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def _attempt(ls: LedgerSync, settings: ApiSettings, client: httpx.Client, d: WebhookDelivery) -> None:
    endpoint = ls.store.get_webhook_endpoint(d.endpoint_id)
    if endpoint is None or not endpoint.active:
        ls.store.record_delivery_attempt(
            d.id,
            status="failed",
            response_code=None,
            error="endpoint removed or disabled",
            duration_ms=None,
            next_attempt_at=None,
        )
        return
    body = json.dumps(d.payload, separators=(",", ":"), default=str)
    headers = sign_delivery(ls.store.webhook_secret(endpoint), d.message_id, utcnow(), body)
    started = time.monotonic()
    code: int | None = None
    error: str | None = None
    try:
        # Checked again now, after DNS, and sent to the address that passed; a redirect is an answer, not a hop.
        resp = outbound.post(
            client,
            endpoint.url,
            content=body.encode(),
            headers=headers,
            timeout=settings.webhook_timeout,
            allow_private=settings.allow_private_urls,
        )
        code = resp.status_code
        if not 200 <= code < 300:
            error = f"receiver answered {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    except outbound.UnsafeUrl as exc:
        error = f"refused: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    ms = int((time.monotonic() - started) * 1000)
    if error is None:
        ls.store.record_delivery_attempt(
            d.id, status="delivered", response_code=code, error=None, duration_ms=ms, next_attempt_at=None
        )
        return
    attempts = (d.attempts or 0) + 1
    if attempts >= settings.webhook_max_attempts:
        status, nxt = "failed", None
    else:
        status, nxt = "retrying", utcnow() + dt.timedelta(seconds=settings.backoff(attempts))
    ls.store.record_delivery_attempt(
        d.id, status=status, response_code=code, error=error, duration_ms=ms, next_attempt_at=nxt
    )


def deliver_webhooks(ls: LedgerSync, settings: ApiSettings, client: httpx.Client | None = None) -> int:
    """Fan queued app events out to endpoints, then make every due attempt. Safe to run in several
    processes at once (events and attempts are claimed by conditional updates). Returns attempts made."""
    ls.store.fan_out_app_events()
    # The claim outlives the slowest attempt, so a crashed sender's deliveries come due again.
    due = ls.store.claim_due_deliveries(lease_seconds=settings.webhook_timeout * 3 + 30)
    if not due:
        return 0
    own = client is None
    http = client or httpx.Client(follow_redirects=False)
    try:
        for d in due:
            _attempt(ls, settings, http, d)
    finally:
        if own:
            http.close()
    return len(due)


__all__ = [
    "ACTIONS",
    "ActionOutcome",
    "ConnectionBusy",
    "HealthView",
    "cloudevent_ids",
    "deliver_webhooks",
    "drain_platform_changes",
    "first_delivery",
    "health_view",
    "new_webhook_secret",
    "queue_platform_changes",
    "run_action",
    "sign_delivery",
    "sync_connection",
    "sync_now",
]


def verify_out(report: VerifyReport) -> VerifyOut:
    return VerifyOut(
        connection_id=report.connection_id,
        sampled=report.sampled,
        agree=report.agree,
        summary=report.summary(),
        compared=report.compared,
        drifted=[{"entity": e, "app_id": a, "fields": f} for (e, a), f in sorted(report.drifted.items())],
        resolved=report.resolved,
        other=[str(d) for d in report.other],
        calls=report.calls,
        budget_spent=report.budget_spent,
    )
