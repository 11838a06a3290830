"""S3 metadata in the store: buckets, object versions, multipart uploads and parts, the event outbox.

Object bytes never live here (see files.py); a row names its file. Keys are TEXT in SQLite's BINARY
collation, which orders them by their UTF-8 bytes: S3's listing order.

Every bucket has a versioning state: '' (never enabled), 'Enabled' or 'Suspended'. An unversioned
object is the row with version_id 'null'. Exactly one row per (bucket, key) is `latest`; it may be a
delete marker, in which case the key does not exist for GET/list.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import orjson

from ...store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_buckets (
  name TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, created REAL NOT NULL,
  versioning TEXT NOT NULL DEFAULT '', config BLOB NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS s3_objects (
  bucket TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL, seq INTEGER NOT NULL,
  latest INTEGER NOT NULL, delete_marker INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0,
  etag TEXT NOT NULL DEFAULT '', modified REAL NOT NULL, file TEXT, meta BLOB NOT NULL DEFAULT '{}',
  PRIMARY KEY (bucket, key, version_id));
CREATE INDEX IF NOT EXISTS s3_objects_list ON s3_objects (bucket, latest, key);
CREATE INDEX IF NOT EXISTS s3_objects_seq ON s3_objects (bucket, key, seq);
CREATE TABLE IF NOT EXISTS s3_uploads (
  upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
  account TEXT NOT NULL, meta BLOB NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS s3_uploads_bucket ON s3_uploads (bucket, key, initiated);
CREATE TABLE IF NOT EXISTS s3_parts (
  upload_id TEXT NOT NULL, part INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
  modified REAL NOT NULL, file TEXT NOT NULL, meta BLOB NOT NULL DEFAULT '{}',
  PRIMARY KEY (upload_id, part));
CREATE TABLE IF NOT EXISTS s3_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL);
"""


@dataclass
class Bucket:
    name: str
    account: str
    region: str
    created: float
    versioning: str = ""
    config: dict = field(default_factory=dict)  # Tagging, NotificationConfiguration, ...

    @property
    def versioned(self) -> bool:
        return self.versioning != ""


@dataclass
class ObjectVersion:
    bucket: str
    key: str
    version_id: str
    seq: int
    latest: bool
    delete_marker: bool
    size: int
    etag: str  # with its quotes
    modified: float
    file: str | None
    meta: dict  # ContentType, Metadata, Headers, Tags, Checksum, Parts, StorageClass

    @property
    def tags(self) -> dict[str, str]:
        return self.meta.get("Tags") or {}


def _obj(row: Any) -> ObjectVersion:
    return ObjectVersion(row["bucket"], row["key"], row["version_id"], row["seq"], bool(row["latest"]),
                         bool(row["delete_marker"]), row["size"], row["etag"], row["modified"], row["file"],
                         orjson.loads(row["meta"]))


@dataclass
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    account: str
    meta: dict


@dataclass
class Part:
    number: int
    size: int
    etag: str
    modified: float
    file: str
    meta: dict


