"""Queues and messages in SQLite.

Queue definitions are control-plane rows written straight through the Database. Every change to
messages (send, receive, delete, visibility, purge) runs as one function on the BackgroundWriter's
thread: those calls are serialized, so a receive's select-and-claim is atomic, and many of them share
one commit. A call returns only after its commit, so a message SendMessage accepted survives kill -9;
receipts are written the same way, so an in-flight message stays invisible across a restart until its
visibility timeout ends.
"""
from __future__ import annotations

import base64
import binascii
import secrets
import sqlite3
import time
from dataclasses import dataclass, field

import orjson

from ...store.db import BackgroundWriter, Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS sqs_queues (
  account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, attributes TEXT NOT NULL, tags TEXT NOT NULL,
  created REAL NOT NULL, modified REAL NOT NULL, PRIMARY KEY (account, region, name));
CREATE TABLE IF NOT EXISTS sqs_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
  attrs BLOB, md5_body TEXT NOT NULL, system BLOB, sent_ms INTEGER NOT NULL, visible_at REAL NOT NULL,
  receives INTEGER NOT NULL DEFAULT 0, first_receive_ms INTEGER, receipt TEXT, group_id TEXT, dedup_id TEXT);
CREATE INDEX IF NOT EXISTS sqs_messages_queue ON sqs_messages (queue, visible_at);
CREATE TABLE IF NOT EXISTS sqs_dedup (
  queue TEXT NOT NULL, dedup_key TEXT NOT NULL, message_id TEXT NOT NULL, seq INTEGER NOT NULL,
  expires REAL NOT NULL, PRIMARY KEY (queue, dedup_key));
