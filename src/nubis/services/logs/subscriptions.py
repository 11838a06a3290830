"""Subscription filters: log events that match a filter go to a Lambda function, as AWS sends them.

Each delivery is an asynchronous invocation with `{"awslogs": {"data": base64(gzip(json))}}`, the JSON
being `{"messageType": "DATA_MESSAGE", "owner", "logGroup", "logStream", "subscriptionFilters",
"logEvents": [{"id", "timestamp", "message"}]}`: one message per log stream and batch.

Durable without an outbox of its own: the log events are already on disk, so each filter keeps a
cursor (the last log record id it has dealt with) in the database and moves it only once the
invocations for the records before it are queued (Lambda's async queue is durable). After a kill -9
the deliverer resumes from the cursor: at least once, as AWS promises.

No loop: a function subscribed to a group it writes to does not get the log events of the invocations
that these deliveries caused (they would cause more deliveries, for ever); its other invocations'
events are delivered.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import gzip
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from ...events.bus import Bus, TriggerError
from ...store.db import Database
from ...store.logs import LogStore
from ..arns import parse_arn
from .patterns import Pattern, compile_pattern
from .shapes import group_arn

log = logging.getLogger("nubis.logs.subscriptions")

SCHEMA = """
CREATE TABLE IF NOT EXISTS log_subscriptions (
  account TEXT NOT NULL, region TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL,
  pattern TEXT NOT NULL, destination TEXT NOT NULL, role_arn TEXT, distribution TEXT NOT NULL,
  created INTEGER NOT NULL, cursor INTEGER NOT NULL,
  PRIMARY KEY (account, region, grp, name));
"""

MAX_FILTERS_PER_GROUP = 2
POLL_S = 0.2
BATCH_ROWS = 5000
MAX_MESSAGE_BYTES = 192 * 1024  # raw message bytes per delivery (compressed far below the async limit)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_START = re.compile(r'^START RequestId: (\S+)|"type":"platform\.start","record":\{"requestId":"([^"]+)"')
_END = re.compile(r'^REPORT RequestId: (\S+)|"type":"platform\.report","record":\{"requestId":"([^"]+)"')


@dataclass(frozen=True, slots=True)
class Filter:
    account: str
    region: str
    group: str
    name: str
    pattern: str
    destination: str
    role_arn: str | None
    distribution: str
    created: int
    cursor: int

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"filterName": self.name, "logGroupName": self.group, "filterPattern": self.pattern,
                               "destinationArn": self.destination, "distribution": self.distribution,
                               "applyOnTransformedLogs": False, "creationTime": self.created}
        if self.role_arn:
            out["roleArn"] = self.role_arn
        return out


def data_message(account: str, group: str, stream: str, filters: list[str],
                 events: list[tuple[int, int, str]]) -> bytes:
    """The invocation payload AWS sends a subscribed function."""
    doc = {"messageType": "DATA_MESSAGE", "owner": account, "logGroup": group, "logStream": stream,
           "subscriptionFilters": filters,
           "logEvents": [{"id": f"{eid:056d}", "timestamp": ts, "message": msg} for eid, ts, msg in events]}
    data = base64.b64encode(gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)).decode()
    return json.dumps({"awslogs": {"data": data}}).encode()


def principals(region: str) -> tuple[str, str]:
    """The service principals a function's policy may name for CloudWatch Logs."""
    return "logs.amazonaws.com", f"logs.{region}.amazonaws.com"


