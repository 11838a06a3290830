"""Who is calling and where: account and region derived from the SigV4 credential scope."""
from __future__ import annotations

import re
import uuid
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


@dataclass(slots=True)
class RequestContext:
    account: str
    region: str
    service: str
    endpoint: str  # base URL clients reach this server at, e.g. http://127.0.0.1:8750
    body_size: int = 0  # bytes of the request body, for services whose limits are on the whole request
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    http: Any = None  # the HttpRequest itself, for services that need more than the params (S3: query auth)
