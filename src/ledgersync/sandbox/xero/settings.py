"""Xero organisation settings the sandbox serves: Currencies and ContactGroups (with their members)."""

from __future__ import annotations

from typing import Any

from .records import MSG_NOT_FOUND, Ctx, ElementError, ident
from .util import new_id

MSG_GROUP_LIMIT = "You\u2019ve reached the limit of 100 contact groups."  # spec example, PUT /ContactGroups
# Not in the sources consulted (sandbox guesses).
MSG_GROUP_NAME = "A contact group name must be specified."
MSG_GROUP_DUP = "A contact group with the name '{name}' already exists."
MSG_NOT_MEMBER = "The contact is not a member of this contact group."
MSG_CURRENCY = "The currency code '{code}' is not valid."

_CURRENCY_NAMES = {
    "AUD": "Australian Dollar",
    "NZD": "New Zealand Dollar",
    "USD": "United States Dollar",
    "GBP": "British Pound",
    "EUR": "Euro",
    "CAD": "Canadian Dollar",
    "SGD": "Singapore Dollar",
    "JPY": "Japanese Yen",
    "HKD": "Hong Kong Dollar",
    "FJD": "Fiji Dollar",
}


def create_currency(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    """PUT /Currencies: adds a currency to the organisation; adding one it has returns it unchanged."""
    code = str(el.get("Code") or "").upper()
    if len(code) != 3 or not code.isalpha():
        raise ElementError(MSG_CURRENCY.format(code=el.get("Code")))
    existing = ctx.tenant.get("Currencies", code)
    if existing is not None:
        return existing
    rec = {"Code": code, "Description": str(el.get("Description") or _CURRENCY_NAMES.get(code, code))}
    return ctx.tenant.put("Currencies", rec)


def upsert_contact_group(ctx: Ctx, el: dict[str, Any], mode: str, target: str | None) -> dict[str, Any]:
    """PUT /ContactGroups creates; POST /ContactGroups/{id} renames or (Status DELETED) deletes."""
    t = ctx.tenant
    gid = target or ident(el, "ContactGroupID")
    existing = t.get("ContactGroups", gid) if gid else None
    if gid and existing is None:
        raise ElementError(MSG_NOT_FOUND)
    if existing is None:
        active = [g for g in t.data["ContactGroups"].values() if g.get("Status") == "ACTIVE"]
        if len(active) >= 100:
            raise ElementError(MSG_GROUP_LIMIT)
    rec: dict[str, Any] = (
        dict(existing) if existing else {"ContactGroupID": new_id(), "Status": "ACTIVE", "_members": []}
    )
    if "Name" in el:
        rec["Name"] = str(el.get("Name") or "").strip()
    if el.get("Status") in ("ACTIVE", "DELETED"):
        rec["Status"] = el["Status"]
    if not rec.get("Name"):
        raise ElementError(MSG_GROUP_NAME)
    if rec["Status"] == "ACTIVE" and any(
        g["ContactGroupID"] != rec["ContactGroupID"] and g.get("Status") == "ACTIVE"
        for g in t.lookup("ContactGroups", "Name", rec["Name"])
    ):
        raise ElementError(MSG_GROUP_DUP.format(name=rec["Name"]))
    t.put("ContactGroups", rec)
    _refresh_members(ctx, rec, list(rec["_members"]))
    return rec


def group_view(ctx: Ctx, group: dict[str, Any], with_contacts: bool) -> dict[str, Any]:
    """A group as GET answers: the single GET lists its contacts, the list leaves Contacts empty."""
    out = dict(group)
    contacts = [ctx.tenant.get("Contacts", cid) for cid in group.get("_members", [])] if with_contacts else []
    out["Contacts"] = [{"ContactID": c["ContactID"], "Name": c["Name"]} for c in contacts if c is not None]
    return out


def add_members(ctx: Ctx, group_id: str, el: dict[str, Any]) -> dict[str, Any]:
    """PUT /ContactGroups/{id}/Contacts: one element per contact added; answers with the contacts."""
    t = ctx.tenant
    group = t.get("ContactGroups", group_id)
    if group is None or group.get("Status") != "ACTIVE":
        raise ElementError(MSG_NOT_FOUND)
    cid = ident(el, "ContactID")
    contact = t.get("Contacts", cid) if cid else None
    if contact is None:
        raise ElementError(MSG_NOT_FOUND)
    members = list(group.get("_members", []))
    if contact["ContactID"] not in members:
        members.append(contact["ContactID"])
        t.put("ContactGroups", {**group, "_members": members})
        _refresh_members(ctx, t.data["ContactGroups"][group_id], [contact["ContactID"]])
    return t.data["Contacts"][contact["ContactID"]]


def remove_members(ctx: Ctx, group_id: str, contact_id: str | None) -> None:
    """DELETE /ContactGroups/{id}/Contacts[/{ContactID}]: one member, or all of them."""
    t = ctx.tenant
    group = t.get("ContactGroups", group_id)
    if group is None:
        raise ElementError(MSG_NOT_FOUND)
    members = list(group.get("_members", []))
    if contact_id is None:
        gone, keep = members, []
    else:
        contact = t.get("Contacts", contact_id)
        if contact is None or contact["ContactID"] not in members:
            raise ElementError(MSG_NOT_MEMBER)
        gone = [contact["ContactID"]]
        keep = [m for m in members if m != contact["ContactID"]]
    t.put("ContactGroups", {**group, "_members": keep})
    _refresh_members(ctx, t.data["ContactGroups"][group_id], gone)


def _refresh_members(ctx: Ctx, group: dict[str, Any], contact_ids: list[str]) -> None:
    """Each contact lists the active groups it belongs to (Contact.ContactGroups)."""
    t = ctx.tenant
    for cid in contact_ids:
        contact = t.data["Contacts"].get(cid)
        if contact is None:
            continue
        groups = [
            {"ContactGroupID": g["ContactGroupID"], "Name": g["Name"], "Status": g["Status"], "Contacts": []}
            for g in t.data["ContactGroups"].values()
            if g.get("Status") == "ACTIVE" and cid in g.get("_members", [])
        ]
        if groups != contact.get("ContactGroups"):
            # sandbox guesses: membership is the group's data, so the contact's UpdatedDateUTC stays.
            t.put("Contacts", {**contact, "ContactGroups": groups}, touch=False)
