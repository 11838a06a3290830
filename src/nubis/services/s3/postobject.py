"""Browser uploads: POST Object with an HTML form (multipart/form-data) and a POST policy.

The botocore model has no operation for it, so the provider claims `POST /<bucket>` form uploads
before API routing (the edge's host_route hook; virtual-hosted requests are already path-style by
then). The policy's expiration and its conditions (eq, starts-with, content-length-range) are
enforced as S3 does; signatures are not checked (nubis has no IAM). Notifications say
`ObjectCreated:Post`.
"""
from __future__ import annotations

import base64
import datetime as dt
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import orjson

from ...server.context import DEFAULT_REGION, RequestContext, account_for, parse_scope
from ...server.errors import AwsError
from ...server.http import MAX_BODY
from ...server.messages import HttpRequest, HttpResponse
from ...server.protocol import REQUEST_ID_KEY
from ...server.protocol.xmlshape import xml_text
from . import errors
from .objects import MAX_PUT, check_key

if TYPE_CHECKING:
    from .provider import S3Provider


def parse_form(body: bytes, content_type: str) -> tuple[dict[str, str], tuple[str, str, bytes] | None]:
    """Fields before the file (lower-cased names), and the file as (filename, content type, bytes)."""
    boundary = ""
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise errors.malformed_post("no boundary")
    fields: dict[str, str] = {}
    delimiter = b"--" + boundary.encode("latin-1")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part[2:] if part.startswith(b"\r\n") else part
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        data = data[:-2] if data.endswith(b"\r\n") else data
        name, filename, ctype = "", None, "binary/octet-stream"
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                for item in value.split(";")[1:]:
                    k, _, v = item.strip().partition("=")
                    if k.lower() == "name":
                        name = v.strip('"')
                    elif k.lower() == "filename":
                        filename = v.strip('"')
            elif key.strip().lower() == "content-type":
                ctype = value.strip()
        if name.lower() == "file":
            return fields, (filename or "", ctype, data)  # S3 ignores fields after the file
        fields[name.lower()] = data.decode("utf-8", "replace")
    return fields, None


