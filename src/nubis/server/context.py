"""Who is calling and where: account and region derived from the SigV4 credential scope."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ACCOUNT = "000000000000"
DEFAULT_REGION = "us-east-1"

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_ACCOUNT_KEY = re.compile(r"\d{12}")


@dataclass(frozen=True, slots=True)
class SigV4Scope:
    access_key: str
    region: str
    service: str


def parse_scope(authorization: str | None, query: str = "") -> SigV4Scope | None:
    """Read the credential scope from an Authorization header or a presigned query string.

    S3 still accepts signature version 2 (`Authorization: AWS <key>:<sig>`, and boto3's default presigned
    URLs, `?AWSAccessKeyId=<key>&Expires=..&Signature=..`); those carry no scope, so they are S3's.
    """
    text = authorization or ""
    if text.startswith("AWS "):
        return SigV4Scope(access_key=text[4:].split(":", 1)[0].strip(), region=DEFAULT_REGION, service="s3")
    if not text and "AWSAccessKeyId=" in query and "X-Amz-Credential=" not in query:
        from urllib.parse import parse_qs

        key = parse_qs(query).get("AWSAccessKeyId", [""])[0]
        return SigV4Scope(access_key=key, region=DEFAULT_REGION, service="s3")
    if not text and "X-Amz-Credential=" in query:
        from urllib.parse import parse_qs

        cred = parse_qs(query).get("X-Amz-Credential", [""])[0]
        text = f"Credential={cred}"
    m = _CREDENTIAL.search(text)
    if not m:
        return None
    return SigV4Scope(access_key=m.group(1), region=m.group(3), service=m.group(4))


def account_for(access_key: str | None) -> str:
    """A 12-digit access key id *is* the account, so tenants and tests can be kept apart."""
    if access_key and _ACCOUNT_KEY.fullmatch(access_key):
        return access_key
    return DEFAULT_ACCOUNT


class _RandomPool:
    """Kernel randomness read 4 KiB at a time: one getrandom(2) per 256 request ids rather than
    one per request (uuid.uuid4 reads 16 bytes each time). Emptied in a forked child."""

    SIZE = 4096

    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.clear)

    def clear(self) -> None:
        self.buf, self.pos = b"", 0

    def take16(self) -> bytes:
        pos = self.pos
        if pos + 16 > len(self.buf):
            self.buf, pos = os.urandom(self.SIZE), 0
        self.pos = pos + 16
        return self.buf[pos:pos + 16]


_POOL = _RandomPool()
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def new_request_id() -> str:
    """A random (version 4, RFC 4122 variant) UUID in its text form, like ``str(uuid.uuid4())``."""
    h = _POOL.take16().hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


@dataclass(slots=True)
class RequestContext:
    account: str
    region: str
    service: str
    endpoint: str  # base URL clients reach this server at, e.g. http://127.0.0.1:8750
    body_size: int = 0  # bytes of the request body, for services whose limits are on the whole request
    request_id: str = field(default_factory=new_request_id)
    http: Any = None  # the HttpRequest itself, for services that need more than the params (S3: query auth)
