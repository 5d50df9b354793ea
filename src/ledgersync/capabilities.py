"""The capability matrix: what each provider supports, generated from the providers' own capability data."""

from __future__ import annotations

from ledgersync.model import Entity
from ledgersync.providers.base import Capabilities, megabytes
from ledgersync.providers.registry import PROVIDERS

# (label, Capabilities field), in the order the help pages of real integrations list them.
ROWS: tuple[tuple[str, str], ...] = (
    ("Live updates (webhooks)", "live_updates"),
    ("Customers both ways", "contacts_both_ways"),
    ("Payments both ways", "payments_both_ways"),
    ("Purchase orders and bills", "purchase_orders_and_bills"),
    ("Products", "products"),
    ("Classes or tracking", "classes_or_tracking"),
    ("Sub-customers", "sub_customers"),
    ("$0 invoices", "zero_invoices"),
    ("Tax groups", "tax_groups"),
    ("Overpayments (excess kept as credit)", "overpayments"),
    ("Split payments", "split_payments"),
    ("One payment to several invoices", "one_payment_many_invoices"),
    ("Moved payments", "moved_payments"),
    ("Refunds", "refunds"),
    ("Credit notes applied to invoices", "credit_note_allocations"),
    ("Void and delete", "void_and_delete"),
    ("Initial import and export", "initial_import_export"),
)


def cadence_phrase(seconds: int | None) -> str:
    """A sync cadence in words: "every 5 minutes"; None: the platform's own schedule; 0: off."""
    if seconds is None:
        return "on the platform's own schedule (it calls in)"
    if seconds <= 0:
        return "not scheduled (Sync now and webhooks only)"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"every {n} {unit}{'s' if n != 1 else ''}" if n != 1 else f"every {unit}"
    return f"every {seconds} seconds"
# Rows read from what a provider pulls and pushes: (label, entity). A cell says which way records go.
ENTITY_ROWS: tuple[tuple[str, Entity], ...] = (
    ("Suppliers (vendors)", Entity.SUPPLIER),
    ("Purchase orders", Entity.PURCHASE_ORDER),
    ("Bills", Entity.BILL),
    ("Bill payments", Entity.BILL_PAYMENT),
    ("Sales receipts (customer purchases)", Entity.SALES_RECEIPT),
    ("Credit notes", Entity.CREDIT_NOTE),
    ("Refunds of credit notes", Entity.REFUND),
)


def direction(caps: Capabilities, entity: Entity) -> str:
    """How records of an entity go on this platform: both ways, one way, or not supported."""
    pulled, pushed = entity in caps.pull_entities, entity in caps.push_entities
    if pulled and pushed:
        return "both ways"
    if pushed:
        return "to the platform"
    if pulled:
        return "from the platform"
    return f"not supported by {caps.display_name}"


def attachments_cell(caps: Capabilities) -> str:
    """Whether the app's invoice PDF reaches the platform, and its limits there."""
    rules = caps.attachments
    if rules is None:
        return f"not supported by {caps.display_name}"
    per = f", {rules.max_per_document} a document" if rules.max_per_document else ""
    return f"up to {megabytes(rules.max_bytes)} a file{per}"


def providers() -> dict[str, Capabilities]:
    return {name: spec.capabilities for name, spec in sorted(PROVIDERS.items())}


def matrix() -> list[tuple[str, dict[str, bool]]]:
    caps = providers()
    return [(label, {name: bool(getattr(c, attr)) for name, c in caps.items()}) for label, attr in ROWS]


def markdown() -> str:
    caps = providers()
    names = [c.display_name for c in caps.values()]
    lines = [
        "# Capabilities",
        "",
        "Generated from each provider's capability data by `ledgersync capabilities --markdown`;",
        "a test keeps this file equal to that output.",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "|".join(":-:" for _ in names) + "|",
    ]
    for label, row in matrix():
        lines.append(f"| {label} | " + " | ".join("yes" if row[n] else "no" for n in caps) + " |")
    for label, entity in ENTITY_ROWS:
        lines.append(f"| {label} | " + " | ".join(direction(c, entity) for c in caps.values()) + " |")
    cells = " | ".join(attachments_cell(c) for c in caps.values())
    lines.append(f"| Attachments (the app's invoice PDF) | {cells} |")
    lines += ["", "Batch size and page size per call:", ""]
    for c in caps.values():
        lines.append(f"- {c.display_name}: up to {c.batch_size} records a write, {c.page_size} a read.")
    lines += ["", "Default schedule (`default_sync_seconds`; each connection may set its own):", ""]
    lines += [f"- {c.display_name}: {cadence_phrase(c.default_sync_seconds)}." for c in caps.values()]
    lines += ["", "Attachment file types and where the limits come from:", ""]
    for c in caps.values():
        r = c.attachments
        if r is not None:
            how = "a file of the same name replaces it" if r.same_name_replaces else "a changed file is sent anew"
            lines.append(f"- {c.display_name}: {', '.join(sorted(r.types))}; {how}. {r.source}.")
    notes = [(c.display_name, k, v) for c in caps.values() for k, v in sorted(c.notes.items())]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {name}, {key.replace('_', ' ')}: {text}" for name, key, text in notes]
    return "\n".join(lines) + "\n"
