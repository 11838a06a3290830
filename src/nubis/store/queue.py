"""A durable work queue: an item put here survives kill -9 and is handed out again after restart.

At-least-once: an item is claimed (in flight) and deleted only when acknowledged; items
in flight when the process died are released on open.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from .db import BackgroundWriter, Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_items (
  id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, available_at REAL NOT NULL, claimed INTEGER NOT NULL DEFAULT 0,
  created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS queue_items_ready ON queue_items (queue, claimed, available_at);
"""


@dataclass(slots=True)
class QueueItem:
    id: int
    body: bytes
    attempts: int
    created: float


class DurableQueue:
    def __init__(self, db: Database, writer: BackgroundWriter, name: str) -> None:
        self.db = db
        self.writer = writer
        self.name = name
        db.ensure_schema(SCHEMA)
        # Whatever was in flight when the last process died is delivered again.
        db.execute("UPDATE queue_items SET claimed=0 WHERE queue=? AND claimed=1", (name,))

    async def put(self, body: bytes, delay_s: float = 0.0) -> int:
        """Returns once the item is committed to disk."""
        now = time.time()

        def write(conn: sqlite3.Connection) -> int:
            cur = conn.execute("INSERT INTO queue_items (queue, body, available_at, created) VALUES (?,?,?,?)",
                               (self.name, body, now + delay_s, now))
            return int(cur.lastrowid)

        return await self.writer.write(write)

    def claim(self, limit: int = 10) -> list[QueueItem]:
        now = time.time()
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, body, attempts, created FROM queue_items WHERE queue=? AND claimed=0 AND available_at<=? "
                "ORDER BY available_at, id LIMIT ?", (self.name, now, limit)).fetchall()
            if rows:
                conn.execute(f"UPDATE queue_items SET claimed=1, attempts=attempts+1 WHERE id IN "
                             f"({','.join('?' * len(rows))})", [r[0] for r in rows])
        return [QueueItem(r[0], r[1], r[2] + 1, r[3]) for r in rows]

    def next_due(self) -> float | None:
        row = self.db.query_one("SELECT min(available_at) FROM queue_items WHERE queue=? AND claimed=0", (self.name,))
        return row[0] if row and row[0] is not None else None

    def ack(self, item_id: int) -> None:
        self.db.execute("DELETE FROM queue_items WHERE id=?", (item_id,))

    def retry_later(self, item_id: int, delay_s: float, body: bytes | None = None) -> None:
        """Hand the item out again after delay_s, optionally with an updated body (e.g. an attempt count)."""
        if body is None:
            self.db.execute("UPDATE queue_items SET claimed=0, available_at=? WHERE id=?",
                            (time.time() + delay_s, item_id))
        else:
            self.db.execute("UPDATE queue_items SET claimed=0, available_at=?, body=? WHERE id=?",
                            (time.time() + delay_s, body, item_id))

    def pending(self) -> int:
        row = self.db.query_one("SELECT count(*) FROM queue_items WHERE queue=?", (self.name,))
        return int(row[0]) if row else 0
