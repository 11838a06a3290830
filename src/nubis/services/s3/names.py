"""Bucket names, ARNs and the object-key encoding S3 uses in listings and event records."""
from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

from .errors import AwsError

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
MAX_KEY_BYTES = 1024


def bucket_name_problem(name: str) -> bool:
    """True when `name` breaks S3's general-purpose bucket naming rules."""
    return (not _BUCKET.fullmatch(name) or ".." in name or ".-" in name or "-." in name
            or bool(_IP.fullmatch(name)) or name.startswith(_RESERVED_PREFIXES)
            or name.endswith(_RESERVED_SUFFIXES))


def check_bucket_name(name: str) -> None:
    if bucket_name_problem(name):
        raise AwsError("InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name)


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def url_encode_key(key: str) -> str:
    """`encoding-type=url` in listings: what botocore decodes with unquote_plus."""
    return quote(key, safe="/-_.~")


def event_key(key: str) -> str:
    """Keys in notification records are URL-encoded with spaces as '+' (decode with unquote_plus)."""
    return quote_plus(key, safe="/")
