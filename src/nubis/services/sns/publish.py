"""Publish and PublishBatch: validate as SNS does, answer with a MessageId once the fan-out is durable."""
from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ...server.context import RequestContext
from ...server.errors import AwsError
from . import messages
from .errors import invalid, topic_not_found
from .filters import policy_matches
from .names import arn_parts
from .store import Topic
from .subscriptions import DELIVERED

if TYPE_CHECKING:
    from .provider import SnsProvider

log = logging.getLogger("nubis.sns")
MAX_BATCH = 10
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_E164 = re.compile(r"\+[1-9]\d{1,14}")


@dataclass
class Prepared:
    """One message ready to fan out."""

    message: str
    subject: str | None
    attributes: dict[str, dict[str, str]]
    per_protocol: dict[str, str] | None = None
    group: str | None = None
    dedup: str | None = None
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sequence: str | None = None
    duplicate: bool = False


def _sequence(n: int) -> str:
    return f"{10**19 + n:020d}"


class PublishOps:
    def _prepare(self: SnsProvider, topic: Topic | None, entry: dict, position: int | None = None) -> Prepared:
        """Validate one message (Publish's params or a batch entry); SNS's error otherwise."""
        message = entry.get("Message")
        if message is None or message == "":
            raise invalid("Invalid parameter: Empty message")
        subject = entry.get("Subject")
        messages.check_subject(subject)
        raw_attrs = entry.get("MessageAttributes") or {}
        messages.check_attributes(raw_attrs, position)
        if messages.publish_size(message, raw_attrs) > messages.MAX_MESSAGE_BYTES:
            raise invalid("Invalid parameter: Message too long")
        structure = entry.get("MessageStructure")
        if structure not in (None, "", "json"):
            raise invalid("Invalid parameter: MessageStructure")
        per_protocol = messages.structured(message) if structure == "json" else None
        group, dedup = entry.get("MessageGroupId"), entry.get("MessageDeduplicationId")
        if topic is not None and topic.fifo:
            if not group:
                raise invalid("Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
            if not dedup:
                if topic.attributes.get("ContentBasedDeduplication") != "true":
                    raise invalid("Invalid parameter: The topic should either have ContentBasedDeduplication "
                                  "enabled or MessageDeduplicationId provided explicitly")
                dedup = hashlib.sha256(message.encode()).hexdigest()
        elif dedup:
            raise invalid("Invalid parameter: MessageDeduplicationId Reason: The request includes "
                          "MessageDeduplicationId parameter that is not valid for this topic type")
        return Prepared(message, subject, messages.stored_attributes(raw_attrs), per_protocol, group, dedup)

    def _items(self: SnsProvider, topic: Topic, msg: Prepared) -> list[dict[str, Any]]:
        """One delivery per confirmed subscription whose filter policy passes the message."""
        items = []
        timestamp = messages.iso_ms(time.time())
        version = topic.attributes.get("SignatureVersion", "1")
        for sub in self.store.topic_subscriptions(topic.arn):
            if sub.pending:
                continue
            body = messages.for_protocol(msg.per_protocol, msg.message, sub.protocol)
            policy_text = sub.attributes.get("FilterPolicy")
            if policy_text:
                policy = orjson.loads(policy_text)
                if not policy_matches(policy, sub.attributes.get("FilterPolicyScope") or "MessageAttributes",
                                      msg.attributes, body):
                    continue
            if sub.protocol not in DELIVERED:
                log.info("sns: message %s to %s endpoint %s not delivered (nubis does not send %s)",
                         msg.message_id, sub.protocol, sub.endpoint, sub.protocol)
                continue
            items.append({
                "kind": "Notification", "sub": sub.arn, "topic": topic.arn, "account": topic.account,
                "region": topic.region, "protocol": sub.protocol, "endpoint": sub.endpoint,
                "raw": sub.attributes.get("RawMessageDelivery") == "true", "message_id": msg.message_id,
                "message": body, "subject": msg.subject, "timestamp": timestamp, "attributes": msg.attributes,
                "group": msg.group, "dedup": msg.dedup, "sequence": msg.sequence, "signature_version": version})
        return items

    def _assign(self: SnsProvider, topic: Topic, msg: Prepared) -> None:
        """FIFO: a sequence number, or the first message's id for a duplicate within five minutes."""
        if not topic.fifo or not msg.dedup:
            return
        seen = self.store.seen(topic.arn, msg.dedup)
        if seen is not None:
            msg.message_id, msg.sequence = seen
            msg.duplicate = True
            return
        msg.sequence = _sequence(self.store.next_fifo_sequence(topic.arn))
        self.store.remember(topic.arn, msg.dedup, msg.message_id, msg.sequence)

    async def _fan_out(self: SnsProvider, topic: Topic, msg: Prepared) -> None:
        """Assign FIFO ids, then commit one delivery per matching subscription (not for a duplicate)."""
        self._assign(topic, msg)
        if not msg.duplicate:
            await self.delivery.enqueue(self._items(topic, msg))

    def _target(self: SnsProvider, ctx: RequestContext, p: dict) -> Topic | None:
        """The topic Publish is for (TopicArn, or a topic's ARN as TargetArn); None for a phone number."""
        topic_arn, target, phone = p.get("TopicArn"), p.get("TargetArn"), p.get("PhoneNumber")
        if not (topic_arn or target or phone):
            raise invalid("Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
        if sum(1 for x in (topic_arn, target, phone) if x) > 1:
            raise invalid("Invalid parameter: TopicArn or TargetArn Reason: Only one of TopicArn, TargetArn or "
                          "PhoneNumber may be specified")
        if phone:
            if not _E164.fullmatch(phone):
                raise invalid(f"Invalid parameter: PhoneNumber Reason: {phone} is not valid to publish to")
            return None
        if target:
            parts = arn_parts(target, "TargetArn")
            if parts[5].startswith("endpoint/"):
                raise invalid("Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified")
            if parts[3] != ctx.region:
                raise invalid("Invalid parameter: TargetArn")
            topic = self.store.topic(target)
            if topic is None:
                raise topic_not_found()
            return topic
        return self.topic_for(ctx, topic_arn)

    async def publish(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self._target(ctx, p)
        msg = self._prepare(topic, p)
        if topic is None:  # an SMS: accepted, but nubis sends no text messages
            log.info("sns: SMS %s to %s not sent (nubis does not send SMS)", msg.message_id, p["PhoneNumber"])
            return {"MessageId": msg.message_id}
        await self._fan_out(topic, msg)
        out = {"MessageId": msg.message_id}
        if msg.sequence:
            out["SequenceNumber"] = msg.sequence
        return out

    async def publish_batch(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        entries = p.get("PublishBatchRequestEntries") or []
        if not entries:
            raise AwsError("EmptyBatchRequestException", "The batch request doesn't contain any entries.", 400)
        if len(entries) > MAX_BATCH:
            raise AwsError("TooManyEntriesInBatchRequestException",
                           "The batch request contains more entries than permissible.", 400)
        ids = [e["Id"] for e in entries]
        if len(set(ids)) != len(ids):
            raise AwsError("BatchEntryIdsNotDistinctException",
                           "Two or more batch entries in the request have the same Id.", 400)
        for entry_id in ids:
            if len(entry_id) > 80:
                raise AwsError("InvalidBatchEntryIdException",
                               f"The Id of a batch entry in the batch request is too long: {entry_id}", 400)
            if not _BATCH_ID.fullmatch(entry_id):
                raise AwsError("InvalidBatchEntryIdException", "The Id of a batch entry in the batch request "
                               f"contains an impermissible character: {entry_id}", 400)
        total = sum(messages.publish_size(e.get("Message") or "", e.get("MessageAttributes") or {}) for e in entries)
        if total > messages.MAX_MESSAGE_BYTES:
            raise AwsError("BatchRequestTooLongException",
                           "The length of all the messages put together is more than the limit.", 400)
        topic = self.topic_for(ctx, p["TopicArn"])
        successful, failed, items = [], [], []
        for position, entry in enumerate(entries, 1):
            try:
                msg = self._prepare(topic, entry, position)
            except AwsError as err:
                shape = self.protocol.error_shape(err.code)
                code = (shape.metadata.get("error", {}).get("code") if shape is not None else None) or err.code
                failed.append({"Id": entry["Id"], "Code": code, "Message": err.message, "SenderFault": True})
                continue
            self._assign(topic, msg)
            if not msg.duplicate:
                items.extend(self._items(topic, msg))
            ok = {"Id": entry["Id"], "MessageId": msg.message_id}
            if msg.sequence:
                ok["SequenceNumber"] = msg.sequence
            successful.append(ok)
        await self.delivery.enqueue(items)
        return {"Successful": successful, "Failed": failed}
