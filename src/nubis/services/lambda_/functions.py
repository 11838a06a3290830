"""Function records: the FunctionConfiguration as AWS shows it plus what nubis keeps beside it.

All functions are held in memory (the Invoke path never reads the database) and written
through to SQLite on every change.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson

from ...store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS lambda_functions (
  account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
  config BLOB NOT NULL, code_digest TEXT NOT NULL, tags BLOB NOT NULL, reserved INTEGER,
  created REAL NOT NULL,
  PRIMARY KEY (account, region, name, version));
"""

Key = tuple[str, str, str]  # account, region, name


def lambda_timestamp(t: float | None = None) -> str:
    """Lambda's LastModified string: 2024-01-01T12:00:00.000+0000."""
    dt = datetime.fromtimestamp(time.time() if t is None else t, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def new_revision() -> str:
    return str(uuid.uuid4())


@dataclass
class FunctionRecord:
    account: str
    region: str
    name: str
    config: dict  # FunctionConfiguration, exactly as returned by GetFunctionConfiguration
    code_digest: str
    tags: dict[str, str] = field(default_factory=dict)
    reserved: int | None = None
    created: float = field(default_factory=time.time)
    version: str = "$LATEST"

    @property
    def key(self) -> Key:
        return (self.account, self.region, self.name)

    @property
    def arn(self) -> str:
        return self.config["FunctionArn"]

    @property
    def state(self) -> str:
        return self.config.get("State", "Active")

    @property
    def engine_key(self) -> str:
        """Changes whenever code or configuration changes, so warm pools never serve stale code."""
        return f"{self.arn}:{self.version}:{self.config['RevisionId']}"


class FunctionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        self._by_key: dict[Key, FunctionRecord] = {}
        for row in db.query("SELECT * FROM lambda_functions WHERE version='$LATEST'"):
            rec = FunctionRecord(row["account"], row["region"], row["name"], orjson.loads(row["config"]),
                                 row["code_digest"], orjson.loads(row["tags"]), row["reserved"], row["created"])
            self._by_key[rec.key] = rec

    def get(self, account: str, region: str, name: str) -> FunctionRecord | None:
        return self._by_key.get((account, region, name))

    def all(self) -> list[FunctionRecord]:
        return list(self._by_key.values())

    def in_scope(self, account: str, region: str) -> list[FunctionRecord]:
        return sorted((r for r in self._by_key.values() if r.account == account and r.region == region),
                      key=lambda r: r.name)

    def save(self, rec: FunctionRecord) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO lambda_functions VALUES (?,?,?,?,?,?,?,?,?)",
            (rec.account, rec.region, rec.name, rec.version, orjson.dumps(rec.config), rec.code_digest,
             orjson.dumps(rec.tags), rec.reserved, rec.created))
        self._by_key[rec.key] = rec

    def delete(self, rec: FunctionRecord) -> None:
        self.db.execute("DELETE FROM lambda_functions WHERE account=? AND region=? AND name=?",
                        (rec.account, rec.region, rec.name))
        self._by_key.pop(rec.key, None)

    def code_in_use(self, digest: str) -> bool:
        return any(r.code_digest == digest for r in self._by_key.values())
