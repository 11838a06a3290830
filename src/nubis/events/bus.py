"""The bus between services: how one service triggers another without reaching into its internals.

It carries capabilities one service offers the others: the Lambda service queues an asynchronous
invocation on behalf of another service (S3 notifications, SNS, schedules, ...), after checking the
function's resource policy allows that service, exactly as AWS does; S3 lets Lambda read a deployment
package named by S3Bucket/S3Key; SQS takes messages from Lambda (destinations, dead-letter queues),
S3 (notifications) and SNS (subscriptions) and hands batches to Lambda's event source mappings; SNS
takes messages for its topics from Lambda (destinations, dead-letter topics) and S3 (notifications).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TriggerError(Exception):
    """The target cannot be triggered: unknown function, or its policy does not allow the caller."""


class FunctionTriggers(Protocol):
    def can_invoke(self, function_arn: str, *, principal: str, source_arn: str, source_account: str) -> bool:
        """Does the function exist and does its resource policy let `principal` (e.g. s3.amazonaws.com)
        invoke it for `source_arn`?"""

    async def invoke_async(self, function_arn: str, payload: bytes, *, principal: str, source_arn: str,
                           source_account: str) -> str:
        """Queue an Event invocation durably (retries and destinations apply); returns its request id.
        Raises TriggerError when can_invoke would be False."""

    async def invoke_sync(self, function_arn: str, payload: bytes, *, principal: str, source_arn: str,
                          source_account: str) -> SyncResult:
        """Invoke and wait (API Gateway proxies). Raises TriggerError (incl. Throttled)."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a synchronous invocation returned: the payload, and the function error kind if it failed."""

    payload: bytes
    function_error: str | None
    executed_version: str
    request_id: str


class Throttled(TriggerError):
    """The function's concurrency is exhausted (Lambda would answer 429)."""


class ServiceError(Exception):
    """A cross-service call was refused; `code` and `message` are the owning service's own, for the caller
    to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ObjectError(ServiceError):
    """An object could not be read: `code` and `message` are S3's (NoSuchBucket, NoSuchKey, AccessDenied...)."""


class ObjectReader(Protocol):
    def get(self, account: str, region: str, bucket: str, key: str, version: str | None = None) -> bytes:
        """The bytes of an object, read on behalf of `account` (Lambda's Code.S3Bucket/S3Key).
        Raises ObjectError with S3's code and message."""


class QueueError(ServiceError):
    """A queue operation failed: `code` and `message` are SQS's (AWS.SimpleQueueService.NonExistentQueue...)."""


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """A received message, with what an SQS event record carries (system attributes as strings,
    message attributes in the API's shape: {"DataType", "StringValue" | "BinaryValue" (bytes)})."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str]
    message_attributes: dict[str, dict]
    md5_of_message_attributes: str | None


class Queues(Protocol):
    def queue_attributes(self, queue_arn: str) -> dict[str, str] | None:
        """The queue's attributes (VisibilityTimeout, FifoQueue, ...), or None if it does not exist."""

    async def send(self, queue_arn: str, body: str, attributes: dict[str, dict] | None = None, *,
                   group_id: str | None = None, dedup_id: str | None = None) -> str:
        """Send a message (durable when this returns); returns its MessageId. `attributes` are message
        attributes in the API's shape. Raises QueueError (e.g. the queue does not exist)."""

    async def receive(self, queue_arn: str, max_messages: int, wait_s: float,
                      visibility_s: int | None = None) -> list[QueueMessage]:
        """Receive up to max_messages (waiting up to wait_s for the first); redrive applies. QueueError."""

    async def delete(self, queue_arn: str, receipt_handles: list[str]) -> None:
        """Delete received messages; handles that are stale or unknown are ignored."""


class TopicError(ServiceError):
    """A publish was refused: `code` and `message` are SNS's (NotFound, InvalidParameter...)."""


class Topics(Protocol):
    def topic_attributes(self, topic_arn: str) -> dict[str, str] | None:
        """The topic's attributes (TopicArn, Owner, FifoTopic, ...), or None if it does not exist."""

    async def publish(self, topic_arn: str, message: str, subject: str | None = None,
                      attributes: dict[str, dict] | None = None, *, group_id: str | None = None,
                      dedup_id: str | None = None) -> str:
        """Publish as the Publish API would (same validation; subscriptions and filter policies apply);
        returns the MessageId once the fan-out is durable. `attributes` are message attributes in the
        API's shape ({"DataType", "StringValue" | "BinaryValue" (bytes)}). Raises TopicError."""


class Bus:
    def __init__(self) -> None:
        self.functions: FunctionTriggers | None = None
        self.objects: ObjectReader | None = None  # provided by S3
        self.queues: Queues | None = None  # provided by SQS
        self.topics: Topics | None = None  # provided by SNS
