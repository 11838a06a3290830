"""Shape-directed conversion between JSON values and the params/results services use.

Shared by the `json` and `rest-json` protocols. JSON already carries most types; the shape supplies
the rest: blobs are base64 text, timestamps are epoch numbers (or the member's timestampFormat),
members may be renamed on the wire (`locationName`), floats may be "NaN"/"Infinity".
Decoding is lenient the way AWS's Jackson-based front ends are (numbers as strings, strings from
numbers); anything that cannot fit raises DecodeError with a Jackson-like description.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

from .values import DecodeError, b64decode, b64encode, float_out, format_timestamp, parse_timestamp

__all__ = ["decode_json", "encode_json", "wire_members"]

_wire_cache: dict[int, tuple[Any, dict[str, tuple[str, Any]]]] = {}


def wire_members(shape: Any) -> dict[str, tuple[str, Any]]:
    """wire name -> (member name, member shape) for a structure; cached per shape object."""
    hit = _wire_cache.get(id(shape))
    if hit is not None and hit[0] is shape:
        return hit[1]
    table = {m.serialization.get("name", name): (name, m) for name, m in shape.members.items()}
    _wire_cache[id(shape)] = (shape, table)  # keeps the shape alive so its id stays unique
    return table


_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def _type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


# -- decoding (request) ------------------------------------------------------------------------------

def decode_json(shape: Any, value: Any, path: str = "") -> Any:
    """A parsed JSON value -> Python value for `shape` (None stays None)."""
    if value is None:
        return None
    return _DECODERS.get(shape.type_name, _dec_passthrough)(shape, value, path)


def _dec_structure(shape: Any, value: Any, path: str) -> Any:
    if shape.is_document_type:
        return value
    if not isinstance(value, dict):
        raise DecodeError(f"Cannot deserialize {_type_name(value)} into structure at '{path or '$'}'")
    table = wire_members(shape)
    out: dict[str, Any] = {}
    for key, raw in value.items():
        if raw is None:
            continue
        entry = table.get(key)
        if entry is None:
            continue  # unknown members are ignored, as AWS does
        name, member = entry
        out[name] = _DECODERS.get(member.type_name, _dec_passthrough)(member, raw, f"{path}.{key}" if path else key)
    return out


def _dec_list(shape: Any, value: Any, path: str) -> Any:
    if not isinstance(value, list):
        raise DecodeError(f"Cannot deserialize {_type_name(value)} into list at '{path}'")
    member = shape.member
    dec = _DECODERS.get(member.type_name, _dec_passthrough)
    return [None if v is None else dec(member, v, f"{path}[{i}]") for i, v in enumerate(value)]


def _dec_map(shape: Any, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise DecodeError(f"Cannot deserialize {_type_name(value)} into map at '{path}'")
    vshape = shape.value
    dec = _DECODERS.get(vshape.type_name, _dec_passthrough)
    return {k: dec(vshape, v, f"{path}.{k}") for k, v in value.items() if v is not None}


def _dec_string(shape: Any, value: Any, path: str) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # Jackson coerces scalars to String
    raise DecodeError(f"Cannot deserialize {_type_name(value)} into String at '{path}'")


def _dec_integer(shape: Any, value: Any, path: str) -> Any:
    if isinstance(value, bool):
        raise DecodeError(f"Cannot deserialize boolean into {shape.type_name} at '{path}'")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise DecodeError(f"Cannot deserialize {_type_name(value)} {value!r} into {shape.type_name} at '{path}'")


def _dec_float(shape: Any, value: Any, path: str) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("nan", "infinity", "-infinity"):
            return float(low.replace("inity", ""))
        try:
            return float(value)
        except ValueError:
            pass
    raise DecodeError(f"Cannot deserialize {_type_name(value)} {value!r} into {shape.type_name} at '{path}'")


def _dec_boolean(shape: Any, value: Any, path: str) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise DecodeError(f"Cannot deserialize {_type_name(value)} {value!r} into boolean at '{path}'")


def _dec_blob(shape: Any, value: Any, path: str) -> Any:
    try:
        return b64decode(value)
    except DecodeError as e:
        raise DecodeError(f"{e} at '{path}'") from None


def _dec_timestamp(shape: Any, value: Any, path: str) -> Any:
    try:
        return parse_timestamp(value)
    except DecodeError as e:
        raise DecodeError(f"{e} at '{path}'") from None


def _dec_passthrough(shape: Any, value: Any, path: str) -> Any:
    return value


_DECODERS: dict[str, Callable[[Any, Any, str], Any]] = {
    "structure": _dec_structure,
    "list": _dec_list,
    "map": _dec_map,
    "string": _dec_string,
    "integer": _dec_integer,
    "long": _dec_integer,
    "short": _dec_integer,
    "byte": _dec_integer,
    "float": _dec_float,
    "double": _dec_float,
    "boolean": _dec_boolean,
    "blob": _dec_blob,
    "timestamp": _dec_timestamp,
}


# -- encoding (response) -------------------------------------------------------------------------------

def encode_json(shape: Any, value: Any) -> Any:
    """A service value -> JSON-ready value for `shape` (None members are dropped)."""
    return _ENCODERS.get(shape.type_name, _enc_passthrough)(shape, value)


def _enc_structure(shape: Any, value: Any) -> Any:
    if shape.is_document_type:
        return value
    members = shape.members
    out: dict[str, Any] = {}
    for name, v in value.items():
        if v is None:
            continue
        member = members.get(name)
        if member is None:
            continue
        out[member.serialization.get("name", name)] = _ENCODERS.get(member.type_name, _enc_passthrough)(member, v)
    return out


def _enc_list(shape: Any, value: Any) -> Any:
    member = shape.member
    enc = _ENCODERS.get(member.type_name, _enc_passthrough)
    return [None if v is None else enc(member, v) for v in value]


def _enc_map(shape: Any, value: Any) -> Any:
    vshape = shape.value
    enc = _ENCODERS.get(vshape.type_name, _enc_passthrough)
    return {str(k): enc(vshape, v) for k, v in value.items() if v is not None}


def _enc_blob(shape: Any, value: Any) -> Any:
    return b64encode(value)


def _enc_timestamp(shape: Any, value: Any) -> Any:
    return format_timestamp(value, shape.serialization.get("timestampFormat", "unixTimestamp"))


def _enc_float(shape: Any, value: Any) -> Any:
    return float_out(value)


def _enc_integer(shape: Any, value: Any) -> Any:
    return int(value) if isinstance(value, (Decimal, float)) else value


def _enc_passthrough(shape: Any, value: Any) -> Any:
    return value


_ENCODERS: dict[str, Callable[[Any, Any], Any]] = {
    "structure": _enc_structure,
    "list": _enc_list,
    "map": _enc_map,
    "blob": _enc_blob,
    "timestamp": _enc_timestamp,
    "float": _enc_float,
    "double": _enc_float,
    "integer": _enc_integer,
    "long": _enc_integer,
}
