"""Multipart uploads: create, upload (and copy) parts, list, complete, abort.

The completed object's ETag is S3's: MD5 of the concatenated binary MD5s of the parts, then '-N'.
Parts other than the last must be at least 5 MiB (EntityTooSmall at completion, as S3 checks then).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from ...server.errors import AwsError
from ...server.messages import HttpResponse
from . import errors
from .buckets import no_content
from .conditions import check_read
from .listing import _encoder, walk
from .objects import MAX_PUT, check_key
from .store import Part, Upload

if TYPE_CHECKING:
    from .provider import S3Provider

MIN_PART = 5 * 1024 * 1024
MAX_PARTS = 10000


def _part_number(n: int) -> None:
    if not 1 <= n <= MAX_PARTS:
        raise errors.invalid_argument("Part number must be an integer between 1 and 10000, inclusive",
                                      "partNumber", str(n))


def multipart_etag(md5_hexes: list[str]) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(h) for h in md5_hexes)).hexdigest()
    return f'"{digest}-{len(md5_hexes)}"'


class MultipartOps:
    def _upload(self: S3Provider, ctx: RequestContext, p: dict) -> tuple:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        upload = self.store.upload(p["UploadId"])
        if upload is None or upload.bucket != bucket.name or upload.key != p["Key"]:
            raise errors.no_such_upload(p["UploadId"])
        return bucket, upload

    async def create_multipart_upload(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        check_key(p["Key"])
        meta = self.stored_meta(p)
        if p.get("ChecksumAlgorithm"):
            meta["ChecksumAlgorithm"] = p["ChecksumAlgorithm"].upper()
            meta["ChecksumType"] = p.get("ChecksumType") or "COMPOSITE"
        upload = Upload(secrets.token_urlsafe(48), bucket.name, p["Key"], time.time(), ctx.account, meta)
        self.store.create_upload(upload)
        out = {"Bucket": bucket.name, "Key": upload.key, "UploadId": upload.upload_id,
               "ServerSideEncryption": "AES256"}
        if p.get("ChecksumAlgorithm"):
            out.update(ChecksumAlgorithm=meta["ChecksumAlgorithm"], ChecksumType=meta["ChecksumType"])
        return out

    async def upload_part(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        _part_number(p["PartNumber"])
        bucket, upload = self._upload(ctx, p)
        written, checksums = await self.receive_body(ctx, p, MAX_PUT)
        name = self.files.commit(written, "parts")
        part = Part(p["PartNumber"], written.size, f'"{written.md5}"', time.time(), name,
                    {"Checksums": checksums} if checksums else {})
        self.files.remove([self.store.put_part(upload.upload_id, part)])
        return {"ETag": part.etag, "ServerSideEncryption": "AES256", **checksums}

    async def upload_part_copy(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        _part_number(p["PartNumber"])
        bucket, upload = self._upload(ctx, p)
        src_bucket, src = self.copy_source(ctx, p)
        check_read(p, src.etag, src.modified, prefix="CopySource")
        start, length = 0, src.size
        if p.get("CopySourceRange"):
            text = p["CopySourceRange"].strip()
            try:
                unit, _, span = text.partition("=")
                first, _, last = span.partition("-")
                start, end = int(first), int(last)
                if unit.strip() != "bytes" or start > end:
                    raise ValueError
            except ValueError:
                raise errors.invalid_argument("The x-amz-copy-source-range value must be of the form "
                                              "bytes=first-last where first and last are the zero-based offsets "
                                              "of the first and last bytes to copy", "x-amz-copy-source-range",
                                              text) from None
            if end >= src.size:
                raise errors.invalid_argument(f"Range specified is not valid for source object of size: {src.size}",
                                              "x-amz-copy-source-range", text)
            length = end - start + 1
        if length > MAX_PUT:
            raise errors.entity_too_large(length, MAX_PUT)
        written = await self.files.copy_range(src.file, start, length) if src.file else \
            await self.files.receive(b"")
        name = self.files.commit(written, "parts")
        part = Part(p["PartNumber"], written.size, f'"{written.md5}"', time.time(), name, {})
        self.files.remove([self.store.put_part(upload.upload_id, part)])
        out: dict = {"CopyPartResult": {"ETag": part.etag, "LastModified": int(part.modified)},
                     "ServerSideEncryption": "AES256"}
        if src_bucket.versioned:
            out["CopySourceVersionId"] = src.version_id
        return out

    async def list_parts(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket, upload = self._upload(ctx, p)
        limit = min(p.get("MaxParts") if p.get("MaxParts") is not None else 1000, 1000)
        marker = p.get("PartNumberMarker") or 0
        parts = self.store.parts(upload.upload_id, marker, limit + 1)
        truncated = len(parts) > limit
        parts = parts[:limit]
        owner = self.owner(upload.account)
        out: dict = {"Bucket": bucket.name, "Key": upload.key, "UploadId": upload.upload_id,
                     "PartNumberMarker": marker, "MaxParts": limit, "IsTruncated": truncated,
                     "Initiator": owner, "Owner": owner,
                     "StorageClass": upload.meta.get("StorageClass", "STANDARD"),
                     "Parts": [{"PartNumber": x.number, "LastModified": int(x.modified), "ETag": x.etag,
                                "Size": x.size, **(x.meta.get("Checksums") or {})} for x in parts]}
        if parts:
            out["NextPartNumberMarker"] = parts[-1].number
        if upload.meta.get("ChecksumAlgorithm"):
            out["ChecksumAlgorithm"] = upload.meta["ChecksumAlgorithm"]
            out["ChecksumType"] = upload.meta.get("ChecksumType")
        return out

    async def list_multipart_uploads(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        enc = _encoder(p)
        prefix, delimiter = p.get("Prefix") or "", p.get("Delimiter") or ""
        limit = min(p.get("MaxUploads") if p.get("MaxUploads") is not None else 1000, 1000)
        key_marker, id_marker = p.get("KeyMarker") or "", p.get("UploadIdMarker") or ""
        state = {"first": True, "key": None, "id": ""}

        def fetch(cursor: str, n: int) -> list[Upload]:
            if state["first"]:
                state["first"] = False
                # without an upload-id marker, uploads of the marker key itself are skipped
                return self.store.uploads(bucket.name, prefix, key_marker, id_marker or "\U0010ffff", n)
            same = state["key"] == cursor
            return self.store.uploads(bucket.name, prefix, cursor, state["id"] if same else "\U0010ffff", n)

        def key_of(u: Upload) -> str:
            state["key"], state["id"] = u.key, u.upload_id
            return u.key

        entries, truncated = walk(fetch, key_of, prefix, delimiter, key_marker, limit)
        uploads = []
        for kind, u in entries:
            if kind == "o":
                owner = self.owner(u.account)
                uploads.append({"UploadId": u.upload_id, "Key": enc(u.key), "Initiated": u.initiated,
                                "StorageClass": u.meta.get("StorageClass", "STANDARD"), "Owner": owner,
                                "Initiator": owner, **({"ChecksumAlgorithm": u.meta["ChecksumAlgorithm"]}
                                                       if u.meta.get("ChecksumAlgorithm") else {})})
        out: dict = {"Bucket": bucket.name, "KeyMarker": enc(key_marker), "UploadIdMarker": id_marker,
                     "Prefix": enc(prefix), "MaxUploads": limit, "IsTruncated": truncated}
        if delimiter:
            out["Delimiter"] = enc(delimiter)
        if uploads:
            out["Uploads"] = uploads
        prefixes = [{"Prefix": enc(cp)} for kind, cp in entries if kind == "p"]
        if prefixes:
            out["CommonPrefixes"] = prefixes
        if truncated and entries:
            kind, last = entries[-1]
            out["NextKeyMarker"] = enc(last if kind == "p" else last.key)
            out["NextUploadIdMarker"] = "" if kind == "p" else last.upload_id
        if p.get("EncodingType"):
            out["EncodingType"] = p["EncodingType"]
        return out

    async def abort_multipart_upload(self: S3Provider, ctx: RequestContext, p: dict) -> HttpResponse:
        _, upload = self._upload(ctx, p)
        try:
            self.files.remove(self.store.finish_upload(upload.upload_id, None))
        except LookupError:
            raise errors.no_such_upload(upload.upload_id) from None
        return no_content(ctx)

    async def complete_multipart_upload(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket, upload = self._upload(ctx, p)
        listed = (p.get("MultipartUpload") or {}).get("Parts") or []
        if not listed:
            raise errors.malformed_xml()
        stored = {x.number: x for x in self.store.parts(upload.upload_id)}
        chosen: list[Part] = []
        last = 0
        for item in listed:
            number = item.get("PartNumber")
            if number is None or number <= last:
                raise AwsError("InvalidPartOrder", "The list of parts was not in ascending order. The parts list "
                               "must be specified in order by part number.", 400, UploadId=upload.upload_id)
            last = number
            part = stored.get(number)
            if part is None or (item.get("ETag") or "").strip().strip('"') != part.etag.strip('"'):
                raise AwsError("InvalidPart", "One or more of the specified parts could not be found.  The part "
                               "may not have been uploaded, or the specified entity tag may not match the part's "
                               "entity tag.", 400, UploadId=upload.upload_id, PartNumber=str(number),
                               ETag=item.get("ETag") or "")
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART:
                raise AwsError("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object "
                               "size.", 400, ProposedSize=str(part.size), MinSizeAllowed=str(MIN_PART),
                               PartNumber=str(part.number), ETag=part.etag.strip('"'))
        self.check_write_conditions(bucket, upload.key, p)
        try:
            written = await self.files.concat([x.file for x in chosen])
        except FileNotFoundError:  # the upload was aborted while we were reading its parts
            raise errors.no_such_upload(upload.upload_id) from None
        etag = multipart_etag([x.etag.strip('"') for x in chosen])
        meta = {k: v for k, v in upload.meta.items() if k not in ("ChecksumAlgorithm", "ChecksumType")}
        meta["Parts"] = [x.size for x in chosen]
        checksums = _composite_checksums(chosen, upload.meta.get("ChecksumAlgorithm"))
        if checksums:
            meta["Checksums"] = checksums
            meta["ChecksumType"] = "COMPOSITE"
        obj = self.new_version(bucket, upload.key, written.size, etag, meta)
        try:
            obj.file = self.files.commit(written)
        except BaseException:
            self.files.discard(written)
            raise
        events = self.object_events(ctx, bucket, "ObjectCreated:CompleteMultipartUpload", obj)
        try:
            garbage = self.store.finish_upload(upload.upload_id, obj, events)
        except LookupError:
            self.files.remove([obj.file])
            raise errors.no_such_upload(upload.upload_id) from None
        except BaseException:
            self.files.remove([obj.file])
            raise
        self.files.remove(garbage)
        self.wake_outbox(events)
        out = {"Location": f"{ctx.endpoint}/{bucket.name}/{upload.key}", "Bucket": bucket.name, "Key": upload.key,
               "ETag": etag, "ServerSideEncryption": "AES256", **self.version_header(bucket, obj), **checksums}
        if checksums:
            out["ChecksumType"] = "COMPOSITE"
        return out


def _composite_checksums(parts: list[Part], algorithm: str | None) -> dict[str, str]:
    """S3's COMPOSITE checksum: the checksum of the parts' binary checksums, then '-N'."""
    import base64

    from .files import checksum_hasher

    if not algorithm:
        return {}
    member = f"Checksum{algorithm}"
    values = [(x.meta.get("Checksums") or {}).get(member) for x in parts]
    hasher = checksum_hasher(algorithm)
    if hasher is None or not all(values):
        return {}
    for v in values:
        hasher.update(base64.b64decode(v))  # type: ignore[arg-type]
    return {member: f"{base64.b64encode(hasher.digest()).decode()}-{len(parts)}"}
