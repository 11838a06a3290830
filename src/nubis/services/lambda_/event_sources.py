"""Event source mappings: SQS queues are polled for real; other sources are answered as missing.

A mapping is a row (its configuration) plus, while Enabled, poller tasks that receive batches from the
queue through the bus (events.bus.Queues), invoke the function synchronously with Lambda's SQS event
and delete what succeeded; failed messages stay in the queue and come back after their visibility
timeout, so the queue's redrive policy handles poison messages, as on AWS. State changes
(Creating -> Enabled, Disabling -> Disabled, Deleting -> gone) are applied by a small reconciler, and
mappings resume after a restart. Kinesis, DynamoDB Streams, Kafka, MQ and DocumentDB sources do not
exist in nubis: creating a mapping for them answers as Lambda does for a missing source.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from typing import TYPE_CHECKING

import orjson

from ...engine import Throttled as EngineThrottled
from ...server.context import RequestContext
from ...server.errors import AwsError
from ...store.db import Database
from ..arns import parse_arn
from .names import function_arn, parse_function_arn, parse_function_name
from .versions import paginate

if TYPE_CHECKING:
    from ...events.bus import QueueMessage
    from .provider import LambdaProvider

log = logging.getLogger("nubis.lambda.esm")

NOT_FOUND = "The resource you requested does not exist."
SCHEMA = """
CREATE TABLE IF NOT EXISTS lambda_event_source_mappings (
  uuid TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, config TEXT NOT NULL);
"""
SQS_BATCH_MAX, SQS_FIFO_BATCH_MAX, WINDOW_MAX = 10_000, 10, 300
DEFAULT_POLLERS, RECONCILE_S, LONG_POLL_S = 2, 0.2, 20
UPDATABLE = ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "ScalingConfig", "FilterCriteria")


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message, 400, Type="User")


def _not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", NOT_FOUND, 404, Type="User")


def missing_source(arn: str) -> AwsError:
    """Lambda's answer for a source ARN that names nothing."""
    parsed = parse_arn(arn)
    service = parsed.service if parsed else ""
    if service == "sqs":
        return _invalid("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
                        "SQS Error Message: The specified queue does not exist.")
    if service in ("kinesis", "dynamodb"):
        return _invalid(f"Stream not found: {arn}")
    return _invalid("Unrecognized event source.")


def owner(cfg: dict) -> tuple[str, str]:
    """(account, region) a mapping belongs to, read from its ARN."""
    parsed = parse_arn(cfg["EventSourceMappingArn"])
    return (parsed.account, parsed.region) if parsed else ("", "")


