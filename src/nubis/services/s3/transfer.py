"""Which requests the HTTP server should hand over before their body has arrived.

Object uploads (PutObject, UploadPart) can be up to 5 GB: they are streamed to disk instead of being
buffered. Everything else (and every small upload) keeps the buffered path, so the Invoke fast
path and all non-S3 traffic are untouched. This is asked once per request at header time: keep it cheap.
"""
from __future__ import annotations

STREAM_ABOVE = 1024 * 1024  # smaller uploads are cheaper buffered


def is_s3_request(url: bytes, headers: dict[str, str]) -> bool:
    auth = headers.get("authorization", "")
    if auth:
        return "/s3/aws4_request" in auth or auth.startswith("AWS ")
    if b"X-Amz-Credential=" in url:
        return b"%2Fs3%2Faws4_request" in url or b"/s3/aws4_request" in url
    if b"AWSAccessKeyId=" in url:
        return True
    return ".s3." in headers.get("host", "")


def wants_stream(method: str, url: bytes, headers: dict[str, str]) -> bool:
    if method != "PUT" or "x-amz-copy-source" in headers:
        return False
    length = headers.get("content-length")
    if length is not None:
        try:
            if int(length) <= STREAM_ABOVE:
                return False
        except ValueError:
            return False
    elif "chunked" not in headers.get("transfer-encoding", "").lower():
        return False
    return is_s3_request(url, headers)
