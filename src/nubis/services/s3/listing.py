"""ListObjectsV2, ListObjects and ListObjectVersions: prefix, delimiter, markers, tokens, url encoding.

The walk reads keys in order from the store in batches; when a key rolls up into a common prefix,
it jumps past every key under that prefix with one query instead of reading them.
"""
from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, Callable

from ...server.context import RequestContext
from . import errors
from .names import url_encode_key
from .store import ObjectVersion

if TYPE_CHECKING:
    from .provider import S3Provider

BATCH = 1000
PAST = "\U0010ffff"  # sorts after any character a key can continue with


def _encoder(p: dict) -> Callable[[str], str]:
    kind = p.get("EncodingType")
    if kind is None:
        return lambda s: s
    if kind != "url":
        raise errors.invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", kind)
    return url_encode_key


def _max_keys(p: dict, name: str = "MaxKeys") -> int:
    value = p.get(name)
    if value is None:
        return 1000
    if value < 0:
        raise errors.invalid_argument(f"Argument {name.lower().replace('keys', '-keys')} must be an integer "
                                      "between 0 and 2147483647", name, str(value))
    return min(value, 1000)


def walk(fetch: Callable[[str, int], list[Any]], key_of: Callable[[Any], str], prefix: str, delimiter: str,
         after: str, limit: int) -> tuple[list[tuple[str, Any]], bool]:
    """Up to `limit` entries after `after`: ("o", row) or ("p", common prefix); and whether more remain."""
    out: list[tuple[str, Any]] = []
    if limit <= 0:
        return out, False
    cursor = after
    while True:
        rows = fetch(cursor, BATCH)
        if not rows:
            return out, False
        jumped = False
        for row in rows:
            key = key_of(row)
            if delimiter:
                idx = key.find(delimiter, len(prefix))
                if idx >= 0:
                    cp = key[:idx + len(delimiter)]
                    if out and out[-1] == ("p", cp):
                        cursor = cp + PAST
                        jumped = True
                        break
                    if len(out) == limit:
                        return out, True
                    out.append(("p", cp))
                    cursor = cp + PAST
                    jumped = True
                    break
            if len(out) == limit:
                return out, True
            out.append(("o", row))
            cursor = key
        if not jumped and len(rows) < BATCH:
            return out, False


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode("utf-8")).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8")
    except (binascii.Error, ValueError):
        raise errors.invalid_argument("The continuation token provided is incorrect", "continuation-token",
                                      token) from None


