"""Pagination tokens: opaque to clients, but each one encodes a position, not a server-side cursor.

A position survives restarts and new events, which is what makes GetLogEvents forward polling work:
the same token comes back until something newer than it exists.
"""
from __future__ import annotations

import base64
import re
from typing import NamedTuple

from .errors import invalid_token


class Position(NamedTuple):
    """A place in (timestamp, row id) order; page tokens use it as an exclusive bound."""

    ts: int
    id: int


LIMIT = 2**62                 # beyond any real timestamp or row id, and inside SQLite's int64
START = Position(-1, 0)       # before every event
END = Position(LIMIT, LIMIT)  # after every event

_STREAM_TOKEN = re.compile(r"([fb])/(\d{20})(\d{20})/s")


def stream_token(direction: str, pos: Position) -> str:
    """GetLogEvents tokens, shaped like AWS's (`f/<digits>/s`, `b/<digits>/s`)."""
    return f"{direction}/{pos.ts + 1:020d}{pos.id:020d}/s"


def parse_stream_token(token: str) -> tuple[str, Position]:
    m = _STREAM_TOKEN.fullmatch(token)
    if not m:
        raise invalid_token()
    pos = Position(int(m.group(2)) - 1, int(m.group(3)))
    if pos.ts > LIMIT or pos.id > LIMIT + 1:
        raise invalid_token()
    return m.group(1), pos


def opaque(kind: str, *parts: object) -> str:
    raw = "\x1f".join([kind, *map(str, parts)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_opaque(token: str, kind: str, count: int) -> list[str]:
    """The parts of a token made by `opaque(kind, ...)`; anything else is InvalidParameterException."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid_token() from None
    parts = raw.split("\x1f")
    if parts[0] != kind or len(parts) != count + 1:
        raise invalid_token()
    return parts[1:]


def parse_int(text: str) -> int:
    if not re.fullmatch(r"-?\d{1,19}", text) or abs(int(text)) > LIMIT:
        raise invalid_token()
    return int(text)
