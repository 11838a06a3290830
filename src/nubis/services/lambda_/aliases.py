"""Aliases: named pointers to a version, optionally splitting traffic with a second version."""
from __future__ import annotations

import random
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from ...server.errors import AwsError
from . import provisioned
from .functions import FunctionRecord, new_revision
from .names import function_arn
from .versions import paginate

if TYPE_CHECKING:
    from .provider import LambdaProvider


def pick_version(alias: dict, rand: float | None = None) -> str:
    """Weighted routing: each extra version gets its weight's share, the primary the rest."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    r = random.random() if rand is None else rand
    for version, weight in weights.items():
        if r < weight:
            return version
        r -= weight
    return alias["FunctionVersion"]


class AliasOps:
    """Create/Get/Update/Delete/ListAliases, mixed into the provider."""

    def _alias_arn(self, rec: FunctionRecord, name: str) -> str:
        return function_arn(rec.region, rec.account, rec.name, name)

    def _check_routing(self: LambdaProvider, rec: FunctionRecord, version: str, routing: dict | None) -> None:
        weights = (routing or {}).get("AdditionalVersionWeights") or {}
        if len(weights) > 1:
            raise AwsError("InvalidParameterValueException",
                           "Number of items in AdditionalVersionWeights cannot be greater than 1")
        for extra, weight in weights.items():
            if version == "$LATEST" or extra == "$LATEST":
                raise AwsError("InvalidParameterValueException",
                               "$LATEST is not supported for an alias pointing to more than 1 version")
            if extra == version:
                raise AwsError("InvalidParameterValueException",
                               f"Invalid function version {extra}. Function version {extra} is already included "
                               "in routing configuration.")
            if not 0.0 <= weight <= 1.0:
                raise AwsError("ValidationException",
                               f"1 validation error detected: Value '{weight}' at "
                               "'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value "
                               "must satisfy constraint: [Member must have value less than or equal to 1.0, Member "
                               "must have value greater than or equal to 0.0]")
            self._require_version(rec, extra)

    def _require_version(self, rec: FunctionRecord, version: str) -> None:
        if rec.revision(version) is None:
            raise AwsError("ResourceNotFoundException",
                           f"Function not found: {function_arn(rec.region, rec.account, rec.name, version)}", 404,
                           Type="User")

    async def create_alias(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, _ = self.resolve(ctx, p["FunctionName"])
        name, version = p["Name"], p["FunctionVersion"]
        self._require_version(rec, version)
        self._check_routing(rec, version, p.get("RoutingConfig"))
        if name in rec.aliases:
            raise AwsError("ResourceConflictException", f"Alias already exists: {self._alias_arn(rec, name)}", 409,
                           Type="User")
        alias = {"AliasArn": self._alias_arn(rec, name), "Name": name, "FunctionVersion": version,
                 "Description": p.get("Description", ""), "RevisionId": new_revision()}
        if p.get("RoutingConfig"):
            alias["RoutingConfig"] = p["RoutingConfig"]
        self.functions.save_alias(rec, alias)
        return dict(alias)

    def _alias(self: LambdaProvider, ctx: RequestContext, p: dict, missing: str) -> tuple[FunctionRecord, dict]:
        rec, _ = self.resolve(ctx, p["FunctionName"])
        alias = rec.aliases.get(p["Name"])
        if alias is None:
            raise AwsError("ResourceNotFoundException", f"{missing}: {self._alias_arn(rec, p['Name'])}", 404,
                           Type="User")
        return rec, alias

    async def get_alias(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        return dict(self._alias(ctx, p, "Cannot find alias arn")[1])

    async def update_alias(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, alias = self._alias(ctx, p, "Alias not found")
        if p.get("RevisionId") and p["RevisionId"] != alias["RevisionId"]:
            raise AwsError("PreconditionFailedException",
                           "The Revision Id provided does not match the latest Revision Id. Call the "
                           "GetFunction/GetAlias API to retrieve the latest Revision Id", 412, Type="User")
        version = p.get("FunctionVersion") or alias["FunctionVersion"]
        self._require_version(rec, version)
        routing = p["RoutingConfig"] if "RoutingConfig" in p else alias.get("RoutingConfig")
        self._check_routing(rec, version, routing)
        updated = dict(alias, FunctionVersion=version, RevisionId=new_revision())
        if p.get("Description") is not None:
            updated["Description"] = p["Description"]
        if routing and routing.get("AdditionalVersionWeights"):
            updated["RoutingConfig"] = routing
        else:
            updated.pop("RoutingConfig", None)
        self.functions.save_alias(rec, updated)
        if updated["Name"] in provisioned.configs(rec):  # environments follow the alias to its new version(s)
            self.apply_provisioning(rec)
        return dict(updated)

    async def delete_alias(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, _ = self.resolve(ctx, p["FunctionName"])
        had_pc = p["Name"] in provisioned.configs(rec)
        self.functions.delete_alias(rec, p["Name"])  # AWS answers 204 for an unknown alias too
        if had_pc:
            self.forget_provisioning(rec, p["Name"])
            self.functions.save(rec)
        return {}

    async def list_aliases(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, _ = self.resolve(ctx, p["FunctionName"])
        items = [dict(a) for _, a in sorted(rec.aliases.items())
                 if not p.get("FunctionVersion") or a["FunctionVersion"] == p["FunctionVersion"]]
        return paginate(items, p, "Aliases", key="Name")
