"""HTTP and WebSocket APIs as nubis keeps them: one record per API (its configuration, routes,
integrations, stages, deployments, authorizers and WebSocket route/integration responses), held in memory for the request path and written through to SQLite."""
from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field

import orjson

from ...store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS apigwv2_apis (
  api_id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, doc BLOB NOT NULL);
"""

_ALPHABET = string.ascii_lowercase + string.digits

# AWS's identifier lengths: API 10, route and integration 7, deployment, authorizer and responses 6.
API_ID_LEN, ROUTE_ID_LEN, INTEGRATION_ID_LEN, DEPLOYMENT_ID_LEN, AUTHORIZER_ID_LEN = 10, 7, 7, 6, 6
RESPONSE_ID_LEN = 6


def new_id(length: int, taken: object = ()) -> str:
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if value not in taken:  # type: ignore[operator]
            return value


def now() -> int:
    """API Gateway's dates have whole seconds."""
    return int(time.time())


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


class ApiStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        self._by_id: dict[str, ApiRecord] = {}
        for row in db.query("SELECT * FROM apigwv2_apis"):
            doc = orjson.loads(row["doc"])
            self._by_id[row["api_id"]] = ApiRecord(row["account"], row["region"], doc["api"], doc["routes"],
                                                   doc["integrations"], doc["stages"], doc["deployments"],
                                                   doc.get("authorizers", {}), doc.get("route_responses", {}),
                                                   doc.get("integration_responses", {}))

    def get(self, api_id: str) -> ApiRecord | None:
        return self._by_id.get(api_id)

    def owned(self, account: str, region: str, api_id: str) -> ApiRecord | None:
        rec = self._by_id.get(api_id)
        if rec is None or rec.account != account or rec.region != region:
            return None
        return rec

    def list(self, account: str, region: str) -> list[ApiRecord]:
        return [r for r in self._by_id.values() if r.account == account and r.region == region]

    def all(self) -> list[ApiRecord]:
        return list(self._by_id.values())

    def new_api_id(self) -> str:
        return new_id(API_ID_LEN, self._by_id)

    def save(self, rec: ApiRecord) -> None:
        self._by_id[rec.api_id] = rec
        self.db.execute("INSERT OR REPLACE INTO apigwv2_apis (api_id, account, region, doc) VALUES (?, ?, ?, ?)",
                        (rec.api_id, rec.account, rec.region, orjson.dumps(rec.to_doc())))

    def delete(self, rec: ApiRecord) -> None:
        self._by_id.pop(rec.api_id, None)
        self.db.execute("DELETE FROM apigwv2_apis WHERE api_id = ?", (rec.api_id,))
