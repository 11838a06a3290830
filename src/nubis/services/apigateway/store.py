"""REST APIs as nubis keeps them: one record per API (resources with their methods and integrations,
stages, deployments, authorizers, request validators, models), plus the account-level objects (API
keys and usage plans). Held in memory for the request path and written through to SQLite."""
from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from ...store.db import Database
from ..apigw_common.store import ApiRecords, new_id, now  # noqa: F401 (new_id, now: for the ops modules)

SCHEMA = """
CREATE TABLE IF NOT EXISTS apigw_rest_objects (
  kind TEXT NOT NULL, id TEXT NOT NULL, account TEXT NOT NULL, region TEXT NOT NULL, doc BLOB NOT NULL,
  PRIMARY KEY (kind, id));
"""

# AWS's identifier lengths: REST API, root resource and API key 10; other resources, deployments,
# authorizers, validators, models and usage plans 6.
ROOT_ID_LEN, KEY_ID_LEN, SHORT_ID_LEN = 10, 10, 6


@dataclass
class RestApiRecord:
    account: str
    region: str
    api: dict  # the RestApi shape
    resources: dict[str, dict] = field(default_factory=dict)  # id -> Resource (resourceMethods inline)
    stages: dict[str, dict] = field(default_factory=dict)
    # deployment id -> {"meta": Deployment shape, "snapshot": what the deployment serves}
    deployments: dict[str, dict] = field(default_factory=dict)
    authorizers: dict[str, dict] = field(default_factory=dict)
    validators: dict[str, dict] = field(default_factory=dict)
    models: dict[str, dict] = field(default_factory=dict)  # name -> Model
    gateway_responses: dict[str, dict] = field(default_factory=dict)  # responseType -> GatewayResponse

    @property
    def api_id(self) -> str:
        return self.api["id"]

    def to_doc(self) -> dict:
        return {"api": self.api, "resources": self.resources, "stages": self.stages,
                "deployments": self.deployments, "authorizers": self.authorizers, "validators": self.validators,
                "models": self.models, "gateway_responses": self.gateway_responses}

    @classmethod
    def from_doc(cls, account: str, region: str, doc: dict) -> RestApiRecord:
        return cls(account, region, doc["api"], doc["resources"], doc["stages"], doc["deployments"],
                   doc["authorizers"], doc["validators"], doc["models"], doc.get("gateway_responses", {}))


@dataclass
class Owned:
    """An account-level object (API key, usage plan)."""

    account: str
    region: str
    doc: dict


class RestStore(ApiRecords[RestApiRecord]):
    def __init__(self, db: Database) -> None:
        super().__init__(db, "apigw_rest_apis", RestApiRecord.from_doc)
        db.ensure_schema(SCHEMA)
        self._objects: dict[str, dict[str, Owned]] = {"apikey": {}, "usageplan": {}}
        for row in db.query("SELECT * FROM apigw_rest_objects"):
            self._objects.setdefault(row["kind"], {})[row["id"]] = Owned(row["account"], row["region"],
                                                                         orjson.loads(row["doc"]))

    # -- API keys and usage plans
    def objects(self, kind: str, account: str, region: str) -> list[dict]:
        return [o.doc for o in self._objects[kind].values() if o.account == account and o.region == region]

    def object(self, kind: str, account: str, region: str, obj_id: str) -> dict | None:
        o = self._objects[kind].get(obj_id)
        return o.doc if o is not None and o.account == account and o.region == region else None

    def new_object_id(self, kind: str, length: int) -> str:
        return new_id(length, self._objects[kind])

    def put_object(self, kind: str, account: str, region: str, doc: dict) -> None:
        self._objects[kind][doc["id"]] = Owned(account, region, doc)
        self.db.execute("INSERT OR REPLACE INTO apigw_rest_objects (kind, id, account, region, doc) "
                        "VALUES (?, ?, ?, ?, ?)", (kind, doc["id"], account, region, orjson.dumps(doc)))

    def delete_object(self, kind: str, obj_id: str) -> None:
        self._objects[kind].pop(obj_id, None)
        self.db.execute("DELETE FROM apigw_rest_objects WHERE kind = ? AND id = ?", (kind, obj_id))
