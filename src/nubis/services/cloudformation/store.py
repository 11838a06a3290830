"""Stacks, their resources, events and change sets in SQLite.

Records are small JSON documents keyed by ARN; a stack's resources and events are separate rows so
that a long deployment writes one row per step, not the whole stack."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from ...store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS cfn_stacks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, stack_id TEXT NOT NULL UNIQUE, account TEXT NOT NULL,
  region TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
  doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cfn_stacks_name ON cfn_stacks (account, region, name, deleted);
CREATE TABLE IF NOT EXISTS cfn_resources (
  stack_id TEXT NOT NULL, logical_id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (stack_id, logical_id));
CREATE TABLE IF NOT EXISTS cfn_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, stack_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cfn_events_stack ON cfn_events (stack_id, seq);
CREATE TABLE IF NOT EXISTS cfn_change_sets (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, arn TEXT NOT NULL UNIQUE, stack_id TEXT NOT NULL, name TEXT NOT NULL,
  doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cfn_change_sets_stack ON cfn_change_sets (stack_id, name);
"""

IN_PROGRESS_FAILED = {  # what a stack left mid-operation by a stopped server becomes
    "CREATE_IN_PROGRESS": "CREATE_FAILED", "ROLLBACK_IN_PROGRESS": "ROLLBACK_FAILED",
    "DELETE_IN_PROGRESS": "DELETE_FAILED", "UPDATE_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_COMPLETE", "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE",
}


