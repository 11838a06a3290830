"""Bucket and object tagging, and the x-amz-tagging header of uploads."""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from ...server.context import RequestContext
from ...server.errors import AwsError
from ...server.messages import HttpResponse
from .buckets import no_content

if TYPE_CHECKING:
    from .provider import S3Provider

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50


def check_tags(pairs: list[tuple[str, str]], limit: int) -> dict[str, str]:
    if len(pairs) > limit:
        if limit == MAX_OBJECT_TAGS:
            raise AwsError("BadRequest", "Object tags cannot be greater than 10", 400)
        raise AwsError("InvalidTag", f"Bucket tag count cannot be greater than {limit}", 400)
    out: dict[str, str] = {}
    for key, value in pairs:
        if not key or len(key) > 128:
            raise AwsError("InvalidTag", "The TagKey you have provided is invalid" if not key else
                           "The TagKey you have provided is too long, max 128", 400, TagKey=key)
        if len(value) > 256:
            raise AwsError("InvalidTag", "The TagValue you have provided is too long, max 256", 400, TagKey=key,
                           TagValue=value)
        if key.startswith("aws:"):
            raise AwsError("InvalidTag", "Your TagKey cannot be prefixed with aws:", 400, TagKey=key)
        if key in out:
            raise AwsError("InvalidTag", "Cannot provide multiple Tags with the same key", 400, TagKey=key)
        out[key] = value
    return out


def tags_from_header(header: str | None) -> dict[str, str]:
    """`x-amz-tagging: k1=v1&k2=v2` (URL-encoded query form)."""
    if not header:
        return {}
    return check_tags(parse_qsl(header, keep_blank_values=True), MAX_OBJECT_TAGS)


def tag_set(tags: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _pairs(p: dict) -> list[tuple[str, str]]:
    return [(t.get("Key", ""), t.get("Value", "")) for t in (p.get("Tagging") or {}).get("TagSet") or []]


class TaggingOps:
    # -- buckets
    async def put_bucket_tagging(self: S3Provider, ctx: RequestContext, p: dict) -> HttpResponse:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        bucket.config["Tags"] = check_tags(_pairs(p), MAX_BUCKET_TAGS)
        self.store.save_bucket(bucket)
        return no_content(ctx)

    async def get_bucket_tagging(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        tags = bucket.config.get("Tags")
        if not tags:
            raise AwsError("NoSuchTagSet", "The TagSet does not exist", 404, BucketName=bucket.name)
        return {"TagSet": tag_set(tags)}

    async def delete_bucket_tagging(self: S3Provider, ctx: RequestContext, p: dict) -> HttpResponse:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        bucket.config.pop("Tags", None)
        self.store.save_bucket(bucket)
        return no_content(ctx)

    # -- objects
    async def put_object_tagging(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        obj = self.read_target(bucket, p["Key"], p.get("VersionId"), "PUT")
        obj.meta["Tags"] = check_tags(_pairs(p), MAX_OBJECT_TAGS)
        self.store.update_meta(obj)
        return self.version_header(bucket, obj)

    async def get_object_tagging(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        obj = self.read_target(bucket, p["Key"], p.get("VersionId"), "GET")
        return dict(self.version_header(bucket, obj), TagSet=tag_set(obj.tags))

    async def delete_object_tagging(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        obj = self.read_target(bucket, p["Key"], p.get("VersionId"), "DELETE")
        obj.meta.pop("Tags", None)
        self.store.update_meta(obj)
        return self.version_header(bucket, obj)