def sqs_record(m: QueueMessage, queue_arn: str) -> dict:
    """One record of Lambda's SQS event."""
    attributes = {k: v for k, v in m.attributes.items() if k != "DeadLetterQueueSourceArn"}
    message_attributes = {}
    for name, a in m.message_attributes.items():
        v: dict = {"stringListValues": [], "binaryListValues": [], "dataType": a["DataType"]}
        if a.get("StringValue") is not None:
            v = {"stringValue": a["StringValue"], **v}
        else:
            v = {"binaryValue": base64.b64encode(bytes(a["BinaryValue"])).decode(), **v}
        message_attributes[name] = v
    parsed = parse_arn(queue_arn)
    region = parsed.region if parsed else ""
    return {"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body, "attributes": attributes,
            "messageAttributes": message_attributes, "md5OfBody": m.md5_of_body, "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn, "awsRegion": region}


def failed_items(payload: bytes, message_ids: set[str]) -> set[str] | None:
    """Message ids a ReportBatchItemFailures response names; None when the response fails the whole batch
    (not JSON, or an item identifier that is empty or not in the batch)."""
    text = payload.strip()
    if not text or text == b"null":
        return set()
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return set()
    items = doc.get("batchItemFailures")
    if not items:
        return set()
    if not isinstance(items, list):
        return None
    out = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in message_ids:
            return None
        out.add(ident)
    return out


class MappingStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        self.items: dict[str, dict] = {r["uuid"]: orjson.loads(r["config"])
                                       for r in db.query("SELECT uuid, config FROM lambda_event_source_mappings")}

    def save(self, account: str, region: str, config: dict) -> None:
        self.items[config["UUID"]] = config
        self.db.execute("INSERT OR REPLACE INTO lambda_event_source_mappings VALUES (?,?,?,?)",
                        (config["UUID"], account, region, orjson.dumps(config).decode()))

    def delete(self, ident: str) -> None:
        self.items.pop(ident, None)
        self.db.execute("DELETE FROM lambda_event_source_mappings WHERE uuid=?", (ident,))


class EventSourceMappingOps:
    """Create/Get/Update/Delete/ListEventSourceMappings and the SQS pollers, mixed into the provider."""

    # -- lifecycle (called from the provider's start/stop)
    def _esm_init(self: LambdaProvider) -> None:
        self.mappings = MappingStore(self.db)
        self._pollers: dict[str, list[asyncio.Task]] = {}
        self._reconciler: asyncio.Task | None = None

    async def _esm_start(self: LambdaProvider) -> None:
        self._reconciler = asyncio.get_running_loop().create_task(self._reconcile_forever())

    async def _esm_stop(self: LambdaProvider) -> None:
        tasks = [t for ts in self._pollers.values() for t in ts]
        if self._reconciler is not None:
            tasks.append(self._reconciler)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pollers.clear()

    async def _reconcile_forever(self: LambdaProvider) -> None:
        while True:
            try:
                self._reconcile()
            except Exception:
                log.exception("event source mappings: reconcile failed")
            await asyncio.sleep(RECONCILE_S)

    def _reconcile(self: LambdaProvider) -> None:
        """Move transitional states on and keep exactly the Enabled mappings polled."""
        for ident, cfg in list(self.mappings.items.items()):
            state = cfg["State"]
            account, region = owner(cfg)
            if state == "Deleting":
                self._stop_pollers(ident)
                self.mappings.delete(ident)
                continue
            if state in ("Creating", "Enabling", "Updating"):
                cfg = dict(cfg, State="Enabled" if cfg.get("_enabled", True) else "Disabled")
                self.mappings.save(account, region, cfg)
            elif state == "Disabling":
                cfg = dict(cfg, State="Disabled")
                self.mappings.save(account, region, cfg)
            if cfg["State"] == "Enabled":
                want = self._poller_count(cfg)
                running = [t for t in self._pollers.get(ident, []) if not t.done()]
                while len(running) < want:
                    running.append(asyncio.get_running_loop().create_task(self._poll(ident)))
                for extra in running[want:]:
                    extra.cancel()
                self._pollers[ident] = running[:want]
            else:
                self._stop_pollers(ident)

    @staticmethod
    def _poller_count(cfg: dict) -> int:
        limit = (cfg.get("ScalingConfig") or {}).get("MaximumConcurrency")
        return min(DEFAULT_POLLERS, limit) if limit else DEFAULT_POLLERS

    def _stop_pollers(self: LambdaProvider, ident: str) -> None:
        for t in self._pollers.pop(ident, []):
            t.cancel()

    # -- the poller
    async def _poll(self: LambdaProvider, ident: str) -> None:
        """Receive a batch, invoke, delete what succeeded; repeat while the mapping is Enabled."""
        backoff = 0.0
        while True:
            cfg = self.mappings.items.get(ident)
            queues = self.bus.queues if self.bus is not None else None
            if cfg is None or cfg["State"] != "Enabled" or queues is None:
                return
            if backoff:
                await asyncio.sleep(backoff)
            try:
                batch = await self._collect(queues, cfg)
                if batch:
                    await self._process(queues, cfg, batch)
                backoff = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event source mapping %s: %s", ident, exc)
                backoff = min(30.0, max(1.0, backoff * 2))

    async def _collect(self: LambdaProvider, queues, cfg: dict) -> list[QueueMessage]:
        """A batch: up to BatchSize messages, gathering for up to MaximumBatchingWindowInSeconds."""
        arn, size = cfg["EventSourceArn"], cfg["BatchSize"]
        window = cfg.get("MaximumBatchingWindowInSeconds") or 0
        batch = await queues.receive(arn, min(size, 10), LONG_POLL_S)
        if not batch:
            return []
        deadline = time.monotonic() + window
        while len(batch) < size:
            remaining = deadline - time.monotonic()
            more = await queues.receive(arn, min(size - len(batch), 10), max(0.0, min(remaining, LONG_POLL_S)))
            if not more and remaining <= 0:
                break
            batch += more
        return batch

    async def _process(self: LambdaProvider, queues, cfg: dict, batch: list[QueueMessage]) -> None:
        arn = cfg["EventSourceArn"]
        payload = orjson.dumps({"Records": [sqs_record(m, arn) for m in batch]})
        result = await self._invoke_for_mapping(cfg["FunctionArn"], payload)
        ids = {m.message_id for m in batch}
        if result is None or result.function_error:
            cfg["LastProcessingResult"] = "PROBLEM: Function call failed"
            return  # the messages come back after their visibility timeout
        failed: set[str] | None = set()
        if "ReportBatchItemFailures" in (cfg.get("FunctionResponseTypes") or []):
            failed = failed_items(result.payload, ids)
            if failed is None:
                cfg["LastProcessingResult"] = "PROBLEM: Function call failed"
                return
        done = [m.receipt_handle for m in batch if m.message_id not in failed]
        if done:
            await queues.delete(arn, done)
        cfg["LastProcessingResult"] = "OK"

    async def _invoke_for_mapping(self: LambdaProvider, target_arn: str, payload: bytes):
        """A synchronous invocation on the mapping's behalf (no resource policy applies: Lambda polls)."""
        try:
            return await self.invoke_target(target_arn, payload)
        except EngineThrottled:
            log.info("event source mapping for %s throttled; the batch returns to the queue", target_arn)
            return None

    # -- the API
    def _esm_function(self: LambdaProvider, ctx: RequestContext, name: str) -> str:
        """The mapping's FunctionArn (qualified if the name was)."""
        ref = parse_function_name(name, region=ctx.region)
        rec = self.functions.get(ctx.account, ctx.region, ref.name)
        if rec is None or (ref.qualifier and rec.revision(ref.qualifier) is None and ref.qualifier not in rec.aliases):
            raise _invalid("Function does not exist")
        return function_arn(rec.region, rec.account, rec.name, ref.qualifier)

    def _check_batching(self: LambdaProvider, cfg: dict, fifo: bool) -> None:
        size, window = cfg["BatchSize"], cfg.get("MaximumBatchingWindowInSeconds") or 0
        limit = SQS_FIFO_BATCH_MAX if fifo else SQS_BATCH_MAX
        if not 1 <= size <= limit:
            raise _invalid(f"BatchSize must be between 1 and {limit}.")
        if not 0 <= window <= WINDOW_MAX:
            raise _invalid(f"MaximumBatchingWindowInSeconds must be between 0 and {WINDOW_MAX}.")
        if fifo and window:
            raise _invalid("Batching window is not supported for FIFO queues")
        if size > 10 and window < 1:
            raise _invalid("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater "
                           "than 10")
        limit_c = (cfg.get("ScalingConfig") or {}).get("MaximumConcurrency")
        if limit_c is not None and not 2 <= limit_c <= 1000:
            raise _invalid("MaximumConcurrency must be between 2 and 1000.")

    def _check_timeout(self: LambdaProvider, ctx: RequestContext, function: str, queue: dict) -> None:
        ref = parse_function_arn(function)
        rec = self.functions.get(ctx.account, ctx.region, ref.name) if ref else None
        timeout = int((rec.config if rec else {}).get("Timeout", 3))
        visibility = int(queue.get("VisibilityTimeout", 30))
        if visibility < timeout:
            raise _invalid(f"Queue visibility timeout: {visibility} seconds is less than Function timeout: {timeout} "
                           "seconds")

    @staticmethod
    def _view(cfg: dict) -> dict:
        return {k: v for k, v in cfg.items() if not k.startswith("_")}

    async def create_event_source_mapping(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        source = p.get("EventSourceArn")
        if not source:
            if p.get("SelfManagedEventSource"):
                raise _invalid("nubis cannot poll a self-managed Kafka cluster; no event source mapping was created.")
            raise _invalid("Unrecognized event source.")
        function = self._esm_function(ctx, p["FunctionName"])
        queues = self.bus.queues if self.bus is not None else None
        queue = queues.queue_attributes(source) if queues is not None and parse_arn(source, "sqs") else None
        if queue is None:
            raise missing_source(source)
        if p.get("StartingPosition") or p.get("StartingPositionTimestamp"):
            raise _invalid("StartingPosition is not valid for SQS event sources.")
        for other in self.mappings.items.values():
            if other["EventSourceArn"] == source and other["FunctionArn"] == function:
                raise AwsError("ResourceConflictException",
                               f'An event source mapping with SQS arn (" {source} ") and function (" '
                               f'{p["FunctionName"]} ") already exists. Please update or delete the existing mapping '
                               f'with UUID {other["UUID"]}', 409, Type="User")
        ident = str(uuid.uuid4())
        cfg: dict = {"UUID": ident, "BatchSize": p.get("BatchSize") or 10,
                     "MaximumBatchingWindowInSeconds": p.get("MaximumBatchingWindowInSeconds") or 0,
                     "EventSourceArn": source, "FunctionArn": function, "LastModified": time.time(),
                     "State": "Creating", "StateTransitionReason": "USER_INITIATED",
                     "FunctionResponseTypes": list(p.get("FunctionResponseTypes") or []),
                     "EventSourceMappingArn": f"arn:aws:lambda:{ctx.region}:{ctx.account}:event-source-mapping:{ident}",
                     "_enabled": p.get("Enabled", True)}
        for key in ("ScalingConfig", "FilterCriteria"):
            if p.get(key):
                cfg[key] = p[key]
        self._check_batching(cfg, queue.get("FifoQueue") == "true")
        self._check_timeout(ctx, function, queue)
        self.mappings.save(ctx.account, ctx.region, cfg)
        return self._view(cfg)

    def _mapping(self: LambdaProvider, ctx: RequestContext, ident: str) -> dict:
        cfg = self.mappings.items.get(ident)
        if cfg is None or owner(cfg) != (ctx.account, ctx.region):
            raise _not_found()
        return cfg

    async def get_event_source_mapping(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        return self._view(self._mapping(ctx, p["UUID"]))

    async def list_event_source_mappings(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        function = None
        if p.get("FunctionName"):
            ref = parse_function_name(p["FunctionName"], region=ctx.region)  # a malformed name is still a validation error
            function = function_arn(ctx.region, ctx.account, ref.name, ref.qualifier)
        items = [self._view(c) for c in self.mappings.items.values()
                 if owner(c) == (ctx.account, ctx.region)
                 and (function is None or c["FunctionArn"] == function)
                 and (not p.get("EventSourceArn") or c["EventSourceArn"] == p["EventSourceArn"])]
        items.sort(key=lambda c: (c["LastModified"], c["UUID"]))
        return paginate(items, p, "EventSourceMappings", key="UUID")

    async def update_event_source_mapping(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        cfg = dict(self._mapping(ctx, p["UUID"]))
        if cfg["State"] in ("Creating", "Deleting", "Updating", "Enabling", "Disabling"):
            raise AwsError("ResourceInUseException", "The operation cannot be performed at this time. The event source "
                           f"mapping is currently in the {cfg['State']} state.", 400, Type="User")
        for key in UPDATABLE:
            if key in p:
                cfg[key] = p[key]
        if p.get("FunctionName"):
            cfg["FunctionArn"] = self._esm_function(ctx, p["FunctionName"])
        queues = self.bus.queues if self.bus is not None else None
        queue = queues.queue_attributes(cfg["EventSourceArn"]) if queues is not None else None
        self._check_batching(cfg, bool(queue and queue.get("FifoQueue") == "true"))
        if "Enabled" in p:
            cfg["_enabled"] = bool(p["Enabled"])
            if p["Enabled"] and cfg["State"] == "Disabled":
                cfg["State"] = "Enabling"
            elif not p["Enabled"] and cfg["State"] == "Enabled":
                cfg["State"] = "Disabling"
        if cfg["State"] == "Enabled":
            cfg["State"] = "Updating"
        cfg["LastModified"] = time.time()
        self.mappings.save(ctx.account, ctx.region, cfg)
        return self._view(cfg)

    async def delete_event_source_mapping(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        cfg = dict(self._mapping(ctx, p["UUID"]), State="Deleting")
        self.mappings.save(ctx.account, ctx.region, cfg)
        return self._view(cfg)
