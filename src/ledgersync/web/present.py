"""How the dashboard words things: state names and their tooltips, fixes and who may apply them, times."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from ledgersync.engine.actions import MANAGE
from ledgersync.model import Entity
from ledgersync.store.tables import utcnow

KIND = {
    Entity.CONTACT: "customer",
    Entity.ITEM: "product",
    Entity.INVOICE: "invoice",
    Entity.PAYMENT: "payment",
    Entity.CREDIT: "customer credit",
    Entity.CREDIT_NOTE: "credit note",
}
LIST_PATH = {
    Entity.CONTACT: "/customers",
    Entity.INVOICE: "/invoices",
    Entity.PAYMENT: "/payments",
    Entity.CREDIT: "/credits",
}
STATE_LABEL = {
    "not_synced": "Not synced",
    "pending": "Waiting",
    "syncing": "Syncing",
    "synced": "Synced",
    "failed": "Failed",
    "needs_review": "Needs review",
    "skipped": "Skipped",
    "excluded": "Excluded",
    "conflict": "Conflict",
    "drifted": "Drifted",
}
FILTER_STATES = ("synced", "not_synced", "pending", "failed", "skipped", "excluded", "conflict", "drifted")
ACTION_LABEL = {
    "retry": "Retry",
    "edit": "Edit",
    "skip": "Skip",
    "merge": "Merge",
    "link": "Link",
    "exclude": "Exclude",
    "include": "Include",
    "record_credit": "Record credit",
    "reconnect": "Refresh link",
    "restore": "Restore",
    "keep_app": "Keep the app's",
    "keep_platform": "Keep the platform's",
}
ACTION_HELP = {
    "retry": "Send it again now.",
    "edit": "Change it in your app; the edit is sent again on its own.",
    "skip": "Keep the app's copy as it is and take it off the error list.",
    "merge": "Use the contact {platform} already has from now on; this customer's invoices and payments follow it.",
    "link": "Use an existing {platform} record you choose, by its {platform} id.",
    "exclude": "Stop syncing this record until it is included again.",
    "include": "Sync this record again.",
    "record_credit": "Pay the invoices in full and record what is left over as customer credit.",
    "reconnect": "Sign in to {platform} again from the Integrations page.",
    "restore": "Un-archive the contact in {platform} so this can go through.",
    "keep_app": "Keep the app's version; it is sent to {platform} over what {platform} has.",
    "keep_platform": "Keep {platform}'s version; the app's record becomes what {platform} has.",
}


def entity_kind(entity: Entity | str) -> str:
    return KIND.get(Entity(entity), str(entity))


def record_url(entity: Entity | str, app_id: str) -> str:
    from urllib.parse import quote

    return f"/records/{Entity(entity).value}/{quote(app_id, safe='')}"


def status_tip(
    state: str,
    *,
    platform: str,
    kind: str,
    error: str | None = None,
    actions: list[str] | None = None,
    remote_id: str | None = None,
) -> str:
    """The hover text of a sync-status badge: what the state means here, and for failures why and the fixes."""
    fixes = ", ".join(ACTION_LABEL.get(a, a) for a in (actions or []))
    if state in ("failed", "needs_review"):
        head = "Failed" if state == "failed" else "Needs review"
        text = f"{head}: {error or 'the last attempt did not go through.'}"
        return f"{text} — fixes: {fixes}" if fixes else text
    if state == "conflict":
        return f"Conflict: changed in the app and in {platform} since the last sync. {error or ''} — fixes: {fixes}"
    if state == "drifted":
        return f"Drifted: the app and {platform} differ. {error or ''} — fixes: {fixes}"
    if state == "synced":
        return f"Synced: this {kind} matches {platform}" + (f" ({platform} id {remote_id})." if remote_id else ".")
    if state == "pending":
        if error:
            return f"Waiting to retry: {error}"
        return f"Waiting: goes to {platform} with the next sync (or press Sync now)."
    if state == "syncing":
        return f"Syncing: being sent to {platform} now."
    if state == "skipped":
        return f"Skipped: the app's copy is kept and not sent to {platform}. Retry it from its page if needed."
    if state == "excluded":
        return f"Excluded: not synced with {platform} until it is included again."
    return f"Not synced: not in {platform} yet. It goes with the next sync, or press Sync now."


@dataclass(frozen=True)
class Button:
    """One fix offered for a record: enabled, or disabled with the reason on hover."""

    action: str
    label: str
    help: str
    allowed: bool
    why_not: str | None


def buttons(
    actions: list[str], state: str, *, can_manage: bool, role: str, platform: str, entity: Entity
) -> list[Button]:
    """The fixes that fit a record, in the order the platform's error suggests, with Exclude/Include last."""
    if state == "excluded":
        wanted = ["include"]
    elif state == "skipped":
        wanted = ["retry", "exclude"]
    elif state == "syncing":
        wanted = []
    elif state in ("conflict", "drifted"):
        wanted = [a for a in actions if a != "exclude"] or ["keep_app", "keep_platform", "skip"]
    elif state in ("failed", "needs_review"):
        wanted = [a for a in actions if a != "exclude" and (a != "merge" or entity is Entity.CONTACT)]
        if "retry" not in wanted and "edit" in wanted:
            wanted.insert(0, "retry")  # after an edit in the app, or when the cause was fixed on the platform
        wanted.append("exclude")
    else:
        wanted = ["retry", "exclude"]
    out: list[Button] = []
    for a in dict.fromkeys(wanted):
        manage = a in MANAGE
        allowed = can_manage or not manage
        out.append(
            Button(
                action=a,
                label=("Sync now" if a == "retry" and state not in ("failed", "needs_review", "skipped") else None)
                or ACTION_LABEL.get(a, a.title()),
                help=ACTION_HELP.get(a, "").format(platform=platform),
                allowed=allowed,
                why_not=None
                if allowed
                else f"Only an owner or admin can {ACTION_LABEL.get(a, a).lower()}; you are a {role}.",
            )
        )
    return out


def ago(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    if when is None:
        return "never"
    seconds = int(((now or utcnow()) - when).total_seconds())
    if seconds < 60:
        return "less than a minute ago"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} hours ago"
    return f"{minutes // 1440} days ago"


def stamp(when: dt.datetime | None) -> str:
    return when.astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC") if when else "—"


def money(value: Decimal | None, currency: str | None = None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}" + (f" {currency}" if currency else "")


__all__ = [
    "ACTION_LABEL",
    "FILTER_STATES",
    "KIND",
    "LIST_PATH",
    "STATE_LABEL",
    "Button",
    "ago",
    "buttons",
    "entity_kind",
    "money",
    "record_url",
    "stamp",
    "status_tip",
]