def _check_policy(fields: dict[str, str], bucket: str, size: int) -> None:
    raw = fields.get("policy")
    if not raw:
        return
    try:
        policy = orjson.loads(base64.b64decode(raw))
    except Exception:
        raise errors.invalid_policy("Invalid Policy: Invalid JSON.") from None
    expiration = policy.get("expiration")
    if not expiration:
        raise errors.invalid_policy("Invalid Policy: Policy missing expiration.")
    try:
        expires = dt.datetime.fromisoformat(expiration.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise errors.invalid_policy("Invalid Policy: Invalid 'expiration' value: '" + expiration + "'") from None
    if time.time() > expires:
        raise AwsError("AccessDenied", "Invalid according to Policy: Policy expired.", 403)
    values = dict(fields, bucket=bucket)
    for cond in policy.get("conditions") or []:
        if isinstance(cond, dict):
            cond = ["eq", f"${next(iter(cond))}", next(iter(cond.values()))] if cond else None
        if not cond:
            continue
        op = str(cond[0]).lower()
        if op == "content-length-range":
            low, high = int(cond[1]), int(cond[2])
            if size > high:
                raise AwsError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400,
                               ProposedSize=str(size), MaxSizeAllowed=str(high))
            if size < low:
                raise AwsError("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                               400, ProposedSize=str(size), MinSizeAllowed=str(low))
            continue
        field = str(cond[1]).lstrip("$").lower()
        got = values.get(field, "")
        if (op == "eq" and got != cond[2]) or (op == "starts-with" and not got.startswith(cond[2])):
            raise AwsError("AccessDenied", "Invalid according to Policy: Policy Condition failed: "
                           f"[\"{cond[0]}\", \"{cond[1]}\", \"{cond[2]}\"]", 403)


class PostObjectOps:
    def post_object_route(self: S3Provider, req: HttpRequest) -> Any:
        if req.method != "POST" or not req.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return None
        name = unquote(req.path.strip("/"))
        if not name or "/" in name or ".lambda-url." in req.headers.get("host", ""):
            return None
        bucket = self.store.bucket(name)
        if bucket is None:
            return None  # not ours to answer: another service may own this path
        return self.post_object(req, name)

    async def post_object(self: S3Provider, req: HttpRequest, bucket_name: str) -> HttpResponse:
        ctx = RequestContext(account="", region=DEFAULT_REGION, service="s3", endpoint="", http=req)
        try:
            if req.body_too_large:
                raise errors.entity_too_large(req.body_too_large, MAX_BODY)
            fields, upload = parse_form(req.body, req.headers.get("content-type", ""))
            credential = fields.get("x-amz-credential")
            scope = parse_scope(f"Credential={credential}" if credential else "",
                                f"AWSAccessKeyId={quote(fields['awsaccesskeyid'])}"
                                if "awsaccesskeyid" in fields else "")
            ctx.account = account_for(scope.access_key if scope else None)
            if upload is None:
                raise errors.invalid_argument("POST requires exactly one file upload per request.", "file", "0")
            if "key" not in fields:
                raise errors.invalid_argument("Bucket POST must contain a field named 'key'.  If it is specified, "
                                              "please check the order of the fields.", "key", "")
            filename, file_type, data = upload
            key = fields["key"].replace("${filename}", filename)
            check_key(key)
            if len(data) > MAX_PUT:
                raise errors.entity_too_large(len(data), MAX_PUT)
            _check_policy(fields, bucket_name, len(data))
            bucket = self.bucket_for(ctx, bucket_name)
            params: dict[str, Any] = {"ContentType": fields.get("content-type") or file_type,
                                      "Metadata": {k[len("x-amz-meta-"):]: v for k, v in fields.items()
                                                   if k.startswith("x-amz-meta-")},
                                      "Tagging": None}
            for member, field in (("CacheControl", "cache-control"), ("ContentDisposition", "content-disposition"),
                                  ("ContentEncoding", "content-encoding"), ("StorageClass", "x-amz-storage-class")):
                if fields.get(field):
                    params[member] = fields[field]
            meta = self.stored_meta(params)
            written = await self.files.receive(data)
            obj = self.new_version(bucket, key, written.size, f'"{written.md5}"', meta)
            await self.store_object(ctx, bucket, obj, written, "ObjectCreated:Post")
        except AwsError as err:
            err.fields.setdefault(REQUEST_ID_KEY, ctx.request_id)
            return self.protocol.serialize_error(err, None)
        host = req.headers.get("host", "localhost")
        location = f"http://{host}/{quote(bucket_name)}/{quote(key)}"
        headers = [("ETag", obj.etag), ("Location", location), ("x-amz-request-id", ctx.request_id)]
        if bucket.versioned:
            headers.append(("x-amz-version-id", obj.version_id))
        redirect = fields.get("success_action_redirect") or fields.get("redirect")
        if redirect:
            sep = "&" if "?" in redirect else "?"
            target = f"{redirect}{sep}bucket={quote(bucket_name)}&key={quote(key)}&etag={quote(obj.etag)}"
            return HttpResponse(303, headers + [("Location", target)], b"")
        status = fields.get("success_action_status", "204")
        if status == "201":
            body = (f'<?xml version="1.0" encoding="UTF-8"?><PostResponse><Location>{xml_text(location)}</Location>'
                    f"<Bucket>{xml_text(bucket_name)}</Bucket><Key>{xml_text(key)}</Key>"
                    f"<ETag>{xml_text(obj.etag)}</ETag></PostResponse>")
            return HttpResponse(201, headers + [("Content-Type", "application/xml")], body.encode())
        return HttpResponse(200 if status == "200" else 204, headers, b"")
