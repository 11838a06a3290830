"""Invoke: RequestResponse, Event (durable queue, run in the background) and DryRun."""
from __future__ import annotations

import base64
import binascii
import logging
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import orjson

from ...engine import Engine, FunctionSpec, Invocation, InvocationResult, Throttled
from ...events.async_invoke import AsyncInvokeQueue, Retry
from ...server.context import RequestContext
from ...server.credentials import function_credentials
from ...server.errors import AwsError
from . import event_invoke, limits, snapstart
from .aliases import pick_version
from .functions import FunctionRecord, Revision

if TYPE_CHECKING:
    from .provider import LambdaProvider

log = logging.getLogger("nubis.lambda.invoke")

LOG_TAIL_BYTES = 4096
THROTTLE_REASONS = {"reserved": "ReservedFunctionConcurrentInvocationLimitExceeded",
                    "account": "ConcurrentInvocationLimitExceeded"}


def check_json(payload: bytes) -> None:
    """Lambda only accepts JSON events; mimic its (Jackson) parse error."""
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        pos = getattr(exc, "pos", 0) or 0
        ch = payload[pos:pos + 1].decode("utf-8", "replace") or "EOF"
        raise AwsError(
            "InvalidRequestContentException",
            "Could not parse request body into json: Could not parse payload into json: Unexpected character "
            f"('{ch}' (code {ord(ch) if len(ch) == 1 else 0})): expected a valid value (JSON String, Number, Array, "
            "Object or token 'null', 'true' or 'false')", 400, Type="User") from None


def event_payload(payload: bytes, async_limit: int | None) -> bytes:
    """The event as the function will see it: size-checked for async use, `{}` when empty, valid JSON."""
    if async_limit is not None and len(payload) > async_limit:
        raise AwsError("RequestEntityTooLargeException",
                       f"{len(payload)} byte payload is too large for the Event invocation type (limit "
                       f"{async_limit} bytes)", 413, Type="User")
    payload = payload.strip() or b"{}"
    check_json(payload)
    return payload


def throttled(reason: str) -> AwsError:
    return AwsError("TooManyRequestsException", "Rate Exceeded.", 429, Type="User",
                    Reason=THROTTLE_REASONS.get(reason, reason))


