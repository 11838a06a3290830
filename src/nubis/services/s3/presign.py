"""Presigned URLs: expiry is enforced as S3 does (signatures are not checked: nubis has no IAM).

SigV4 query auth: X-Amz-Date + X-Amz-Expires (at most 7 days). SigV2 query auth (boto3's default
for S3 presigning): Expires is an absolute epoch time.
"""
from __future__ import annotations

import datetime as dt
import time
from urllib.parse import parse_qs

from ...server.errors import AwsError
from ...server.messages import HttpRequest

WEEK_S = 604800


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_presigned(req: HttpRequest, now: float | None = None) -> None:
    query = req.query
    if not query or ("X-Amz-Expires" not in query and "Expires=" not in query):
        return
    q = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    now = time.time() if now is None else now
    if "X-Amz-Expires" in q and "X-Amz-Date" in q:
        try:
            expires_s = int(q["X-Amz-Expires"])
            signed = dt.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            raise AwsError("AuthorizationQueryParametersError", "X-Amz-Expires should be a number" if
                           not q["X-Amz-Expires"].lstrip("-").isdigit() else "X-Amz-Date must be in the ISO8601 "
                           "Long Format \"yyyyMMdd'T'HHmmss'Z'\"", 400) from None
        if expires_s < 0:
            raise AwsError("AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative", 400)
        if expires_s > WEEK_S:
            raise AwsError("AuthorizationQueryParametersError", "X-Amz-Expires must be less than a week (in seconds) "
                           "that is; 7 days or 604800 seconds", 400)
        deadline = signed.timestamp() + expires_s
        if now > deadline:
            raise AwsError("AccessDenied", "Request has expired", 403, **{
                "X-Amz-Expires": str(expires_s), "Expires": _iso(deadline), "ServerTime": _iso(now)})
    elif "Expires" in q and ("AWSAccessKeyId" in q or "Signature" in q):
        try:
            deadline = float(q["Expires"])
        except ValueError:
            raise AwsError("AccessDenied", "Query-string authentication requires the Signature, Expires and "
                           "AWSAccessKeyId parameters", 403) from None
        if now > deadline:
            raise AwsError("AccessDenied", "Request has expired", 403, Expires=_iso(deadline), ServerTime=_iso(now))
