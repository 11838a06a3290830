"""Published versions: immutable snapshots of $LATEST's code and configuration."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...server.context import RequestContext
from ...server.errors import AwsError
from . import configuration as conf
from . import snapstart
from .functions import FunctionRecord, Revision, lambda_timestamp
from .names import function_arn

if TYPE_CHECKING:
    from .provider import LambdaProvider

PAGE_MAX = 50

# What makes two snapshots "the same" for PublishVersion (no new version when nothing changed).
_VOLATILE = ("FunctionArn", "Version", "RevisionId", "LastModified", "State", "StateReason", "StateReasonCode",
             "LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "Description")


def _fingerprint(cfg: dict, digest: str) -> tuple:
    return digest, sorted((k, repr(v)) for k, v in cfg.items() if k not in _VOLATILE)


def version_config(rec: FunctionRecord, version: str, description: str | None) -> dict:
    cfg = conf.mark_ready(dict(rec.config))
    cfg.update(FunctionArn=function_arn(rec.region, rec.account, rec.name, version), Version=version,
               RevisionId=conf.new_revision(), LastModified=lambda_timestamp())
    if description is not None:
        cfg["Description"] = description
    return snapstart.version_config(cfg)


class VersionOps:
    """PublishVersion and ListVersionsByFunction, mixed into the provider."""

    async def publish_version(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, _ = self.resolve(ctx, p["FunctionName"])
        if rec.state != "Active" or rec.config.get("LastUpdateStatus") == "InProgress":
            raise AwsError("ResourceConflictException",
                           "The operation cannot be performed at this time. An update is in progress for resource: "
                           f"{rec.arn}", 409, Type="User")
        if p.get("CodeSha256") and p["CodeSha256"] != rec.config["CodeSha256"]:
            raise AwsError("InvalidParameterValueException",
                           f"CodeSHA256 ({p['CodeSha256']}) is different from current CodeSHA256 in $LATEST "
                           f"({rec.config['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST.")
        if p.get("RevisionId") and p["RevisionId"] != rec.config["RevisionId"]:
            raise AwsError("PreconditionFailedException",
                           "The Revision Id provided does not match the latest Revision Id. Call the "
                           "GetFunction/GetAlias API to retrieve the latest Revision Id", 412, Type="User")
        if rec.versions:
            newest = rec.versions[str(max(int(v) for v in rec.versions))]
            if _fingerprint(newest.config, newest.code_digest) == _fingerprint(rec.config, rec.code_digest):
                return dict(newest.config)  # nothing changed since: AWS returns the existing version
        rec.last_version += 1
        version = str(rec.last_version)
        rev = Revision(version, version_config(rec, version, p.get("Description")), rec.code_digest)
        self.functions.save_version(rec, rev)
        self.start_snapshot(rec, rev)  # SnapStart: Pending until INIT has run once
        return dict(rev.config)

    async def list_versions_by_function(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, _ = self.resolve(ctx, p["FunctionName"])
        items = [dict(conf.list_item(rec.config), FunctionArn=f"{rec.arn}:$LATEST")]
        items += [conf.list_item(rec.versions[v].config) for v in sorted(rec.versions, key=int)]
        return paginate(items, p, "Versions", key="Version")


def paginate(items: list[dict], p: dict, field: str, key: str) -> dict:
    """Lambda's Marker/MaxItems paging (at most 50 a page); the marker is the last item's key."""
    start = 0
    if p.get("Marker"):
        keys = [item[key] for item in items]
        if p["Marker"] not in keys:
            raise AwsError("InvalidParameterValueException", "Invalid marker")
        start = keys.index(p["Marker"]) + 1
    size = min(p.get("MaxItems") or PAGE_MAX, PAGE_MAX)
    page = items[start:start + size]
    out: dict = {field: page}
    if start + size < len(items):
        out["NextMarker"] = page[-1][key]
    return out
