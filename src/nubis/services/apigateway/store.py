"""REST APIs as nubis keeps them: one record per API (resources with their methods and integrations,
stages, deployments, authorizers, request validators, models), plus the account-level objects (API
keys and usage plans). Held in memory for the request path and written through to SQLite."""
from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field

import orjson

from ...store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS apigw_rest_apis (
  api_id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS apigw_rest_objects (
  kind TEXT NOT NULL, id TEXT NOT NULL, account TEXT NOT NULL, region TEXT NOT NULL, doc BLOB NOT NULL,
  PRIMARY KEY (kind, id));
"""

_ALPHABET = string.ascii_lowercase + string.digits

# AWS's identifier lengths: REST API, root resource and API key 10; other resources, deployments,
# authorizers, validators, models and usage plans 6.
API_ID_LEN, ROOT_ID_LEN, KEY_ID_LEN, SHORT_ID_LEN = 10, 10, 10, 6


def new_id(length: int, taken: object = ()) -> str:
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if value not in taken:  # type: ignore[operator]
            return value


def now() -> int:
    """API Gateway's dates have whole seconds."""
    return int(time.time())


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


class RestStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        self._apis: dict[str, RestApiRecord] = {}
        self._objects: dict[str, dict[str, Owned]] = {"apikey": {}, "usageplan": {}}
        for row in db.query("SELECT * FROM apigw_rest_apis"):
            self._apis[row["api_id"]] = RestApiRecord.from_doc(row["account"], row["region"], orjson.loads(row["doc"]))
        for row in db.query("SELECT * FROM apigw_rest_objects"):
            self._objects.setdefault(row["kind"], {})[row["id"]] = Owned(row["account"], row["region"],
                                                                         orjson.loads(row["doc"]))

    # -- REST APIs
    def get(self, api_id: str) -> RestApiRecord | None:
        return self._apis.get(api_id)

    def owned(self, account: str, region: str, api_id: str) -> RestApiRecord | None:
        rec = self._apis.get(api_id)
        if rec is None or rec.account != account or rec.region != region:
            return None
        return rec

    def list(self, account: str, region: str) -> list[RestApiRecord]:
        return [r for r in self._apis.values() if r.account == account and r.region == region]

    def new_api_id(self) -> str:
        return new_id(API_ID_LEN, self._apis)

    def save(self, rec: RestApiRecord) -> None:
        self._apis[rec.api_id] = rec
        self.db.execute("INSERT OR REPLACE INTO apigw_rest_apis (api_id, account, region, doc) VALUES (?, ?, ?, ?)",
                        (rec.api_id, rec.account, rec.region, orjson.dumps(rec.to_doc())))

    def delete(self, rec: RestApiRecord) -> None:
        self._apis.pop(rec.api_id, None)
        self.db.execute("DELETE FROM apigw_rest_apis WHERE api_id = ?", (rec.api_id,))

    # -- API keys and usage plans
    def objects(self, kind: str, account: str, region: str) -> list[dict]:
        return [o.doc for o in self._objects[kind].values() if o.account == account and o.region == region]

    def object(self, kind: str, account: str, region: str, obj_id: str) -> dict | None:
        o = self._objects[kind].get(obj_id)
        if o is None or o.account != account or o.region != region:
            return None
        return o.doc

    def any_object(self, kind: str, obj_id: str) -> Owned | None:
        return self._objects[kind].get(obj_id)

    def new_object_id(self, kind: str, length: int) -> str:
        return new_id(length, self._objects[kind])

    def put_object(self, kind: str, account: str, region: str, doc: dict) -> None:
        self._objects[kind][doc["id"]] = Owned(account, region, doc)
        self.db.execute("INSERT OR REPLACE INTO apigw_rest_objects (kind, id, account, region, doc) "
                        "VALUES (?, ?, ?, ?, ?)", (kind, doc["id"], account, region, orjson.dumps(doc)))

    def delete_object(self, kind: str, obj_id: str) -> None:
        self._objects[kind].pop(obj_id, None)
        self.db.execute("DELETE FROM apigw_rest_objects WHERE kind = ? AND id = ?", (kind, obj_id))