"""

DEDUP_WINDOW_S = 300.0
SCAN_PAGE = 200


@dataclass
class Queue:
    account: str
    region: str
    name: str
    attributes: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{self.name}"

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"

    def int_attr(self, name: str, default: int) -> int:
        try:
            return int(self.attributes.get(name, default))
        except ValueError:
            return default

    @property
    def redrive(self) -> tuple[str, int] | None:
        text = self.attributes.get("RedrivePolicy")
        if not text:
            return None
        doc = orjson.loads(text)
        return str(doc["deadLetterTargetArn"]), int(doc["maxReceiveCount"])


@dataclass(slots=True)
class NewMessage:
    message_id: str
    body: str
    attrs: bytes | None  # JSON of the message attributes (binary values base64)
    md5_body: str
    system: bytes | None  # JSON of system attributes set by the sender (SenderId, AWSTraceHeader, ...)
    delay_s: int
    group_id: str | None = None
    dedup_key: str | None = None  # FIFO: the deduplication key within its scope
    dedup_id: str | None = None


@dataclass(slots=True)
class Stored:
    """A message row as a receive hands it out."""

    seq: int
    message_id: str
    body: str
    attrs: bytes | None
    md5_body: str
    system: bytes | None
    sent_ms: int
    receives: int
    first_receive_ms: int | None
    group_id: str | None
    dedup_id: str | None
    receipt: str


def receipt_handle(queue_arn: str, seq: int, nonce: str) -> str:
    return base64.urlsafe_b64encode(f"{seq}:{nonce}:{queue_arn}".encode()).decode()


def parse_receipt(handle: str) -> tuple[str, int, str] | None:
    """(queue ARN, message seq, nonce), or None for a string that is no receipt handle of ours."""
    try:
        text = base64.urlsafe_b64decode(handle.encode("ascii")).decode()
        seq, nonce, arn = text.split(":", 2)
        return arn, int(seq), nonce
    except (binascii.Error, UnicodeError, ValueError):
        return None


class SqsStore:
    def __init__(self, db: Database, writer: BackgroundWriter) -> None:
        self.db = db
        self.writer = writer
        db.ensure_schema(SCHEMA)

    # -- queues (control plane)
    def load_queues(self) -> list[Queue]:
        return [Queue(r["account"], r["region"], r["name"], orjson.loads(r["attributes"]), orjson.loads(r["tags"]),
                      r["created"], r["modified"]) for r in self.db.query("SELECT * FROM sqs_queues")]

    def save_queue(self, q: Queue) -> None:
        self.db.execute("INSERT OR REPLACE INTO sqs_queues VALUES (?,?,?,?,?,?,?)",
                        (q.account, q.region, q.name, orjson.dumps(q.attributes).decode(),
                         orjson.dumps(q.tags).decode(), q.created, q.modified))

    async def delete_queue(self, q: Queue) -> None:
        arn = q.arn

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sqs_queues WHERE account=? AND region=? AND name=?", (q.account, q.region, q.name))
            conn.execute("DELETE FROM sqs_messages WHERE queue=?", (arn,))
            conn.execute("DELETE FROM sqs_dedup WHERE queue=?", (arn,))

        await self.writer.write(run)

    # -- messages
    async def insert(self, queue_arn: str, messages: list[NewMessage]) -> list[tuple[str, int]]:
        """Store messages; returns (MessageId, seq) for each, the original's for a FIFO duplicate."""
        def run(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            now = time.time()
            now_ms = int(now * 1000)
            out = []
            for m in messages:
                if m.dedup_key is not None:
                    row = conn.execute("SELECT message_id, seq FROM sqs_dedup WHERE queue=? AND dedup_key=? AND "
                                       "expires>?", (queue_arn, m.dedup_key, now)).fetchone()
                    if row is not None:
                        out.append((row[0], row[1]))
                        continue
                cur = conn.execute(
                    "INSERT INTO sqs_messages (queue, message_id, body, attrs, md5_body, system, sent_ms, visible_at, "
                    "group_id, dedup_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (queue_arn, m.message_id, m.body, m.attrs, m.md5_body, m.system, now_ms, now + m.delay_s,
                     m.group_id, m.dedup_id))
                seq = int(cur.lastrowid)
                if m.dedup_key is not None:
                    conn.execute("INSERT OR REPLACE INTO sqs_dedup VALUES (?,?,?,?,?)",
                                 (queue_arn, m.dedup_key, m.message_id, seq, now + DEDUP_WINDOW_S))
                out.append((m.message_id, seq))
            if len(out) and secrets.randbelow(64) == 0:
                conn.execute("DELETE FROM sqs_dedup WHERE expires<=?", (now,))
            return out

        return await self.writer.write(run)

    async def claim(self, queue: Queue, limit: int, visibility_s: int,
                    dead_letter: str | None) -> tuple[list[Stored], int]:
        """Receive up to `limit` visible messages (FIFO: in order, skipping groups with a message in
        flight); messages past the redrive policy's maxReceiveCount move to `dead_letter` instead.
        Returns the messages and how many moved."""
        arn, fifo = queue.arn, queue.fifo
        redrive = queue.redrive
        max_receives = redrive[1] if redrive and dead_letter else None
        retention_ms = queue.int_attr("MessageRetentionPeriod", 345_600) * 1000

        def run(conn: sqlite3.Connection) -> tuple[list[Stored], int]:
            now = time.time()
            now_ms = int(now * 1000)
            conn.execute("DELETE FROM sqs_messages WHERE queue=? AND sent_ms<?", (arn, now_ms - retention_ms))
            blocked: set[str] = set()
            if fifo:
                blocked = {r[0] for r in conn.execute(
                    "SELECT DISTINCT group_id FROM sqs_messages WHERE queue=? AND receives>0 AND visible_at>?",
                    (arn, now))}
            taken: list[Stored] = []
            moved = 0
            after = 0
            while len(taken) < limit:
                rows = conn.execute(
                    "SELECT seq, message_id, body, attrs, md5_body, system, sent_ms, receives, first_receive_ms, "
                    "group_id, dedup_id FROM sqs_messages WHERE queue=? AND visible_at<=? AND seq>? ORDER BY seq "
                    "LIMIT ?", (arn, now, after, SCAN_PAGE)).fetchall()
                for r in rows:
                    after = r[0]
                    if fifo and r[9] in blocked:
                        continue
                    if max_receives is not None and r[7] >= max_receives:
                        system = orjson.loads(r[5]) if r[5] else {}
                        system["DeadLetterQueueSourceArn"] = arn
                        conn.execute("UPDATE sqs_messages SET queue=?, receives=0, first_receive_ms=NULL, "
                                     "receipt=NULL, visible_at=?, system=? WHERE seq=?",
                                     (dead_letter, now, orjson.dumps(system), r[0]))
                        moved += 1
                        continue
                    if len(taken) >= limit:
                        continue
                    nonce = secrets.token_hex(8)
                    first = r[8] if r[8] is not None else now_ms
                    conn.execute("UPDATE sqs_messages SET receives=receives+1, visible_at=?, first_receive_ms=?, "
                                 "receipt=? WHERE seq=?", (now + visibility_s, first, nonce, r[0]))
                    taken.append(Stored(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7] + 1, first, r[9], r[10],
                                        receipt_handle(arn, r[0], nonce)))
                    if fifo and len(taken) >= limit:
                        break
                if len(rows) < SCAN_PAGE:
                    break
            return taken, moved

        return await self.writer.write(run)

    async def delete(self, queue_arn: str, receipts: list[tuple[int, str]]) -> None:
        """Delete messages by (seq, nonce); a stale receipt (the message was received again) deletes nothing."""
        def run(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM sqs_messages WHERE seq=? AND queue=? AND receipt=?",
                             [(seq, queue_arn, nonce) for seq, nonce in receipts])

        await self.writer.write(run)

    async def change_visibility(self, queue_arn: str, changes: list[tuple[int, str, int]]) -> list[bool]:
        """Set (seq, nonce) messages visible after the given seconds; False where the message is gone or
        not in flight under that receipt."""
        def run(conn: sqlite3.Connection) -> list[bool]:
            now = time.time()
            out = []
            for seq, nonce, seconds in changes:
                cur = conn.execute("UPDATE sqs_messages SET visible_at=? WHERE seq=? AND queue=? AND receipt=? AND "
                                   "visible_at>?", (now + seconds, seq, queue_arn, nonce, now))
                out.append(cur.rowcount > 0)
            return out

        return await self.writer.write(run)

    async def purge(self, queue_arn: str) -> None:
        await self.writer.write(lambda conn: conn.execute("DELETE FROM sqs_messages WHERE queue=?", (queue_arn,)))

    async def release(self, queue_arn: str, seqs: list[int]) -> None:
        """Make messages visible again now (a receive whose caller went away)."""
        def run(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE sqs_messages SET visible_at=? WHERE seq=? AND queue=?",
                             [(time.time(), s, queue_arn) for s in seqs])

        await self.writer.write(run)

    def counts(self, queue_arn: str) -> tuple[int, int, int]:
        """(visible, in flight, delayed) right now."""
        row = self.db.query_one(
            "SELECT sum(visible_at<=?1), sum(visible_at>?1 AND receives>0), sum(visible_at>?1 AND receives=0) "
            "FROM sqs_messages WHERE queue=?2", (time.time(), queue_arn))
        return (int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)) if row else (0, 0, 0)

    def next_visible(self, queue_arn: str) -> float | None:
        """When the next message that is not visible yet becomes visible."""
        row = self.db.query_one("SELECT min(visible_at) FROM sqs_messages WHERE queue=? AND visible_at>?",
                                (queue_arn, time.time()))
        return row[0] if row and row[0] is not None else None