class Invoker:
    def __init__(self, provider: LambdaProvider, engine: Engine, queue: AsyncInvokeQueue,
                 retry_scale: float = 1.0) -> None:
        self.provider = provider
        self.retry_scale = retry_scale
        self.engine = engine
        self.queue = queue
        queue.deliver = self._deliver
        self._specs: dict[tuple[str, str, int | None], FunctionSpec] = {}

    async def start(self) -> None:
        await self.queue.start()

    async def stop(self) -> None:
        await self.queue.stop()

    def spec(self, rec: FunctionRecord, rev: Revision, endpoint: str) -> FunctionSpec:
        """The engine's view of a function revision; built once per revision (the Invoke path is hot)."""
        key = (rev.engine_key, endpoint, rec.reserved)
        spec = self._specs.get(key)
        if spec is None:
            if len(self._specs) > 10_000:
                self._specs.clear()
            spec = self._specs[key] = self._build_spec(rec, rev, endpoint)
        return spec

    def _build_spec(self, rec: FunctionRecord, rev: Revision, endpoint: str) -> FunctionSpec:
        cfg = rev.config
        # Session credentials only nubis and the function know (verifiable in every mode, see credentials.py).
        key_id, secret, token = function_credentials(self.provider.secret, rec.account)
        return FunctionSpec(
            key=rev.engine_key,
            function_name=rec.name,
            function_arn=rec.arn,
            version=rev.version,
            runtime=cfg["Runtime"],
            handler=cfg["Handler"],
            code_dir=str(self.provider.code_dir(rev)),
            memory_mb=cfg["MemorySize"],
            timeout_s=cfg["Timeout"],
            environment=dict((cfg.get("Environment") or {}).get("Variables") or {}),
            region=rec.region,
            account=rec.account,
            log_group=cfg["LoggingConfig"]["LogGroup"],
            log_format=cfg["LoggingConfig"].get("LogFormat") or "Text",
            app_log_level=cfg["LoggingConfig"].get("ApplicationLogLevel"),
            system_log_level=cfg["LoggingConfig"].get("SystemLogLevel"),
            extra_env={
                # boto3 inside the function talks to this nubis, as the same account.
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": key_id,
                "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_SESSION_TOKEN": token,
            },
            reserved_concurrency=rec.reserved,
            scope=self.provider.scope(rec.account, rec.region),
            architecture=(cfg.get("Architectures") or ["x86_64"])[0],
            ephemeral_mb=int((cfg.get("EphemeralStorage") or {}).get("Size") or 512),
            opt_dir=_opt_dir(self.provider.opt_dir(rev)),
            snap_start=rev.version != "$LATEST" and snapstart.on(cfg),
        )

    def _ready(self, rec: FunctionRecord) -> None:
        if rec.state != "Active":
            raise AwsError("ResourceConflictException",
                           "The operation cannot be performed at this time. The function is currently in the "
                           f"following state: {rec.state}", 409, Type="User")

    async def invoke(self, ctx: RequestContext, p: dict) -> dict:
        rec, rev, qualifier = self.provider.target(ctx, p["FunctionName"], p.get("Qualifier"), invoke=True)
        kind = p.get("InvocationType") or "RequestResponse"
        payload: bytes = p.get("Payload") or b""
        if kind != "Event" and len(payload) > limits.SYNC_PAYLOAD_MAX:
            raise AwsError("RequestEntityTooLargeException",
                           f"Request must be smaller than {limits.SYNC_PAYLOAD_MAX} bytes for the InvokeFunction "
                           "operation", 413, Type="User")
        payload = event_payload(payload, limits.ASYNC_PAYLOAD_MAX if kind == "Event" else None)
        self._ready(rec)
        state = rev.config.get("State", "Active")
        if state != "Active":  # a SnapStart version while its snapshot is made, or after its INIT failed
            raise AwsError("ResourceConflictException",
                           "The operation cannot be performed at this time. The function is currently in the "
                           f"following state: {state}", 409, Type="User")
        if kind == "DryRun":
            return {"StatusCode": 204, "__request_id__": ctx.request_id}
        if kind == "Event":
            return await self._enqueue(ctx, rec, payload, qualifier)
        client_context = _client_context(p.get("ClientContext"))
        inv = Invocation(request_id=ctx.request_id, payload=payload,
                         invoked_arn=f"{rec.arn}:{qualifier}" if qualifier else rec.arn,
                         client_context=client_context)
        try:
            result = await self.engine.invoke(self.spec(rec, rev, ctx.endpoint), inv)
        except Throttled as exc:
            raise throttled(exc.reason) from None
        return self._response(result, p.get("LogType") == "Tail")

    @staticmethod
    def _response(result: InvocationResult, tail: bool) -> dict:
        payload, function_error = result.payload, result.function_error
        if len(payload) > limits.RESPONSE_MAX:
            payload = orjson.dumps({"errorMessage": "Response payload size exceeded maximum allowed payload size "
                                                    f"({limits.RESPONSE_MAX} bytes).",
                                    "errorType": "Function.ResponseSizeTooLarge"})
            function_error = "Unhandled"
        out: dict = {"StatusCode": 200, "Payload": payload, "ExecutedVersion": result.executed_version,
                     "__request_id__": result.request_id}
        if function_error:
            out["FunctionError"] = function_error
        if tail:
            out["LogResult"] = base64.b64encode(result.log_tail.encode()[-LOG_TAIL_BYTES:]).decode()
        return out

    async def invoke_async(self, ctx: RequestContext, p: dict) -> dict:
        """The deprecated InvokeAsync: same queue as InvocationType=Event, 256 KB limit."""
        rec, _ = self.provider.resolve(ctx, p["FunctionName"], invoke=True)
        payload = p.get("InvokeArgs") or b""
        if hasattr(payload, "read"):
            payload = payload.read()
        payload = event_payload(payload, limits.INVOKE_ASYNC_PAYLOAD_MAX)
        self._ready(rec)
        await self._enqueue(ctx, rec, payload, None)
        return {"Status": 202, "__request_id__": ctx.request_id}

    async def _enqueue(self, ctx: RequestContext, rec: FunctionRecord, payload: bytes, qualifier: str | None) -> dict:
        await self.queue.put({"account": rec.account, "region": rec.region, "function": rec.name,
                              "qualifier": qualifier, "request_id": ctx.request_id, "endpoint": ctx.endpoint,
                              "payload": base64.b64encode(payload).decode(), "received": time.time(),
                              "attempts": 0})
        return {"StatusCode": 202, "__request_id__": ctx.request_id}

    async def _deliver(self, event: dict) -> Retry | None:
        """Run one queued event as Lambda's async invocation does: retries, event age, destinations."""
        rec = self.provider.functions.get(event["account"], event["region"], event["function"])
        if rec is None:
            log.warning("dropping async event %s: function %s no longer exists", event["request_id"],
                        event["function"])
            return None
        if rec.state != "Active":
            return Retry()
        qualifier = event.get("qualifier")
        rev = rec.revision(qualifier or "$LATEST")
        if rev is None and qualifier in rec.aliases:
            rev = rec.revision(pick_version(rec.aliases[qualifier]))
        if rev is None:
            log.warning("dropping async event %s: %s:%s no longer exists", event["request_id"], rec.name, qualifier)
            return None
        config = event_invoke.settings(rec, qualifier)
        attempts = event.get("attempts", 0)
        if rec.reserved == 0:
            return await self._conclude(rec, event, "ZeroReservedConcurrency", attempts, None)
        if time.time() - event.get("received", time.time()) > config.get("MaximumEventAgeInSeconds",
                                                                          event_invoke.DEFAULT_MAX_AGE_S):
            return await self._conclude(rec, event, "EventAgeExceeded", attempts, None)
        inv = Invocation(request_id=event["request_id"], payload=base64.b64decode(event["payload"]),
                         invoked_arn=f"{rec.arn}:{qualifier}" if qualifier else rec.arn)
        try:
            result = await self.engine.invoke(self.spec(rec, rev, event["endpoint"]), inv)
        except Throttled:
            return Retry()  # throttles are retried with backoff until the event is too old
        attempts += 1
        if result.function_error is None:
            return await self._conclude(rec, event, "Success", attempts, result)
        log.info("async invocation %s of %s failed (attempt %d): %s", result.request_id, rec.name, attempts,
                 result.error_type)
        if attempts <= config.get("MaximumRetryAttempts", event_invoke.DEFAULT_RETRIES):
            # Lambda waits 1 minute before the second attempt and 2 before the third.
            return Retry(60.0 * attempts * self.retry_scale, dict(event, attempts=attempts))
        return await self._conclude(rec, event, "RetriesExhausted", attempts, result)

    async def _conclude(self, rec: FunctionRecord, event: dict, condition: str, attempts: int,
                        result: InvocationResult | None) -> None:
        """Send the event to the dead-letter queue (on failure) and the invocation record to the success or
        failure destination, where configured."""
        kind = "OnSuccess" if condition == "Success" else "OnFailure"
        dead_letter = None
        if kind == "OnFailure":
            dead_letter = await self._dead_letter(rec, event, condition, result)
        config = event_invoke.settings(rec, event.get("qualifier"))
        arn = ((config.get("DestinationConfig") or {}).get(kind) or {}).get("Destination")
        if not arn:
            if kind == "OnFailure" and not dead_letter:
                log.warning("async event %s for %s discarded: %s", event["request_id"], rec.name, condition)
            return None
        record = invocation_record(rec, event, condition, attempts, result)
        if arn.startswith(("arn:aws:sqs:", "arn:aws:sns:")):
            await self._send(arn, orjson.dumps(record).decode(), None, event["request_id"])
            return None
        target = event_invoke.destination_function(arn)
        if target is None:
            log.warning("destination %s is not supported; record for %s dropped", arn, event["request_id"])
            return None
        account, region, name, qualifier = target
        await self.queue.put({"account": account, "region": region, "function": name, "qualifier": qualifier,
                              "request_id": str(uuid.uuid4()), "endpoint": event["endpoint"],
                              "payload": base64.b64encode(orjson.dumps(record)).decode(), "received": time.time(),
                              "attempts": 0})
        return None

    async def _dead_letter(self, rec: FunctionRecord, event: dict, condition: str,
                           result: InvocationResult | None) -> str | None:
        """Lambda's DLQ message: the event as it was, with RequestID, ErrorCode and ErrorMessage attributes."""
        qualifier = event.get("qualifier")
        rev = rec.revision(qualifier or "$LATEST") or rec.latest
        arn = (rev.config.get("DeadLetterConfig") or {}).get("TargetArn")
        if not arn:
            return None
        message = condition
        if result is not None and result.function_error:
            try:
                message = str(orjson.loads(result.payload).get("errorMessage") or condition)
            except (orjson.JSONDecodeError, AttributeError):
                message = result.payload.decode("utf-8", "replace")
        attributes = {"RequestID": {"DataType": "String", "StringValue": event["request_id"]},
                      "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                      "ErrorMessage": {"DataType": "String", "StringValue": message.encode()[:1024].decode(
                          "utf-8", "ignore") or condition}}
        body = base64.b64decode(event["payload"]).decode("utf-8", "replace")
        await self._send(arn, body, attributes, event["request_id"])
        return arn

    async def _send(self, arn: str, body: str, attributes: dict | None, request_id: str) -> None:
        """Send to an SQS queue or publish to an SNS topic through the bus (durable when it returns)."""
        bus = self.provider.bus
        topics = bus.topics if bus is not None else None
        queues = bus.queues if bus is not None else None
        try:
            if arn.startswith("arn:aws:sns:") and topics is not None:
                await topics.publish(arn, body, attributes=attributes)
            elif arn.startswith("arn:aws:sqs:") and queues is not None:
                await queues.send(arn, body, attributes)
            else:
                log.warning("nothing on the bus delivers to %s; message for %s dropped", arn, request_id)
        except Exception as exc:  # the queue or topic was deleted since: AWS drops the record too
            log.warning("could not send the record of %s to %s: %s", request_id, arn, exc)


