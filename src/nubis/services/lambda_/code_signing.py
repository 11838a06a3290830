"""Code signing configurations and their attachment to functions.

nubis has no signing service (AWS Signer), so every package it receives is unsigned: a function whose
configuration says `UntrustedArtifactOnDeployment: Enforce` refuses code deployments, as Lambda does for
unsigned code; `Warn` (the default) lets them through.
"""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import orjson

from ...server.context import RequestContext
from ...server.errors import AwsError
from ...store.db import Database
from .functions import FunctionRecord, lambda_timestamp
from .versions import paginate

if TYPE_CHECKING:
    from .provider import LambdaProvider

SCHEMA = """
CREATE TABLE IF NOT EXISTS lambda_code_signing_configs (
  account TEXT NOT NULL, region TEXT NOT NULL, arn TEXT NOT NULL, config BLOB NOT NULL, tags BLOB NOT NULL,
  PRIMARY KEY (account, region, arn));
"""
EXTRA = "code_signing_config"  # FunctionRecord.extras key: the attached configuration's ARN


class CodeSigningStore:
    """Configurations by (account, region, ARN); held in memory, written through to SQLite."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        self._by_key: dict[tuple[str, str, str], tuple[dict, dict]] = {}
        for row in db.query("SELECT * FROM lambda_code_signing_configs"):
            self._by_key[(row["account"], row["region"], row["arn"])] = (orjson.loads(row["config"]),
                                                                         orjson.loads(row["tags"]))

    def get(self, account: str, region: str, arn: str) -> tuple[dict, dict] | None:
        return self._by_key.get((account, region, arn))

    def in_scope(self, account: str, region: str) -> list[dict]:
        return [cfg for (a, r, _), (cfg, _) in sorted(self._by_key.items()) if a == account and r == region]

    def save(self, account: str, region: str, config: dict, tags: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO lambda_code_signing_configs VALUES (?,?,?,?,?)",
                        (account, region, config["CodeSigningConfigArn"], orjson.dumps(config), orjson.dumps(tags)))
        self._by_key[(account, region, config["CodeSigningConfigArn"])] = (config, tags)

    def delete(self, account: str, region: str, arn: str) -> None:
        self.db.execute("DELETE FROM lambda_code_signing_configs WHERE account=? AND region=? AND arn=?",
                        (account, region, arn))
        self._by_key.pop((account, region, arn), None)


def _missing(arn: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"The Lambda code signing configuration {arn} can not be found.",
                    404, Type="User")


def _not_found_for_function(arn: str) -> AwsError:
    return AwsError("CodeSigningConfigNotFoundException", "The code signing configuration cannot be found. Check "
                    f"that the provided configuration is not deleted: {arn}.", 404, Type="User")


class CodeSigningOps:
    """The code-signing-config operations, mixed into the provider."""

    code_signing: CodeSigningStore

    def _csc(self: LambdaProvider, ctx: RequestContext, arn: str) -> tuple[dict, dict]:
        found = self.code_signing.get(ctx.account, ctx.region, arn)
        if found is None:
            raise _missing(arn)
        return found

    def check_code_signing(self: LambdaProvider, ctx: RequestContext, rec_name: str, csc_arn: str | None) -> None:
        """Refuse an (unsigned) deployment where the function's configuration enforces signatures."""
        if not csc_arn:
            return
        found = self.code_signing.get(ctx.account, ctx.region, csc_arn)
        if found is None:
            raise _not_found_for_function(csc_arn)
        if (found[0].get("CodeSigningPolicies") or {}).get("UntrustedArtifactOnDeployment") == "Enforce":
            raise AwsError("CodeVerificationFailedException",
                           "Lambda cannot deploy the function. The function or layer might be signed using a "
                           f"signature that the client is not configured to accept. Check the provided signature "
                           f"for {rec_name}.", 400, Type="User")

    def code_signing_tags(self: LambdaProvider, ctx: RequestContext, arn: str) -> tuple[dict, dict]:
        """TagResource/UntagResource/ListTags on a code signing configuration ARN."""
        return self._csc(ctx, arn)

    async def create_code_signing_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        csc_id = "csc-" + secrets.token_hex(9)[:17]
        arn = f"arn:aws:lambda:{ctx.region}:{ctx.account}:code-signing-config:{csc_id}"
        config = {"CodeSigningConfigId": csc_id, "CodeSigningConfigArn": arn, "Description": p.get("Description", ""),
                  "AllowedPublishers": p["AllowedPublishers"],
                  "CodeSigningPolicies": p.get("CodeSigningPolicies") or {"UntrustedArtifactOnDeployment": "Warn"},
                  "LastModified": lambda_timestamp()}
        self.code_signing.save(ctx.account, ctx.region, config, dict(p.get("Tags") or {}))
        return {"CodeSigningConfig": dict(config)}

    async def get_code_signing_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        return {"CodeSigningConfig": dict(self._csc(ctx, p["CodeSigningConfigArn"])[0])}

    async def update_code_signing_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        config, tags = self._csc(ctx, p["CodeSigningConfigArn"])
        updated = dict(config, LastModified=lambda_timestamp())
        for key in ("Description", "AllowedPublishers", "CodeSigningPolicies"):
            if p.get(key) is not None:
                updated[key] = p[key]
        self.code_signing.save(ctx.account, ctx.region, updated, tags)
        return {"CodeSigningConfig": dict(updated)}

    async def delete_code_signing_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        self._csc(ctx, p["CodeSigningConfigArn"])
        self.code_signing.delete(ctx.account, ctx.region, p["CodeSigningConfigArn"])
        return {}

    async def list_code_signing_configs(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        return paginate(self.code_signing.in_scope(ctx.account, ctx.region), p, "CodeSigningConfigs",
                        key="CodeSigningConfigArn")

    async def list_functions_by_code_signing_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        arn = p["CodeSigningConfigArn"]
        self._csc(ctx, arn)
        items = [{"FunctionArn": r.arn} for r in self.functions.in_scope(ctx.account, ctx.region)
                 if r.extras.get(EXTRA) == arn]
        page = paginate(items, p, "FunctionArns", key="FunctionArn")
        page["FunctionArns"] = [item["FunctionArn"] for item in page["FunctionArns"]]
        return page

    async def put_function_code_signing_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        arn = p["CodeSigningConfigArn"]
        if self.code_signing.get(ctx.account, ctx.region, arn) is None:
            raise _not_found_for_function(arn)
        rec = self._unqualified(ctx, p["FunctionName"])
        rec.extras[EXTRA] = arn
        self.functions.save(rec)
        return {"CodeSigningConfigArn": arn, "FunctionName": rec.name}

    async def get_function_code_signing_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self._unqualified(ctx, p["FunctionName"])
        arn = rec.extras.get(EXTRA)
        return {"CodeSigningConfigArn": arn, "FunctionName": rec.name} if arn else {}

    async def delete_function_code_signing_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self._unqualified(ctx, p["FunctionName"])
        if rec.extras.pop(EXTRA, None) is not None:
            self.functions.save(rec)
        return {}


def attached(rec: FunctionRecord) -> str | None:
    return rec.extras.get(EXTRA)

