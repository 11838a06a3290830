"""Ranged and conditional reads and writes, with S3's precedence rules.

Reads (GetObject/HeadObject, and CopyObject's x-amz-copy-source-if-* on the source):
  If-Match false -> 412; else If-Unmodified-Since false (only without If-Match) -> 412;
  If-None-Match matching -> 304; else If-Modified-Since not modified (only without If-None-Match) -> 304.
Timestamps compare at whole seconds, as S3 stores them.
"""
from __future__ import annotations

import datetime as dt
import re

from .errors import invalid_range, precondition_failed

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


def _tags(header: str) -> list[str]:
    out = []
    for part in header.split(","):
        part = part.strip()
        if part.startswith("W/"):
            part = part[2:]
        out.append(part.strip('"'))
    return out


def etag_matches(header: str, etag: str) -> bool:
    want = etag.strip('"')
    return any(t == "*" or t == want for t in _tags(header))


def _seconds(value: dt.datetime | str | float) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


class NotModified(Exception):
    """The conditional GET found nothing new: answer 304 with the object's ETag."""


def check_read(params: dict, etag: str, modified: float, prefix: str = "") -> None:
    """Raise PreconditionFailed or NotModified per the request's conditions.

    `prefix` 'CopySource' reads CopyObject's x-amz-copy-source-if-* members instead.
    """
    names = {"IfMatch": "If-Match", "IfUnmodifiedSince": "If-Unmodified-Since", "IfNoneMatch": "If-None-Match",
             "IfModifiedSince": "If-Modified-Since"}
    get = {k: params.get(prefix + k) for k in names}
    label = (lambda k: f"x-amz-copy-source-{names[k]}") if prefix else (lambda k: names[k])
    mod = int(modified)
    if get["IfMatch"] is not None:
        if not etag_matches(get["IfMatch"], etag):
            raise precondition_failed(label("IfMatch"))
    elif get["IfUnmodifiedSince"] is not None and mod > _seconds(get["IfUnmodifiedSince"]):
        raise precondition_failed(label("IfUnmodifiedSince"))
    if get["IfNoneMatch"] is not None:
        if etag_matches(get["IfNoneMatch"], etag):
            if prefix:
                raise precondition_failed(label("IfNoneMatch"))
            raise NotModified()
    elif get["IfModifiedSince"] is not None and mod <= _seconds(get["IfModifiedSince"]):
        if prefix:
            raise precondition_failed(label("IfModifiedSince"))
        raise NotModified()


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Range header -> (start, end inclusive), None to send the whole object; InvalidRange if unsatisfiable.

    S3 honours one `bytes=` range; anything it cannot parse (several ranges, other units, start > end)
    is ignored and the whole object is returned.
    """
    if not header:
        return None
    m = _RANGE.fullmatch(header)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise invalid_range(header, size)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last != "" else size - 1
    if last != "" and end < start:
        return None
    if start >= size:
        raise invalid_range(header, size)
    return start, min(end, size - 1)
