"""Deployments (snapshots of the API that stages serve) and stages (with variables, method settings
such as throttling, and access log settings)."""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import DEPLOYMENT, STAGE, bad_request, conflict, found
from .patch import apply_patch, convert, split_path
from .store import SHORT_ID_LEN, RestApiRecord, new_id, now

if TYPE_CHECKING:
    from .provider import ApiGatewayProvider

_STAGE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_VARIABLE_VALUE = re.compile(r"[A-Za-z0-9\-._~:/?#&=,]{0,512}")

STAGE_PATCH = {"deploymentId": str, "description": str, "variables": ("map", str), "tracingEnabled": bool,
               "cacheClusterEnabled": bool, "cacheClusterSize": str, "clientCertificateId": str,
               "accessLogSettings": {"format": str, "destinationArn": str}}

# /<resource path>/<METHOD>/<group>/<setting> -> MethodSetting member and type
METHOD_SETTINGS = {
    "throttling/rateLimit": ("throttlingRateLimit", float), "throttling/burstLimit": ("throttlingBurstLimit", int),
    "logging/loglevel": ("loggingLevel", str), "logging/dataTrace": ("dataTraceEnabled", bool),
    "metrics/enabled": ("metricsEnabled", bool), "caching/enabled": ("cachingEnabled", bool),
    "caching/ttlInSeconds": ("cacheTtlInSeconds", int), "caching/dataEncrypted": ("cacheDataEncrypted", bool),
    "caching/requireAuthorizationForCacheControl": ("requireAuthorizationForCacheControl", bool),
    "caching/unauthorizedCacheControlHeaderStrategy": ("unauthorizedCacheControlHeaderStrategy", str),
}
METHOD_SETTING_DEFAULTS = {
    "metricsEnabled": False, "loggingLevel": "OFF", "dataTraceEnabled": False, "throttlingBurstLimit": 5000,
    "throttlingRateLimit": 10000.0, "cachingEnabled": False, "cacheTtlInSeconds": 300, "cacheDataEncrypted": False,
    "requireAuthorizationForCacheControl": True,
    "unauthorizedCacheControlHeaderStrategy": "SEND_401_RESPONSE_WITH_WARNING_HEADER",
}


def method_settings_key(resource_path: str, http_method: str) -> str:
    """methodSettings keys: `*/*`, or the resource path (JSON-pointer escaped, e.g. `~1items~1{id}`) and method."""
    return f"{resource_path.replace('~', '~0').replace('/', '~1')}/{http_method}"


def check_variables(variables: dict) -> dict:
    for name, value in variables.items():
        if not _VARIABLE_NAME.fullmatch(name):
            raise bad_request(f"Stage variable name '{name}' must match [A-Za-z0-9_]+ and be at most 64 characters")
        if not _VARIABLE_VALUE.fullmatch(value or ""):
            raise bad_request(f"Stage variable value '{value}' must match [A-Za-z0-9-._~:/?#&=,]+")
    return dict(variables)


def snapshot(rec: RestApiRecord) -> dict:
    """What a deployment serves: the API as it is now (later edits need a new deployment, as on AWS)."""
    methods = 0
    for resource in rec.resources.values():
        for method in (resource.get("resourceMethods") or {}).values():
            methods += 1
            if "methodIntegration" not in method:
                raise bad_request("No integration defined for method")
    if methods == 0:
        raise bad_request("The REST API doesn't contain any methods")
    return copy.deepcopy({"resources": rec.resources, "authorizers": rec.authorizers, "validators": rec.validators,
                          "models": rec.models, "gateway_responses": rec.gateway_responses,
                          "api": {k: rec.api.get(k) for k in ("binaryMediaTypes", "apiKeySource",
                                                               "minimumCompressionSize")}})


