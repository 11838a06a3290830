"""AWS::S3::Bucket, through the S3 API (notifications, versioning, tags, CORS)."""
from __future__ import annotations

from typing import Any

from .base import Env, Handler, Result, call, quiet, tags_list_to_map

_NOTIFY = (("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
           ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
           ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"))


def _notification(cfg: dict | None) -> dict:
    """CloudFormation's NotificationConfiguration -> PutBucketNotificationConfiguration's document."""
    out: dict[str, Any] = {}
    for cfn_key, api_key, target, api_target in _NOTIFY:
        items = []
        for c in (cfg or {}).get(cfn_key) or []:
            item: dict[str, Any] = {api_target: c[target], "Events": [c["Event"]]}
            rules = ((c.get("Filter") or {}).get("S3Key") or {}).get("Rules")
            if rules:
                item["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
            items.append(item)
        if items:
            out[api_key] = items
    if (cfg or {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true"):
        out["EventBridgeConfiguration"] = {}
    return out


def _cors(cfg: dict | None) -> dict | None:
    rules = (cfg or {}).get("CorsRules")
    if not rules:
        return None
    keep = ("AllowedHeaders", "AllowedMethods", "AllowedOrigins", "ExposedHeaders", "ID", "MaxAge")
    return {"CORSRules": [{k: (int(v) if k == "MaxAge" else v) for k, v in r.items() if k in keep} for r in rules]}


class Bucket(Handler):
    type = "AWS::S3::Bucket"
    replace_on = ("BucketName",)

    def _attrs(self, env: Env, name: str) -> dict:
        return {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{env.region}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{env.region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{env.region}.amazonaws.com"}

    def _configure(self, env: Env, name: str, old: dict, new: dict) -> None:
        s3 = env.client("s3")
        if old.get("VersioningConfiguration") != new.get("VersioningConfiguration") and new.get("VersioningConfiguration"):
            call(s3, "put_bucket_versioning", Bucket=name,
                 VersioningConfiguration={"Status": new["VersioningConfiguration"]["Status"]})
        if old.get("Tags") != new.get("Tags"):
            tags = tags_list_to_map(new.get("Tags")) or {}
            if tags:
                call(s3, "put_bucket_tagging", Bucket=name,
                     Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
            else:
                quiet(s3, "delete_bucket_tagging", "NoSuchTagSet", Bucket=name)
        if old.get("CorsConfiguration") != new.get("CorsConfiguration"):
            cors = _cors(new.get("CorsConfiguration"))
            if cors:
                call(s3, "put_bucket_cors", Bucket=name, CORSConfiguration=cors)
            else:
                quiet(s3, "delete_bucket_cors", "NoSuchCORSConfiguration", Bucket=name)
        if old.get("NotificationConfiguration") != new.get("NotificationConfiguration"):
            call(s3, "put_bucket_notification_configuration", Bucket=name,
                 NotificationConfiguration=_notification(new.get("NotificationConfiguration")))

    def create(self, env: Env, props: dict) -> Result:
        name = props.get("BucketName") or env.physical_name(63, lower=True)
        conf = {"LocationConstraint": env.region} if env.region != "us-east-1" else None
        call(env.client("s3"), "create_bucket", Bucket=name, CreateBucketConfiguration=conf)
        try:
            self._configure(env, name, {}, props)
        except Exception:
            quiet(env.client("s3"), "delete_bucket", "NoSuchBucket", Bucket=name)
            raise
        return Result(name, self._attrs(env, name))

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        self._configure(env, physical_id, old, new)
        return Result(physical_id, self._attrs(env, physical_id))

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("s3"), "delete_bucket", "NoSuchBucket", Bucket=physical_id)


class BucketPolicy(Handler):
    """Recorded, not enforced: nubis's S3 has no bucket policies (as nubis has no IAM)."""

    type = "AWS::S3::BucketPolicy"
    required = ("Bucket", "PolicyDocument")
    replace_on = ("Bucket",)

    def create(self, env: Env, props: dict) -> Result:
        call(env.client("s3"), "head_bucket", Bucket=props["Bucket"])  # the bucket must exist
        return Result(env.physical_name(64), {})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        return None


HANDLERS = [Bucket(), BucketPolicy()]