class S3Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        row = db.query_one("SELECT MAX(seq) AS s FROM s3_objects")
        self._seq = max(int(row["s"] or 0) if row else 0, time.time_ns() // 1000)

    def next_seq(self) -> int:
        """Monotonic across restarts (microseconds since the epoch, or past the last one used)."""
        self._seq = max(self._seq + 1, time.time_ns() // 1000)
        return self._seq

    # -- buckets
    def bucket(self, name: str) -> Bucket | None:
        row = self.db.query_one("SELECT * FROM s3_buckets WHERE name=?", (name,))
        if row is None:
            return None
        return Bucket(row["name"], row["account"], row["region"], row["created"], row["versioning"],
                      orjson.loads(row["config"]))

    def buckets(self, account: str) -> list[Bucket]:
        return [Bucket(r["name"], r["account"], r["region"], r["created"], r["versioning"], orjson.loads(r["config"]))
                for r in self.db.query("SELECT * FROM s3_buckets WHERE account=? ORDER BY name", (account,))]

    def create_bucket(self, b: Bucket) -> None:
        self.db.execute("INSERT INTO s3_buckets VALUES (?,?,?,?,?,?)",
                        (b.name, b.account, b.region, b.created, b.versioning, orjson.dumps(b.config)))

    def save_bucket(self, b: Bucket) -> None:
        self.db.execute("UPDATE s3_buckets SET versioning=?, config=? WHERE name=?",
                        (b.versioning, orjson.dumps(b.config), b.name))

    def delete_bucket(self, name: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM s3_buckets WHERE name=?", (name,))
            conn.execute("DELETE FROM s3_objects WHERE bucket=?", (name,))

    def bucket_has_content(self, name: str) -> bool:
        """Any object version or delete marker (S3 refuses to delete such a bucket)."""
        return self.db.query_one("SELECT 1 FROM s3_objects WHERE bucket=? LIMIT 1", (name,)) is not None

    def bucket_uploads(self, name: str) -> list[str]:
        return [r["upload_id"] for r in self.db.query("SELECT upload_id FROM s3_uploads WHERE bucket=?", (name,))]

    # -- objects
    def latest(self, bucket: str, key: str) -> ObjectVersion | None:
        row = self.db.query_one("SELECT * FROM s3_objects WHERE bucket=? AND key=? AND latest=1", (bucket, key))
        return _obj(row) if row else None

    def version(self, bucket: str, key: str, version_id: str) -> ObjectVersion | None:
        row = self.db.query_one("SELECT * FROM s3_objects WHERE bucket=? AND key=? AND version_id=?",
                                (bucket, key, version_id))
        return _obj(row) if row else None

    def put_version(self, obj: ObjectVersion, events: list[bytes] = ()) -> list[str]:
        """Make `obj` the latest version of its key; returns the files of versions it replaced.

        A version with the same id (the 'null' version of unversioned or suspended buckets) is
        replaced; the outbox events commit in the same transaction, so a notification is never lost
        for an object that exists, nor sent for one that does not.
        """
        with self.db.transaction() as conn:
            old = conn.execute("SELECT file FROM s3_objects WHERE bucket=? AND key=? AND version_id=?",
                               (obj.bucket, obj.key, obj.version_id)).fetchone()
            conn.execute("UPDATE s3_objects SET latest=0 WHERE bucket=? AND key=? AND latest=1",
                         (obj.bucket, obj.key))
            conn.execute("INSERT OR REPLACE INTO s3_objects VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (obj.bucket, obj.key, obj.version_id, obj.seq, 1, int(obj.delete_marker), obj.size,
                          obj.etag, obj.modified, obj.file, orjson.dumps(obj.meta)))
            for body in events:
                conn.execute("INSERT INTO s3_outbox (body) VALUES (?)", (body,))
        obj.latest = True
        return [old["file"]] if old is not None and old["file"] and old["file"] != obj.file else []

    def update_meta(self, obj: ObjectVersion) -> None:
        self.db.execute("UPDATE s3_objects SET meta=? WHERE bucket=? AND key=? AND version_id=?",
                        (orjson.dumps(obj.meta), obj.bucket, obj.key, obj.version_id))

    def delete_version(self, obj: ObjectVersion, events: list[bytes] = ()) -> None:
        """Remove one version; if it was the latest, the newest remaining version becomes latest."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM s3_objects WHERE bucket=? AND key=? AND version_id=?",
                         (obj.bucket, obj.key, obj.version_id))
            if obj.latest:
                conn.execute("UPDATE s3_objects SET latest=1 WHERE rowid=(SELECT rowid FROM s3_objects "
                             "WHERE bucket=? AND key=? ORDER BY seq DESC LIMIT 1)", (obj.bucket, obj.key))
            for body in events:
                conn.execute("INSERT INTO s3_outbox (body) VALUES (?)", (body,))

    def list_latest(self, bucket: str, after: str, prefix: str, limit: int) -> list[ObjectVersion]:
        """Existing objects (latest, not delete markers) with key > after and the prefix, in key order."""
        sql = "SELECT * FROM s3_objects WHERE bucket=? AND latest=1 AND delete_marker=0 AND key>?"
        args: list[Any] = [bucket, after]
        if prefix:
            sql += " AND key>=? AND key<?"
            args += [prefix, prefix + "\U0010ffff"]
        sql += " ORDER BY key LIMIT ?"
        return [_obj(r) for r in self.db.query(sql, (*args, limit))]

    def list_versions(self, bucket: str, after_key: str, after_seq: int | None, prefix: str,
                      limit: int) -> list[ObjectVersion]:
        """All versions and delete markers, by key then newest first, after (key, seq)."""
        if after_seq is None:
            sql = "SELECT * FROM s3_objects WHERE bucket=? AND key>?"
            args: list[Any] = [bucket, after_key]
        else:
            sql = "SELECT * FROM s3_objects WHERE bucket=? AND (key>? OR (key=? AND seq<?))"
            args = [bucket, after_key, after_key, after_seq]
        if prefix:
            sql += " AND key>=? AND key<?"
            args += [prefix, prefix + "\U0010ffff"]
        sql += " ORDER BY key, seq DESC LIMIT ?"
        return [_obj(r) for r in self.db.query(sql, (*args, limit))]

    def all_files(self) -> Iterator[str]:
        for r in self.db.query("SELECT file FROM s3_objects WHERE file IS NOT NULL"):
            yield r["file"]
        for r in self.db.query("SELECT file FROM s3_parts"):
            yield r["file"]

    # -- multipart uploads
    def create_upload(self, u: Upload) -> None:
        self.db.execute("INSERT INTO s3_uploads VALUES (?,?,?,?,?,?)",
                        (u.upload_id, u.bucket, u.key, u.initiated, u.account, orjson.dumps(u.meta)))

    def upload(self, upload_id: str) -> Upload | None:
        r = self.db.query_one("SELECT * FROM s3_uploads WHERE upload_id=?", (upload_id,))
        if r is None:
            return None
        return Upload(r["upload_id"], r["bucket"], r["key"], r["initiated"], r["account"], orjson.loads(r["meta"]))

    def uploads(self, bucket: str, prefix: str, after_key: str, after_id: str, limit: int) -> list[Upload]:
        sql = "SELECT * FROM s3_uploads WHERE bucket=? AND (key>? OR (key=? AND upload_id>?))"
        args: list[Any] = [bucket, after_key, after_key, after_id]
        if prefix:
            sql += " AND key>=? AND key<?"
            args += [prefix, prefix + "\U0010ffff"]
        sql += " ORDER BY key, upload_id LIMIT ?"
        return [Upload(r["upload_id"], r["bucket"], r["key"], r["initiated"], r["account"], orjson.loads(r["meta"]))
                for r in self.db.query(sql, (*args, limit))]

    def put_part(self, upload_id: str, p: Part) -> str | None:
        """Record a part (replacing one with the same number); returns the replaced part's file."""
        with self.db.transaction() as conn:
            old = conn.execute("SELECT file FROM s3_parts WHERE upload_id=? AND part=?",
                               (upload_id, p.number)).fetchone()
            if conn.execute("SELECT 1 FROM s3_uploads WHERE upload_id=?", (upload_id,)).fetchone() is None:
                return p.file  # aborted or completed meanwhile: the new part is the garbage
            conn.execute("INSERT OR REPLACE INTO s3_parts VALUES (?,?,?,?,?,?,?)",
                         (upload_id, p.number, p.size, p.etag, p.modified, p.file, orjson.dumps(p.meta)))
        return old["file"] if old is not None else None

    def parts(self, upload_id: str, after: int = 0, limit: int = 10001) -> list[Part]:
        return [Part(r["part"], r["size"], r["etag"], r["modified"], r["file"], orjson.loads(r["meta"]))
                for r in self.db.query("SELECT * FROM s3_parts WHERE upload_id=? AND part>? ORDER BY part LIMIT ?",
                                       (upload_id, after, limit))]

    def finish_upload(self, upload_id: str, obj: ObjectVersion | None, events: list[bytes] = ()) -> list[str]:
        """Complete (obj given) or abort an upload in one transaction; returns files no longer referenced."""
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM s3_uploads WHERE upload_id=?", (upload_id,)).fetchone() is None:
                raise LookupError(upload_id)  # aborted or completed by a concurrent request
            files = [r["file"] for r in conn.execute("SELECT file FROM s3_parts WHERE upload_id=?", (upload_id,))]
            conn.execute("DELETE FROM s3_parts WHERE upload_id=?", (upload_id,))
            conn.execute("DELETE FROM s3_uploads WHERE upload_id=?", (upload_id,))
            if obj is not None:
                old = conn.execute("SELECT file FROM s3_objects WHERE bucket=? AND key=? AND version_id=?",
                                   (obj.bucket, obj.key, obj.version_id)).fetchone()
                if old is not None and old["file"]:
                    files.append(old["file"])
                conn.execute("UPDATE s3_objects SET latest=0 WHERE bucket=? AND key=? AND latest=1",
                             (obj.bucket, obj.key))
                conn.execute("INSERT OR REPLACE INTO s3_objects VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                             (obj.bucket, obj.key, obj.version_id, obj.seq, 1, 0, obj.size, obj.etag, obj.modified,
                              obj.file, orjson.dumps(obj.meta)))
                for body in events:
                    conn.execute("INSERT INTO s3_outbox (body) VALUES (?)", (body,))
        return files

    # -- notification outbox
    def outbox(self, limit: int = 100) -> list[tuple[int, bytes]]:
        return [(r["id"], r["body"]) for r in self.db.query("SELECT id, body FROM s3_outbox ORDER BY id LIMIT ?",
                                                            (limit,))]

    def outbox_done(self, ids: list[int]) -> None:
        if ids:
            self.db.execute(f"DELETE FROM s3_outbox WHERE id IN ({','.join('?' * len(ids))})", ids)