class Subscriptions:
    """The filters (in the database) and the task that delivers what they match."""

    def __init__(self, store: LogStore, bus: Bus | None) -> None:
        self.store = store
        self.db: Database = store.db
        self.bus = bus
        self.db.ensure_schema(SCHEMA)
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        # request id -> the function a delivery invoked; (function, group, stream) -> a caused run in progress
        self._caused: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._inside: dict[tuple[str, str, str, str], str] = {}

    # -- the filters
    def get(self, account: str, region: str, group: str) -> list[Filter]:
        rows = self.db.query("SELECT * FROM log_subscriptions WHERE account=? AND region=? AND grp=? "
                             "ORDER BY name", (account, region, group))
        return [Filter(*r) for r in rows]

    def put(self, f: Filter) -> bool:
        """Create or replace; False when the group already has its maximum of other filters."""
        with self.db.transaction() as conn:
            others = conn.execute("SELECT count(*) FROM log_subscriptions WHERE account=? AND region=? AND grp=? "
                                  "AND name<>?", (f.account, f.region, f.group, f.name)).fetchone()[0]
            if others >= MAX_FILTERS_PER_GROUP:
                return False
            conn.execute("INSERT INTO log_subscriptions VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
                         "pattern=excluded.pattern, destination=excluded.destination, role_arn=excluded.role_arn, "
                         "distribution=excluded.distribution",
                         (f.account, f.region, f.group, f.name, f.pattern, f.destination, f.role_arn,
                          f.distribution, f.created, f.cursor))
        self._wake.set()
        return True

    def delete(self, account: str, region: str, group: str, name: str | None = None) -> bool:
        sql = "DELETE FROM log_subscriptions WHERE account=? AND region=? AND grp=?"
        args: list[Any] = [account, region, group]
        if name is not None:
            sql += " AND name=?"
            args.append(name)
        return self.db.execute(sql, args).rowcount > 0

    def high_water(self) -> int:
        """The newest log record id: a new filter delivers what arrives after it."""
        self.store.writer.flush()
        row = self.db.query_one("SELECT coalesce(max(id), 0) FROM log_records")
        return int(row[0]) if row else 0

    # -- delivery
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                busy = await self.deliver_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("subscription delivery failed; retrying")
                busy = False
            if not busy:
                self._wake.clear()
                try:  # without filters nothing can arrive until put() wakes this: no polling
                    await asyncio.wait_for(self._wake.wait(), POLL_S if busy is False else None)
                except asyncio.TimeoutError:
                    pass

    async def deliver_once(self) -> bool | None:
        """One pass over every filter; True if there was anything to read, None if there are no
        filters (or nothing to deliver to)."""
        filters = [Filter(*r) for r in self.db.query("SELECT * FROM log_subscriptions ORDER BY account, region, "
                                                     "grp, name")]
        if not filters or self.bus is None or self.bus.functions is None:
            return None
        await self.store.writer.aflush()
        busy = False
        for f in filters:
            gid = self.db.query_one("SELECT id FROM log_group_ids WHERE account=? AND region=? AND grp=?",
                                    (f.account, f.region, f.group))
            if gid is None:
                continue
            rows = self.db.query(
                "SELECT e.id, s.stream, e.ts, e.message FROM log_records AS e NOT INDEXED "
                "JOIN log_stream_ids s ON s.id=e.sid WHERE e.id > ? AND e.gid = ? ORDER BY e.id LIMIT ?",
                (f.cursor, gid[0], BATCH_ROWS))
            if not rows:
                continue
            busy = True
            if await self._deliver(f, compile_pattern(f.pattern), rows):
                self.db.execute("UPDATE log_subscriptions SET cursor=? WHERE account=? AND region=? AND grp=? "
                                "AND name=? AND cursor=?",
                                (rows[-1][0], f.account, f.region, f.group, f.name, f.cursor))
        return busy

    def _caused_by_us(self, f: Filter, fn: str, stream: str, message: str) -> bool:
        """Is this event from an invocation of f's destination (``fn``, its function_key) that a
        delivery caused?"""
        key = (fn, f.account + ":" + f.region, f.group, stream)
        start, end = _START.search(message), _END.search(message)
        if start and self._caused.get(start.group(1) or start.group(2)) == fn:
            self._inside[key] = start.group(1) or start.group(2)
        inside = key in self._inside
        if end and self._inside.get(key) == (end.group(1) or end.group(2)):
            del self._inside[key]
        return inside or any(self._caused.get(rid) == fn for rid in _UUID.findall(message))

    async def _deliver(self, f: Filter, pattern: Pattern, rows: list) -> bool:
        """Queue the invocations for `rows`; False if they must be tried again."""
        by_stream: dict[str, list[tuple[int, int, str]]] = {}
        fn = function_key(f.destination)
        for eid, stream, ts, message in rows:
            if self._caused_by_us(f, fn, stream, message) or not pattern.matches(message):
                continue
            by_stream.setdefault(stream, []).append((eid, ts, message))
        functions = self.bus.functions if self.bus else None
        assert functions is not None
        source = group_arn(f.region, f.account, f.group) + ":*"
        for stream, events in by_stream.items():
            for batch in _batches(events):
                payload = data_message(f.account, f.group, stream, [f.name], batch)
                principal = next((p for p in principals(f.region) if functions.can_invoke(
                    f.destination, principal=p, source_arn=source, source_account=f.account)), None)
                if principal is None:
                    log.warning("subscription filter %s of %s: %s no longer lets CloudWatch Logs invoke it; "
                                "events dropped", f.name, f.group, f.destination)
                    return True
                try:
                    rid = await functions.invoke_async(f.destination, payload, principal=principal,
                                                       source_arn=source, source_account=f.account)
                except TriggerError:
                    log.warning("subscription filter %s of %s: cannot invoke %s; events dropped",
                                f.name, f.group, f.destination)
                    return True
                self._caused[rid] = fn
                while len(self._caused) > 10000:
                    self._caused.popitem(last=False)
        return True


def _batches(events: list[tuple[int, int, str]]):
    batch: list[tuple[int, int, str]] = []
    size = 0
    for e in events:
        n = len(e[2].encode()) + 26
        if batch and size + n > MAX_MESSAGE_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(e)
        size += n
    if batch:
        yield batch


def now_ms() -> int:
    return int(time.time() * 1000)


def function_key(arn: str) -> str:
    """A function ARN without its qualifier: its versions and aliases are the same function."""
    parsed = parse_arn(arn, "lambda")
    name = parsed.typed("function") if parsed else None
    if parsed is None or name is None:
        return arn
    return f"arn:{parsed.partition}:lambda:{parsed.region}:{parsed.account}:function:{name.partition(':')[0]}"
