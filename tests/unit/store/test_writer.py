"""BackgroundWriter: lingering rows wait for company, urgent writes (and flushes) do not wait for them."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nubis.store.db import BackgroundWriter, BatchAppender, Database

LONG = 120.0  # a linger no test waits out: anything committed early was committed by an urgent write


@pytest.fixture
def setup(tmp_path: Path):
    path = tmp_path / "w.db"
    db = Database(path)
    db.ensure_schema("CREATE TABLE r (v TEXT NOT NULL);")
    writer = BackgroundWriter(path, linger_s=LONG)
    yield db, writer
    writer.close()
    db.close()


def _insert(conn: sqlite3.Connection, rows: list) -> None:
    conn.executemany("INSERT INTO r VALUES (?)", [(v,) for v in rows])


def _count(db: Database) -> int:
    return db.query_one("SELECT count(*) FROM r")[0]


def test_lingering_rows_commit_with_the_next_urgent_write(setup) -> None:
    db, writer = setup
    appender = BatchAppender(writer, _insert)
    lingering = appender.add("a")
    assert appender.add("b") is lingering  # one pending commit for all rows added meanwhile
    assert not lingering.done()
    urgent = writer.submit(lambda conn: conn.execute("INSERT INTO r VALUES ('c')").lastrowid)
    assert urgent.result(timeout=30) == 3  # ran after the pending flush, in the same transaction
    assert lingering.result(timeout=30) is None
    assert _count(db) == 3


def test_flush_commits_lingering_rows(setup) -> None:
    db, writer = setup
    appender = BatchAppender(writer, _insert)
    fut = appender.add("a")
    writer.flush()
    assert fut.done() and _count(db) == 1


def test_urgent_add_cuts_the_linger_short(setup) -> None:
    db, writer = setup
    appender = BatchAppender(writer, _insert)
    first = appender.add("a")
    second = appender.add("b", urgent=True)  # e.g. PutLogEvents, which answers once its events are committed
    assert second is first
    second.result(timeout=30)
    assert _count(db) == 2
    appender.add("c", urgent=True).result(timeout=30)  # nothing pending: an urgent commit of its own
    assert _count(db) == 3


def test_a_failing_write_loses_nothing_else(setup) -> None:
    db, writer = setup
    appender = BatchAppender(writer, _insert)
    ok = appender.add("a")
    bad = writer.submit(lambda conn: conn.execute("INSERT INTO r VALUES (NULL)"))
    with pytest.raises(sqlite3.IntegrityError):
        bad.result(timeout=30)
    ok.result(timeout=30)
    assert _count(db) == 1


def test_close_commits_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = Database(path)
    db.ensure_schema("CREATE TABLE r (v TEXT NOT NULL);")
    writer = BackgroundWriter(path, linger_s=LONG)
    fut = BatchAppender(writer, _insert).add("a")
    writer.close()
    assert fut.done() and _count(db) == 1
    db.close()
