"""Buckets: create, delete, head, list, location, versioning.

Bucket names are global, as on AWS: a name another account holds is BucketAlreadyExists; a bucket
of another account answers AccessDenied. Re-creating your own bucket is BucketAlreadyOwnedByYou,
except in us-east-1 where S3 answers 200 for legacy compatibility.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from ...server.errors import AwsError
from ...server.messages import HttpResponse
from . import errors
from .names import bucket_arn, check_bucket_name
from .store import Bucket

if TYPE_CHECKING:
    from .provider import S3Provider

US_EAST_1 = "us-east-1"


def no_content(ctx: RequestContext) -> HttpResponse:
    return HttpResponse(204, [("x-amz-request-id", ctx.request_id)], b"")


class BucketOps:
    async def create_bucket(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        name = p["Bucket"]
        check_bucket_name(name)
        location = (p.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
        region = ctx.region
        if location == US_EAST_1 and region == US_EAST_1:
            raise AwsError("InvalidLocationConstraint", "The specified location-constraint is not valid", 400,
                           LocationConstraint=location)
        if location and location != region:
            raise AwsError("IllegalLocationConstraintException", f"The {location} location constraint is "
                           "incompatible for the region specific endpoint this request was sent to.", 400)
        if not location and region != US_EAST_1:
            raise AwsError("IllegalLocationConstraintException", "The unspecified location constraint is "
                           "incompatible for the region specific endpoint this request was sent to.", 400)
        existing = self.store.bucket(name)
        if existing is not None:
            if existing.account != ctx.account:
                raise AwsError("BucketAlreadyExists", "The requested bucket name is not available. The bucket "
                               "namespace is shared by all users of the system. Please select a different name "
                               "and try again.", 409, BucketName=name)
            if existing.region != US_EAST_1 or region != US_EAST_1:
                raise AwsError("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket "
                               "succeeded and you already own it.", 409, BucketName=name)
        else:
            self.store.create_bucket(Bucket(name, ctx.account, region, time.time()))
        return {"Location": f"/{name}" if region == US_EAST_1 else f"http://{name}.s3.localhost/",
                "BucketArn": bucket_arn(name)}

    async def delete_bucket(self: S3Provider, ctx: RequestContext, p: dict) -> HttpResponse:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        if self.store.bucket_has_content(bucket.name):
            message = "The bucket you tried to delete is not empty"
            if bucket.versioning:  # what S3 says for a versioned bucket (old versions and delete markers count)
                message += ". You must delete all versions in the bucket."
            raise AwsError("BucketNotEmpty", message, 409, BucketName=bucket.name)
        for upload_id in self.store.bucket_uploads(bucket.name):  # incomplete uploads go with the bucket
            try:
                self.files.remove(self.store.finish_upload(upload_id, None))
            except LookupError:
                pass
        self.store.delete_bucket(bucket.name)
        return no_content(ctx)

    async def head_bucket(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        return {"BucketRegion": bucket.region, "BucketArn": bucket_arn(bucket.name),
                "AccessPointAlias": False}

    async def list_buckets(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        buckets = self.store.buckets(ctx.account)
        if p.get("Prefix"):
            buckets = [b for b in buckets if b.name.startswith(p["Prefix"])]
        if p.get("BucketRegion"):
            buckets = [b for b in buckets if b.region == p["BucketRegion"]]
        if p.get("ContinuationToken"):
            buckets = [b for b in buckets if b.name > p["ContinuationToken"]]
        out: dict = {"Owner": self.owner(ctx.account)}
        limit = p.get("MaxBuckets")
        if limit is not None:
            if not 1 <= limit <= 10000:
                raise errors.invalid_argument("Argument max-buckets must be between 1 and 10000", "max-buckets",
                                              str(limit))
            if len(buckets) > limit:
                buckets = buckets[:limit]
                out["ContinuationToken"] = buckets[-1].name
        if p.get("Prefix"):
            out["Prefix"] = p["Prefix"]
        out["Buckets"] = [{"Name": b.name, "CreationDate": int(b.created), "BucketRegion": b.region,
                           "BucketArn": bucket_arn(b.name)} for b in buckets]
        return out

    async def get_bucket_location(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        return {"LocationConstraint": None if bucket.region == US_EAST_1 else bucket.region}

    async def get_bucket_versioning(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        return {"Status": bucket.versioning} if bucket.versioning else {}

    async def put_bucket_versioning(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        status = (p.get("VersioningConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise errors.malformed_xml()
        if status == "Suspended" and not bucket.versioning:
            return {}  # suspending never-enabled versioning changes nothing (S3 keeps it unversioned)
        bucket.versioning = status
        self.store.save_bucket(bucket)
        return {}

    async def get_bucket_acl(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        owner = self.owner(bucket.account)
        return {"Owner": owner, "Grants": [{"Grantee": dict(owner, Type="CanonicalUser"),
                                            "Permission": "FULL_CONTROL"}]}

    async def put_bucket_acl(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        return {}  # accepted; nubis has one owner per bucket and no grants

    async def get_bucket_encryption(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        return {"ServerSideEncryptionConfiguration": {"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]}}

    async def get_bucket_ownership_controls(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        return {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}

    async def get_bucket_policy(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        raise AwsError("NoSuchBucketPolicy", "The bucket policy does not exist", 404, BucketName=bucket.name)

    async def get_bucket_cors(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        raise AwsError("NoSuchCORSConfiguration", "The CORS configuration does not exist", 404,
                       BucketName=bucket.name)

    async def get_bucket_lifecycle_configuration(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        raise AwsError("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist", 404,
                       BucketName=bucket.name)

    async def get_bucket_website(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        raise AwsError("NoSuchWebsiteConfiguration", "The specified bucket does not have a website "
                       "configuration", 404, BucketName=bucket.name)