@dataclass
class Stack:
    stack_id: str
    account: str
    region: str
    name: str
    status: str
    reason: str = ""
    template_body: str = ""  # as submitted (GetTemplate Original)
    processed: dict = field(default_factory=dict)  # after transforms (GetTemplate Processed)
    parameters: dict[str, str] = field(default_factory=dict)
    no_echo: list[str] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)
    tags: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    description: str | None = None
    created: float = field(default_factory=time.time)
    updated: float | None = None
    deleted_at: float | None = None
    disable_rollback: bool = False
    notification_arns: list[str] = field(default_factory=list)
    change_set_id: str | None = None
    termination_protection: bool = False

    def to_doc(self) -> bytes:
        return orjson.dumps({k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass
class Resource:
    logical_id: str
    type: str
    physical_id: str = ""
    status: str = ""
    reason: str = ""
    properties: dict = field(default_factory=dict)  # resolved, as last applied
    attributes: dict = field(default_factory=dict)  # for Fn::GetAtt
    updated: float = field(default_factory=time.time)
    definition: dict = field(default_factory=dict)  # the template entry last applied (for change sets)

    def to_doc(self) -> bytes:
        return orjson.dumps({k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass
class ChangeSet:
    arn: str
    name: str
    stack_id: str
    stack_name: str
    type: str  # CREATE | UPDATE
    status: str = "CREATE_PENDING"
    reason: str = ""
    execution_status: str = "UNAVAILABLE"
    template_body: str = ""
    processed: dict = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    no_echo: list[str] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)
    tags: list[dict] | None = None
    description: str | None = None
    changes: list[dict] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    notification_arns: list[str] = field(default_factory=list)

    def to_doc(self) -> bytes:
        return orjson.dumps({k: getattr(self, k) for k in self.__dataclass_fields__})


class CfnStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    # -- stacks
    def put_stack(self, s: Stack) -> None:
        self.db.execute(
            "INSERT INTO cfn_stacks (stack_id, account, region, name, status, deleted, doc) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT(stack_id) DO UPDATE SET status=excluded.status, deleted=excluded.deleted, doc=excluded.doc",
            (s.stack_id, s.account, s.region, s.name, s.status, int(s.status == "DELETE_COMPLETE"), s.to_doc()))

    def stack(self, account: str, region: str, name_or_id: str) -> Stack | None:
        if name_or_id.startswith("arn:"):
            row = self.db.query_one("SELECT doc FROM cfn_stacks WHERE stack_id=? AND account=?", (name_or_id, account))
        else:
            row = self.db.query_one("SELECT doc FROM cfn_stacks WHERE account=? AND region=? AND name=? AND deleted=0 "
                                    "ORDER BY seq DESC LIMIT 1", (account, region, name_or_id))
        return Stack(**orjson.loads(row["doc"])) if row else None

    def stacks(self, account: str, region: str, include_deleted: bool) -> list[Stack]:
        sql = "SELECT doc FROM cfn_stacks WHERE account=? AND region=?" + ("" if include_deleted else " AND deleted=0")
        return [Stack(**orjson.loads(r["doc"])) for r in self.db.query(sql + " ORDER BY seq DESC", (account, region))]

    def unfinished(self) -> list[Stack]:
        rows = self.db.query("SELECT doc FROM cfn_stacks WHERE status LIKE '%IN_PROGRESS' AND "
                             "status != 'REVIEW_IN_PROGRESS'")
        return [Stack(**orjson.loads(r["doc"])) for r in rows]

    def exports(self, account: str, region: str) -> dict[str, tuple[str, Any]]:
        out: dict[str, tuple[str, Any]] = {}
        for s in self.stacks(account, region, include_deleted=False):
            for o in s.outputs:
                if o.get("ExportName"):
                    out[o["ExportName"]] = (s.stack_id, o["OutputValue"])
        return out

    # -- resources
    def put_resource(self, stack_id: str, r: Resource) -> None:
        self.db.execute("INSERT INTO cfn_resources (stack_id, logical_id, doc) VALUES (?,?,?) ON CONFLICT"
                        "(stack_id, logical_id) DO UPDATE SET doc=excluded.doc", (stack_id, r.logical_id, r.to_doc()))

    def drop_resource(self, stack_id: str, logical_id: str) -> None:
        self.db.execute("DELETE FROM cfn_resources WHERE stack_id=? AND logical_id=?", (stack_id, logical_id))

    def resources(self, stack_id: str) -> dict[str, Resource]:
        rows = self.db.query("SELECT doc FROM cfn_resources WHERE stack_id=? ORDER BY rowid", (stack_id,))
        return {r.logical_id: r for r in (Resource(**orjson.loads(row["doc"])) for row in rows)}

    # -- events
    def add_event(self, stack: Stack, logical_id: str, physical_id: str, rtype: str, status: str,
                  reason: str = "", properties: dict | None = None) -> None:
        doc = {"StackId": stack.stack_id, "EventId": str(uuid.uuid4()), "StackName": stack.name,
               "LogicalResourceId": logical_id, "PhysicalResourceId": physical_id, "ResourceType": rtype,
               "Timestamp": time.time(), "ResourceStatus": status}
        if reason:
            doc["ResourceStatusReason"] = reason
        if properties is not None:
            doc["ResourceProperties"] = orjson.dumps(properties).decode()
        self.db.execute("INSERT INTO cfn_events (stack_id, doc) VALUES (?, ?)", (stack.stack_id, orjson.dumps(doc)))

    def events(self, stack_id: str) -> list[dict]:
        rows = self.db.query("SELECT doc FROM cfn_events WHERE stack_id=? ORDER BY seq DESC", (stack_id,))
        return [orjson.loads(r["doc"]) for r in rows]

    # -- change sets
    def put_change_set(self, c: ChangeSet) -> None:
        self.db.execute("INSERT INTO cfn_change_sets (arn, stack_id, name, doc) VALUES (?,?,?,?) ON CONFLICT(arn) "
                        "DO UPDATE SET doc=excluded.doc", (c.arn, c.stack_id, c.name, c.to_doc()))

    def change_set(self, arn_or_name: str, stack_id: str | None) -> ChangeSet | None:
        if arn_or_name.startswith("arn:"):
            row = self.db.query_one("SELECT doc FROM cfn_change_sets WHERE arn=?", (arn_or_name,))
        elif stack_id is None:
            return None
        else:
            row = self.db.query_one("SELECT doc FROM cfn_change_sets WHERE stack_id=? AND name=? ORDER BY seq DESC "
                                    "LIMIT 1", (stack_id, arn_or_name))
        return ChangeSet(**orjson.loads(row["doc"])) if row else None

    def change_sets(self, stack_id: str) -> list[ChangeSet]:
        rows = self.db.query("SELECT doc FROM cfn_change_sets WHERE stack_id=? ORDER BY seq", (stack_id,))
        return [ChangeSet(**orjson.loads(r["doc"])) for r in rows]

    def drop_change_set(self, arn: str) -> None:
        self.db.execute("DELETE FROM cfn_change_sets WHERE arn=?", (arn,))

    def drop_change_sets(self, stack_id: str) -> None:
        self.db.execute("DELETE FROM cfn_change_sets WHERE stack_id=?", (stack_id,))
