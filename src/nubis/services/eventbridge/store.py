"""EventBridge state in SQLite: custom event buses, rules and their targets (control-plane rows,
written straight through the Database, so a rule and its schedule survive a restart)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson

from ...store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS events_buses (
  account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, description TEXT, tags TEXT NOT NULL,
  created REAL NOT NULL, PRIMARY KEY (account, region, name));
CREATE TABLE IF NOT EXISTS events_rules (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, region TEXT NOT NULL, bus TEXT NOT NULL,
  name TEXT NOT NULL, schedule TEXT, pattern TEXT, state TEXT NOT NULL, description TEXT, role_arn TEXT,
  tags TEXT NOT NULL, anchor REAL NOT NULL, UNIQUE (account, region, bus, name));
CREATE TABLE IF NOT EXISTS events_targets (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, region TEXT NOT NULL, bus TEXT NOT NULL,
  rule TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, UNIQUE (account, region, bus, rule, id));
"""


@dataclass
class Bus:
    account: str
    region: str
    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    @property
    def arn(self) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:event-bus/{self.name}"


@dataclass
class Rule:
    account: str
    region: str
    bus: str
    name: str
    schedule: str | None = None
    pattern: str | None = None
    state: str = "ENABLED"
    description: str | None = None
    role_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    anchor: float = field(default_factory=time.time)  # when a rate schedule starts counting
    seq: int = 0

    @property
    def arn(self) -> str:
        path = self.name if self.bus == "default" else f"{self.bus}/{self.name}"
        return f"arn:aws:events:{self.region}:{self.account}:rule/{path}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.account, self.region, self.bus, self.name)


def _rule(row) -> Rule:
    return Rule(row["account"], row["region"], row["bus"], row["name"], row["schedule"], row["pattern"],
                row["state"], row["description"], row["role_arn"], orjson.loads(row["tags"]), row["anchor"],
                row["seq"])


class EventsStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    # -- buses
    def bus(self, account: str, region: str, name: str) -> Bus | None:
        if name == "default":
            return Bus(account, region, "default")
        row = self.db.query_one("SELECT * FROM events_buses WHERE account=? AND region=? AND name=?",
                                (account, region, name))
        return Bus(row["account"], row["region"], row["name"], row["description"], orjson.loads(row["tags"]),
                   row["created"]) if row else None

    def buses(self, account: str, region: str) -> list[Bus]:
        rows = self.db.query("SELECT * FROM events_buses WHERE account=? AND region=? ORDER BY name",
                             (account, region))
        return [Bus(account, region, "default")] + [Bus(r["account"], r["region"], r["name"], r["description"],
                                                        orjson.loads(r["tags"]), r["created"]) for r in rows]

    def insert_bus(self, b: Bus) -> None:
        self.db.execute("INSERT INTO events_buses VALUES (?,?,?,?,?,?)",
                        (b.account, b.region, b.name, b.description, orjson.dumps(b.tags), b.created))

    def save_bus_tags(self, b: Bus) -> None:
        self.db.execute("UPDATE events_buses SET tags=? WHERE account=? AND region=? AND name=?",
                        (orjson.dumps(b.tags), b.account, b.region, b.name))

    def delete_bus(self, account: str, region: str, name: str) -> None:
        with self.db.transaction() as conn:
            for table in ("events_targets", "events_rules"):
                conn.execute(f"DELETE FROM {table} WHERE account=? AND region=? AND bus=?", (account, region, name))
            conn.execute("DELETE FROM events_buses WHERE account=? AND region=? AND name=?", (account, region, name))

    # -- rules
    def rule(self, account: str, region: str, bus: str, name: str) -> Rule | None:
        row = self.db.query_one("SELECT * FROM events_rules WHERE account=? AND region=? AND bus=? AND name=?",
                                (account, region, bus, name))
        return _rule(row) if row else None

    def rules(self, account: str, region: str, bus: str, prefix: str = "", after: str = "",
              limit: int = 2**31) -> list[Rule]:
        rows = self.db.query("SELECT * FROM events_rules WHERE account=? AND region=? AND bus=? AND name>? "
                             "AND substr(name, 1, ?)=? ORDER BY name LIMIT ?",
                             (account, region, bus, after, len(prefix), prefix, limit))
        return [_rule(r) for r in rows]

    def scheduled_rules(self) -> list[Rule]:
        rows = self.db.query("SELECT * FROM events_rules WHERE schedule IS NOT NULL AND state='ENABLED'")
        return [_rule(r) for r in rows]

    def save_rule(self, r: Rule) -> None:
        self.db.execute(
            "INSERT INTO events_rules (account, region, bus, name, schedule, pattern, state, description, role_arn, "
            "tags, anchor) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (account, region, bus, name) DO UPDATE SET "
            "schedule=excluded.schedule, pattern=excluded.pattern, state=excluded.state, "
            "description=excluded.description, role_arn=excluded.role_arn, tags=excluded.tags, anchor=excluded.anchor",
            (r.account, r.region, r.bus, r.name, r.schedule, r.pattern, r.state, r.description, r.role_arn,
             orjson.dumps(r.tags), r.anchor))

    def delete_rule(self, r: Rule) -> None:
        self.db.execute("DELETE FROM events_rules WHERE account=? AND region=? AND bus=? AND name=?", r.key)

    # -- targets
    def targets(self, r: Rule) -> list[dict]:
        rows = self.db.query("SELECT body FROM events_targets WHERE account=? AND region=? AND bus=? AND rule=? "
                             "ORDER BY seq", r.key)
        return [orjson.loads(row[0]) for row in rows]

    def put_targets(self, r: Rule, targets: list[dict]) -> None:
        with self.db.transaction() as conn:
            for t in targets:
                conn.execute("INSERT INTO events_targets (account, region, bus, rule, id, body) VALUES (?,?,?,?,?,?) "
                             "ON CONFLICT (account, region, bus, rule, id) DO UPDATE SET body=excluded.body",
                             (*r.key, t["Id"], orjson.dumps(t)))

    def remove_targets(self, r: Rule, ids: list[str]) -> None:
        with self.db.transaction() as conn:
            for i in ids:
                conn.execute("DELETE FROM events_targets WHERE account=? AND region=? AND bus=? AND rule=? AND id=?",
                             (*r.key, i))
