"""Shape-directed XML for the query and rest-xml protocols.

Lists are wrapped (`<Name><member>..</member></Name>`) unless the shape is `flattened` (repeated
`<Name>` elements); maps are `<entry><key/><value/></entry>` likewise; members may be renamed
(`locationName`), carried as attributes (`xmlAttribute`, e.g. S3's `xsi:type`) and declare a
namespace. Output is built as text (faster than ElementTree for this write-only use); input is read
with ElementTree, namespaces stripped, as botocore's own parser does.
"""
from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from .values import DecodeError, decode_text, encode_text

__all__ = ["encode_xml", "decode_xml", "parse_xml", "xml_text"]


def xml_text(text: str) -> str:
    return escape(text, {"\r": "&#xD;"})


# -- encoding -------------------------------------------------------------------------------------------

def _ns_attr(shape: Any) -> str:
    ns = shape.serialization.get("xmlNamespace")
    if not ns:
        return ""
    if isinstance(ns, dict):
        name = f"xmlns:{ns['prefix']}" if ns.get("prefix") else "xmlns"
        return f" {name}={quoteattr(ns['uri'])}"
    return f" xmlns={quoteattr(ns)}"


def encode_xml(shape: Any, value: Any, name: str, out: list[str], timestamp_default: str = "iso8601",
               ns: str | None = None) -> None:
    """Append `<name>value</name>` for `shape` to `out`; `ns` overrides the shape's xmlns attribute."""
    t = shape.type_name
    if t == "structure":
        attrs = _ns_attr(shape) if ns is None else ns
        inner: list[str] = []
        for member_name, v in value.items():
            if v is None:
                continue
            member = shape.members.get(member_name)
            if member is None:
                continue
            wire = member.serialization.get("name", member_name)
            if member.serialization.get("xmlAttribute"):
                attrs += f" {wire}={quoteattr(encode_text(member, v, timestamp_default))}"
                continue
            if member.serialization.get("location"):
                continue  # header/status members never go to the body
            encode_xml(member, v, wire, inner, timestamp_default)
        out.append(f"<{name}{attrs}>")
        out.extend(inner)
        out.append(f"</{name}>")
    elif t == "list":
        member = shape.member
        if shape.serialization.get("flattened"):
            item_name = member.serialization.get("name", name)
            for item in value:
                encode_xml(member, item, item_name, out, timestamp_default)
        else:
            item_name = member.serialization.get("name", "member")
            out.append(f"<{name}{_ns_attr(shape)}>")
            for item in value:
                encode_xml(member, item, item_name, out, timestamp_default)
            out.append(f"</{name}>")
    elif t == "map":
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        flattened = shape.serialization.get("flattened")
        if not flattened:
            out.append(f"<{name}>")
        for k, v in value.items():
            out.append(f"<{name}>" if flattened else "<entry>")
            encode_xml(shape.key, k, key_name, out, timestamp_default)
            if v is not None:
                encode_xml(shape.value, v, value_name, out, timestamp_default)
            out.append(f"</{name}>" if flattened else "</entry>")
        if not flattened:
            out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{xml_text(encode_text(shape, value, timestamp_default))}</{name}>")


# -- decoding -------------------------------------------------------------------------------------------

def parse_xml(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise DecodeError(f"malformed XML: {e}") from None


def _tag(node: ET.Element) -> str:
    tag = node.tag
    return tag.rsplit("}", 1)[1] if "}" in tag else tag


def decode_xml(shape: Any, node: ET.Element) -> Any:
    """An element (whose tag has already been matched to `shape`) -> Python value."""
    t = shape.type_name
    if t == "structure":
        return _dec_structure(shape, node)
    if t == "list":
        item_name = shape.member.serialization.get("name", "member")
        return [decode_xml(shape.member, child) for child in node if _tag(child) == item_name]
    if t == "map":
        return _dec_map_entries(shape, [c for c in node if _tag(c) == "entry"])
    return decode_text(shape, node.text or "")


def _dec_structure(shape: Any, node: ET.Element) -> dict[str, Any]:
    children: dict[str, list[ET.Element]] = {}
    for child in node:
        children.setdefault(_tag(child), []).append(child)
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        ser = member.serialization
        if ser.get("location"):
            continue
        wire = ser.get("name", name)
        if ser.get("xmlAttribute"):
            for attr, text in node.attrib.items():
                if attr == wire or attr.rsplit("}", 1)[-1] == wire.rsplit(":", 1)[-1]:
                    out[name] = decode_text(member, text)
            continue
        if member.type_name == "list" and ser.get("flattened"):
            item_wire = member.member.serialization.get("name", wire)
            nodes = children.get(wire) or children.get(item_wire)
            if nodes:
                out[name] = [decode_xml(member.member, n) for n in nodes]
        elif member.type_name == "map" and ser.get("flattened"):
            nodes = children.get(wire)
            if nodes:
                out[name] = _dec_map_entries(member, nodes)
        else:
            nodes = children.get(wire)
            if nodes:
                out[name] = decode_xml(member, nodes[0])
    return out


def _dec_map_entries(shape: Any, entries: list[ET.Element]) -> dict[str, Any]:
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    out: dict[str, Any] = {}
    for entry in entries:
        key = value = None
        for child in entry:
            tag = _tag(child)
            if tag == key_name:
                key = decode_xml(shape.key, child)
            elif tag == value_name:
                value = decode_xml(shape.value, child)
        if key is not None:
            out[key] = value
    return out
