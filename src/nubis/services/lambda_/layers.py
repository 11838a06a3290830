"""Layers: versioned zip packages that functions merge under /opt (at most 5, in order)."""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from ...server.context import RequestContext
from ...server.errors import AwsError
from ...store.blobs import BlobStore
from ...store.db import Database
from ..arns import parse_arn
from .code import accept_zip, world_readable
from .functions import lambda_timestamp, new_revision
from .versions import paginate

if TYPE_CHECKING:
    from .provider import LambdaProvider

MAX_LAYERS = 5
# Kept in the function configuration beside `Layers`; not a model member, so it is never serialized.
LAYER_DIGESTS = "_NubisLayerDigests"
NOT_FOUND = "The resource you requested does not exist."

SCHEMA = """
CREATE TABLE IF NOT EXISTS lambda_layers (
  account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
  doc BLOB NOT NULL, digest TEXT NOT NULL, policy BLOB NOT NULL DEFAULT '[]',
  PRIMARY KEY (account, region, name, version));
CREATE TABLE IF NOT EXISTS lambda_layer_counters (
  account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, last INTEGER NOT NULL,
  PRIMARY KEY (account, region, name));
"""


def layer_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:layer:{name}"


def parse_layer_version_arn(arn: str) -> tuple[str, str, str, int] | None:
    """(account, region, name, version) of `arn:aws:lambda:<r>:<a>:layer:<name>:<n>`."""
    parsed = parse_arn(arn, "lambda")
    name, _, version = ((parsed.typed("layer") if parsed else None) or "").partition(":")
    if parsed is None or not name or not version.isdigit():
        return None
    return parsed.account, parsed.region, name, int(version)


class LayerStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    def publish(self, account: str, region: str, name: str, doc_without_version: dict, digest: str) -> dict:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT last FROM lambda_layer_counters WHERE account=? AND region=? AND name=?",
                               (account, region, name)).fetchone()
            version = (row[0] if row else 0) + 1  # layer versions are never reused
            conn.execute("INSERT OR REPLACE INTO lambda_layer_counters VALUES (?,?,?,?)", (account, region, name, version))
            doc = dict(doc_without_version, Version=version,
                       LayerVersionArn=f"{layer_arn(region, account, name)}:{version}")
            conn.execute("INSERT INTO lambda_layers (account, region, name, version, doc, digest) VALUES (?,?,?,?,?,?)",
                         (account, region, name, version, orjson.dumps(doc), digest))
        return doc

    def get(self, account: str, region: str, name: str, version: int) -> tuple[dict, str, list] | None:
        row = self.db.query_one("SELECT doc, digest, policy FROM lambda_layers WHERE account=? AND region=? AND name=? "
                                "AND version=?", (account, region, name, version))
        return (orjson.loads(row[0]), row[1], orjson.loads(row[2])) if row else None

    def versions(self, account: str, region: str, name: str | None = None) -> list[tuple[str, dict]]:
        sql = "SELECT name, doc FROM lambda_layers WHERE account=? AND region=?"
        args: list = [account, region]
        if name is not None:
            sql += " AND name=?"
            args.append(name)
        return [(r[0], orjson.loads(r[1])) for r in self.db.query(sql + " ORDER BY name, version DESC", args)]

    def delete(self, account: str, region: str, name: str, version: int) -> None:
        self.db.execute("DELETE FROM lambda_layers WHERE account=? AND region=? AND name=? AND version=?",
                        (account, region, name, version))

    def set_policy(self, account: str, region: str, name: str, version: int, policy: list) -> None:
        self.db.execute("UPDATE lambda_layers SET policy=? WHERE account=? AND region=? AND name=? AND version=?",
                        (orjson.dumps(policy), account, region, name, version))


def merged_opt_dir(blobs: BlobStore, digests: list[str], root: Path) -> Path | None:
    """Extract layers in order into one directory (later layers overwrite earlier files), once per list."""
    if not digests:
        return None
    target = root / hashlib.sha256(":".join(digests).encode()).hexdigest()[:32]
    if target.is_dir():
        if stat.S_IMODE(target.stat().st_mode) != 0o755:  # merged by an older nubis (0700)
            world_readable(target)
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".merge-"))
    try:
        for digest in digests:
            with zipfile.ZipFile(blobs.path(digest)) as zf:
                for info in zf.infolist():
                    zf.extract(info, tmp)
                    mode = (info.external_attr >> 16) & 0o777
                    if mode and not info.is_dir():
                        os.chmod(tmp / info.filename, mode | 0o400)
        world_readable(tmp)  # mounted at /opt for functions that run under uids of their own
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():
            raise
    return target


def _item(doc: dict) -> dict:
    return {k: doc[k] for k in ("LayerVersionArn", "Version", "Description", "CreatedDate", "CompatibleRuntimes",
                                "LicenseInfo", "CompatibleArchitectures") if k in doc}


