"""Intuit's QBO XSDs as the tests read them: each entity's JSON checked field by field against its XSD type."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .conftest import contracts_dir

XS = "{http://www.w3.org/2001/XMLSchema}"
BUILTIN_PREFIX = ("xs:", "xsd:")


@dataclass
class Member:
    type_name: str | None
    node: ET.Element | None = None  # an anonymous inline type


@dataclass
class Schema:
    types: dict[str, ET.Element] = field(default_factory=dict)
    groups: dict[str, ET.Element] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)

    def members(self, node: ET.Element) -> dict[str, Member]:
        """Child elements and attributes of a complex type, its base types' included; JSON names."""
        out: dict[str, Member] = {}
        if node.find(f"{XS}simpleContent") is not None:
            out["value"] = Member("xs:string")
        for child in _content(node):
            tag = child.tag
            if tag == XS + "extension":
                base = _local(child.get("base"))
                if base in self.types:
                    out.update(self.members(self.types[base]))
            elif tag == XS + "element":
                name = child.get("name") or _local(child.get("ref"))
                if name:
                    inline = child.find(f"{XS}complexType")
                    out[name] = Member(_local(child.get("type")) if child.get("type") else None, inline)
            elif tag == XS + "group" and child.get("ref"):
                ref = _local(child.get("ref"))
                if ref in self.groups:
                    out.update(self.members(self.groups[ref]))
            elif tag == XS + "attribute" and child.get("name"):
                out[str(child.get("name"))] = Member(_local(child.get("type")))
        return out

    def enumeration(self, type_name: str | None) -> list[str] | None:
        node = self.types.get(type_name or "")
        if node is None or node.tag != XS + "simpleType":
            return None
        values = [str(e.get("value")) for e in node.iter(XS + "enumeration")]
        return values or None

    def check(self, value: Any, type_name: str | None, node: ET.Element | None, path: str, errors: list[str]) -> None:
        if isinstance(value, list):
            for i, v in enumerate(value):
                self.check(v, type_name, node, f"{path}[{i}]", errors)
            return
        if type_name == "IntuitAnyType":
            return
        complex_node = node if node is not None else self.types.get(type_name or "")
        if complex_node is not None and complex_node.tag == XS + "complexType":
            if not isinstance(value, dict):
                if not self.members(complex_node).get("value"):
                    errors.append(f"{path}: expected an object of type {type_name}, got {value!r}")
                return
            known = self.members(complex_node)
            for key, v in value.items():
                member = known.get(key)
                if member is None:
                    errors.append(f"{path}.{key}: not a field of {type_name or 'its parent'}")
                    continue
                self.check(v, member.type_name, member.node, f"{path}.{key}", errors)
            return
        if isinstance(value, dict):
            errors.append(f"{path}: {type_name} is a simple type, got an object")
            return
        allowed = self.enumeration(type_name)
        if allowed is not None and str(value) not in allowed:
            errors.append(f"{path}: {value!r} is not one of {type_name}'s values")


def _content(node: ET.Element) -> list[ET.Element]:
    """A type's content model in document order, not descending into its elements' own inline types."""
    out: list[ET.Element] = []
    for child in node:
        out.append(child)
        if child.tag != XS + "element":
            out.extend(_content(child))
    return out


def _local(name: str | None) -> str:
    if not name:
        return ""
    return name if name.startswith(BUILTIN_PREFIX) else name.split(":")[-1]


@cache
def schema() -> Schema:
    s = Schema()
    for path in sorted(contracts_dir().glob("*.xsd")):
        root = ET.parse(path).getroot()
        for child in root:
            name = child.get("name")
            if not name:
                continue
            if child.tag in (XS + "complexType", XS + "simpleType"):
                s.types[name] = child
            elif child.tag == XS + "group":
                s.groups[name] = child
            elif child.tag == XS + "element" and child.get("type"):
                s.roots[name] = _local(child.get("type"))
    return s


def errors_in(entity: str, obj: Any) -> list[str]:
    """What in `obj` (the JSON of one `entity`, or a Report) the XSD does not have."""
    s = schema()
    type_name = "Report" if entity == "Report" else s.roots[entity]
    out: list[str] = []
    s.check(obj, type_name, None, entity, out)
    return out
