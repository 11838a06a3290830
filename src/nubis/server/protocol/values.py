"""Scalar conversions shared by every protocol: text <-> typed values, timestamps, blobs.

Values arrive as text in URIs, query strings, headers and form/XML bodies, and as JSON scalars in
JSON bodies; services want Python values (int, bool, datetime, bytes). Going out, each location has
its own timestamp default (JSON: epoch seconds, query/XML: ISO 8601, headers: RFC 822), which is
what botocore's parsers expect.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import datetime as _dt
import math
from decimal import Decimal
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import orjson

__all__ = [
    "DecodeError",
    "parse_timestamp",
    "format_timestamp",
    "decode_text",
    "encode_text",
    "b64decode",
    "b64encode",
    "float_out",
    "split_header_list",
]

UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)


class DecodeError(ValueError):
    """A wire value does not fit its shape; each protocol maps this to its own AWS error."""


# -- timestamps ------------------------------------------------------------------------------------

def parse_timestamp(value: Any) -> _dt.datetime:
    """Accept every timestamp form AWS clients send (epoch number, ISO 8601, RFC 822) -> aware UTC."""
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise DecodeError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float, Decimal)):
        return _from_epoch(float(value))
    if not isinstance(value, str) or not value.strip():
        raise DecodeError(f"not a timestamp: {value!r}")
    text = value.strip()
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    iso = text[:-1] + "+00:00" if text[-1:] in "zZ" else text
    try:
        parsed = _dt.datetime.fromisoformat(iso)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        raise DecodeError(f"not a timestamp: {value!r}") from None


def _from_epoch(seconds: float) -> _dt.datetime:
    if not math.isfinite(seconds):
        raise DecodeError(f"not a timestamp: {seconds!r}")
    try:
        return _EPOCH + _dt.timedelta(seconds=seconds)
    except OverflowError:
        raise DecodeError(f"timestamp out of range: {seconds!r}") from None


def _to_datetime(value: Any) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    return parse_timestamp(value)


def format_timestamp(value: Any, fmt: str) -> int | float | str:
    """Render a datetime (or epoch number / ISO text) in a model timestampFormat."""
    fmt = fmt.lower()
    if fmt == "unixtimestamp":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        dt = _to_datetime(value).astimezone(UTC)
        secs = calendar.timegm(dt.timetuple())
        return secs + dt.microsecond / 1e6 if dt.microsecond else secs
    dt = _to_datetime(value).astimezone(UTC)
    if fmt == "rfc822":
        return formatdate(calendar.timegm(dt.timetuple()), usegmt=True)
    # iso8601, millisecond precision like AWS
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- blobs and floats ------------------------------------------------------------------------------

def b64decode(text: Any) -> bytes:
    if not isinstance(text, (str, bytes)):
        raise DecodeError(f"expected base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("invalid base64 data") from None


def b64encode(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def float_out(value: Any) -> float | str:
    """JSON cannot carry NaN/Infinity; botocore expects them as strings."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _float_in(text: str) -> float:
    low = text.strip().lower()
    if low in ("nan", "infinity", "-infinity", "inf", "-inf"):
        return float(low.replace("inity", ""))
    return float(text)


# -- text (URI label, query value, header, form and XML values) -------------------------------------

_TRUE = {"true": True, "false": False}


def decode_text(shape: Any, text: str) -> Any:
    """Text from a URI/query/header/form/XML to the shape's Python type (scalars only)."""
    t = shape.type_name
    if t == "string":
        if shape.serialization.get("jsonvalue"):
            try:
                return orjson.loads(base64.b64decode(text))
            except (binascii.Error, ValueError):
                raise DecodeError("invalid JSON value header") from None
        return text
    try:
        if t in ("integer", "long", "short", "byte", "bigInteger"):
            return int(text.strip())
        if t in ("float", "double", "bigDecimal"):
            return _float_in(text)
    except ValueError:
        raise DecodeError(f"'{text}' is not a valid {t}") from None
    if t == "boolean":
        try:
            return _TRUE[text.strip().lower()]
        except KeyError:
            raise DecodeError(f"'{text}' is not a valid boolean") from None
    if t == "timestamp":
        return parse_timestamp(text)
    if t == "blob":
        return b64decode(text)
    return text


def encode_text(shape: Any, value: Any, timestamp_default: str) -> str:
    """A scalar as text for a header, query value or XML node."""
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", timestamp_default)))
    if t == "blob":
        return b64encode(value)
    if t in ("float", "double"):
        out = float_out(value)
        return out if isinstance(out, str) else repr(out)
    if t == "string" and shape.serialization.get("jsonvalue"):
        return b64encode(orjson.dumps(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def split_header_list(text: str) -> list[str]:
    """RFC 7230 comma list with optional quoted strings (how botocore writes header lists)."""
    items: list[str] = []
    buf: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                quoted = False
            else:
                buf.append(c)
        elif c == '"':
            quoted = True
        elif c == ",":
            items.append("".join(buf).strip())
            buf = []
        else:
            buf.append(c)
        i += 1
    last = "".join(buf).strip()
    if last or items:
        items.append(last)
    return items
