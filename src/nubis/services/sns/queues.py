"""The seam to SQS: what SNS needs from a queue service, looked up on the bus as `bus.queues`.

nubis's SQS provider is built separately; once both exist, `app.py` sets `bus.queues` to an object
with this method and SNS delivers to `sqs` subscriptions through it. Until then `bus.queues` is
absent (None): Subscribe with protocol `sqs` is accepted as on AWS (SNS does not check that a queue
exists when subscribing), and each delivery to it is dropped with a warning in the server log.
"""
from __future__ import annotations

from typing import Protocol


class QueueSender(Protocol):
    async def send(self, queue_arn: str, body: str, attributes: dict[str, dict[str, str]], *,
                   source_arn: str, group_id: str | None = None, dedup_id: str | None = None) -> None:
        """Put one message on the queue named by `queue_arn` (its account and region are in the ARN)
        on behalf of the topic `source_arn` (for the queue policy's aws:SourceArn), durably, before
        returning. `attributes` are SQS MessageAttributes ({"name": {"DataType": "String",
        "StringValue": "..."}}, Binary values base64 in "BinaryValue"); `group_id`/`dedup_id` are
        given for FIFO queues. Raises any exception when the message was not accepted (no such
        queue, policy denies sns.amazonaws.com, ...): SNS then retries and finally dead-letters it."""
