"""Where a template comes from: TemplateBody, or a TemplateURL naming an object in nubis's S3."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

from .clients import Clients
from .errors import validation

MAX_URL_TEMPLATE = 1_000_000


def s3_location(url: str) -> tuple[str, str] | None:
    """(bucket, key) for `s3://b/k`, path-style `http(s)://host[:port]/b/k` (nubis's endpoint or
    s3[.region].amazonaws.com) and virtual-hosted `http(s)://b.s3[.region].amazonaws.com/k` (or .localhost)."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        key = parts.path.lstrip("/")
        return (parts.netloc, unquote(key)) if parts.netloc and key else None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname
    path = unquote(parts.path.lstrip("/"))
    if ".s3." in host or ".s3-" in host:
        bucket = host.split(".s3", 1)[0]
        return (bucket, path) if path else None
    bucket, _, key = path.partition("/")
    return (bucket, key) if bucket and key else None


def fetch(clients: Clients, account: str, region: str, url: str) -> str:
    """The template text at a TemplateURL (blocking); ValidationError as CloudFormation words it."""
    loc = s3_location(url)
    if loc is None:
        raise validation("TemplateURL must be a supported URL.")
    s3 = clients.get("s3", account, region)
    try:
        obj = s3.get_object(Bucket=loc[0], Key=loc[1])
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            raise validation("S3 error: The specified key does not exist.") from None
        raise validation(f"S3 error: {e.response.get('Error', {}).get('Message') or code}") from None
    data = obj["Body"].read(MAX_URL_TEMPLATE + 1)
    if len(data) > MAX_URL_TEMPLATE:
        raise validation("Template may not exceed 1000000 bytes in size.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise validation("Template format error: unsupported structure.") from None
