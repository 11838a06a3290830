"""Function records: the FunctionConfiguration as AWS shows it plus what nubis keeps beside it.

All functions are held in memory (the Invoke path never reads the database) and written
through to SQLite on every change.
"""
from __future__ import annotations

import hashlib
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
  created REAL NOT NULL, last_version INTEGER NOT NULL DEFAULT 0, extras BLOB NOT NULL DEFAULT '{}',
  PRIMARY KEY (account, region, name, version));
CREATE TABLE IF NOT EXISTS lambda_aliases (
  account TEXT NOT NULL, region TEXT NOT NULL, function TEXT NOT NULL, name TEXT NOT NULL,
  config BLOB NOT NULL,
  PRIMARY KEY (account, region, function, name));
"""

Key = tuple[str, str, str]  # account, region, name


def lambda_timestamp(t: float | None = None) -> str:
    """Lambda's LastModified string: 2024-01-01T12:00:00.000+0000."""
    dt = datetime.fromtimestamp(time.time() if t is None else t, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def new_revision() -> str:
    return str(uuid.uuid4())


# Members that never reach an execution environment: changing them keeps the warm pool.
ENV_NEUTRAL = frozenset({"RevisionId", "LastModified", "State", "StateReason", "StateReasonCode",
                         "LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "Description"})
_ENGINE_KEYS: dict[tuple[str, str, str], str] = {}  # (arn, version, RevisionId) -> engine key (Invoke is hot)


def environment_digest(config: dict, code_digest: str) -> str:
    """Digest of the code and of every setting that shapes an execution environment."""
    relevant = {k: v for k, v in config.items() if k not in ENV_NEUTRAL}
    return hashlib.sha256(code_digest.encode() + b"\0" + orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS)
                          ).hexdigest()[:32]


@dataclass
class Revision:
    """One runnable snapshot: $LATEST or a published version (immutable once published)."""

    version: str
    config: dict
    code_digest: str

    @property
    def engine_key(self) -> str:
        """The engine's pool key: `<arn>:<version>:<digest of code + configuration>`.

        It changes whenever the code or a setting changes (warm pools never serve stale code), but not
        with the RevisionId alone: a policy change bumps that and must keep the warm environments.
        `engine_prefix` selects every pool of this version whatever its digest.
        """
        cache_key = (self.config["FunctionArn"], self.version, self.config["RevisionId"])
        key = _ENGINE_KEYS.get(cache_key)
        if key is None:
            if len(_ENGINE_KEYS) > 10_000:
                _ENGINE_KEYS.clear()
            key = _ENGINE_KEYS[cache_key] = f"{self.engine_prefix}{environment_digest(self.config, self.code_digest)}"
        return key

    @property
    def engine_prefix(self) -> str:
        return f"{self.config['FunctionArn']}:{self.version}:"


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
    last_version: int = 0  # published version numbers are never reused
    versions: dict[str, Revision] = field(default_factory=dict)
    aliases: dict[str, dict] = field(default_factory=dict)  # name -> AliasConfiguration
    # Per-function settings beside the configuration, e.g. {"event_invoke": {qualifier: config}}.
    extras: dict = field(default_factory=dict)

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
    def latest(self) -> Revision:
        return Revision("$LATEST", self.config, self.code_digest)

    @property
    def engine_key(self) -> str:
        return self.latest.engine_key

    @property
    def engine_prefix(self) -> str:
        return self.latest.engine_prefix

    def revision(self, version: str) -> Revision | None:
        return self.latest if version == "$LATEST" else self.versions.get(version)


class FunctionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        self._by_key: dict[Key, FunctionRecord] = {}
        for row in db.query("SELECT * FROM lambda_functions ORDER BY version='$LATEST' DESC"):
            key = (row["account"], row["region"], row["name"])
            if row["version"] == "$LATEST":
                self._by_key[key] = FunctionRecord(
                    *key, orjson.loads(row["config"]), row["code_digest"], orjson.loads(row["tags"]),
                    row["reserved"], row["created"], last_version=row["last_version"],
                    extras=orjson.loads(row["extras"]))
            elif key in self._by_key:
                self._by_key[key].versions[row["version"]] = Revision(
                    row["version"], orjson.loads(row["config"]), row["code_digest"])
        for row in db.query("SELECT * FROM lambda_aliases"):
            rec = self._by_key.get((row["account"], row["region"], row["function"]))
            if rec is not None:
                rec.aliases[row["name"]] = orjson.loads(row["config"])

    def get(self, account: str, region: str, name: str) -> FunctionRecord | None:
        return self._by_key.get((account, region, name))

    def all(self) -> list[FunctionRecord]:
        return list(self._by_key.values())

    def in_scope(self, account: str, region: str) -> list[FunctionRecord]:
        return sorted((r for r in self._by_key.values() if r.account == account and r.region == region),
                      key=lambda r: r.name)

    def save(self, rec: FunctionRecord) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO lambda_functions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (rec.account, rec.region, rec.name, rec.version, orjson.dumps(rec.config), rec.code_digest,
             orjson.dumps(rec.tags), rec.reserved, rec.created, rec.last_version, orjson.dumps(rec.extras)))
        self._by_key[rec.key] = rec

    def save_version(self, rec: FunctionRecord, rev: Revision) -> None:
        """Publish: the version row and the $LATEST row's counter in one transaction."""
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO lambda_functions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (rec.account, rec.region, rec.name, rev.version, orjson.dumps(rev.config), rev.code_digest,
                          b"{}", None, time.time(), 0, b"{}"))
            conn.execute("UPDATE lambda_functions SET last_version=? WHERE account=? AND region=? AND name=? "
                         "AND version='$LATEST'", (rec.last_version, rec.account, rec.region, rec.name))
        rec.versions[rev.version] = rev

    def update_version(self, rec: FunctionRecord, rev: Revision) -> None:
        """A published version's configuration changed in what AWS lets change (its RevisionId)."""
        self.db.execute("UPDATE lambda_functions SET config=? WHERE account=? AND region=? AND name=? AND version=?",
                        (orjson.dumps(rev.config), rec.account, rec.region, rec.name, rev.version))
        rec.versions[rev.version] = rev

    def delete_version(self, rec: FunctionRecord, version: str) -> None:
        self.db.execute("DELETE FROM lambda_functions WHERE account=? AND region=? AND name=? AND version=?",
                        (rec.account, rec.region, rec.name, version))
        rec.versions.pop(version, None)

    def save_alias(self, rec: FunctionRecord, alias: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO lambda_aliases VALUES (?,?,?,?,?)",
                        (rec.account, rec.region, rec.name, alias["Name"], orjson.dumps(alias)))
        rec.aliases[alias["Name"]] = alias

    def delete_alias(self, rec: FunctionRecord, name: str) -> None:
        self.db.execute("DELETE FROM lambda_aliases WHERE account=? AND region=? AND function=? AND name=?",
                        (rec.account, rec.region, rec.name, name))
        rec.aliases.pop(name, None)

    def delete(self, rec: FunctionRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM lambda_functions WHERE account=? AND region=? AND name=?",
                         (rec.account, rec.region, rec.name))
            conn.execute("DELETE FROM lambda_aliases WHERE account=? AND region=? AND function=?",
                         (rec.account, rec.region, rec.name))
        self._by_key.pop(rec.key, None)

    def code_in_use(self, digest: str) -> bool:
        return any(r.code_digest == digest or any(v.code_digest == digest for v in r.versions.values())
                   for r in self._by_key.values())
