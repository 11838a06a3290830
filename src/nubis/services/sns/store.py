"""SNS state in SQLite: topics, subscriptions and FIFO de-duplication records.

Control-plane writes are rare and go straight through `Database.execute`; nothing here is on a hot
path that would need the background writer, except the publish fan-out (see delivery.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson

from ...store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS sns_topics (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, arn TEXT NOT NULL UNIQUE, account TEXT NOT NULL, region TEXT NOT NULL,
  name TEXT NOT NULL, attributes TEXT NOT NULL, tags TEXT NOT NULL, subscriptions_deleted INTEGER NOT NULL DEFAULT 0,
  fifo_sequence INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS sns_topics_owner ON sns_topics (account, region, seq);
CREATE TABLE IF NOT EXISTS sns_subscriptions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, arn TEXT NOT NULL UNIQUE, topic_arn TEXT NOT NULL, account TEXT NOT NULL,
  region TEXT NOT NULL, protocol TEXT NOT NULL, endpoint TEXT NOT NULL, attributes TEXT NOT NULL,
  pending INTEGER NOT NULL, token TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sns_subscriptions_topic ON sns_subscriptions (topic_arn, seq);
CREATE INDEX IF NOT EXISTS sns_subscriptions_owner ON sns_subscriptions (account, region, seq);
CREATE INDEX IF NOT EXISTS sns_subscriptions_token ON sns_subscriptions (token);
CREATE TABLE IF NOT EXISTS sns_dedup (
  topic_arn TEXT NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL, sequence TEXT NOT NULL,
  expires REAL NOT NULL, PRIMARY KEY (topic_arn, dedup_id));
"""

DEDUP_WINDOW_S = 300.0  # SNS FIFO de-duplicates within five minutes


@dataclass(slots=True)
class Topic:
    arn: str
    account: str
    region: str
    name: str
    attributes: dict[str, str] = field(default_factory=dict)  # what Create/SetTopicAttributes set
    tags: dict[str, str] = field(default_factory=dict)
    subscriptions_deleted: int = 0
    seq: int = 0

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoTopic") == "true"


@dataclass(slots=True)
class Subscription:
    arn: str
    topic_arn: str
    account: str
    region: str
    protocol: str
    endpoint: str
    attributes: dict[str, str] = field(default_factory=dict)  # what Subscribe/SetSubscriptionAttributes set
    pending: bool = False
    token: str = ""
    seq: int = 0


def _topic(row) -> Topic:
    return Topic(row["arn"], row["account"], row["region"], row["name"], orjson.loads(row["attributes"]),
                 orjson.loads(row["tags"]), row["subscriptions_deleted"], row["seq"])


def _subscription(row) -> Subscription:
    return Subscription(row["arn"], row["topic_arn"], row["account"], row["region"], row["protocol"],
                        row["endpoint"], orjson.loads(row["attributes"]), bool(row["pending"]), row["token"],
                        row["seq"])


class SnsStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    # -- topics
    def topic(self, arn: str) -> Topic | None:
        row = self.db.query_one("SELECT * FROM sns_topics WHERE arn=?", (arn,))
        return _topic(row) if row else None

    def insert_topic(self, t: Topic) -> None:
        self.db.execute("INSERT INTO sns_topics (arn, account, region, name, attributes, tags) VALUES (?,?,?,?,?,?)",
                        (t.arn, t.account, t.region, t.name, orjson.dumps(t.attributes), orjson.dumps(t.tags)))

    def save_topic(self, t: Topic) -> None:
        self.db.execute("UPDATE sns_topics SET attributes=?, tags=? WHERE arn=?",
                        (orjson.dumps(t.attributes), orjson.dumps(t.tags), t.arn))

    def delete_topic(self, arn: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sns_subscriptions WHERE topic_arn=?", (arn,))
            conn.execute("DELETE FROM sns_dedup WHERE topic_arn=?", (arn,))
            conn.execute("DELETE FROM sns_topics WHERE arn=?", (arn,))

    def topics(self, account: str, region: str, after: int, limit: int) -> list[Topic]:
        rows = self.db.query("SELECT * FROM sns_topics WHERE account=? AND region=? AND seq>? ORDER BY seq LIMIT ?",
                             (account, region, after, limit))
        return [_topic(r) for r in rows]

    def subscription_counts(self, topic_arn: str) -> tuple[int, int]:
        """(confirmed, pending) subscriptions of a topic."""
        row = self.db.query_one("SELECT sum(pending=0), sum(pending=1) FROM sns_subscriptions WHERE topic_arn=?",
                                (topic_arn,))
        return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)

    def next_fifo_sequence(self, topic_arn: str) -> int:
        with self.db.transaction() as conn:
            conn.execute("UPDATE sns_topics SET fifo_sequence=fifo_sequence+1 WHERE arn=?", (topic_arn,))
            row = conn.execute("SELECT fifo_sequence FROM sns_topics WHERE arn=?", (topic_arn,)).fetchone()
        return int(row[0]) if row else 0

    # -- subscriptions
    def subscription(self, arn: str) -> Subscription | None:
        row = self.db.query_one("SELECT * FROM sns_subscriptions WHERE arn=?", (arn,))
        return _subscription(row) if row else None

    def subscription_by_token(self, token: str) -> Subscription | None:
        row = self.db.query_one("SELECT * FROM sns_subscriptions WHERE token=?", (token,))
        return _subscription(row) if row else None

    def find_subscription(self, topic_arn: str, protocol: str, endpoint: str) -> Subscription | None:
        row = self.db.query_one("SELECT * FROM sns_subscriptions WHERE topic_arn=? AND protocol=? AND endpoint=?",
                                (topic_arn, protocol, endpoint))
        return _subscription(row) if row else None

    def insert_subscription(self, s: Subscription) -> None:
        self.db.execute("INSERT INTO sns_subscriptions (arn, topic_arn, account, region, protocol, endpoint, "
                        "attributes, pending, token) VALUES (?,?,?,?,?,?,?,?,?)",
                        (s.arn, s.topic_arn, s.account, s.region, s.protocol, s.endpoint,
                         orjson.dumps(s.attributes), int(s.pending), s.token))

    def save_subscription(self, s: Subscription) -> None:
        self.db.execute("UPDATE sns_subscriptions SET attributes=?, pending=?, token=? WHERE arn=?",
                        (orjson.dumps(s.attributes), int(s.pending), s.token, s.arn))

    def delete_subscription(self, s: Subscription) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sns_subscriptions WHERE arn=?", (s.arn,))
            conn.execute("UPDATE sns_topics SET subscriptions_deleted=subscriptions_deleted+1 WHERE arn=?",
                         (s.topic_arn,))

    def subscriptions(self, account: str, region: str, after: int, limit: int) -> list[Subscription]:
        rows = self.db.query("SELECT * FROM sns_subscriptions WHERE account=? AND region=? AND seq>? "
                             "ORDER BY seq LIMIT ?", (account, region, after, limit))
        return [_subscription(r) for r in rows]

    def topic_subscriptions(self, topic_arn: str, after: int = 0, limit: int = 2**31) -> list[Subscription]:
        rows = self.db.query("SELECT * FROM sns_subscriptions WHERE topic_arn=? AND seq>? ORDER BY seq LIMIT ?",
                             (topic_arn, after, limit))
        return [_subscription(r) for r in rows]

    # -- FIFO de-duplication
    def seen(self, topic_arn: str, dedup_id: str) -> tuple[str, str] | None:
        """(message id, sequence number) of a message published with this id in the last five minutes."""
        row = self.db.query_one("SELECT message_id, sequence FROM sns_dedup WHERE topic_arn=? AND dedup_id=? "
                                "AND expires>?", (topic_arn, dedup_id, time.time()))
        return (row[0], row[1]) if row else None

    def remember(self, topic_arn: str, dedup_id: str, message_id: str, sequence: str) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sns_dedup WHERE expires<=?", (now,))
            conn.execute("INSERT OR REPLACE INTO sns_dedup VALUES (?,?,?,?,?)",
                         (topic_arn, dedup_id, message_id, sequence, now + DEDUP_WINDOW_S))
