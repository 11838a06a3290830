"""HTTP and WebSocket APIs as nubis keeps them: one record per API (its configuration, routes,
integrations, stages, deployments, authorizers and WebSocket route/integration responses), held in
memory for the request path and written through to SQLite."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...store.db import Database
from ..apigw_common.store import ApiRecords, new_id, now  # noqa: F401 (new_id, now: for the ops modules)

# AWS's identifier lengths: API 10, route and integration 7, deployment, authorizer and responses 6.
ROUTE_ID_LEN, INTEGRATION_ID_LEN, DEPLOYMENT_ID_LEN, AUTHORIZER_ID_LEN, RESPONSE_ID_LEN = 7, 7, 6, 6, 6


@dataclass
class ApiRecord:
    account: str
    region: str
    api: dict  # the Api shape (without ApiEndpoint, which depends on how the server is reached)
    routes: dict[str, dict] = field(default_factory=dict)
    integrations: dict[str, dict] = field(default_factory=dict)
    stages: dict[str, dict] = field(default_factory=dict)
    # deployment id -> {"meta": Deployment shape, "snapshot": {"routes", "integrations", "authorizers", "cors"}}
    deployments: dict[str, dict] = field(default_factory=dict)
    authorizers: dict[str, dict] = field(default_factory=dict)
    # WebSocket APIs: route id -> {route response id -> RouteResponse}, integration id -> {id -> IntegrationResponse}
    route_responses: dict[str, dict[str, dict]] = field(default_factory=dict)
    integration_responses: dict[str, dict[str, dict]] = field(default_factory=dict)

    @property
    def api_id(self) -> str:
        return self.api["ApiId"]

    def to_doc(self) -> dict:
        return {"api": self.api, "routes": self.routes, "integrations": self.integrations, "stages": self.stages,
                "deployments": self.deployments, "authorizers": self.authorizers,
                "route_responses": self.route_responses, "integration_responses": self.integration_responses}

    @classmethod
    def from_doc(cls, account: str, region: str, doc: dict) -> ApiRecord:
        return cls(account, region, doc["api"], doc["routes"], doc["integrations"], doc["stages"], doc["deployments"],
                   doc.get("authorizers", {}), doc.get("route_responses", {}), doc.get("integration_responses", {}))


class ApiStore(ApiRecords[ApiRecord]):
    def __init__(self, db: Database) -> None:
        super().__init__(db, "apigwv2_apis", ApiRecord.from_doc)
