"""Bucket notifications: the configuration API, matching events, S3's event record, durable delivery.

An event is written to the outbox in the same transaction as the object change it describes, then
handed to the bus (`bus.functions.invoke_async`, `bus.queues.send` or `bus.topics.publish`, all durable)
by one delivery task and deleted.
So a notification survives kill -9 at any point (at least once), and is never sent for a change that
did not commit. Lambda destinations are validated as S3 does: the function must exist and its
resource policy must let s3.amazonaws.com invoke it for this bucket; a queue or topic must exist, and
gets S3's `s3:TestEvent` message when the configuration is saved (on a topic, with the Subject
"Amazon S3 Notification" that S3 gives every message it publishes).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from typing import TYPE_CHECKING

import orjson

from ...events.bus import QueueError, TopicError, TriggerError
from ...server.context import RequestContext
from ...server.errors import AwsError
from ..arns import parse_arn
from . import errors
from .names import bucket_arn, event_key
from .store import Bucket, ObjectVersion

if TYPE_CHECKING:
    from .provider import S3Provider

log = logging.getLogger("nubis.s3")
PRINCIPAL = "s3.amazonaws.com"
SUBJECT = "Amazon S3 Notification"  # the Subject of everything S3 publishes to a topic

EVENT_TYPES = {
    "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectRestore:*", "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed", "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject",
    "s3:Replication:*", "s3:Replication:OperationFailedReplication", "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold", "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition", "s3:IntelligentTiering", "s3:ObjectTagging:*", "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete", "s3:ObjectAcl:Put",
}
_KINDS = (("LambdaFunctionConfigurations", "LambdaFunctionArn", "CloudFunction", "lambda"),
          ("QueueConfigurations", "QueueArn", "Queue", "sqs"),
          ("TopicConfigurations", "TopicArn", "Topic", "sns"))


def _event_matches(pattern: str, event: str) -> bool:
    """`s3:ObjectCreated:*` covers `ObjectCreated:Put`; an exact name covers itself."""
    name = pattern.removeprefix("s3:")
    return name == event or (name.endswith(":*") and event.startswith(name[:-1]))


def _rules(cfg: dict) -> tuple[str, str]:
    prefix = suffix = ""
    for rule in ((cfg.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []:
        if rule.get("Name", "").lower() == "prefix":
            prefix = rule.get("Value") or ""
        else:
            suffix = rule.get("Value") or ""
    return prefix, suffix


def _events_overlap(a: list[str], b: list[str]) -> bool:
    for x in a:
        for y in b:
            nx, ny = x.removeprefix("s3:"), y.removeprefix("s3:")
            if nx == ny or (nx.endswith(":*") and ny.startswith(nx[:-1])) or \
                    (ny.endswith(":*") and nx.startswith(ny[:-1])):
                return True
    return False


def _check_configuration(conf: dict) -> list[tuple[str, dict]]:
    """Events and filters of every configuration; returns (kind, config) pairs. Overlaps are refused."""
    seen: list[tuple[str, dict]] = []
    for group, arn_member, wire, service in _KINDS:
        for cfg in conf.get(group) or []:
            arn = cfg.get(arn_member) or ""
            if parse_arn(arn, service) is None:
                raise errors.invalid_argument("The ARN could not be parsed", wire, arn)
            events = cfg.get("Events") or []
            if not events:
                raise errors.malformed_xml()
            for e in events:
                if e not in EVENT_TYPES:
                    raise errors.invalid_argument("The event is not supported for notifications", "Event", e)
            names = [r.get("Name", "").lower() for r in ((cfg.get("Filter") or {}).get("Key") or {})
                     .get("FilterRules") or []]
            for n in names:
                if n not in ("prefix", "suffix"):
                    raise errors.invalid_argument("filter rule name must be either prefix or suffix",
                                                  "FilterRule.Name", n)
            for n in ("prefix", "suffix"):
                if names.count(n) > 1:
                    raise errors.invalid_argument(f"Cannot specify more than one {n} rule in a filter.",
                                                  "FilterRule.Name", n)
            seen.append((group, cfg))
    for i, (_, a) in enumerate(seen):
        pa, sa = _rules(a)
        for _, b in seen[i + 1:]:
            pb, sb = _rules(b)
            if _events_overlap(a["Events"], b["Events"]) and (pa.startswith(pb) or pb.startswith(pa)) \
                    and (sa.endswith(sb) or sb.endswith(sa)):
                raise errors.invalid_argument("Configurations overlap. Configurations on the same bucket cannot "
                                              "share a common event type.", "Event", a["Events"][0])
    return seen


def _iso_ms(t: float) -> str:
    d = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


class NotificationOps:
    async def put_bucket_notification_configuration(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        conf = dict(p.get("NotificationConfiguration") or {})
        configs = _check_configuration(conf)
        if not p.get("SkipDestinationValidation"):
            failures: list[tuple[str, str]] = []
            for group, cfg in configs:
                if group == "LambdaFunctionConfigurations":
                    arn = cfg["LambdaFunctionArn"]
                    functions = self.bus.functions
                    if functions is None or not functions.can_invoke(
                            arn, principal=PRINCIPAL, source_arn=bucket_arn(bucket.name), source_account=bucket.account):
                        failures.append((f"{arn}, {cfg.get('Id') or 'null'}", f"Not authorized to invoke function [{arn}]"))
                elif group == "QueueConfigurations":
                    queues = self.bus.queues
                    if queues is None or queues.queue_attributes(cfg["QueueArn"]) is None:
                        failures.append((cfg["QueueArn"], "The destination queue does not exist"))
                else:
                    topics = self.bus.topics
                    if topics is None or topics.topic_attributes(cfg["TopicArn"]) is None:
                        failures.append((cfg["TopicArn"], "The destination topic does not exist"))
            if failures:
                fields = {}
                for i, (name, value) in enumerate(failures, 1):
                    fields[f"ArgumentName{i}"] = name
                    fields[f"ArgumentValue{i}"] = value
                raise AwsError("InvalidArgument", "Unable to validate the following destination configurations",
                               400, **fields)
        for _, cfg in configs:
            if not cfg.get("Id"):
                cfg["Id"] = secrets.token_urlsafe(36)[:48]
        stored = {k: v for k, v in conf.items() if v}
        if stored:
            bucket.config["Notification"] = stored
        else:
            bucket.config.pop("Notification", None)
        self.store.save_bucket(bucket)
        if not p.get("SkipDestinationValidation"):
            await self._test_events(ctx, bucket, configs)
        return {}

    async def _test_events(self: S3Provider, ctx: RequestContext, bucket: Bucket,
                           configs: list[tuple[str, dict]]) -> None:
        """S3 tells each queue and topic destination it was configured with an `s3:TestEvent` message."""
        body = orjson.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": _iso_ms(time.time()),
                             "Bucket": bucket.name, "RequestId": ctx.request_id.replace("-", "")[:16].upper(),
                             "HostId": secrets.token_urlsafe(48)}).decode()
        queues, topics = self.bus.queues, self.bus.topics
        for group, arn in dict.fromkeys((g, c.get("QueueArn") or c.get("TopicArn")) for g, c in configs):
            try:
                if group == "QueueConfigurations" and queues is not None:
                    await queues.send(arn, body)
                elif group == "TopicConfigurations" and topics is not None:
                    await topics.publish(arn, body, subject=SUBJECT)
            except (QueueError, TopicError) as err:
                log.warning("s3: test event to %s failed: %s", arn, err)

    async def get_bucket_notification_configuration(self: S3Provider, ctx: RequestContext, p: dict) -> dict:
        bucket = self.bucket_for(ctx, p["Bucket"], p.get("ExpectedBucketOwner"))
        return dict(bucket.config.get("Notification") or {})

    # -- events
    def object_events(self: S3Provider, ctx: RequestContext, bucket: Bucket, event: str,
                      obj: ObjectVersion) -> list[bytes]:
        """Outbox entries (one per matching Lambda, queue or topic configuration) for an object change."""
        conf = bucket.config.get("Notification")
        if not conf:
            return []
        out = []
        for group, member, target in (("LambdaFunctionConfigurations", "LambdaFunctionArn", "function"),
                                      ("QueueConfigurations", "QueueArn", "queue"),
                                      ("TopicConfigurations", "TopicArn", "topic")):
            for cfg in conf.get(group) or []:
                prefix, suffix = _rules(cfg)
                if not any(_event_matches(e, event) for e in cfg.get("Events") or []):
                    continue
                if not obj.key.startswith(prefix) or not obj.key.endswith(suffix):
                    continue
                record = self._record(ctx, bucket, event, obj, cfg["Id"])
                out.append(orjson.dumps({target: cfg[member], "bucket": bucket.name,
                                         "account": bucket.account, "payload": {"Records": [record]}}))
        return out

    def _record(self: S3Provider, ctx: RequestContext, bucket: Bucket, event: str, obj: ObjectVersion,
                config_id: str) -> dict:
        remote = ctx.http.remote if ctx.http is not None else ""
        s3_object: dict = {"key": event_key(obj.key)}
        if event.startswith("ObjectCreated"):
            s3_object.update(size=obj.size, eTag=obj.etag.strip('"'))
        if bucket.versioned:
            s3_object["versionId"] = obj.version_id
        s3_object["sequencer"] = f"{obj.seq:018X}"
        return {
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": bucket.region,
            "eventTime": _iso_ms(time.time()),
            "eventName": event,
            "userIdentity": {"principalId": f"AWS:{ctx.account}"},
            "requestParameters": {"sourceIPAddress": remote or "127.0.0.1"},
            "responseElements": {"x-amz-request-id": ctx.request_id.replace("-", "")[:16].upper(),
                                 "x-amz-id-2": secrets.token_urlsafe(48)},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": config_id,
                   "bucket": {"name": bucket.name, "ownerIdentity": {"principalId": self.canonical_id(bucket.account)},
                              "arn": bucket_arn(bucket.name)},
                   "object": s3_object},
        }

    def wake_outbox(self: S3Provider, events: list[bytes] | None = None) -> None:
        if events:
            self._outbox_wakeup.set()

    async def _deliver_outbox(self: S3Provider) -> None:
        """Hand committed events to the async invoke queue, in order, until stopped."""
        while True:
            await self._outbox_wakeup.wait()
            self._outbox_wakeup.clear()
            try:
                while True:
                    batch = self.store.outbox(100)
                    if not batch:
                        break
                    done = []
                    for ident, body in batch:
                        await self._deliver(body)
                        done.append(ident)
                    self.store.outbox_done(done)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("s3: delivering notifications failed; retrying shortly")
                await asyncio.sleep(1.0)
                self._outbox_wakeup.set()

    async def _deliver(self: S3Provider, body: bytes) -> None:
        item = orjson.loads(body)
        if "topic" in item:
            if self.bus.topics is None:
                raise RuntimeError("no SNS service on the bus")
            try:
                await self.bus.topics.publish(item["topic"], orjson.dumps(item["payload"]).decode(), subject=SUBJECT)
            except TopicError as err:  # topic deleted since: S3 drops the event too
                log.warning("s3: dropped a notification for %s: %s", item["topic"], err)
            return
        if "queue" in item:
            if self.bus.queues is None:
                raise RuntimeError("no SQS service on the bus")
            try:
                await self.bus.queues.send(item["queue"], orjson.dumps(item["payload"]).decode())
            except QueueError as err:  # queue deleted since: S3 drops the event too
                log.warning("s3: dropped a notification for %s: %s", item["queue"], err)
            return
        functions = self.bus.functions
        if functions is None:
            raise RuntimeError("no Lambda service on the bus")
        try:
            await functions.invoke_async(item["function"], orjson.dumps(item["payload"]), principal=PRINCIPAL,
                                         source_arn=bucket_arn(item["bucket"]), source_account=item["account"])
        except TriggerError as err:  # function deleted or permission revoked since: S3 drops the event too
            log.warning("s3: dropped a notification for %s: %s", item["function"], err)

