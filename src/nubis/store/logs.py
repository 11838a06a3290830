"""Log groups, streams and events (what CloudWatch Logs serves), per account and region.

Writers append through the BackgroundWriter (the invocation path never waits on disk);
readers query the main connection after `flush()` so they see what was logged before.
"""
from __future__ import annotations

import functools
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
CREATE TABLE IF NOT EXISTS log_group_ids (
  id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, grp TEXT NOT NULL,
  UNIQUE (account, region, grp));
CREATE TABLE IF NOT EXISTS log_stream_ids (
  id INTEGER PRIMARY KEY, gid INTEGER NOT NULL, stream TEXT NOT NULL, UNIQUE (gid, stream));
CREATE TABLE IF NOT EXISTS log_records (
  id INTEGER PRIMARY KEY AUTOINCREMENT, gid INTEGER NOT NULL, sid INTEGER NOT NULL,
  ts INTEGER NOT NULL, ingestion INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS log_records_by_group ON log_records (gid, ts);
CREATE INDEX IF NOT EXISTS log_records_by_stream ON log_records (sid, ts);
"""
# Events are keyed by small integer ids (log_group_ids, log_stream_ids: never deleted, so an id
# never changes meaning) rather than by (account, region, group, stream) text: the two indexes
# every event goes into stay narrow, which halves the writer's cost per event.



@dataclass(frozen=True, slots=True)
class LogEvent:
    id: int
    stream: str
    timestamp: int
    ingestion: int
    message: str


def _now_ms() -> int:
    return int(time.time() * 1000)


def _migrate(db: Database) -> None:
    """Move events from the text-keyed `log_events` table (nubis 0.1.0 data dirs) to `log_records`, ids kept
    (page tokens stay valid), then drop it."""
    if db.query_one("SELECT 1 FROM sqlite_master WHERE type='table' AND name='log_events'") is None:
        return
    with db.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO log_group_ids (account, region, grp) "
                     "SELECT DISTINCT account, region, grp FROM log_events")
        conn.execute("INSERT OR IGNORE INTO log_stream_ids (gid, stream) SELECT DISTINCT g.id, e.stream "
                     "FROM log_events e JOIN log_group_ids g ON g.account=e.account AND g.region=e.region "
                     "AND g.grp=e.grp")
        conn.execute("INSERT INTO log_records (id, gid, sid, ts, ingestion, message) "
                     "SELECT e.id, g.id, s.id, e.ts, e.ingestion, e.message FROM log_events e "
                     "JOIN log_group_ids g ON g.account=e.account AND g.region=e.region AND g.grp=e.grp "
                     "JOIN log_stream_ids s ON s.gid=g.id AND s.stream=e.stream ORDER BY e.id")
        # Ids are never reused: carry over the old table's high-water mark.
        old = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='log_events'").fetchone()
        if old is not None:
            if conn.execute("UPDATE sqlite_sequence SET seq=max(seq, ?) WHERE name='log_records'",
                            (old[0],)).rowcount == 0:
                conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('log_records', ?)", (old[0],))
        conn.execute("DROP TABLE log_events")


class _KeyIds:
    """(account, region, group, stream) -> (group id, stream id), cached on the writer thread."""

    def __init__(self, writer: BackgroundWriter) -> None:
        self._writer = writer
        self._ids: dict[tuple[str, str, str, str], tuple[int, int]] = {}
        self._failed = writer.failed_commits

    def valid(self) -> None:
        # Ids inserted by a transaction that did not commit do not exist: forget them.
        if self._failed != self._writer.failed_commits or len(self._ids) > 100_000:
            self._ids.clear()
            self._failed = self._writer.failed_commits

    def forget(self) -> None:
        self._ids.clear()

    def get(self, conn: sqlite3.Connection, key: tuple[str, str, str, str]) -> tuple[int, int]:
        ids = self._ids.get(key)
        if ids is None:
            conn.execute("INSERT OR IGNORE INTO log_group_ids (account, region, grp) VALUES (?,?,?)", key[:3])
            gid = conn.execute("SELECT id FROM log_group_ids WHERE account=? AND region=? AND grp=?",
                               key[:3]).fetchone()[0]
            conn.execute("INSERT OR IGNORE INTO log_stream_ids (gid, stream) VALUES (?,?)", (gid, key[3]))
            sid = conn.execute("SELECT id FROM log_stream_ids WHERE gid=? AND stream=?", (gid, key[3])).fetchone()[0]
            ids = self._ids[key] = (gid, sid)
        return ids


def _write_events(keys: _KeyIds, conn: sqlite3.Connection, batches: list) -> None:
    """One transaction for many appends: groups and streams upserted once per batch, events in bulk."""
    keys.valid()
    try:
        streams: dict[tuple, list[int]] = {}
        rows = []
        for account, region, group, stream, ingestion, events in batches:
            times = [t for t, _ in events]
            key = (account, region, group, stream)
            span = streams.get(key)
            if span is None:
                gid, sid = keys.get(conn, key)
                span = streams[key] = [min(times), max(times), ingestion, gid, sid]
            else:
                gid, sid = span[3], span[4]
                span[0], span[1], span[2] = min(span[0], min(times)), max(span[1], max(times)), max(span[2], ingestion)
            rows += [(gid, sid, t, ingestion, m) for t, m in events]
        conn.executemany("INSERT OR IGNORE INTO log_groups VALUES (?,?,?,?,NULL)",
                         {(a, r, g, span[2]) for (a, r, g, _), span in streams.items()})
        conn.executemany(
            "INSERT INTO log_streams VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
            "first_event=min(coalesce(first_event, excluded.first_event), excluded.first_event), "
            "last_event=max(coalesce(last_event, 0), excluded.last_event), last_ingestion=excluded.last_ingestion",
            [(a, r, g, st, span[2], span[0], span[1], span[2]) for (a, r, g, st), span in streams.items()])
        insert_rows(conn, "log_records", ("gid", "sid", "ts", "ingestion", "message"), rows)
    except BaseException:
        keys.forget()  # this item's savepoint is rolled back, ids it inserted with it
        raise


class LogStore:
    def __init__(self, db: Database, writer: BackgroundWriter) -> None:
        self.db = db
        self.writer = writer
        db.ensure_schema(SCHEMA)
        _migrate(db)
        self._appender = BatchAppender(writer, functools.partial(_write_events, _KeyIds(writer)))

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
            conn.execute("DELETE FROM log_records WHERE gid=(SELECT id FROM log_group_ids WHERE account=? AND "
                         "region=? AND grp=?)", (account, region, group))
        return cur.rowcount == 1

    def delete_stream(self, account: str, region: str, group: str, stream: str) -> bool:
        self.writer.flush()
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM log_streams WHERE account=? AND region=? AND grp=? AND name=?",
                               (account, region, group, stream))
            conn.execute("DELETE FROM log_records WHERE sid=(SELECT s.id FROM log_stream_ids s JOIN log_group_ids g "
                         "ON g.id=s.gid WHERE g.account=? AND g.region=? AND g.grp=? AND s.stream=?)",
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
            # By stream (the (sid, ts) index), whose rows were mostly written together: fewer page reads.
            "SELECT g.*, (SELECT coalesce(sum(length(message)),0) FROM log_records e WHERE e.sid IN (SELECT s.id "
            "FROM log_stream_ids s JOIN log_group_ids k ON k.id=s.gid WHERE k.account=g.account AND "
            "k.region=g.region AND k.grp=g.name)) AS stored_bytes FROM log_groups g "
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
        gid = self.db.query_one("SELECT id FROM log_group_ids WHERE account=? AND region=? AND grp=?",
                                (account, region, group))
        if gid is None:
            return []
        # Named streams: select by stream ids alone, so SQLite walks the (sid, ts) index; otherwise
        # the (gid, ts) index, already in (timestamp, id) order.
        sql = ["SELECT e.id, e.sid, e.ts, e.ingestion, e.message FROM log_records e WHERE"]
        args: list = []
        if streams:
            sql.append(f"e.sid IN (SELECT id FROM log_stream_ids WHERE gid=? AND stream IN "
                       f"({','.join('?' * len(streams))}){' AND substr(stream,1,?)=?' if stream_prefix else ''})")
            args += [gid[0], *streams] + ([len(stream_prefix), stream_prefix] if stream_prefix else [])
        else:
            sql.append("e.gid=?")
            args.append(gid[0])
            if stream_prefix:
                sql.append("AND e.sid IN (SELECT id FROM log_stream_ids WHERE gid=? AND substr(stream,1,?)=?)")
                args += [gid[0], len(stream_prefix), stream_prefix]
        if start is not None:
            sql.append("AND e.ts >= ?")
            args.append(start)
        if end is not None:
            sql.append("AND e.ts < ?")
            args.append(end)
        if after_id:
            sql.append("AND e.id > ?")
            args.append(after_id)
        if before_id is not None:
            sql.append("AND e.id < ?")
            args.append(before_id)
        if after is not None:
            sql.append("AND (e.ts, e.id) > (?, ?)")
            args += list(after)
        if before is not None:
            sql.append("AND (e.ts, e.id) < (?, ?)")
            args += list(before)
        for term in contains_all or ():
            sql.append("AND instr(e.message, ?) > 0")
            args.append(term)
        if contains_any:
            sql.append("AND (" + " OR ".join("instr(e.message, ?) > 0" for _ in contains_any) + ")")
            args += contains_any
        for term in contains_none or ():
            sql.append("AND instr(e.message, ?) = 0")
            args.append(term)
        sql.append("ORDER BY e.ts DESC, e.id DESC" if descending else "ORDER BY e.ts, e.id")
        sql.append("LIMIT ?")
        args.append(limit)
        rows = self.db.query(" ".join(sql), args)
        if not rows:
            return []
        names = dict(self.db.query("SELECT id, stream FROM log_stream_ids WHERE gid=?", (gid[0],)))
        return [LogEvent(r[0], names[r[1]], r[2], r[3], r[4]) for r in rows]
