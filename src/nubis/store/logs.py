"""Log groups, streams and events (what CloudWatch Logs serves), per account and region.

Writers append through the BackgroundWriter (the invocation path never waits on disk);
readers query the main connection after `flush()` so they see what was logged before.
"""
from __future__ import annotations

import sqlite3
import time
from concurrent.futures import Future
from dataclasses import dataclass

from .db import BackgroundWriter, BatchAppender, Database, Row, insert_rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS log_groups (
  account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
  created INTEGER NOT NULL, retention_days INTEGER,
  PRIMARY KEY (account, region, name));
CREATE TABLE IF NOT EXISTS log_streams (
  account TEXT NOT NULL, region TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL,
  created INTEGER NOT NULL, first_event INTEGER, last_event INTEGER, last_ingestion INTEGER,
  PRIMARY KEY (account, region, grp, name));
CREATE TABLE IF NOT EXISTS log_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL, region TEXT NOT NULL, grp TEXT NOT NULL, stream TEXT NOT NULL,
  ts INTEGER NOT NULL, ingestion INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS log_events_by_group ON log_events (account, region, grp, ts);
CREATE INDEX IF NOT EXISTS log_events_by_stream ON log_events (account, region, grp, stream, ts);
"""


@dataclass(frozen=True, slots=True)
class LogEvent:
    id: int
    stream: str
    timestamp: int
    ingestion: int
    message: str


def _now_ms() -> int:
    return int(time.time() * 1000)


def _write_events(conn: sqlite3.Connection, batches: list) -> None:
    """One transaction for many appends: groups and streams upserted once per batch, events in bulk."""
    streams: dict[tuple, list[int]] = {}
    rows = []
    for account, region, group, stream, ingestion, events in batches:
        times = [t for t, _ in events]
        key = (account, region, group, stream)
        span = streams.setdefault(key, [min(times), max(times), ingestion])
        span[0], span[1], span[2] = min(span[0], min(times)), max(span[1], max(times)), max(span[2], ingestion)
        rows += [(account, region, group, stream, t, ingestion, m) for t, m in events]
    conn.executemany("INSERT OR IGNORE INTO log_groups VALUES (?,?,?,?,NULL)",
                     {(a, r, g, span[2]) for (a, r, g, _), span in streams.items()})
    conn.executemany(
        "INSERT INTO log_streams VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
        "first_event=min(coalesce(first_event, excluded.first_event), excluded.first_event), "
        "last_event=max(coalesce(last_event, 0), excluded.last_event), last_ingestion=excluded.last_ingestion",
        [(a, r, g, st, span[2], span[0], span[1], span[2]) for (a, r, g, st), span in streams.items()])
    insert_rows(conn, "log_events", ("account", "region", "grp", "stream", "ts", "ingestion", "message"), rows)


class LogStore:
    def __init__(self, db: Database, writer: BackgroundWriter) -> None:
        self.db = db
        self.writer = writer
        self._appender = BatchAppender(writer, _write_events)
        db.ensure_schema(SCHEMA)

    # -- writing
    def append(self, account: str, region: str, group: str, stream: str,
               events: list[tuple[int, str]], urgent: bool = False) -> Future | None:
        """Queue events for commit; creates the group and stream as needed (as Lambda does).

        Returns the commit's future so an API caller (PutLogEvents) can answer only once it is durable;
        such a caller passes urgent=True so the commit does not wait for the writer's linger.
        """
        if not events:
            return None
        return self._appender.add((account, region, group, stream, _now_ms(), events), urgent)

    def create_group(self, account: str, region: str, group: str) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO log_groups VALUES (?,?,?,?,NULL)",
                              (account, region, group, _now_ms()))
        return cur.rowcount == 1

    def create_stream(self, account: str, region: str, group: str, stream: str) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO log_streams VALUES (?,?,?,?,?,NULL,NULL,NULL)",
                              (account, region, group, stream, _now_ms()))
        return cur.rowcount == 1

    def delete_group(self, account: str, region: str, group: str) -> bool:
        self.writer.flush()
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM log_groups WHERE account=? AND region=? AND name=?",
                               (account, region, group))
            conn.execute("DELETE FROM log_streams WHERE account=? AND region=? AND grp=?", (account, region, group))
            conn.execute("DELETE FROM log_events WHERE account=? AND region=? AND grp=?", (account, region, group))
        return cur.rowcount == 1

    def delete_stream(self, account: str, region: str, group: str, stream: str) -> bool:
        self.writer.flush()
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM log_streams WHERE account=? AND region=? AND grp=? AND name=?",
                               (account, region, group, stream))
            conn.execute("DELETE FROM log_events WHERE account=? AND region=? AND grp=? AND stream=?",
                         (account, region, group, stream))
        return cur.rowcount == 1

    def set_retention(self, account: str, region: str, group: str, days: int | None) -> bool:
        cur = self.db.execute("UPDATE log_groups SET retention_days=? WHERE account=? AND region=? AND name=?",
                              (days, account, region, group))
        return cur.rowcount == 1

    # -- reading
    def group(self, account: str, region: str, group: str) -> Row | None:
        return self.db.query_one("SELECT * FROM log_groups WHERE account=? AND region=? AND name=?",
                                 (account, region, group))

    def groups(self, account: str, region: str, prefix: str = "", after: str = "", limit: int = 50,
               contains: str = "") -> list[Row]:
        """Groups in name order after `after`; `contains` is a case-sensitive substring match."""
        self.writer.flush()
        return self.db.query(
            "SELECT g.*, (SELECT coalesce(sum(length(message)),0) FROM log_events e WHERE e.account=g.account "
            "AND e.region=g.region AND e.grp=g.name) AS stored_bytes FROM log_groups g "
            "WHERE account=? AND region=? AND name >= ? AND name > ? AND substr(name,1,?)=? "
            "AND instr(name, ?) > 0 ORDER BY name LIMIT ?",
            (account, region, prefix, after, len(prefix), prefix, contains, limit))

    def streams(self, account: str, region: str, group: str, *, prefix: str = "", order_by_time: bool = False,
                descending: bool = False, offset: int = 0, limit: int = 50) -> list[Row]:
        self.writer.flush()
        order = "coalesce(last_event, created)" if order_by_time else "name"
        direction = "DESC" if descending else "ASC"
        return self.db.query(
            f"SELECT * FROM log_streams WHERE account=? AND region=? AND grp=? AND substr(name,1,?)=? "
            f"ORDER BY {order} {direction}, name {direction} LIMIT ? OFFSET ?",
            (account, region, group, len(prefix), prefix, limit, offset))

    def stream(self, account: str, region: str, group: str, stream: str) -> Row | None:
        return self.db.query_one("SELECT * FROM log_streams WHERE account=? AND region=? AND grp=? AND name=?",
                                 (account, region, group, stream))

    def events(self, account: str, region: str, group: str, *, streams: list[str] | None = None,
               stream_prefix: str = "", start: int | None = None, end: int | None = None,
               after_id: int = 0, before_id: int | None = None,
               after: tuple[int, int] | None = None, before: tuple[int, int] | None = None,
               contains_all: list[str] | None = None, contains_any: list[str] | None = None,
               contains_none: list[str] | None = None, descending: bool = False,
               limit: int = 10000) -> list[LogEvent]:
        """Events ordered by (timestamp, id), which is how CloudWatch Logs orders them.

        `after`/`before` are exclusive (timestamp, id) positions, so a reader's page token stays valid
        while events keep arriving. `contains_*` are case-sensitive substring tests on the message
        (`contains_any` matches when any one is present).
        """
        self.writer.flush()
        sql = ["SELECT id, stream, ts, ingestion, message FROM log_events WHERE account=? AND region=? AND grp=?"]
        args: list = [account, region, group]
        if streams:
            sql.append(f"AND stream IN ({','.join('?' * len(streams))})")
            args += streams
        if stream_prefix:
            sql.append("AND substr(stream,1,?)=?")
            args += [len(stream_prefix), stream_prefix]
        if start is not None:
            sql.append("AND ts >= ?")
            args.append(start)
        if end is not None:
            sql.append("AND ts < ?")
            args.append(end)
        if after_id:
            sql.append("AND id > ?")
            args.append(after_id)
        if before_id is not None:
            sql.append("AND id < ?")
            args.append(before_id)
        if after is not None:
            sql.append("AND (ts, id) > (?, ?)")
            args += list(after)
        if before is not None:
            sql.append("AND (ts, id) < (?, ?)")
            args += list(before)
        for term in contains_all or ():
            sql.append("AND instr(message, ?) > 0")
            args.append(term)
        if contains_any:
            sql.append("AND (" + " OR ".join("instr(message, ?) > 0" for _ in contains_any) + ")")
            args += contains_any
        for term in contains_none or ():
            sql.append("AND instr(message, ?) = 0")
            args.append(term)
        sql.append("ORDER BY ts DESC, id DESC" if descending else "ORDER BY ts, id")
        sql.append("LIMIT ?")
        args.append(limit)
        rows = self.db.query(" ".join(sql), args)
        return [LogEvent(r[0], r[1], r[2], r[3], r[4]) for r in rows]
