"""Create/Get/GetStages/Update/DeleteStage, DeleteAccessLogSettings, DeleteRouteSettings.

`$default` is served at the root of the API's URL; any other stage under `/<stage-name>/`.
"""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import bad_request, conflict, deployment_not_found, not_found, stage_not_found
from .store import ApiRecord, now

if TYPE_CHECKING:
    from .provider import ApiGatewayV2Provider

_STAGE_NAME = re.compile(r"\$default|[A-Za-z0-9_\-]{1,128}")
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_VARIABLE_VALUE = re.compile(r"[A-Za-z0-9\-._~:/?#&=,]{0,512}")


def check_stage_variables(variables: dict) -> dict:
    for name, value in variables.items():
        if not _VARIABLE_NAME.fullmatch(name):
            raise bad_request(f"Stage variable name '{name}' must match [A-Za-z0-9_]+ and be at most 64 characters")
        if not _VARIABLE_VALUE.fullmatch(value):
            raise bad_request(f"Stage variable value '{value}' for '{name}' must match [A-Za-z0-9-._~:/?#&=,]+ and "
                              "be at most 512 characters")
    return dict(variables)


class StageOps:
    def stage(self, rec: ApiRecord, name: str) -> dict:
        stage = rec.stages.get(name)
        if stage is None:
            raise stage_not_found(name)
        return stage

    async def create_stage(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        name = p["StageName"]
        if not _STAGE_NAME.fullmatch(name):
            raise bad_request(f"Stage name '{name}' is invalid: use $default or letters, digits, '-' and '_' "
                              "(at most 128 characters)")
        if name in rec.stages:
            raise conflict("Stage already exists")
        t = now()
        stage: dict = {"CreatedDate": t, "LastUpdatedDate": t, "StageName": name,
                       "DefaultRouteSettings": p.get("DefaultRouteSettings") or {"DetailedMetricsEnabled": False},
                       "RouteSettings": dict(p.get("RouteSettings") or {}),
                       "StageVariables": check_stage_variables(p.get("StageVariables") or {}),
                       "Tags": dict(p.get("Tags") or {})}
        for member in ("AccessLogSettings", "ClientCertificateId", "Description"):
            if p.get(member) is not None:
                stage[member] = p[member]
        if p.get("AutoDeploy") is not None:
            stage["AutoDeploy"] = p["AutoDeploy"]
        if p.get("DeploymentId"):
            if p["DeploymentId"] not in rec.deployments:
                raise deployment_not_found(p["DeploymentId"])
            stage["DeploymentId"] = p["DeploymentId"]
        rec.stages[name] = stage
        if stage.get("AutoDeploy"):
            self.deploy_stage(rec, stage)
        self.prune_snapshots(rec)
        self.store.save(rec)
        return copy.deepcopy(stage)

    async def get_stage(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        return copy.deepcopy(self.stage(self.api_record(ctx, p["ApiId"]), p["StageName"]))

    async def get_stages(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        return paginate([copy.deepcopy(s) for s in rec.stages.values()], p)

    async def update_stage(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        stage = self.stage(rec, p["StageName"])
        if p.get("StageVariables") is not None:
            stage["StageVariables"] = {**stage.get("StageVariables", {}), **check_stage_variables(p["StageVariables"])}
        if p.get("RouteSettings") is not None:
            stage["RouteSettings"] = {**stage.get("RouteSettings", {}), **p["RouteSettings"]}
        if p.get("DefaultRouteSettings") is not None:
            stage["DefaultRouteSettings"] = {**stage.get("DefaultRouteSettings", {}), **p["DefaultRouteSettings"]}
        for member in ("AccessLogSettings", "ClientCertificateId", "Description"):
            if p.get(member) is not None:
                stage[member] = p[member]
        if p.get("DeploymentId"):
            if p["DeploymentId"] not in rec.deployments:
                raise deployment_not_found(p["DeploymentId"])
            self.point_stage(stage, p["DeploymentId"])
        turned_on = p.get("AutoDeploy") is True and not stage.get("AutoDeploy")
        if p.get("AutoDeploy") is not None:
            stage["AutoDeploy"] = p["AutoDeploy"]
        if turned_on:
            self.deploy_stage(rec, stage)
        stage["LastUpdatedDate"] = now()
        self.prune_snapshots(rec)
        self.store.save(rec)
        return copy.deepcopy(stage)

    async def delete_stage(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        self.stage(rec, p["StageName"])
        del rec.stages[p["StageName"]]
        self.prune_snapshots(rec)
        self.store.save(rec)
        return {}

    async def delete_access_log_settings(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        self.stage(rec, p["StageName"]).pop("AccessLogSettings", None)
        self.store.save(rec)
        return {}

    async def delete_route_settings(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        settings = self.stage(rec, p["StageName"]).get("RouteSettings") or {}
        if p["RouteKey"] not in settings:
            raise not_found(f"Invalid route settings specified for route key {p['RouteKey']}")
        del settings[p["RouteKey"]]
        self.store.save(rec)
        return {}
