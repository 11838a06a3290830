"""S3's legacy signature version 2 (`Authorization: AWS key:sig`, and boto3's default presigned URLs
`?AWSAccessKeyId=..&Expires=..&Signature=..`), verified for known keys as S3 does.

StringToSign = Verb \\n Content-MD5 \\n Content-Type \\n Date (or Expires) \\n x-amz-* headers \\n resource,
where the resource is the bucket-qualified path plus the sub-resources S3 signs (botocore's list).
"""
from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
from urllib.parse import quote, unquote

from botocore.auth import HmacV1Auth

from . import auth_errors
from .errors import AwsError
from .messages import HttpRequest

_SUBRESOURCES = frozenset(HmacV1Auth.QSAOfInterest)


def check_sigv2(req: HttpRequest, auth: str | None, query: dict[str, str] | None, secret: str, path: str,
                now: float, max_skew_s: int) -> None:
    """Raise S3's error unless the SigV2 signature of `req` (header `auth` or presigned `query`) is right."""
    headers = req.headers
    if auth is not None:
        access_key, _, provided = auth[4:].strip().rpartition(":")
        date = "" if "x-amz-date" in headers else headers.get("date", "")
        stamp = headers.get("x-amz-date") or headers.get("date", "")
        try:
            t = email.utils.parsedate_to_datetime(stamp).timestamp() if stamp else None
        except (TypeError, ValueError):
            t = None
        if t is None:
            raise AwsError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403)
        if abs(now - t) > max_skew_s:
            raise auth_errors.too_skewed("s3", stamp, t, now, max_skew_s)
    else:
        assert query is not None
        access_key, provided, date = query["AWSAccessKeyId"], query["Signature"], query.get("Expires", "")
    signed = {k: v.strip() for k, v in headers.items() if k.startswith("x-amz-") or k in ("content-md5",
                                                                                         "content-type")}
    if query is not None:  # presigning moves the signed x-amz-*, Content-Type and Content-MD5 into the query
        for k, v in query.items():
            lk = k.lower()
            if lk.startswith("x-amz-") or lk in ("content-md5", "content-type"):
                signed.setdefault(lk, v.strip())
    amz = sorted((k, v) for k, v in signed.items() if k.startswith("x-amz-"))
    head = (f"{req.method}\n{signed.get('content-md5', '')}\n{signed.get('content-type', '')}\n{date}\n"
            + "".join(f"{k}:{v}\n" for k, v in amz))
    first = None
    for resource in _resources(path, req.query):
        sts = head + resource
        expected = base64.b64encode(hmac.new(secret.encode(), sts.encode("utf-8"), hashlib.sha1).digest()).decode()
        if hmac.compare_digest(expected, provided):
            return
        first = first or sts
    raise auth_errors.signature_mismatch("s3", access_key, first or "", provided, None)


def _resources(path: str, raw_query: str) -> list[str]:
    subs = []
    for item in raw_query.split("&") if raw_query else ():
        k, eq, v = item.partition("=")
        if k in _SUBRESOURCES:
            subs.append((k, f"{k}={unquote(v)}" if eq else k))
    suffix = ("?" + "&".join(s for _, s in sorted(subs))) if subs else ""
    paths = [path]
    canonical = quote(unquote(path), safe="/~")
    if canonical != path:
        paths.append(canonical)
    return [p + suffix for p in paths]
