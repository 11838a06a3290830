"""The bus between services: how one service triggers another without reaching into its internals.

It carries capabilities one service offers the others: the Lambda service queues an asynchronous
invocation on behalf of another service (S3 notifications, SNS, schedules, ...), after checking the
function's resource policy allows that service, exactly as AWS does; S3 lets Lambda read a deployment
package named by S3Bucket/S3Key.
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


class ObjectError(Exception):
    """An object could not be read: `code` and `message` are S3's (NoSuchBucket, NoSuchKey, AccessDenied...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ObjectReader(Protocol):
    def get(self, account: str, region: str, bucket: str, key: str, version: str | None = None) -> bytes:
        """The bytes of an object, read on behalf of `account` (Lambda's Code.S3Bucket/S3Key).
        Raises ObjectError with S3's code and message."""


class Bus:
    def __init__(self) -> None:
        self.functions: FunctionTriggers | None = None
        self.objects: ObjectReader | None = None  # provided by S3
