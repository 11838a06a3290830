"""Create/Get/GetDeployments/Update/DeleteDeployment, and auto-deploy.

A deployment freezes the API's routes, integrations, authorizers and CORS configuration; a stage
serves the deployment it points at, so changes reach clients only when deployed — immediately for
stages with AutoDeploy, as on AWS. Snapshots no stage points at are dropped (the deployment itself
stays listed), so the record does not grow with every auto-deployment.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import bad_request, deployment_not_found
from .store import DEPLOYMENT_ID_LEN, ApiRecord, new_id, now

if TYPE_CHECKING:
    from .provider import ApiGatewayV2Provider

AUTO_DESCRIPTION = "Automatic deployment triggered by changes to the Api configuration"
NO_ROUTES = "Unable to deploy API because no routes exist in this API"


class DeploymentOps:
    def _new_deployment(self, rec: ApiRecord, description: str | None, auto: bool) -> str:
        deployment_id = new_id(DEPLOYMENT_ID_LEN, rec.deployments)
        meta = {"AutoDeployed": auto, "CreatedDate": now(), "DeploymentId": deployment_id,
                "DeploymentStatus": "DEPLOYED"}
        if description:
            meta["Description"] = description
        rec.deployments[deployment_id] = {"meta": meta, "snapshot": {
            "routes": copy.deepcopy(rec.routes), "integrations": copy.deepcopy(rec.integrations),
            "authorizers": copy.deepcopy(rec.authorizers),
            "cors": copy.deepcopy(rec.api.get("CorsConfiguration")),
            "route_responses": copy.deepcopy(rec.route_responses)}}
        return deployment_id

    @staticmethod
    def point_stage(stage: dict, deployment_id: str) -> None:
        stage["DeploymentId"] = deployment_id
        stage["LastUpdatedDate"] = now()
        if stage.get("AutoDeploy"):
            stage["LastDeploymentStatusMessage"] = f"Successfully deployed stage with deployment ID '{deployment_id}'"

    def deploy_stage(self, rec: ApiRecord, stage: dict) -> None:
        """An automatic deployment for one stage (none while the API has no routes)."""
        if rec.routes:
            self.point_stage(stage, self._new_deployment(rec, AUTO_DESCRIPTION, True))

    def auto_deploy(self, rec: ApiRecord) -> None:
        """After a change to routes, integrations, authorizers or CORS: redeploy AutoDeploy stages."""
        for stage in rec.stages.values():
            if stage.get("AutoDeploy"):
                self.deploy_stage(rec, stage)
        self.prune_snapshots(rec)

    @staticmethod
    def prune_snapshots(rec: ApiRecord) -> None:
        live = {s.get("DeploymentId") for s in rec.stages.values()}
        for deployment_id, entry in rec.deployments.items():
            if deployment_id not in live and entry["meta"].get("AutoDeployed"):
                entry.pop("snapshot", None)

    async def create_deployment(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        stage = self.stage(rec, p["StageName"]) if p.get("StageName") else None
        if not rec.routes:
            raise bad_request(NO_ROUTES)
        deployment_id = self._new_deployment(rec, p.get("Description"), False)
        if stage is not None:
            self.point_stage(stage, deployment_id)
        self.prune_snapshots(rec)
        self.store.save(rec)
        return copy.deepcopy(rec.deployments[deployment_id]["meta"])

    def _deployment(self, rec: ApiRecord, deployment_id: str) -> dict:
        entry = rec.deployments.get(deployment_id)
        if entry is None:
            raise deployment_not_found(deployment_id)
        return entry

    async def get_deployment(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        return copy.deepcopy(self._deployment(rec, p["DeploymentId"])["meta"])

    async def get_deployments(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        metas = [copy.deepcopy(e["meta"]) for e in rec.deployments.values()][::-1]  # newest first
        return paginate(metas, p)

    async def update_deployment(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        entry = self._deployment(rec, p["DeploymentId"])
        if p.get("Description") is not None:
            entry["meta"]["Description"] = p["Description"]
        self.store.save(rec)
        return copy.deepcopy(entry["meta"])

    async def delete_deployment(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        self._deployment(rec, p["DeploymentId"])
        if any(s.get("DeploymentId") == p["DeploymentId"] for s in rec.stages.values()):
            raise bad_request("Active stages pointing to this deployment must be moved or deleted")
        del rec.deployments[p["DeploymentId"]]
        self.store.save(rec)
        return {}
