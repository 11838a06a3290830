"""Event source mappings, as far as this nubis has sources for them.

A mapping polls a queue or stream (SQS, Kinesis, DynamoDB Streams, Kafka, MQ, DocumentDB) and invokes the
function with batches. nubis has none of those services yet, so every source ARN names a resource that does
not exist: CreateEventSourceMapping answers as Lambda does for a missing source (400
InvalidParameterValueException), no mapping can exist, lists are empty and a UUID is never found.
When a pollable service is added, its existence check and poller belong here.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from ...server.errors import AwsError
from .names import parse_function_name

if TYPE_CHECKING:
    from .provider import LambdaProvider

_ARN = re.compile(r"arn:(aws[a-zA-Z-]*):(?P<service>[a-z0-9-]+):(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.+)")
NOT_FOUND = "The resource you requested does not exist."


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message, 400, Type="User")


def missing_source(arn: str) -> AwsError:
    """Lambda's answer for a source ARN that names nothing (what every ARN is here, for now)."""
    m = _ARN.fullmatch(arn)
    service = m.group("service") if m else ""
    if service == "sqs":
        return _invalid("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
                        "SQS Error Message: The specified queue does not exist.")
    if service in ("kinesis", "dynamodb"):
        return _invalid(f"Stream not found: {arn}")
    return _invalid("Unrecognized event source.")


class EventSourceMappingOps:
    """Create/Get/Update/Delete/ListEventSourceMappings, mixed into the provider."""

    def _esm_function(self: LambdaProvider, ctx: RequestContext, name: str) -> None:
        ref = parse_function_name(name)
        rec = self.functions.get(ctx.account, ctx.region, ref.name)
        if rec is None or (ref.qualifier and rec.revision(ref.qualifier) is None and ref.qualifier not in rec.aliases):
            raise _invalid("Function does not exist")

    async def create_event_source_mapping(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        source = p.get("EventSourceArn")
        if not source:
            if p.get("SelfManagedEventSource"):
                raise _invalid("nubis cannot poll a self-managed Kafka cluster; no event source mapping was created.")
            raise _invalid("Unrecognized event source.")
        self._esm_function(ctx, p["FunctionName"])
        raise missing_source(source)

    async def list_event_source_mappings(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        if p.get("FunctionName"):
            parse_function_name(p["FunctionName"])  # a malformed name is still a validation error
        return {"EventSourceMappings": []}

    async def get_event_source_mapping(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        raise AwsError("ResourceNotFoundException", NOT_FOUND, 404, Type="User")

    async def update_event_source_mapping(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        raise AwsError("ResourceNotFoundException", NOT_FOUND, 404, Type="User")

    async def delete_event_source_mapping(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        raise AwsError("ResourceNotFoundException", NOT_FOUND, 404, Type="User")
