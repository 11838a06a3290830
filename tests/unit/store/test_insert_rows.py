"""insert_rows: the one-statement (json_each) route must store exactly what executemany would."""
from __future__ import annotations

import sqlite3

import pytest

from nubis.store import db as dbmod
from nubis.store.db import insert_rows

ROWS = [
    ("plain", 1, 1718000000.1234567, None),
    ("tabs\tand\nnewlines, \"quotes\" and \\backslashes\\ \\u0000 literally", -5, 0.1, 3),
    ("unicode \u00e9\u2028\U0001f600", 2**62, 1e-300, 0),
    ("", 0, 12345.0, None),
]


def _table() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (a TEXT NOT NULL, b INTEGER NOT NULL, c REAL NOT NULL, d INTEGER)")
    return conn


@pytest.mark.parametrize("json_rows", [True, False])
def test_rows_round_trip_exactly(monkeypatch, json_rows: bool) -> None:
    monkeypatch.setattr(dbmod, "_JSON_ROWS", json_rows and dbmod._JSON_ROWS)
    conn = _table()
    insert_rows(conn, "t", ("a", "b", "c", "d"), ROWS)
    got = conn.execute("SELECT a, b, c, d, typeof(b), typeof(c) FROM t ORDER BY rowid").fetchall()
    assert [g[:4] for g in got] == ROWS
    assert {(g[4], g[5]) for g in got} == {("integer", "real")}


def test_nul_characters_are_kept(monkeypatch) -> None:
    # json_each would cut the text at U+0000; such batches go through executemany.
    conn = _table()
    rows = [("before\x00after", 1, 1.0, None), ("ok", 2, 2.0, None)]
    insert_rows(conn, "t", ("a", "b", "c", "d"), rows)
    assert conn.execute("SELECT a, length(CAST(a AS BLOB)) FROM t ORDER BY rowid").fetchall() == [("before\x00after", 12), ("ok", 2)]


def test_values_json_cannot_carry_use_executemany() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE b (x BLOB)")
    insert_rows(conn, "b", ("x",), [(b"\x00\xff",)])
    assert conn.execute("SELECT x FROM b").fetchone() == (b"\x00\xff",)


def test_empty_and_failing_batches() -> None:
    conn = _table()
    insert_rows(conn, "t", ("a", "b", "c", "d"), [])
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    with pytest.raises(sqlite3.IntegrityError):  # NOT NULL still enforced on the JSON route
        insert_rows(conn, "t", ("a", "b", "c", "d"), [(None, 1, 1.0, None)])