class ListingOps:
    def _content(self: S3Provider, obj: ObjectVersion, enc: Callable[[str], str], owner: dict | None) -> dict:
        item: dict = {"Key": enc(obj.key), "LastModified": obj.modified, "ETag": obj.etag, "Size": obj.size,
                      "StorageClass": obj.meta.get("StorageClass", "STANDARD")}
        checksums = obj.meta.get("Checksums") or {}
        if checksums:
            item["ChecksumAlgorithm"] = [k.removeprefix("Checksum") for k in checksums]
            item["ChecksumType"] = obj.meta.get("ChecksumType", "FULL_OBJECT")
        if owner is not None:
            item["Owner"] = owner
        return item

    def _resume_point(self, value: str, delimiter: str, prefix: str) -> str:
        """Where a listing continues after `value` (a key, or a common prefix to skip entirely)."""
        if delimiter and value.endswith(delimiter) and value.startswith(prefix) \
                and value.find(delimiter, len(prefix)) == len(value) - len(delimiter):
            return value + PAST
        return value

    def _list_latest(self: S3Provider, bucket, p: dict, after: str, owner: dict | None) -> tuple[dict, list, bool]:
        """The part ListObjects and ListObjectsV2 share: one page of current objects and common
        prefixes after `after`, and the response fields both carry. Returns (response, entries, truncated)."""
        enc = _encoder(p)
        prefix, delimiter = p.get("Prefix") or "", p.get("Delimiter") or ""
        entries, truncated = walk(lambda c, n: self.store.list_latest(bucket.name, c, prefix, n),
                                  lambda o: o.key, prefix, delimiter, after, _max_keys(p))
        out: dict = {"Name": bucket.name, "Prefix": enc(prefix), "MaxKeys": p.get("MaxKeys", 1000),
                     "IsTruncated": truncated}
        if delimiter:
            out["Delimiter"] = enc(delimiter)
        contents = [self._content(o, enc, owner) for kind, o in entries if kind == "o"]
        prefixes = [{"Prefix": enc(cp)} for kind, cp in entries if kind == "p"]
        if contents:
            out["Contents"] = contents
        if prefixes:
            out["CommonPrefixes"] = prefixes
        if p.get("EncodingType"):
            out["EncodingType"] = p["EncodingType"]
        return out, entries, truncated

    async def list_objects_v2(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        if p.get("ContinuationToken") is not None:
            after = self._resume_point(_untoken(p["ContinuationToken"]), p.get("Delimiter") or "", p.get("Prefix") or "")
        else:
            after = p.get("StartAfter") or ""
        owner = self.owner(bucket.account) if p.get("FetchOwner") else None
        out, entries, truncated = self._list_latest(bucket, p, after, owner)
        out["KeyCount"] = len(entries)
        if p.get("ContinuationToken") is not None:
            out["ContinuationToken"] = p["ContinuationToken"]
        if p.get("StartAfter"):
            out["StartAfter"] = _encoder(p)(p["StartAfter"])
        if truncated:
            kind, last = entries[-1]
            out["NextContinuationToken"] = _token(last if kind == "p" else last.key)
        return out

    async def list_objects(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        marker = p.get("Marker") or ""
        after = self._resume_point(marker, p.get("Delimiter") or "", p.get("Prefix") or "") if marker else ""
        out, entries, truncated = self._list_latest(bucket, p, after, self.owner(bucket.account))
        out["Marker"] = _encoder(p)(marker)
        if truncated and p.get("Delimiter"):  # without a delimiter clients continue from the last key themselves
            kind, last = entries[-1]
            out["NextMarker"] = _encoder(p)(last if kind == "p" else last.key)
        return out

    async def list_object_versions(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        enc = _encoder(p)
        prefix, delimiter = p.get("Prefix") or "", p.get("Delimiter") or ""
        limit = _max_keys(p)
        key_marker, vid_marker = p.get("KeyMarker") or "", p.get("VersionIdMarker") or ""
        if vid_marker and not key_marker:
            raise errors.invalid_argument("A version-id marker cannot be specified without a key marker.",
                                          "version-id-marker", vid_marker)
        after_key, after_seq = self._resume_point(key_marker, delimiter, prefix), None
        if key_marker and vid_marker:
            marked = self.store.version(bucket.name, key_marker, vid_marker)
            if marked is None:
                raise errors.invalid_argument("Invalid version id specified", "version-id-marker", vid_marker)
            after_key, after_seq = key_marker, marked.seq

        state = {"first": True}

        def fetch(cursor: str, n: int) -> list[ObjectVersion]:
            if state["first"]:
                state["first"] = False
                return self.store.list_versions(bucket.name, after_key, after_seq, prefix, n)
            last_seq = state.get("seq")
            return self.store.list_versions(bucket.name, cursor, last_seq if state.get("key") == cursor else None,
                                            prefix, n)

        def key_of(o: ObjectVersion) -> str:
            state["key"], state["seq"] = o.key, o.seq
            return o.key

        entries, truncated = walk(fetch, key_of, prefix, delimiter, after_key, limit)
        owner = self.owner(bucket.account)
        versions, markers = [], []
        for kind, o in entries:
            if kind != "o":
                continue
            if o.delete_marker:
                markers.append({"Owner": owner, "Key": enc(o.key), "VersionId": o.version_id,
                                "IsLatest": o.latest, "LastModified": o.modified})
            else:
                item = self._content(o, enc, owner)
                item.update(VersionId=o.version_id, IsLatest=o.latest)
                versions.append(item)
        out: dict = {"Name": bucket.name, "Prefix": enc(prefix), "KeyMarker": enc(key_marker),
                     "VersionIdMarker": vid_marker, "MaxKeys": p.get("MaxKeys", 1000), "IsTruncated": truncated}
        if delimiter:
            out["Delimiter"] = enc(delimiter)
        if versions:
            out["Versions"] = versions
        if markers:
            out["DeleteMarkers"] = markers
        prefixes = [{"Prefix": enc(cp)} for kind, cp in entries if kind == "p"]
        if prefixes:
            out["CommonPrefixes"] = prefixes
        if truncated:
            kind, last = entries[-1]
            if kind == "p":
                out["NextKeyMarker"] = enc(last)
            else:
                out["NextKeyMarker"] = enc(last.key)
                out["NextVersionIdMarker"] = last.version_id
        if p.get("EncodingType"):
            out["EncodingType"] = p["EncodingType"]
        return out
