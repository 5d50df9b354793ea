"""The agreement checker: reads both sides in full and lists every difference, field by field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledgersync.engine.computed import with_computed
from ledgersync.engine.credit import split_view
from ledgersync.engine.translate import CodeMap, Unresolved, translate
from ledgersync.model import Entity, Invoice, InvoiceStatus, Payment, PaymentStatus, Record
from ledgersync.providers.base import Capabilities, Provider, RemoteRecord
from ledgersync.store import Store, divergence
from ledgersync.store.tables import Link


@dataclass(frozen=True)
class Difference:
    entity: str
    app_id: str | None
    remote_id: str | None
    field: str
    app_value: Any
    remote_value: Any

    def __str__(self) -> str:
        return (
            f"{self.entity} app={self.app_id} remote={self.remote_id}: {self.field}: "
            f"app={self.app_value!r} platform={self.remote_value!r}"
        )


@dataclass
class CheckReport:
    compared: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    # (entity, app id) -> the platform record in the app's terms, for every app record compared (verify uses
    # it to show both versions side by side).
    views: dict[tuple[str, str], Record] = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        return not self.differences


def _fields(record: Record, unheld: frozenset[str] = frozenset()) -> dict[str, Any]:
    data = record.hash_view()
    for path in unheld:
        head, _, tail = path.partition(".")
        if not tail:
            data.pop(head, None)
        elif isinstance(data.get(head), list):
            data[head] = [{k: v for k, v in item.items() if k != tail} for item in data[head]]
    if isinstance(record, Invoice):
        data["total"] = str(record.total) if record.total is not None else None
        data["amount_due"] = str(record.amount_due) if record.amount_due is not None else None
    return data


def _platform_defaults_ignored(app: dict[str, Any], remote: dict[str, Any]) -> dict[str, Any]:
    """Where the app left a field empty the platform fills in its own default (a due date from payment terms,
    the tax rate of the line's account, the bank account a payment went to): that is not a difference."""
    out = dict(remote)
    for key, value in app.items():
        if value is None and key in out:
            out[key] = None
        elif isinstance(value, list) and isinstance(out.get(key), list) and len(value) == len(out[key]):
            out[key] = [
                _platform_defaults_ignored(a, r) if isinstance(a, dict) and isinstance(r, dict) else r
                for a, r in zip(value, out[key], strict=True)
            ]
    return out


def check(store: Store, provider: Provider, conn_id: str, entities: tuple[Entity, ...] | None = None) -> CheckReport:
    """Compare every app record with its platform record through the links, and flag platform records that
    are linked twice, not linked at all (for entities that flow out), or duplicated by natural key."""
    conn = store.get_connection(conn_id)
    org_id = conn.org_id
    codes = CodeMap.from_config(conn.config)
    report = CheckReport()
    entities = entities or tuple(e for e in Entity.push_order() if e in provider.capabilities.push_entities)
    to_remote: dict[Entity, dict[str, str]] = {}
    to_app: dict[Entity, dict[str, str]] = {}
    all_links: dict[Entity, dict[str, Link]] = {}
    for entity in Entity.push_order():
        links = all_links[entity] = store.links(conn_id, entity)
        to_remote[entity] = {a: link.remote_id for a, link in links.items() if not link.removed}
        to_app[entity] = {link.remote_id: a for a, link in links.items()}

    def app_id_of(entity: Entity, remote_id: str) -> str | None:
        return to_app[entity].get(remote_id)

    for entity in entities:
        remote_all: dict[str, RemoteRecord] = {}
        for page in provider.pull(entity, None):
            for r in page.records:
                remote_all[r.remote_id] = r
        live_remote = {k: r for k, r in remote_all.items() if not r.deleted}
        held = {st.app_id for st in store.states(conn_id, entity) if st.state in ("skipped", "excluded")}
        report.held[entity.value] = len(held)
        # Skipped and excluded records differ on purpose (a person chose so): they are counted, not compared.
        # Records another of the business's platforms brought in, never sent here (the plan relays them only when
        # the business asks): this connection does not carry them, so they are not missing from it.
        with store.session() as s:
            foreign = {a for a, c in divergence.origins(s, org_id, entity).items() if c != conn_id}
            # What this platform computed, as it last said (the app record may hold another platform's).
            own = store.platform_fields(s, conn_id, entity)
            # A payment this connection split is compared as it sent it; a credit another connection's split
            # made is that connection's, not this one's (engine/credit.py).
            splits = store.splits(s, conn_id) if entity is Entity.PAYMENT else {}
            if entity is Entity.CREDIT:
                ids = [r.app_id for r in store.records(org_id, entity)]
                foreign |= {c for c, conns in store.credit_splits(s, ids).items() if conn_id not in conns}
        foreign -= set(all_links[entity])
        app_records = {
            r.app_id: r for r in store.records(org_id, entity) if r.app_id not in held and r.app_id not in foreign
        }
        n = 0
        for app_id, rec in app_records.items():
            record = with_computed(rec.record, own[app_id]) if app_id in own else rec.record
            if isinstance(record, Payment) and app_id in splits:
                record = split_view(record, splits[app_id])
            gone = _gone(record)
            link = all_links[entity].get(app_id)
            remote = remote_all.get(link.remote_id) if link is not None else None
            if gone:
                # Out of use here: it must be out of use (or never sent) there too.
                if remote is not None and not remote.deleted:
                    report.differences.append(
                        Difference(entity.value, app_id, remote.remote_id, "(record)", "deleted", "present")
                    )
                continue
            if link is None or link.removed or remote is None or (remote.deleted and not gone):
                report.differences.append(
                    Difference(entity.value, app_id, link.remote_id if link else None, "(record)", "present", "missing")
                )
                continue
            remote_view, diffs = compare(entity, app_id, record, remote, codes, app_id_of, provider.capabilities)
            report.differences.extend(diffs)
            if remote_view is None:
                continue
            report.views[(entity.value, app_id)] = remote_view
            n += 1
        report.compared[entity.value] = n
        # Duplicates: two live platform records for one app record (by link) or by natural key.
        linked = Counter(to_remote[entity].values())
        for remote_id, count in linked.items():
            if count > 1:
                report.differences.append(Difference(entity.value, None, remote_id, "(linked twice)", count, 1))
        keys = Counter(_natural_key(r) for r in live_remote.values())
        for natural, count in keys.items():
            if natural is not None and count > 1:
                report.differences.append(Difference(entity.value, None, None, f"(duplicate {natural})", 1, count))
        for remote_id in live_remote:
            if remote_id not in to_app[entity] and entity in provider.capabilities.pull_entities:
                report.differences.append(Difference(entity.value, None, remote_id, "(record)", "missing", "present"))
    return report


def compare(
    entity: Entity,
    app_id: str,
    record: Record,
    remote: RemoteRecord,
    codes: CodeMap,
    app_id_of: Callable[[Entity, str], str | None],
    caps: Capabilities,
) -> tuple[Record | None, list[Difference]]:
    """One app record against its platform record: the platform's in the app's terms (None when a reference
    is not linked) and the fields they differ in."""
    remote_id = remote.remote_id
    try:
        remote_view = codes.back(translate(remote.record, app_id, app_id_of))
    except Unresolved as exc:
        return None, [Difference(entity.value, app_id, remote_id, "(reference)", None, str(exc))]
    # A path may name its entity ("purchase_order:lines.account_code"): held on the platform's other records.
    scope = f"{entity.value}:"
    unheld = frozenset(
        p.removeprefix(scope) for p in caps.unheld_fields if ":" not in p or p.startswith(scope)
    )
    a, b = _fields(record, unheld), _fields(remote_view, unheld)
    b = _platform_defaults_ignored(a, b)
    return remote_view, [
        Difference(entity.value, app_id, remote_id, key, a.get(key), b.get(key))
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def gone(record: Record) -> bool:
    return _gone(record)


def _gone(record: Record) -> bool:
    """An app record out of use: a deleted payment, a voided or deleted invoice."""
    if isinstance(record, Payment):
        return record.status is PaymentStatus.DELETED
    if isinstance(record, Invoice):
        return record.status in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED)
    return False


def _natural_key(remote: RemoteRecord) -> str | None:
    rec = remote.record
    if remote.archived:
        return None
    name = getattr(rec, "name", None)
    if name:
        return f"name={str(name).lower()}"
    number = getattr(rec, "number", None)
    if number:
        return f"number={number}"
    return None
