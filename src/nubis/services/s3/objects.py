"""Objects: put, get (ranged, conditional, streamed), head, delete (versions, delete markers), copy."""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...server.context import RequestContext
from ...server.errors import AwsError
from ...server.messages import HttpResponse
from ...server.protocol.values import format_timestamp
from . import errors
from .conditions import NotModified, check_read, etag_matches, parse_range
from .errors import S3Error
from .files import INLINE_MAX, ObjectFiles, Written
from .names import MAX_KEY_BYTES
from .store import Bucket, ObjectVersion
from .tagging import tags_from_header

if TYPE_CHECKING:
    from .provider import S3Provider

MAX_PUT = 5 * 1024 ** 3  # single PUT / part / copy source limit
CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
_HEADER_MEMBERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
                   "WebsiteRedirectLocation")
_OVERRIDES = {"ResponseCacheControl": "CacheControl", "ResponseContentDisposition": "ContentDisposition",
              "ResponseContentEncoding": "ContentEncoding", "ResponseContentLanguage": "ContentLanguage",
              "ResponseContentType": "ContentType"}


@dataclass
class StreamBody:
    """A GET body too large to inline: opened when the response is written."""

    files: ObjectFiles
    name: str
    start: int
    length: int

    def open(self) -> AsyncIterator[bytes]:
        return self.files.stream(self.name, self.start, self.length)


def check_key(key: str) -> None:
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise errors.key_too_long(size)


def new_version_id() -> str:
    return secrets.token_urlsafe(24)


def _checksum_algorithms(p: dict, trailer: str | None) -> set[str]:
    algos = {a for a in CHECKSUM_ALGORITHMS if p.get(f"Checksum{a}")}
    if p.get("ChecksumAlgorithm"):
        algos.add(p["ChecksumAlgorithm"].upper())
    for name in (trailer or "").split(","):
        name = name.strip().lower()
        if name.startswith("x-amz-checksum-"):
            algos.add(name.removeprefix("x-amz-checksum-").upper())
    return algos


def _md5_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