def invocation_record(rec: FunctionRecord, event: dict, condition: str, attempts: int,
                      result: InvocationResult | None) -> dict:
    """Lambda's destination record (version 1.0)."""
    qualifier = event.get("qualifier") or "$LATEST"
    response: dict = {"statusCode": 200, "executedVersion": result.executed_version if result else qualifier}
    if result is not None and result.function_error:
        response["functionError"] = result.function_error
    record: dict = {
        "version": "1.0",
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "requestContext": {"requestId": event["request_id"], "functionArn": f"{rec.arn}:{qualifier}",
                           "condition": condition, "approximateInvokeCount": attempts},
        "requestPayload": _json_or_text(base64.b64decode(event["payload"])),
        "responseContext": response,
    }
    if result is not None:
        record["responsePayload"] = _json_or_text(result.payload)
    return record


def _json_or_text(data: bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")


def _client_context(value: str | None) -> str | None:
    if not value:
        return None
    try:
        text = base64.b64decode(value, validate=True).decode()
        orjson.loads(text)
        return text
    except (binascii.Error, UnicodeDecodeError, orjson.JSONDecodeError):
        raise AwsError("InvalidRequestContentException",
                       "Client context must be a valid Base64-encoded JSON object.", 400, Type="User") from None


def _opt_dir(path) -> str | None:
    return str(path) if path is not None else None