class StageOps:
    def stage(self, rec: RestApiRecord, name: str) -> dict:
        return found(rec.stages.get(name), STAGE)

    # -- deployments
    async def create_deployment(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        stage_name = p.get("stageName")
        if stage_name is not None and not _STAGE_NAME.fullmatch(stage_name):
            raise bad_request("Stage name only allows a-zA-Z0-9_-")
        variables = check_variables(p.get("variables") or {})
        snap = snapshot(rec)
        deployment_id = new_id(SHORT_ID_LEN, rec.deployments)
        meta = {"id": deployment_id, "createdDate": now()}
        if p.get("description") is not None:
            meta["description"] = p["description"]
        rec.deployments[deployment_id] = {"meta": meta, "snapshot": snap}
        if stage_name:
            stage = rec.stages.get(stage_name)
            if stage is None:
                stage = self._new_stage(stage_name, deployment_id, p.get("stageDescription"), variables,
                                        bool(p.get("tracingEnabled")), {})
                rec.stages[stage_name] = stage
            else:
                stage["deploymentId"] = deployment_id
                if variables:
                    stage["variables"] = {**(stage.get("variables") or {}), **variables}
                stage["lastUpdatedDate"] = now()
            self.gateway.forget(rec.api_id, stage_name)
        self.store.save(rec)
        return dict(meta)

    def _deployment(self, rec: RestApiRecord, deployment_id: str) -> dict:
        return found(rec.deployments.get(deployment_id), DEPLOYMENT)

    async def get_deployment(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        deployment = self._deployment(rec, p["deploymentId"])
        view = dict(deployment["meta"])
        if "apisummary" in [e.lower() for e in p.get("embed") or []]:
            view["apiSummary"] = {
                r["path"]: {m: {"authorizationType": meth["authorizationType"],
                                "apiKeyRequired": meth.get("apiKeyRequired", False)}
                            for m, meth in (r.get("resourceMethods") or {}).items()}
                for r in deployment["snapshot"]["resources"].values() if r.get("resourceMethods")}
        return view

    async def get_deployments(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        items = sorted((dict(d["meta"]) for d in rec.deployments.values()), key=lambda d: d["createdDate"])
        return paginate(items, p)

    async def update_deployment(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        meta = self._deployment(rec, p["deploymentId"])["meta"]
        apply_patch(meta, p.get("patchOperations") or [], {"description": str})
        self.store.save(rec)
        return dict(meta)

    async def delete_deployment(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        self._deployment(rec, p["deploymentId"])
        if any(s.get("deploymentId") == p["deploymentId"] for s in rec.stages.values()):
            raise bad_request("Active stages pointing to this deployment must be moved or deleted")
        del rec.deployments[p["deploymentId"]]
        self.store.save(rec)
        return {}

    # -- stages
    @staticmethod
    def _new_stage(name: str, deployment_id: str, description: str | None, variables: dict, tracing: bool,
                   tags: dict) -> dict:
        t = now()
        stage = {"stageName": name, "deploymentId": deployment_id, "cacheClusterEnabled": False,
                 "cacheClusterStatus": "NOT_AVAILABLE", "methodSettings": {}, "tracingEnabled": tracing,
                 "createdDate": t, "lastUpdatedDate": t}
        if description is not None:
            stage["description"] = description
        if variables:
            stage["variables"] = dict(variables)
        if tags:
            stage["tags"] = dict(tags)
        return stage

    async def create_stage(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        name = p["stageName"]
        if not _STAGE_NAME.fullmatch(name):
            raise bad_request("Stage name only allows a-zA-Z0-9_-")
        if name in rec.stages:
            raise conflict("Stage already exists")
        self._deployment(rec, p["deploymentId"])
        stage = self._new_stage(name, p["deploymentId"], p.get("description"), check_variables(p.get("variables")
                                or {}), bool(p.get("tracingEnabled")), p.get("tags") or {})
        rec.stages[name] = stage
        self.store.save(rec)
        return copy.deepcopy(stage)

    async def get_stage(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return copy.deepcopy(self.stage(self.api_record(ctx, p["restApiId"]), p["stageName"]))

    async def get_stages(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        stages = [copy.deepcopy(s) for s in rec.stages.values()
                  if not p.get("deploymentId") or s.get("deploymentId") == p["deploymentId"]]
        return {"item": sorted(stages, key=lambda s: s["stageName"])}

    async def update_stage(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        stage = self.stage(rec, p["stageName"])
        updated = copy.deepcopy(stage)
        plain = []
        for op in p.get("patchOperations") or []:
            segments = split_path(op.get("path") or "")
            if len(segments) >= 4 and op.get("op") in ("replace", "add", "remove") and \
                    "/".join(segments[2:]) in METHOD_SETTINGS:
                self._patch_method_setting(updated, op, segments)
            else:
                plain.append(op)
        apply_patch(updated, plain, STAGE_PATCH)
        self._deployment(rec, updated.get("deploymentId", ""))
        check_variables(updated.get("variables") or {})
        if not updated.get("variables"):
            updated.pop("variables", None)
        log = updated.get("accessLogSettings")
        if log is not None and not log.get("destinationArn", "").startswith("arn:"):
            if log:
                raise bad_request("Invalid ARN specified in the request: access log destination must be a "
                                  "CloudWatch Logs log group ARN")
            updated.pop("accessLogSettings")
        updated["lastUpdatedDate"] = now()
        stage.clear()
        stage.update(updated)
        self.gateway.forget(rec.api_id, p["stageName"])
        self.store.save(rec)
        return copy.deepcopy(stage)

    @staticmethod
    def _patch_method_setting(stage: dict, op: dict, segments: list[str]) -> None:
        resource_path, http_method = segments[0], segments[1]
        key = "*/*" if (resource_path, http_method) == ("*", "*") else method_settings_key(resource_path,
                                                                                           http_method)
        member, kind = METHOD_SETTINGS["/".join(segments[2:])]
        settings = stage.setdefault("methodSettings", {})
        entry = settings.setdefault(key, dict(METHOD_SETTING_DEFAULTS))
        if op["op"] == "remove":
            entry[member] = METHOD_SETTING_DEFAULTS[member]
            return
        entry[member] = convert(kind, op.get("value"), op.get("path", ""))

    async def delete_stage(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        self.stage(rec, p["stageName"])
        del rec.stages[p["stageName"]]
        self.gateway.forget(rec.api_id, p["stageName"])
        self.store.save(rec)
        return {}

    async def flush_stage_authorizers_cache(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        self.stage(rec, p["stageName"])
        self.gateway.authorizers.cache.forget(rec.api_id, p["stageName"])
        return {}

    async def flush_stage_cache(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        self.stage(self.api_record(ctx, p["restApiId"]), p["stageName"])
        return {}  # nubis keeps no response cache
