"""The SQS API (2012-11-05) over the JSON protocol (current SDKs) and the query protocol (older ones).

Queue URLs are path-style, `http://<host>:<port>/<account>/<queue-name>` (the host the client used);
ARNs are `arn:aws:sqs:<region>:<account>:<name>`. Messages live in SQLite (store.py). A long poll
waits on a per-queue event that sends and visibility changes set, or until the next delayed or in-flight
message becomes visible, so it never spins. The provider also offers queues to the other services
through the bus (events.bus.Queues): Lambda destinations and dead-letter queues, S3 notifications and
Lambda's event source mappings.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import orjson

from ...events.bus import QueueError, QueueMessage
from ...server.context import RequestContext
from ...server.errors import AwsError
from ...server.messages import HttpRequest
from ...store.db import BackgroundWriter, Database
from ..arns import parse_arn
from ..base import Provider
from . import attributes as qattrs
from . import errors
from .messages import (attributes_md5, check_attributes, check_body, check_fifo_id, md5_hex, pack_attributes,
                       select_attributes, size_of, unpack_attributes)
from .store import NewMessage, Queue, SqsStore, Stored, parse_receipt

log = logging.getLogger("nubis.sqs")

MAX_BATCH = 10
MAX_RESULTS = 1000
BATCH_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
SYSTEM_NAMES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
                "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader",
                "DeadLetterQueueSourceArn")


def _sequence_number(seq: int) -> str:
    return str(10**19 + seq)


class SqsProvider(Provider):
    service = "sqs"

    def __init__(self, db: Database, writer: BackgroundWriter, endpoint: str = "") -> None:
        self.store = SqsStore(db, writer)
        self.endpoint = endpoint
        self.queues: dict[tuple[str, str, str], Queue] = {(q.account, q.region, q.name): q
                                                          for q in self.store.load_queues()}
        self._events: dict[str, asyncio.Event] = {}
        self._stopping = False

    # -- protocol
    def wire_protocol(self, req: HttpRequest) -> str | None:
        return None if "x-amz-target" in req.headers else "query"

    def checked_violations(self, operation: str, violations: list[Any]) -> list[Any]:
        """ReceiveMessage's deprecated AttributeNames is modeled with queue attribute names but takes
        message system attribute names (ApproximateReceiveCount, ...), as SQS does."""
        if operation == "ReceiveMessage":
            return [v for v in violations if not v.path.startswith("attributeNames")]
        return violations

    def validation_error(self, operation: str, violations: list[Any]) -> AwsError | None:
        for v in violations:
            if v.constraint.endswith("Member must not be null"):
                return errors.missing(v.path.split(".")[-1][:1].upper() + v.path.split(".")[-1][1:])
            if "enum value set" in v.constraint:
                name = v.value[0] if isinstance(v.value, list) and v.value else v.value
                if isinstance(name, dict):
                    name = next(iter(name), "")
                return errors.unknown_attribute(str(name))
        from ...server.protocol.validation import format_violations

        return errors.invalid(format_violations(violations))

    async def stop(self) -> None:
        self._stopping = True
        for ev in self._events.values():
            ev.set()

    # -- queues by URL, name and ARN
    def queue_url(self, ctx: RequestContext | None, q: Queue) -> str:
        base = self.endpoint
        if ctx is not None:
            host = ctx.http.headers.get("host") if ctx.http is not None else None
            base = f"http://{host}" if host else (ctx.endpoint or base)
        return f"{base}/{q.account}/{q.name}"

    def _by_url(self, ctx: RequestContext, url: str) -> Queue:
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        region = ctx.region
        if len(segments) == 2:
            account, name = segments
            host = (parts.hostname or "").split(".")
            if len(host) >= 3 and host[0] == "sqs" and host[-2:] == ["amazonaws", "com"]:
                region = host[1]
        elif len(segments) == 1 and not parts.scheme:
            account, name = ctx.account, segments[0]  # a bare queue name, as some tools send
        else:
            raise errors.no_queue()
        q = self.queues.get((account, region, name))
        if q is None or account != ctx.account:
            raise errors.no_queue()
        return q

    def by_arn(self, arn: str) -> Queue | None:
        parsed = parse_arn(arn, "sqs")
        return self.queues.get((parsed.account, parsed.region, parsed.resource)) if parsed else None

    def _signal(self, arn: str) -> None:
        ev = self._events.pop(arn, None)
        if ev is not None:
            ev.set()

    # -- queue operations
    async def create_queue(self, ctx: RequestContext, p: dict) -> dict:
        name = p["QueueName"]
        raw = {k: str(v) for k, v in (p.get("Attributes") or {}).items()}
        fifo = raw.get("FifoQueue", "").lower() == "true"
        qattrs.check_name(name, fifo)
        if name.endswith(".fifo") and not fifo and "FifoQueue" not in raw:
            raise errors.invalid("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in "
                                 "length")
        wanted = qattrs.normalize(raw, fifo=fifo, creating=True, arn_of=self._dlq_attributes)
        key = (ctx.account, ctx.region, name)
        existing = self.queues.get(key)
        if existing is not None:
            diff = qattrs.differing(existing.attributes, wanted, existing.fifo)
            if diff is not None:
                raise errors.error("QueueNameExists", "A queue already exists with the same name and a different "
                                   f"value for attribute {diff}")
            return {"QueueUrl": self.queue_url(ctx, existing)}
        q = Queue(ctx.account, ctx.region, name, {k: v for k, v in wanted.items() if v != ""},
                  dict(p.get("tags") or {}))
        self.store.save_queue(q)
        self.queues[key] = q
        return {"QueueUrl": self.queue_url(ctx, q)}

    def _dlq_attributes(self, arn: str) -> dict[str, str] | None:
        q = self.by_arn(arn)
        return None if q is None else q.attributes

    async def get_queue_url(self, ctx: RequestContext, p: dict) -> dict:
        account = p.get("QueueOwnerAWSAccountId") or ctx.account
        q = self.queues.get((account, ctx.region, p["QueueName"]))
        if q is None or account != ctx.account:
            raise errors.no_queue()
        return {"QueueUrl": self.queue_url(ctx, q)}

    def _page(self, ctx: RequestContext, queues: list[Queue], p: dict, key: str) -> dict:
        limit = p.get("MaxResults")
        if limit is not None and not 1 <= limit <= MAX_RESULTS:
            raise errors.invalid_value(limit, "MaxResults", "MaxResults must be an integer between 1 and 1000.")
        queues = sorted(queues, key=lambda q: q.name)
        token = p.get("NextToken")
        if token:
            try:
                after = bytes.fromhex(token).decode()
            except ValueError:
                raise errors.invalid("Invalid NextToken value.") from None
            queues = [q for q in queues if q.name > after]
        page = queues[:limit or MAX_RESULTS]
        out: dict = {key: [self.queue_url(ctx, q) for q in page]} if page else {}
        if limit is not None and len(queues) > limit:
            out["NextToken"] = page[-1].name.encode().hex()
        return out

    async def list_queues(self, ctx: RequestContext, p: dict) -> dict:
        prefix = p.get("QueueNamePrefix") or ""
        mine = [q for (a, r, n), q in self.queues.items() if a == ctx.account and r == ctx.region
                and n.startswith(prefix)]
        return self._page(ctx, mine, p, "QueueUrls")

    async def delete_queue(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        del self.queues[(q.account, q.region, q.name)]
        await self.store.delete_queue(q)
        self._signal(q.arn)
        return {}

    async def get_queue_attributes(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        names = p.get("AttributeNames") or []
        everything = self.attributes_of(q)
        if "All" in names:
            return {"Attributes": everything}
        out = {n: everything[n] for n in names if n in everything}
        return {"Attributes": out} if out else {}

    def attributes_of(self, q: Queue) -> dict[str, str]:
        visible, in_flight, delayed = self.store.counts(q.arn)
        out = qattrs.defaults(q.fifo)
        out.update(q.attributes)
        out.update({"QueueArn": q.arn, "ApproximateNumberOfMessages": str(visible),
                    "ApproximateNumberOfMessagesNotVisible": str(in_flight),
                    "ApproximateNumberOfMessagesDelayed": str(delayed),
                    "CreatedTimestamp": str(int(q.created)), "LastModifiedTimestamp": str(int(q.modified))})
        return out

    async def set_queue_attributes(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        raw = {k: str(v) for k, v in (p.get("Attributes") or {}).items()}
        changes = qattrs.normalize(raw, fifo=q.fifo, creating=False, arn_of=self._dlq_attributes)
        for k, v in changes.items():
            if v == "":
                q.attributes.pop(k, None)
            else:
                q.attributes[k] = v
        q.modified = time.time()
        self.store.save_queue(q)
        self._signal(q.arn)
        return {}

    async def tag_queue(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        tags = p.get("Tags") or {}
        if not tags:
            raise errors.missing("Tags")
        q.tags.update(tags)
        if len(q.tags) > 50:
            raise errors.invalid("Too many tags added for queue " + q.name + ".")
        self.store.save_queue(q)
        return {}

    async def untag_queue(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        for k in p.get("TagKeys") or []:
            q.tags.pop(k, None)
        self.store.save_queue(q)
        return {}

    async def list_queue_tags(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        return {"Tags": dict(q.tags)} if q.tags else {}

    async def list_dead_letter_source_queues(self, ctx: RequestContext, p: dict) -> dict:
        dlq = self._by_url(ctx, p["QueueUrl"])
        sources = [q for q in self.queues.values() if q.redrive and q.redrive[0] == dlq.arn]
        out = self._page(ctx, sources, p, "queueUrls")
        out.setdefault("queueUrls", [])
        return out

    async def add_permission(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        policy = orjson.loads(q.attributes["Policy"]) if q.attributes.get("Policy") else {
            "Version": "2012-10-17", "Id": f"{q.arn}/SQSDefaultPolicy", "Statement": []}
        if any(s.get("Sid") == p["Label"] for s in policy.get("Statement", [])):
            raise errors.invalid_value(p["Label"], "Label", "Already exists.")
        principals = [f"arn:aws:iam::{a}:root" for a in p["AWSAccountIds"]]
        policy["Statement"].append({"Sid": p["Label"], "Effect": "Allow",
                                    "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                                    "Action": [f"SQS:{a}" for a in p["Actions"]], "Resource": q.arn})
        q.attributes["Policy"] = orjson.dumps(policy).decode()
        self.store.save_queue(q)
        return {}

    async def remove_permission(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        policy = orjson.loads(q.attributes["Policy"]) if q.attributes.get("Policy") else {"Statement": []}
        kept = [s for s in policy.get("Statement", []) if s.get("Sid") != p["Label"]]
        if len(kept) == len(policy.get("Statement", [])):
            raise errors.invalid_value(p["Label"], "Label", "can't find label.")
        policy["Statement"] = kept
        if kept:
            q.attributes["Policy"] = orjson.dumps(policy).decode()
        else:
            q.attributes.pop("Policy", None)
        self.store.save_queue(q)
        return {}

    async def purge_queue(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        await self.store.purge(q.arn)
        return {}

    # -- sending
    def _new_message(self, ctx_account: str, q: Queue, entry: dict, trace: str | None = None) -> NewMessage:
        body = entry.get("MessageBody")
        check_body(body)
        attrs = entry.get("MessageAttributes") or None
        check_attributes(attrs)
        system_in = entry.get("MessageSystemAttributes") or {}
        for name in system_in:
            if name != "AWSTraceHeader":
                raise errors.invalid(f"Message system attribute name '{name}' is invalid.")
        limit = q.int_attr("MaximumMessageSize", 1_048_576)
        if size_of(body, attrs) > limit:
            raise errors.invalid(f"One or more parameters are invalid. Reason: Message must be shorter than {limit} "
                                 "bytes.")
        delay = entry.get("DelaySeconds")
        group, dedup = entry.get("MessageGroupId"), entry.get("MessageDeduplicationId")
        check_fifo_id(group, "MessageGroupId")
        check_fifo_id(dedup, "MessageDeduplicationId")
        if q.fifo:
            if delay is not None:
                raise errors.invalid_value(delay, "DelaySeconds", "The request include parameter that is not valid "
                                           "for this queue type.")
            if not group:
                raise errors.missing("MessageGroupId")
            if not dedup:
                if q.attributes.get("ContentBasedDeduplication") != "true":
                    raise errors.invalid("The queue should either have ContentBasedDeduplication enabled or "
                                         "MessageDeduplicationId provided explicitly")
                dedup = hashlib.sha256(body.encode()).hexdigest()
        else:
            if dedup is not None:
                raise errors.invalid_value(dedup, "MessageDeduplicationId", "The request include parameter that is "
                                           "not valid for this queue type.")
            if delay is not None and not 0 <= delay <= 900:
                raise errors.invalid_value(delay, "DelaySeconds", "DelaySeconds must be >= 0 and <= 900.")
        system: dict[str, str] = {"SenderId": ctx_account}
        trace_attr = (system_in.get("AWSTraceHeader") or {}).get("StringValue") or trace
        if trace_attr:
            system["AWSTraceHeader"] = trace_attr
        dedup_key = None
        if q.fifo:
            scope = q.attributes.get("DeduplicationScope", "queue")
            dedup_key = f"{group}\x00{dedup}" if scope == "messageGroup" else dedup
        return NewMessage(message_id=str(uuid.uuid4()), body=body, attrs=pack_attributes(attrs),
                          md5_body=md5_hex(body.encode()), system=orjson.dumps(system),
                          delay_s=q.int_attr("DelaySeconds", 0) if delay is None else delay,
                          group_id=group, dedup_key=dedup_key, dedup_id=dedup if q.fifo else None)

    @staticmethod
    def _sent(q: Queue, entry: dict, msg: NewMessage, message_id: str, seq: int) -> dict:
        out = {"MessageId": message_id, "MD5OfMessageBody": msg.md5_body}
        md5_attrs = attributes_md5(entry.get("MessageAttributes"))
        if md5_attrs:
            out["MD5OfMessageAttributes"] = md5_attrs
        system = entry.get("MessageSystemAttributes")
        if system:
            out["MD5OfMessageSystemAttributes"] = attributes_md5(system)
        if q.fifo:
            out["SequenceNumber"] = _sequence_number(seq)
        return out

    def _trace(self, ctx: RequestContext) -> str | None:
        return ctx.http.headers.get("x-amzn-trace-id") if ctx.http is not None else None

    async def send_message(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        msg = self._new_message(ctx.account, q, p, self._trace(ctx))
        [(message_id, seq)] = await self.store.insert(q.arn, [msg])
        self._signal(q.arn)
        return self._sent(q, p, msg, message_id, seq)

    @staticmethod
    def _check_batch(entries: list[dict]) -> None:
        if not entries:
            raise errors.error("EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in "
                               "the request.")
        if len(entries) > MAX_BATCH:
            raise errors.error("TooManyEntriesInBatchRequest", f"Maximum number of entries per request are "
                               f"{MAX_BATCH}. You have sent {len(entries)}.")
        seen = set()
        for e in entries:
            ident = e.get("Id") or ""
            if not ident or len(ident) > 80 or not set(ident) <= BATCH_ID_CHARS:
                raise errors.error("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric "
                                   "characters, hyphens and underscores. It can be at most 80 letters long.")
            if ident in seen:
                raise errors.error("BatchEntryIdsNotDistinct", f"Id {ident} repeated.")
            seen.add(ident)

    async def send_message_batch(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        entries = p.get("Entries") or []
        self._check_batch(entries)
        total = sum(size_of(e.get("MessageBody") or "", e.get("MessageAttributes")) for e in entries)
        limit = 1_048_576
        if total > limit:
            raise errors.error("BatchRequestTooLong", f"Batch requests cannot be longer than {limit} bytes. You have "
                               f"sent {total} bytes.")
        ok: list[tuple[dict, NewMessage]] = []
        failed = []
        trace = self._trace(ctx)
        for e in entries:
            try:
                ok.append((e, self._new_message(ctx.account, q, e, trace)))
            except AwsError as err:
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
        stored = await self.store.insert(q.arn, [m for _, m in ok]) if ok else []
        if ok:
            self._signal(q.arn)
        successful = [dict(self._sent(q, e, m, mid, seq), Id=e["Id"]) for (e, m), (mid, seq) in zip(ok, stored)]
        return {"Successful": successful, "Failed": failed}

    # -- receiving
    async def receive_message(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        n = p.get("MaxNumberOfMessages")
        if n is not None and not 1 <= n <= 10:
            raise errors.invalid_value(n, "MaxNumberOfMessages", "Must be between 1 and 10, if provided.")
        wait = p.get("WaitTimeSeconds")
        if wait is not None and not 0 <= wait <= 20:
            raise errors.invalid_value(wait, "WaitTimeSeconds", "Must be >= 0 and <= 20, if provided.")
        vt = p.get("VisibilityTimeout")
        if vt is not None and not 0 <= vt <= 43_200:
            raise errors.invalid_value(vt, "VisibilityTimeout", "Must be >= 0 and <= 43200, if provided.")
        if wait is None:
            wait = q.int_attr("ReceiveMessageWaitTimeSeconds", 0)
        taken = await self._receive(q, n or 1, wait, vt)
        names = set(p.get("MessageSystemAttributeNames") or []) | set(p.get("AttributeNames") or [])
        messages = [self._message_view(q, m, names, p.get("MessageAttributeNames")) for m in taken]
        return {"Messages": messages} if messages else {}

    async def _receive(self, q: Queue, n: int, wait_s: float, vt: int | None) -> list[Stored]:
        deadline = time.monotonic() + wait_s
        visibility = q.int_attr("VisibilityTimeout", 30) if vt is None else vt
        while True:
            event = self._events.setdefault(q.arn, asyncio.Event())  # before the claim: no lost wake-up
            dead_letter = None
            if q.redrive is not None:
                target = self.by_arn(q.redrive[0])
                dead_letter = target.arn if target is not None else None
            taken, moved = await self.store.claim(q, n, visibility, dead_letter)
            if moved and dead_letter:
                self._signal(dead_letter)
            remaining = deadline - time.monotonic()
            if taken or remaining <= 0 or self._stopping or self.queues.get((q.account, q.region, q.name)) is not q:
                return taken
            due = self.store.next_visible(q.arn)
            timeout = remaining if due is None else min(remaining, max(0.0, due - time.time()) + 0.001)
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    @staticmethod
    def _message_view(q: Queue, m: Stored, names: set[str], attribute_names: list[str] | None) -> dict:
        out: dict = {"MessageId": m.message_id, "ReceiptHandle": m.receipt, "MD5OfBody": m.md5_body, "Body": m.body}
        if names:
            every = "All" in names
            system = orjson.loads(m.system) if m.system else {}
            values = {"SenderId": system.get("SenderId"), "SentTimestamp": str(m.sent_ms),
                      "ApproximateReceiveCount": str(m.receives),
                      "ApproximateFirstReceiveTimestamp": str(m.first_receive_ms),
                      "AWSTraceHeader": system.get("AWSTraceHeader"),
                      "DeadLetterQueueSourceArn": system.get("DeadLetterQueueSourceArn")}
            if q.fifo:
                values.update(SequenceNumber=_sequence_number(m.seq), MessageDeduplicationId=m.dedup_id,
                              MessageGroupId=m.group_id)
            attrs = {k: v for k, v in values.items() if v is not None and (every or k in names)}
            if attrs:
                out["Attributes"] = attrs
        chosen = select_attributes(unpack_attributes(m.attrs), attribute_names)
        if chosen:
            out["MessageAttributes"] = chosen
            out["MD5OfMessageAttributes"] = attributes_md5(chosen)
        return out

    # -- deleting and visibility
    def _receipt(self, q: Queue, handle: str) -> tuple[int, str]:
        parsed = parse_receipt(handle)
        if parsed is None or parsed[0] != q.arn:
            raise errors.bad_receipt(handle)
        return parsed[1], parsed[2]

    async def delete_message(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        await self.store.delete(q.arn, [self._receipt(q, p["ReceiptHandle"])])
        return {}

    async def delete_message_batch(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        entries = p.get("Entries") or []
        self._check_batch(entries)
        good, successful, failed = [], [], []
        for e in entries:
            try:
                good.append(self._receipt(q, e["ReceiptHandle"]))
                successful.append({"Id": e["Id"]})
            except AwsError as err:
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": err.code, "Message": err.message})
        if good:
            await self.store.delete(q.arn, good)
        return {"Successful": successful, "Failed": failed}

    async def change_message_visibility(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        [result] = await self._change_visibility(q, [p])
        if isinstance(result, AwsError):
            raise result
        return {}

    async def change_message_visibility_batch(self, ctx: RequestContext, p: dict) -> dict:
        q = self._by_url(ctx, p["QueueUrl"])
        entries = p.get("Entries") or []
        self._check_batch(entries)
        results = await self._change_visibility(q, entries)
        successful, failed = [], []
        for e, r in zip(entries, results):
            if isinstance(r, AwsError):
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": r.code, "Message": r.message})
            else:
                successful.append({"Id": e["Id"]})
        return {"Successful": successful, "Failed": failed}

    async def _change_visibility(self, q: Queue, entries: list[dict]) -> list[AwsError | None]:
        results: list[AwsError | None] = []
        changes: list[tuple[int, str, int]] = []
        slots: list[int] = []
        for e in entries:
            handle, vt = e["ReceiptHandle"], e.get("VisibilityTimeout")
            try:
                seq, nonce = self._receipt(q, handle)
                if vt is None:
                    raise errors.missing("VisibilityTimeout")
                if not 0 <= vt <= 43_200:
                    raise errors.invalid_value(vt, "VisibilityTimeout", "Total VisibilityTimeout for the message is "
                                               "beyond the limit [43200 seconds]")
            except AwsError as err:
                results.append(err)
                continue
            slots.append(len(results))
            results.append(None)
            changes.append((seq, nonce, vt))
        if changes:
            applied = await self.store.change_visibility(q.arn, changes)
            for slot, ok, (_, _, vt) in zip(slots, applied, changes):
                if not ok:
                    handle = entries[slot]["ReceiptHandle"]
                    results[slot] = errors.invalid_value(handle, "ReceiptHandle", "Message does not exist or is not "
                                                         "available for visibility timeout change.")
            if any(vt == 0 for _, _, vt in changes):
                self._signal(q.arn)
        return results

    # -- events.bus.Queues, for Lambda and S3
    def queue_attributes(self, queue_arn: str) -> dict[str, str] | None:
        q = self.by_arn(queue_arn)
        return None if q is None else self.attributes_of(q)

    def _bus_queue(self, queue_arn: str) -> Queue:
        q = self.by_arn(queue_arn)
        if q is None:
            raise QueueError("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
        return q

    async def send(self, queue_arn: str, body: str, attributes: dict[str, dict] | None = None, *,
                   group_id: str | None = None, dedup_id: str | None = None) -> str:
        q = self._bus_queue(queue_arn)
        entry: dict = {"MessageBody": body}
        if attributes:
            entry["MessageAttributes"] = attributes
        if q.fifo:
            entry["MessageGroupId"] = group_id or "default"
            entry["MessageDeduplicationId"] = dedup_id or str(uuid.uuid4())
        try:
            msg = self._new_message(q.account, q, entry)
        except AwsError as err:
            raise QueueError(err.code, err.message) from None
        [(message_id, _)] = await self.store.insert(q.arn, [msg])
        self._signal(q.arn)
        return message_id

    async def receive(self, queue_arn: str, max_messages: int, wait_s: float,
                      visibility_s: int | None = None) -> list[QueueMessage]:
        q = self._bus_queue(queue_arn)
        out = []
        for m in await self._receive(q, max_messages, wait_s, visibility_s):
            view = self._message_view(q, m, {"All"}, ["All"])
            out.append(QueueMessage(m.message_id, m.receipt, m.body, m.md5_body, view.get("Attributes", {}),
                                    view.get("MessageAttributes", {}), view.get("MD5OfMessageAttributes")))
        return out

    async def delete(self, queue_arn: str, receipt_handles: list[str]) -> None:
        q = self.by_arn(queue_arn)
        if q is None:
            return
        receipts = [r[1:] for r in map(parse_receipt, receipt_handles) if r is not None and r[0] == q.arn]
        if receipts:
            await self.store.delete(q.arn, receipts)