class LayerOps:
    """Layer API operations, mixed into the provider."""

    layers: LayerStore

    def _layer(self: LambdaProvider, ctx: RequestContext, name: str, version: int) -> tuple[dict, str, list]:
        if version < 1:
            raise AwsError("InvalidParameterValueException", "Layer Version Cannot be less than 1")
        found = self.layers.get(ctx.account, ctx.region, name.split(":")[-1], version)
        if found is None:
            raise AwsError("ResourceNotFoundException", NOT_FOUND, 404, Type="User")
        return found

    def _with_location(self: LambdaProvider, ctx: RequestContext, doc: dict, digest: str) -> dict:
        return dict(doc, Content=dict(doc["Content"], Location=self.code_location(ctx, digest)))

    async def publish_layer_version(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        content = p.get("Content") or {}
        if content.get("ZipFile") is not None:
            code = accept_zip(content["ZipFile"], self.blobs)
        elif content.get("S3Bucket") or content.get("S3Key"):
            code = accept_zip(self.s3_object(ctx, content), self.blobs)
        else:
            raise AwsError("InvalidParameterValueException", "Please provide a source for function code.")
        name = p["LayerName"].split(":")[-1]
        doc = {"Content": {"CodeSha256": code.sha256_b64, "CodeSize": code.size},
               "LayerArn": layer_arn(ctx.region, ctx.account, name), "Description": p.get("Description", ""),
               "CreatedDate": lambda_timestamp()}
        for key in ("CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
            if p.get(key):
                doc[key] = p[key]
        doc = self.layers.publish(ctx.account, ctx.region, name, doc, code.digest)
        return self._with_location(ctx, doc, code.digest)

    async def get_layer_version(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        doc, digest, _ = self._layer(ctx, p["LayerName"], p["VersionNumber"])
        return self._with_location(ctx, doc, digest)

    async def get_layer_version_by_arn(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        parsed = parse_layer_version_arn(p["Arn"])
        if parsed is None:
            raise AwsError("ValidationException", f"1 validation error detected: Value '{p['Arn']}' at 'arn' failed "
                           "to satisfy constraint: Member must satisfy regular expression pattern: "
                           "(arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:"
                           "[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)")
        account, region, name, version = parsed
        found = self.layers.get(account, region, name, version)
        if found is None or account != ctx.account:
            raise AwsError("ResourceNotFoundException", NOT_FOUND, 404, Type="User")
        return self._with_location(ctx, found[0], found[1])

    async def list_layer_versions(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        items = [_item(doc) for _, doc in self.layers.versions(ctx.account, ctx.region, p["LayerName"].split(":")[-1])
                 if _compatible(doc, p)]
        return paginate(items, p, "LayerVersions", key="LayerVersionArn")

    async def list_layers(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        latest: dict[str, dict] = {}
        for name, doc in self.layers.versions(ctx.account, ctx.region):
            if name not in latest and _compatible(doc, p):
                latest[name] = {"LayerName": name, "LayerArn": doc["LayerArn"], "LatestMatchingVersion": _item(doc)}
        return paginate(list(latest.values()), p, "Layers", key="LayerArn")

    async def delete_layer_version(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        self.layers.delete(ctx.account, ctx.region, p["LayerName"].split(":")[-1], p["VersionNumber"])
        return {}  # AWS answers 204 for an unknown version too

    async def add_layer_version_permission(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        name = p["LayerName"].split(":")[-1]
        doc, _, policy = self._layer(ctx, name, p["VersionNumber"])
        if any(s["Sid"] == p["StatementId"] for s in policy):
            raise AwsError("ResourceConflictException",
                           f"The statement id ({p['StatementId']}) provided already exists. Please provide a new "
                           "statement id, or remove the existing statement.", 409, Type="User")
        principal = p["Principal"]
        stmt: dict = {"Sid": p["StatementId"], "Effect": "Allow",
                      "Principal": "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"},
                      "Action": p["Action"], "Resource": doc["LayerVersionArn"]}
        if p.get("OrganizationId"):
            stmt["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": p["OrganizationId"]}}
        self.layers.set_policy(ctx.account, ctx.region, name, p["VersionNumber"], [*policy, stmt])
        return {"Statement": orjson.dumps(stmt).decode(), "RevisionId": new_revision()}

    async def get_layer_version_policy(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        _, _, policy = self._layer(ctx, p["LayerName"], p["VersionNumber"])
        if not policy:
            raise AwsError("ResourceNotFoundException", "No policy is associated with the given resource.", 404,
                           Type="User")
        doc = {"Version": "2012-10-17", "Id": "default", "Statement": policy}
        return {"Policy": orjson.dumps(doc).decode(), "RevisionId": new_revision()}

    async def remove_layer_version_permission(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        name = p["LayerName"].split(":")[-1]
        _, _, policy = self._layer(ctx, name, p["VersionNumber"])
        remaining = [s for s in policy if s["Sid"] != p["StatementId"]]
        if len(remaining) == len(policy):
            raise AwsError("ResourceNotFoundException",
                           f"Statement {p['StatementId']} is not found in resource policy.", 404, Type="User")
        self.layers.set_policy(ctx.account, ctx.region, name, p["VersionNumber"], remaining)
        return {}

    def resolve_layers(self: LambdaProvider, ctx: RequestContext, arns: list[str]) -> tuple[list[dict], list[str]]:
        """Function `Layers` -> (configuration entries, blob digests in order), with AWS's errors."""
        if len(arns) > MAX_LAYERS:
            raise AwsError("InvalidParameterValueException", "Cannot reference more than 5 layers.")
        entries, digests = [], []
        for arn in arns:
            parsed = parse_layer_version_arn(arn)
            found = self.layers.get(*parsed) if parsed else None
            if found is None or parsed[0] != ctx.account and not any(
                    s.get("Principal") == "*" or s.get("Principal", {}).get("AWS", "").endswith(f"::{ctx.account}:root")
                    for s in found[2]):
                raise AwsError("InvalidParameterValueException",
                               f"Layer version {arn} does not exist.")
            entries.append({"Arn": arn, "CodeSize": found[0]["Content"]["CodeSize"]})
            digests.append(found[1])
        return entries, digests


def _compatible(doc: dict, p: dict) -> bool:
    runtime, arch = p.get("CompatibleRuntime"), p.get("CompatibleArchitecture")
    return ((not runtime or runtime in doc.get("CompatibleRuntimes", [])) and
            (not arch or arch in doc.get("CompatibleArchitectures", [])))
