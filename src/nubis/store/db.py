"""SQLite in WAL mode behind a tiny interface, plus a background writer for hot-path records.

Control-plane writes are rare and go straight through `Database.execute`. Per-invocation
records (log events, usage) are many and small: `BackgroundWriter` commits them in batches
from its own thread so the event loop never waits on fsync, and callers that need
durability before answering (an accepted async event) await the commit.
"""
from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

Row = sqlite3.Row

# `->>` (SQLite 3.38+) extracts a JSON value as the SQL value: numbers stay numbers, strings text.
_JSON_ROWS = sqlite3.sqlite_version_info >= (3, 38, 0)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL is crash-safe against a killed process (kill -9): committed pages are in the OS cache.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Database:
    """One SQLite file; one connection used from the event-loop thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = _connect(path)
        self._lock = threading.RLock()

    def ensure_schema(self, ddl: str) -> None:
        with self._lock:
            self.conn.executescript(ddl)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.conn.execute(sql, tuple(params))

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        with self._lock:
            return self.conn.execute(sql, tuple(params)).fetchall()

    def query_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        with self._lock:
            return self.conn.execute(sql, tuple(params)).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def insert_rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list[tuple],
                verb: str = "INSERT") -> None:
    """Insert many rows with a single statement step.

    The rows travel as one JSON array read back by json_each, so SQLite does the whole insert in one
    sqlite3_step with the GIL released. executemany re-takes the GIL for every row; from the writer
    thread each of those is a chance to stall the event loop for a switch interval (5 ms).
    Rows the JSON route cannot carry exactly (bytes, or NUL characters, which json_each truncates at)
    go through executemany.
    """
    names = ", ".join(columns)
    if _JSON_ROWS and rows:
        try:
            blob = orjson.dumps(rows)
        except TypeError:
            blob = None
        if blob is not None and b"\\u0000" not in blob:
            values = ", ".join(f"value->>{i}" for i in range(len(columns)))
            conn.execute(f"{verb} INTO {table} ({names}) SELECT {values} FROM json_each(?)", (blob,))
            return
    conn.executemany(f"{verb} INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)


WriteFn = Callable[[sqlite3.Connection], Any]


def _nothing(conn: sqlite3.Connection) -> None:
    """A write that commits whatever was queued before it (flush)."""


class BackgroundWriter:
    """Runs write functions on a dedicated thread and connection, many per transaction.

    Two kinds of work: urgent (the default: someone is waiting, e.g. an async event that must be
    on disk before its 202, or a reader's flush) is committed as soon as the writer is free, along
    with whatever else is queued by then; lingering work (per-invocation log and usage rows, see
    BatchAppender) waits up to `linger_s` so that one transaction carries many invocations.
    """

    def __init__(self, path: Path, max_batch: int = 500, linger_s: float = 0.005) -> None:
        self._linger_s = linger_s
        self._queue: queue.SimpleQueue[tuple[WriteFn, Future, bool] | None] = queue.SimpleQueue()
        self._conn = _connect(path)
        self._max_batch = max_batch
        self.failed_commits = 0  # transactions rolled back whole (callers caching inserted ids check it)
        self._thread = threading.Thread(target=self._run, name="nubis-store-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: WriteFn, linger: bool = False) -> Future:
        """Queue fn; its future resolves once the transaction that ran it is committed."""
        fut: Future = Future()
        self._queue.put((fn, fut, not linger))
        return fut

    async def write(self, fn: WriteFn) -> Any:
        """Run fn in the writer and wait until its transaction is committed."""
        return await asyncio.wrap_future(self.submit(fn))

    def flush(self) -> None:
        """Block until everything submitted so far is committed."""
        self.submit(_nothing).result()

    async def aflush(self) -> None:
        await self.write(_nothing)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._conn.close()

    def _run(self) -> None:
        get, get_nowait, clock = self._queue.get, self._queue.get_nowait, time.monotonic
        while True:
            item = get()
            if item is None:
                return
            batch = [item]
            urgent = item[2]
            deadline = clock() + self._linger_s
            stop = False
            while len(batch) < self._max_batch:
                try:
                    if urgent:
                        nxt = get_nowait()
                    else:  # group commit: gather until the linger ends or someone is waiting
                        left = deadline - clock()
                        nxt = get(timeout=left) if left > 0 else get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
                urgent = urgent or nxt[2]
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[WriteFn, Future, bool]]) -> None:
        results: list[tuple[Future, Any, BaseException | None]] = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for fn, fut, _ in batch:
                self._conn.execute("SAVEPOINT item")
                try:
                    results.append((fut, fn(self._conn), None))
                    self._conn.execute("RELEASE item")
                except Exception as exc:  # one bad record must not lose the others
                    self._conn.execute("ROLLBACK TO item")
                    self._conn.execute("RELEASE item")
                    results.append((fut, None, exc))
            self._conn.execute("COMMIT")
        except Exception as exc:
            self.failed_commits += 1
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for _fn, fut, _ in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut, value, exc in results:
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)


class BatchAppender:
    """Collects rows from the hot path and writes each batch with one call on the writer thread.

    Adding a row is a list append; the writer's linger gathers the rows of many invocations into
    one transaction. `add` returns the future of the commit that will contain the row; an urgent
    add (a caller waits for that commit) cuts the linger short.
    """

    def __init__(self, writer: BackgroundWriter, apply: Callable[[sqlite3.Connection, list], None]) -> None:
        self._writer = writer
        self._apply = apply
        self._rows: list = []
        self._future: Future | None = None
        self._lock = threading.Lock()

    def add(self, row: Any, urgent: bool = False) -> Future:
        with self._lock:
            self._rows.append(row)
            fut = self._future
            if fut is None:
                fut = self._future = self._writer.submit(self._flush, linger=not urgent)
            elif urgent:
                self._writer.submit(_nothing)  # queued after the pending flush: both go in the next commit
            return fut

    def _flush(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            rows, self._rows, self._future = self._rows, [], None
        if rows:
            self._apply(conn, rows)
