"""One metering record per invocation: what billing and `nubis usage` read."""
from __future__ import annotations

import sqlite3

from .db import BackgroundWriter, BatchAppender, Database, Row, insert_rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
  request_id TEXT NOT NULL, account TEXT NOT NULL, region TEXT NOT NULL,
  function TEXT NOT NULL, version TEXT NOT NULL, start REAL NOT NULL,
  duration_ms REAL NOT NULL, billed_ms INTEGER NOT NULL, memory_mb INTEGER NOT NULL,
  max_memory_mb INTEGER NOT NULL, init_ms REAL, cold INTEGER NOT NULL, outcome TEXT NOT NULL,
  architecture TEXT NOT NULL DEFAULT 'x86_64');
CREATE INDEX IF NOT EXISTS invocations_by_time ON invocations (account, region, start);
"""

COLUMNS = ("request_id", "account", "region", "function", "version", "start", "duration_ms", "billed_ms",
           "memory_mb", "max_memory_mb", "init_ms", "cold", "outcome", "architecture")


def _insert(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    insert_rows(conn, "invocations", COLUMNS, rows)


class UsageStore:
    def __init__(self, db: Database, writer: BackgroundWriter) -> None:
        self.db = db
        self.writer = writer
        self._appender = BatchAppender(writer, _insert)
        db.ensure_schema(SCHEMA)

    def record(self, values: dict) -> None:
        self._appender.add(tuple(values[c] for c in COLUMNS))

    def add_row(self, row: tuple) -> None:
        """:meth:`record` for the hot path: the values already in COLUMNS order."""
        self._appender.add(row)

    def records(self, *, account: str | None = None, region: str | None = None, function: str | None = None,
                since: float | None = None, until: float | None = None) -> list[Row]:
        self.writer.flush()
        sql, args = ["SELECT * FROM invocations WHERE 1=1"], []
        for col, val in (("account", account), ("region", region), ("function", function)):
            if val is not None:
                sql.append(f"AND {col}=?")
                args.append(val)
        if since is not None:
            sql.append("AND start >= ?")
            args.append(since)
        if until is not None:
            sql.append("AND start < ?")
            args.append(until)
        sql.append("ORDER BY start")
        return self.db.query(" ".join(sql), args)
