"""Log events keyed by integer group/stream ids: a data dir from the text-keyed schema is migrated
with its event ids (page tokens) kept, and ids stay right across deletes, failures and restarts."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nubis.store.db import BackgroundWriter, Database
from nubis.store.logs import LogStore

A, R = "123456789012", "eu-west-1"

OLD_SCHEMA = """
CREATE TABLE log_groups (account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
  created INTEGER NOT NULL, retention_days INTEGER, PRIMARY KEY (account, region, name));
CREATE TABLE log_streams (account TEXT NOT NULL, region TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL,
  created INTEGER NOT NULL, first_event INTEGER, last_event INTEGER, last_ingestion INTEGER,
  PRIMARY KEY (account, region, grp, name));
CREATE TABLE log_events (id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL, region TEXT NOT NULL, grp TEXT NOT NULL, stream TEXT NOT NULL,
  ts INTEGER NOT NULL, ingestion INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX log_events_by_group ON log_events (account, region, grp, ts);
CREATE INDEX log_events_by_stream ON log_events (account, region, grp, stream, ts);
"""


@contextmanager
def _opened(path: Path) -> Iterator[tuple[Database, LogStore]]:
    """A LogStore over ``path``, closed (writer, then database) on exit, as a server stop would."""
    db = Database(path)
    writer = BackgroundWriter(path)
    try:
        yield db, LogStore(db, writer)
    finally:
        writer.close()
        db.close()


def test_text_keyed_events_are_migrated_with_their_ids(tmp_path: Path) -> None:
    path = tmp_path / "nubis.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.execute("INSERT INTO log_groups VALUES (?,?,?,1,NULL)", (A, R, "/g1"))
    conn.execute("INSERT INTO log_groups VALUES (?,?,?,1,7)", (A, R, "/g2"))
    conn.execute("INSERT INTO log_streams VALUES (?,?,?,?,1,10,30,5)", (A, R, "/g1", "s1"))
    conn.execute("INSERT INTO log_streams VALUES (?,?,?,?,1,20,20,5)", (A, R, "/g2", "s1"))
    for ts, grp, stream, msg in [(10, "/g1", "s1", "a\n"), (30, "/g1", "s1", "b\n"), (20, "/g2", "s1", "c\n"),
                                 (25, "/g1", "s2", "d\n"), (99, "/g1", "s1", "deleted later\n")]:
        conn.execute("INSERT INTO log_events (account, region, grp, stream, ts, ingestion, message) "
                     "VALUES (?,?,?,?,?,5,?)", (A, R, grp, stream, ts, msg))
    conn.execute("DELETE FROM log_events WHERE id=5")  # the high-water mark (5) is above the last id (4)
    conn.commit()
    conn.close()

    with _opened(path) as (db, store):
        g1 = store.events(A, R, "/g1")
        assert [(e.id, e.stream, e.timestamp, e.message) for e in g1] == [
            (1, "s1", 10, "a\n"), (4, "s2", 25, "d\n"), (2, "s1", 30, "b\n")]
        assert [(e.id, e.message) for e in store.events(A, R, "/g2")] == [(3, "c\n")]
        assert [e.message for e in store.events(A, R, "/g1", streams=["s2"])] == ["d\n"]
        assert [e.message for e in store.events(A, R, "/g1", after=(10, 1))] == ["d\n", "b\n"]
        assert db.query_one("SELECT 1 FROM sqlite_master WHERE name='log_events'") is None
        assert {r["name"]: (r["retention_days"], r["stored_bytes"]) for r in store.groups(A, R)} == {
            "/g1": (None, 6), "/g2": (7, 2)}
        store.append(A, R, "/g1", "s1", [(40, "new\n")]).result(timeout=30)
        assert store.events(A, R, "/g1")[-1].id == 6  # never reuses an id the old table handed out


def test_deleted_streams_and_groups_come_back_empty_and_events_persist(tmp_path: Path) -> None:
    path = tmp_path / "nubis.db"
    with _opened(path) as (db, store):
        store.append(A, R, "/g", "s1", [(1, "one\n")])
        store.append(A, R, "/g", "s2", [(2, "two\n")])
        assert store.delete_stream(A, R, "/g", "s1")
        assert [e.message for e in store.events(A, R, "/g")] == ["two\n"]
        store.append(A, R, "/g", "s1", [(3, "again\n")])  # the writer's cached ids for s1 still hold
        assert [(e.stream, e.message) for e in store.events(A, R, "/g")] == [("s2", "two\n"), ("s1", "again\n")]
        assert store.delete_group(A, R, "/g")
        assert store.events(A, R, "/g") == [] and store.group(A, R, "/g") is None
        store.append(A, R, "/g", "s2", [(4, "back\n")])
        assert [e.message for e in store.events(A, R, "/g")] == ["back\n"]
        assert store.stream(A, R, "/g", "s2")["first_event"] == 4
    with _opened(path) as (db, store):  # a restart: ids are read back from the database
        store.append(A, R, "/g", "s2", [(5, "after restart\n")])
        store.append(A, R, "/other", "s2", [(5, "elsewhere\n")])
        assert [e.message for e in store.events(A, R, "/g", streams=["s2"])] == ["back\n", "after restart\n"]
        assert [e.message for e in store.events(A, R, "/other")] == ["elsewhere\n"]
        assert store.events(A, R, "/missing") == []


def test_a_rolled_back_batch_does_not_leave_stale_ids(tmp_path: Path) -> None:
    path = tmp_path / "nubis.db"
    with _opened(path) as (db, store):
        # A message SQLite refuses (a lone surrogate cannot be encoded) fails its batch after the new
        # group and stream ids were inserted in that batch's savepoint.
        bad = store.append(A, R, "/new", "s", [(1, "ok\n"), (2, "bad \ud800\n")])
        try:
            bad.result(timeout=30)
        except Exception:
            pass
        store.append(A, R, "/new", "s", [(3, "fine\n")]).result(timeout=30)
        assert [(e.stream, e.message) for e in store.events(A, R, "/new")] == [("s", "fine\n")]
