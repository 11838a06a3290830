"""Durable, asynchronous delivery of what a topic accepted.

Publish writes one queue item per matching subscription to the store (DurableQueue, the same
machinery as Lambda's async invocations) before it answers, so an accepted message survives kill -9
and is delivered after restart, at least once. A background consumer hands each item to its
endpoint: Lambda through the bus (the function's resource policy must allow sns.amazonaws.com),
HTTP/S by POSTing the signed JSON document, SQS through `bus.queues` (events/bus.py Queues). Failures are
retried per delivery policy (retry.py); when retries run out the message goes to the subscription's
RedrivePolicy dead-letter queue if there is one, else it is dropped (and logged).
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import urllib.error
import urllib.request
from typing import Any

import orjson

from ...events.async_invoke import AsyncInvokeQueue, Retry
from ...events.bus import Bus, TriggerError
from . import messages
from .retry import http_delay, http_policy, managed_delay
from .signing import Signer
from .store import SnsStore

log = logging.getLogger("nubis.sns")
PRINCIPAL = "sns.amazonaws.com"
HTTP_TIMEOUT_S = 15.0  # SNS gives an HTTP endpoint 15 s to answer
USER_AGENT = "Amazon Simple Notification Service Agent"


class Delivery:
    def __init__(self, queue: AsyncInvokeQueue, store: SnsStore, bus: Bus, endpoint: str, signer: Signer,
                 retry_scale: float = 1.0) -> None:
        self.queue = queue
        self.store = store
        self.bus = bus
        self.endpoint = endpoint
        self.signer = signer
        self.retry_scale = retry_scale
        self._http_pool = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="nubis-sns-http")
        queue.deliver = self.deliver

    async def enqueue(self, items: list[dict[str, Any]]) -> None:
        """Returns once every item is committed to disk."""
        if items:
            await asyncio.gather(*(self.queue.put(item) for item in items))

    async def start(self) -> None:
        await self.queue.start()

    async def stop(self) -> None:
        await self.queue.stop()
        self._http_pool.shutdown(wait=False, cancel_futures=True)

    # -- documents ------------------------------------------------------------------------------------
    def http_document(self, item: dict[str, Any]) -> dict[str, Any]:
        """The JSON an HTTP/S endpoint (or, not raw, an SQS queue) receives."""
        kind = item["kind"]
        doc: dict[str, Any] = {"Type": kind, "MessageId": item["message_id"]}
        if kind == "Notification":
            doc["TopicArn"] = item["topic"]
            if item.get("subject") is not None:
                doc["Subject"] = item["subject"]
            doc["Message"] = item["message"]
            doc["Timestamp"] = item["timestamp"]
            if item.get("sequence"):
                doc["SequenceNumber"] = item["sequence"]
        else:
            doc["Token"] = item["token"]
            doc["TopicArn"] = item["topic"]
            doc["Message"] = item["message"]
            doc["SubscribeURL"] = messages.subscribe_url(self.endpoint, item["topic"], item["token"])
            doc["Timestamp"] = item["timestamp"]
        version = item.get("signature_version") or "1"
        doc["SignatureVersion"] = version
        doc["Signature"] = self.signer.sign(messages.string_to_sign(doc), version)
        doc["SigningCertURL"] = self.signer.cert_url(self.endpoint)
        if kind == "Notification":
            doc["UnsubscribeURL"] = messages.unsubscribe_url(self.endpoint, item["sub"])
            if item.get("attributes"):
                doc["MessageAttributes"] = messages.envelope_attributes(item["attributes"])
        return doc

    def lambda_event(self, item: dict[str, Any]) -> dict[str, Any]:
        """The event a subscribed function gets: always one record (facts §5.6)."""
        sns: dict[str, Any] = {
            "Type": "Notification", "MessageId": item["message_id"], "TopicArn": item["topic"],
            "Subject": item.get("subject"), "Message": item["message"], "Timestamp": item["timestamp"],
        }
        sns["SignatureVersion"] = "1"  # AWS says 1 here whatever the topic's SignatureVersion
        sns["Signature"] = self.signer.sign(messages.string_to_sign(sns), "1")
        sns["SigningCertUrl"] = self.signer.cert_url(self.endpoint)
        sns["UnsubscribeUrl"] = messages.unsubscribe_url(self.endpoint, item["sub"])
        sns["MessageAttributes"] = messages.envelope_attributes(item.get("attributes") or {})
        return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                             "EventSubscriptionArn": item["sub"], "Sns": sns}]}

    # -- delivery -------------------------------------------------------------------------------------
    async def deliver(self, item: dict[str, Any]) -> Retry | None:
        await self.signer.ready()
        protocol = item["protocol"]
        if item["kind"] == "Notification":
            sub = self.store.subscription(item["sub"])
            if sub is None:
                return None  # unsubscribed (or topic deleted) since: nothing to deliver to
        try:
            if protocol == "lambda":
                await self._to_lambda(item)
            elif protocol == "sqs":
                if not await self._to_queue(item["endpoint"], item):
                    return None
            else:
                await self._to_http(item)
        except _Failed as err:
            return await self._failed(item, str(err))
        return None

    async def _to_lambda(self, item: dict[str, Any]) -> None:
        functions = self.bus.functions
        if functions is None:
            raise _Failed("no Lambda service")
        try:
            await functions.invoke_async(item["endpoint"], orjson.dumps(self.lambda_event(item)),
                                         principal=PRINCIPAL, source_arn=item["topic"],
                                         source_account=item["account"])
        except TriggerError as err:
            raise _Failed(str(err)) from None

    async def _to_queue(self, queue_arn: str, item: dict[str, Any]) -> bool:
        """False when there is no SQS service to deliver to (the message is dropped)."""
        queues = self.bus.queues
        if queues is None:
            log.warning("sns: dropped message %s for %s: this server has no SQS service",
                        item["message_id"], queue_arn)
            return False
        if item.get("raw"):  # SNS keeps binary attribute values base64; SQS takes the bytes
            body = item["message"]
            attrs = {name: ({**a, "BinaryValue": base64.b64decode(a["BinaryValue"])}
                            if isinstance(a.get("BinaryValue"), str) else a)
                     for name, a in (item.get("attributes") or {}).items()}
        else:
            body, attrs = orjson.dumps(self.http_document(item)).decode(), {}
        fifo = queue_arn.endswith(".fifo")
        try:
            await queues.send(queue_arn, body, attrs,
                              group_id=item.get("group") if fifo else None,
                              dedup_id=item.get("dedup") if fifo else None)
        except Exception as err:  # any refusal by the queue service is a failed delivery
            raise _Failed(f"{type(err).__name__}: {err}") from None
        return True

    async def _to_http(self, item: dict[str, Any]) -> None:
        kind = item["kind"]
        if kind == "Notification" and item.get("raw"):
            body = item["message"].encode()
        else:
            body = orjson.dumps(self.http_document(item))
        headers = {"Content-Type": "text/plain; charset=UTF-8", "User-Agent": USER_AGENT,
                   "x-amz-sns-message-type": kind, "x-amz-sns-message-id": item["message_id"],
                   "x-amz-sns-topic-arn": item["topic"]}
        if kind == "Notification":
            headers["x-amz-sns-subscription-arn"] = item["sub"]
            if item.get("raw"):
                headers["x-amz-sns-rawdelivery"] = "true"
        loop = asyncio.get_running_loop()
        status = await loop.run_in_executor(self._http_pool, _post, item["endpoint"], body, headers)
        if not 200 <= status < 500:  # SNS counts 5xx, other codes and connection errors as failures
            raise _Failed(f"HTTP {status}" if status else "endpoint unreachable")

    async def _failed(self, item: dict[str, Any], reason: str) -> Retry | None:
        retry = int(item.get("retry", 0)) + 1
        if item["protocol"] in ("http", "https"):
            topic = self.store.topic(item["topic"])
            sub = self.store.subscription(item["sub"]) if item["kind"] == "Notification" else None
            policy = http_policy(topic.attributes.get("DeliveryPolicy") if topic else None,
                                 sub.attributes.get("DeliveryPolicy") if sub else None)
            delay = http_delay(policy, retry)
        else:
            delay = managed_delay(retry)
        if delay is not None:
            log.log(logging.INFO if retry <= 3 else logging.DEBUG,"sns: delivery of %s to %s failed (%s); retry %d in %.2fs", item["message_id"],
                     item["endpoint"], reason, retry, delay * self.retry_scale)
            return Retry(delay * self.retry_scale, dict(item, retry=retry))
        await self._dead_letter(item, reason)
        return None

    async def _dead_letter(self, item: dict[str, Any], reason: str) -> None:
        sub = self.store.subscription(item["sub"]) if item["kind"] == "Notification" else None
        target = None
        if sub is not None and sub.attributes.get("RedrivePolicy"):
            try:
                target = orjson.loads(sub.attributes["RedrivePolicy"]).get("deadLetterTargetArn")
            except orjson.JSONDecodeError:
                target = None
        if target:
            try:
                if await self._to_queue(target, dict(item, raw=False)):
                    log.warning("sns: message %s for %s moved to dead-letter queue %s (%s)", item["message_id"],
                                item["endpoint"], target, reason)
                    return
            except _Failed as err:
                reason = f"{reason}; dead-letter queue {target}: {err}"
        log.warning("sns: gave up delivering message %s to %s: %s", item["message_id"], item["endpoint"], reason)


class _Failed(Exception):
    """One delivery attempt failed (the reason is logged)."""


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST and return the status (0: no HTTP answer at all). Runs in a worker thread."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:  # noqa: S310 - the subscriber's URL
            resp.read()
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError) as err:
        log.debug("sns: POST %s failed: %s", url, err)
        return 0
