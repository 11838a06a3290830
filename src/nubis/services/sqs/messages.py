"""Message checks and digests, exactly as SQS computes them (clients such as the Java SDK verify them)."""
from __future__ import annotations

import base64
import hashlib
import re
import struct

import orjson

from . import errors

MAX_ATTRIBUTES = 10
# Characters SQS accepts in a body or string attribute (XML 1.0's Char production).
_INVALID_CHAR = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_FIFO_ID = re.compile(r"[!-~]{1,128}")  # alphanumeric and punctuation


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def attributes_md5(attrs: dict[str, dict] | None) -> str | None:
    """MD5OfMessageAttributes: per attribute, sorted by name: length-prefixed name and DataType, a
    transport byte (1 string/number, 2 binary) and the length-prefixed value."""
    if not attrs:
        return None
    out = bytearray()
    for name in sorted(attrs):
        a = attrs[name]
        out += _field(name.encode()) + _field(a["DataType"].encode())
        if a.get("StringValue") is not None:
            out += b"\x01" + _field(a["StringValue"].encode())
        else:
            out += b"\x02" + _field(bytes(a["BinaryValue"]))
    return md5_hex(bytes(out))


def check_body(body: str | None) -> None:
    if not body:
        raise errors.missing("MessageBody")
    if _INVALID_CHAR.search(body):
        raise errors.error("InvalidMessageContents",
                           "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
                           "#xE000 to #xFFFD | #x10000 to #x10FFFF")


def check_attributes(attrs: dict[str, dict] | None, what: str = "Message (user)") -> None:
    if not attrs:
        return
    if len(attrs) > MAX_ATTRIBUTES:
        raise errors.invalid(f"Number of message attributes [{len(attrs)}] exceeds the allowed maximum "
                             f"[{MAX_ATTRIBUTES}].")
    for name, a in attrs.items():
        if not _ATTR_NAME.fullmatch(name) or name.startswith(".") or name.endswith(".") or ".." in name:
            raise errors.invalid(f"{what} attribute name '{name}' has invalid characters or is malformed.")
        if name.lower().startswith(("aws.", "amazon.")):
            raise errors.invalid(f"You can't use message attribute names beginning with 'AWS.' or 'Amazon.'. "
                                 f"These strings are reserved for internal use. Additionally, they cannot start or "
                                 f"end with '.'.")
        kind = a.get("DataType") or ""
        if not kind:
            raise errors.invalid(f"The message attribute '{name}' must contain non-empty message attribute type.")
        base = kind.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise errors.invalid(f"The type of message (user) attribute '{name}' is invalid. You must use only the "
                                 "following supported type prefixes: Binary, Number, String.")
        if a.get("StringListValues") or a.get("BinaryListValues"):
            raise errors.invalid(f"Message attribute list values in SendMessage operation are not supported.")
        if base == "Binary":
            if a.get("BinaryValue") is None or len(a["BinaryValue"]) == 0:
                raise errors.invalid(f"The message attribute '{name}' with type 'Binary' must use field "
                                     "'Binary'.")
        else:
            value = a.get("StringValue")
            if value is None or value == "":
                raise errors.invalid(f"The message attribute '{name}' must contain non-empty message attribute "
                                     f"value for message attribute type '{base}'.")
            if _INVALID_CHAR.search(value):
                raise errors.invalid(f"The message attribute '{name}' with type '{base}' contains invalid "
                                     "characters.")
            if base == "Number":
                try:
                    float(value)
                except ValueError:
                    raise errors.invalid(f"Can't cast the value of message (user) attribute '{name}' to a number."
                                         ) from None


def size_of(body: str, attrs: dict[str, dict] | None) -> int:
    """Bytes counted against MaximumMessageSize: the body plus every attribute's name, type and value."""
    n = len(body.encode())
    for name, a in (attrs or {}).items():
        n += len(name.encode()) + len(a["DataType"].encode())
        n += len(a["StringValue"].encode()) if a.get("StringValue") is not None else len(a.get("BinaryValue") or b"")
    return n


def check_fifo_id(value: str | None, parameter: str) -> None:
    if value is not None and not _FIFO_ID.fullmatch(value):
        raise errors.invalid_value(value, parameter, f"{parameter} can only include alphanumeric and punctuation "
                                   "characters. 1 to 128 in length.")


def pack_attributes(attrs: dict[str, dict] | None) -> bytes | None:
    """Message attributes as stored: only the value members, binary values base64."""
    if not attrs:
        return None
    out = {}
    for name, a in attrs.items():
        v: dict = {"DataType": a["DataType"]}
        if a.get("StringValue") is not None:
            v["StringValue"] = a["StringValue"]
        else:
            v["BinaryValue"] = base64.b64encode(bytes(a["BinaryValue"])).decode()
        out[name] = v
    return orjson.dumps(out)


def unpack_attributes(data: bytes | None) -> dict[str, dict]:
    if not data:
        return {}
    out = orjson.loads(data)
    for a in out.values():
        if "BinaryValue" in a:
            a["BinaryValue"] = base64.b64decode(a["BinaryValue"])
    return out


def select_attributes(attrs: dict[str, dict], names: list[str] | None) -> dict[str, dict]:
    """The attributes ReceiveMessage's MessageAttributeNames asks for (`All`, `.*`, `prefix.*`, names)."""
    if not names or not attrs:
        return {}
    if "All" in names or ".*" in names:
        return attrs
    out = {}
    for name, a in attrs.items():
        for want in names:
            if want == name or (want.endswith(".*") and name.startswith(want[:-1])):
                out[name] = a
                break
    return out
