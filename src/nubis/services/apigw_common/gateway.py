"""Pieces of the request path both API Gateway flavours share: request ids, stage variables in URIs,
throttling buckets, and invoking a Lambda function as API Gateway."""
from __future__ import annotations

import asyncio
import base64
import os
import re
import time

from ...events.bus import Bus, SyncResult
from ...server.messages import HttpRequest

PRINCIPAL = "apigateway.amazonaws.com"

_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


def new_request_id() -> str:
    """API Gateway's (extended) request ids look like `H6SdPgXtiYcEP1w=`."""
    return base64.b64encode(os.urandom(11)).decode()


def is_signed(req: HttpRequest) -> bool:
    """AWS_IAM authorization as nubis does it: there is no IAM to evaluate, so any SigV4-signed request
    (Authorization header or presigned query) is let through."""
    return "authorization" in req.headers or "X-Amz-Signature=" in req.query


def substitute_stage_variables(text: str, variables: dict) -> str:
    """`${stageVariables.name}` in integration and authorizer URIs (an unset one becomes empty)."""
    return _STAGE_VARIABLE.sub(lambda m: variables.get(m.group(1), ""), text)


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def take_token(buckets: dict[tuple, TokenBucket], key: tuple, rate: float, burst: int) -> bool:
    """A token from the bucket for `key`; a bucket whose limits changed starts afresh."""
    bucket = buckets.get(key)
    if bucket is None or bucket.rate != rate or bucket.burst != burst:
        bucket = buckets[key] = TokenBucket(rate, burst)
    return bucket.take()


async def invoke(bus: Bus, function_arn: str, payload: bytes, source_arn: str, account: str,
                 timeout_s: float) -> SyncResult:
    """Invoke as API Gateway (the function's policy must allow apigateway.amazonaws.com). Raises the bus's
    TriggerError/Throttled, or asyncio.TimeoutError, after which the invocation runs on without a client."""
    assert bus.functions is not None
    task = asyncio.ensure_future(bus.functions.invoke_sync(function_arn, payload, principal=PRINCIPAL,
                                                           source_arn=source_arn, source_account=account))
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout_s)
    except asyncio.TimeoutError:
        task.add_done_callback(_quiet)
        raise


def _quiet(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()