class ObjectOps:
    # -- helpers shared by every way an object is written
    def stored_meta(self: S3Provider, p: dict) -> dict:
        meta: dict[str, Any] = {"ContentType": p.get("ContentType") or "binary/octet-stream"}
        if p.get("Metadata"):
            meta["Metadata"] = {k.lower(): v for k, v in p["Metadata"].items()}
        headers = {k: p[k] for k in _HEADER_MEMBERS if p.get(k)}
        if p.get("Expires") is not None:
            headers["Expires"] = str(format_timestamp(p["Expires"], "rfc822"))
        if headers:
            meta["Headers"] = headers
        storage = p.get("StorageClass")
        if storage and storage != "STANDARD":
            meta["StorageClass"] = storage
        tags = tags_from_header(p.get("Tagging"))
        if tags:
            meta["Tags"] = tags
        return meta

    async def receive_body(self: S3Provider, ctx: RequestContext, p: dict, limit: int) -> tuple[Written, dict]:
        """The request body on disk (temp), verified against Content-Length, Content-MD5 and checksums."""
        declared = p.get("ContentLength")
        if declared is not None and declared > limit:
            raise errors.entity_too_large(declared, limit)
        body = p.get("Body")
        trailer = ctx.http.headers.get("x-amz-trailer") if ctx.http is not None else None
        algos = _checksum_algorithms(p, trailer)
        written = await self.files.receive(body, algos, limit)
        try:
            if written.size > limit:
                raise errors.entity_too_large(written.size, limit)
            if declared is not None and not isinstance(body, (bytes, bytearray)) and body is not None \
                    and written.size != declared:
                raise errors.incomplete_body(f"received {written.size} of {declared} bytes")
            md5 = p.get("ContentMD5")
            if md5:
                try:
                    raw = base64.b64decode(md5, validate=True)
                except (binascii.Error, ValueError):
                    raw = b""
                if len(raw) != 16:
                    raise errors.invalid_digest(md5)
                if raw.hex() != written.md5:
                    raise errors.bad_digest_md5(md5, _md5_b64(written.md5))
            trailers = getattr(body, "trailers", None) or {}
            checksums: dict[str, str] = {}
            for algo in algos:
                given = p.get(f"Checksum{algo}") or trailers.get(f"x-amz-checksum-{algo.lower()}")
                computed = written.checksums.get(algo)
                if given and computed and given != computed:
                    raise errors.bad_checksum(algo)
                if given or computed:
                    checksums[f"Checksum{algo}"] = given or computed
            return written, checksums
        except BaseException:
            self.files.discard(written)
            raise

    def new_version(self: S3Provider, bucket: Bucket, key: str, size: int, etag: str, meta: dict) -> ObjectVersion:
        version_id = new_version_id() if bucket.versioning == "Enabled" else "null"
        return ObjectVersion(bucket.name, key, version_id, self.store.next_seq(), True, False, size, etag,
                             float(int(time.time())), None, meta)

    async def store_object(self: S3Provider, ctx: RequestContext, bucket: Bucket, obj: ObjectVersion,
                           written: Written | None, event: str) -> None:
        """Commit a new latest version (its file first, then its row and its notifications together)."""
        if written is not None:
            try:
                obj.file = self.files.commit(written)
            except BaseException:
                self.files.discard(written)
                raise
        events = self.object_events(ctx, bucket, event, obj)
        try:
            replaced = self.store.put_version(obj, events)
        except BaseException:
            self.files.remove([obj.file])
            raise
        self.files.remove(replaced)
        self.wake_outbox(events)

    def version_header(self: S3Provider, bucket: Bucket, obj: ObjectVersion) -> dict:
        return {"VersionId": obj.version_id} if bucket.versioned else {}

    def read_target(self: S3Provider, bucket: Bucket, key: str, version_id: str | None,
                    method: str = "GET") -> ObjectVersion:
        """The version a read names (latest by default); S3's errors for missing keys and delete markers."""
        if version_id:
            obj = self.store.version(bucket.name, key, version_id)
            if obj is None:
                if not bucket.versioned and version_id != "null":
                    raise errors.invalid_version(version_id)
                raise errors.no_such_version(key, version_id)
            if obj.delete_marker:
                raise S3Error(errors.method_not_allowed(method, "DeleteMarker"),
                              [("x-amz-delete-marker", "true"), ("x-amz-version-id", obj.version_id),
                               ("Last-Modified", str(format_timestamp(obj.modified, "rfc822")))])
            return obj
        obj = self.store.latest(bucket.name, key)
        if obj is None:
            raise errors.no_such_key(key)
        if obj.delete_marker:
            raise S3Error(errors.no_such_key(key), [("x-amz-delete-marker", "true"),
                                                    ("x-amz-version-id", obj.version_id)])
        return obj

    def object_headers(self: S3Provider, bucket: Bucket, obj: ObjectVersion, p: dict | None = None) -> dict:
        meta = obj.meta
        out: dict[str, Any] = {"ETag": obj.etag, "LastModified": obj.modified, "ContentLength": obj.size,
                               "ContentType": meta.get("ContentType", "binary/octet-stream"),
                               "AcceptRanges": "bytes", "ServerSideEncryption": "AES256"}
        out.update(meta.get("Headers") or {})
        if meta.get("Metadata"):
            out["Metadata"] = dict(meta["Metadata"])
        if meta.get("StorageClass"):
            out["StorageClass"] = meta["StorageClass"]
        if meta.get("Tags"):
            out["TagCount"] = len(meta["Tags"])
        if bucket.versioned:
            out["VersionId"] = obj.version_id
        if p is not None:
            for param, member in _OVERRIDES.items():
                if p.get(param):
                    out[member] = p[param]
            if p.get("ResponseExpires") is not None:
                out["Expires"] = str(format_timestamp(p["ResponseExpires"], "rfc822"))
            if (p.get("ChecksumMode") or "").upper() == "ENABLED" and meta.get("Checksums"):
                out.update(meta["Checksums"])
                out["ChecksumType"] = meta.get("ChecksumType", "FULL_OBJECT")
        return out

    # -- operations
    async def put_object(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        key = p["Key"]
        check_key(key)
        meta = self.stored_meta(p)
        self.check_write_conditions(bucket, key, p)
        written, checksums = await self.receive_body(ctx, p, MAX_PUT)
        if checksums:
            meta["Checksums"] = checksums
        obj = self.new_version(bucket, key, written.size, f'"{written.md5}"', meta)
        self.check_write_conditions(bucket, key, p, written)  # again: another writer may have won meanwhile
        await self.store_object(ctx, bucket, obj, written, "ObjectCreated:Put")
        out = {"ETag": obj.etag, "ServerSideEncryption": "AES256", **self.version_header(bucket, obj), **checksums}
        if checksums:
            out["ChecksumType"] = "FULL_OBJECT"
        return out

    def check_write_conditions(self: S3Provider, bucket: Bucket, key: str, p: dict,
                               written: Written | None = None) -> None:
        """Conditional writes: If-None-Match: * (create only) and If-Match: <etag> (replace only that)."""
        if p.get("IfNoneMatch") is None and p.get("IfMatch") is None:
            return
        current = self.store.latest(bucket.name, key)
        exists = current is not None and not current.delete_marker
        try:
            if p.get("IfNoneMatch") is not None:
                if p["IfNoneMatch"].strip() != "*":
                    raise AwsError("NotImplemented", "A header you provided implies functionality that is not "
                                   "implemented", 501, Header="If-None-Match")
                if exists:
                    raise errors.precondition_failed("If-None-Match")
            if p.get("IfMatch") is not None:
                if not exists:
                    raise errors.no_such_key(key)
                if not etag_matches(p["IfMatch"], current.etag):  # type: ignore[union-attr]
                    raise errors.precondition_failed("If-Match")
        except AwsError:
            if written is not None:
                self.files.discard(written)
            raise

    async def get_object(self: S3Provider, ctx: RequestContext, p: dict) -> dict | HttpResponse:
        return self._read(ctx, p, head=False)

    async def head_object(self: S3Provider, ctx: RequestContext, p: dict) -> dict | HttpResponse:
        return self._read(ctx, p, head=True)

    def _read(self: S3Provider, ctx: RequestContext, p: dict, head: bool) -> dict | HttpResponse:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        obj = self.read_target(bucket, p["Key"], p.get("VersionId"), "HEAD" if head else "GET")
        try:
            check_read(p, obj.etag, obj.modified)
        except NotModified:
            op = self.protocol.operation("HeadObject" if head else "GetObject")
            return self.protocol.serialize(op, {"ETag": obj.etag, "LastModified": obj.modified,
                                                "__request_id__": ctx.request_id}, 304)
        out = self.object_headers(bucket, obj, p)
        start, length = 0, obj.size
        parts = obj.meta.get("Parts")
        if p.get("PartNumber") is not None:
            number = p["PartNumber"]
            sizes = parts or [obj.size]
            if not 1 <= number <= 10000:
                raise errors.invalid_argument("Part number must be an integer between 1 and 10000, inclusive",
                                              "partNumber", str(number))
            if number > len(sizes):
                raise AwsError("InvalidPartNumber", "The requested partnumber is not satisfiable", 416,
                               PartNumberRequested=str(number), ActualPartCount=str(len(sizes)))
            start, length = sum(sizes[:number - 1]), sizes[number - 1]
            if parts:
                out["PartsCount"] = len(parts)
            if length:
                out["ContentRange"] = f"bytes {start}-{start + length - 1}/{obj.size}"
            out["__status__"] = 206
        else:
            rng = parse_range(p.get("Range"), obj.size)
            if rng is not None:
                start, length = rng[0], rng[1] - rng[0] + 1
                out["ContentRange"] = f"bytes {rng[0]}-{rng[1]}/{obj.size}"
                out["__status__"] = 206
                for name in CHECKSUM_ALGORITHMS:  # a range has no whole-object checksum
                    out.pop(f"Checksum{name}", None)
                out.pop("ChecksumType", None)
        out["ContentLength"] = length
        if not head:
            if length <= INLINE_MAX:
                out["Body"] = self.files.read_small(obj.file, start, length) if length and obj.file else b""
            else:
                out["Body"] = StreamBody(self.files, obj.file, start, length)  # type: ignore[arg-type]
        out = {k: v for k, v in out.items() if v is not None}
        return out

    async def delete_object(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        if p.get("IfMatch") is not None:
            current = self.store.latest(bucket.name, p["Key"])
            if current is None or current.delete_marker:
                raise errors.no_such_key(p["Key"])
            if not etag_matches(p["IfMatch"], current.etag):
                raise errors.precondition_failed("If-Match")
        return self.delete_one(ctx, bucket, p["Key"], p.get("VersionId"))

    def delete_one(self: S3Provider, ctx: RequestContext, bucket: Bucket, key: str, version_id: str | None) -> dict:
        """DeleteObject's semantics for one key; the result members of DeleteObject (and of DeleteObjects)."""
        if version_id:
            obj = self.store.version(bucket.name, key, version_id)
            if obj is None:
                if not bucket.versioned and version_id != "null":
                    raise errors.invalid_version(version_id)
                return {"VersionId": version_id}
            events = self.object_events(ctx, bucket, "ObjectRemoved:Delete", obj)
            self.store.delete_version(obj, events)
            self.files.remove([obj.file])
            self.wake_outbox(events)
            out: dict = {"VersionId": version_id}
            if obj.delete_marker:
                out["DeleteMarker"] = True
            return out
        current = self.store.latest(bucket.name, key)
        if not bucket.versioned:
            if current is not None:
                events = self.object_events(ctx, bucket, "ObjectRemoved:Delete", current)
                self.store.delete_version(current, events)
                self.files.remove([current.file])
                self.wake_outbox(events)
            return {}
        marker_id = new_version_id() if bucket.versioning == "Enabled" else "null"
        marker = ObjectVersion(bucket.name, key, marker_id, self.store.next_seq(), True, True, 0, "",
                               float(int(time.time())), None, {})
        events = self.object_events(ctx, bucket, "ObjectRemoved:DeleteMarkerCreated", marker)
        replaced = self.store.put_version(marker, events)
        self.files.remove(replaced)
        self.wake_outbox(events)
        return {"DeleteMarker": True, "VersionId": marker_id}

    async def delete_objects(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        spec = p.get("Delete") or {}
        items = spec.get("Objects") or []
        if not items or len(items) > 1000:
            raise errors.malformed_xml()
        deleted, failed = [], []
        for item in items:
            key, vid = item.get("Key", ""), item.get("VersionId")
            try:
                check_key(key)
                res = self.delete_one(ctx, bucket, key, vid)
            except AwsError as err:
                failed.append({"Key": key, "VersionId": vid, "Code": err.code, "Message": err.message})
                continue
            entry: dict = {"Key": key}
            if vid:
                entry["VersionId"] = vid
                if res.get("DeleteMarker"):
                    entry["DeleteMarker"] = True
                    entry["DeleteMarkerVersionId"] = vid
            elif res.get("DeleteMarker"):
                entry["DeleteMarker"] = True
                entry["DeleteMarkerVersionId"] = res["VersionId"]
            deleted.append(entry)
        out: dict = {}
        if deleted and not spec.get("Quiet"):
            out["Deleted"] = deleted
        if failed:
            out["Errors"] = [{k: v for k, v in e.items() if v is not None} for e in failed]
        return out

    async def copy_object(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        key = p["Key"]
        check_key(key)
        src_bucket, src = self.copy_source(ctx, p)
        check_read(p, src.etag, src.modified, prefix="CopySource")
        if src.size > MAX_PUT:
            raise errors.invalid_request("The specified copy source is larger than the maximum allowable size for "
                                         f"a copy source: {MAX_PUT}")
        directive = (p.get("MetadataDirective") or "COPY").upper()
        tag_directive = (p.get("TaggingDirective") or "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise errors.invalid_argument("Unknown metadata directive.", "x-amz-metadata-directive", directive)
        if tag_directive not in ("COPY", "REPLACE"):
            raise errors.invalid_argument("Unknown tagging directive.", "x-amz-tagging-directive", tag_directive)
        same = src_bucket.name == bucket.name and src.key == key
        if same and directive == "COPY" and not p.get("StorageClass") and not p.get("WebsiteRedirectLocation") \
                and not p.get("ServerSideEncryption") and not bucket.versioned:
            raise errors.invalid_request("This copy request is illegal because it is trying to copy an object to "
                                         "itself without changing the object's metadata, storage class, website "
                                         "redirect location or encryption attributes.")
        if directive == "REPLACE":
            meta = self.stored_meta({**p, "Tagging": None})
        else:
            meta = {k: v for k, v in src.meta.items() if k in ("ContentType", "Metadata", "Headers", "StorageClass")}
            if p.get("StorageClass"):
                meta["StorageClass"] = p["StorageClass"]
        tags = src.tags if tag_directive == "COPY" else tags_from_header(p.get("Tagging"))
        if tags:
            meta["Tags"] = dict(tags)
        if src.meta.get("Checksums") and "-" not in src.etag:
            meta["Checksums"] = dict(src.meta["Checksums"])
        file = await self.files.clone(src.file) if src.file else None
        etag = src.etag
        if "-" in etag:  # a copy is one part: its ETag is the MD5 of the whole object
            etag = f'"{await asyncio.to_thread(_md5_file, self.files, file)}"'
        obj = self.new_version(bucket, key, src.size, etag, meta)
        obj.file = file
        await self.store_object(ctx, bucket, obj, None, "ObjectCreated:Copy")
        out: dict = {"CopyObjectResult": {"ETag": etag, "LastModified": obj.modified,
                                          **{k: v for k, v in (meta.get("Checksums") or {}).items()}},
                     "ServerSideEncryption": "AES256", **self.version_header(bucket, obj)}
        if src_bucket.versioned:
            out["CopySourceVersionId"] = src.version_id
        return out

    def copy_source(self: S3Provider, ctx: RequestContext, p: dict) -> tuple[Bucket, ObjectVersion]:
        source = p["CopySource"].lstrip("/")
        path, sep, version = source.rpartition("?versionId=")
        if not sep:
            path, version = source, None
        src_bucket_name, _, src_key = path.partition("/")
        if not src_bucket_name or not src_key:
            raise errors.invalid_argument("Invalid copy source object key", "x-amz-copy-source", p["CopySource"])
        src_bucket = self.bucket_for(ctx, src_bucket_name, p.get("ExpectedSourceBucketOwner"))
        return src_bucket, self.read_target(src_bucket, src_key, version, "GET")

    async def get_object_acl(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        self.read_target(bucket, p["Key"], p.get("VersionId"))
        owner = self.owner(bucket.account)
        return {"Owner": owner, "Grants": [{"Grantee": dict(owner, Type="CanonicalUser"),
                                            "Permission": "FULL_CONTROL"}]}

    async def put_object_acl(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        self.read_target(bucket, p["Key"], p.get("VersionId"))
        return {}


def _md5_file(files: ObjectFiles, name: str | None) -> str:
    md5 = hashlib.md5()
    if name:
        with open(files.path(name), "rb") as f:
            while chunk := f.read(1024 * 1024):
                md5.update(chunk)
    return md5.hexdigest()
