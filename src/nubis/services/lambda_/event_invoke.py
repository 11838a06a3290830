"""Asynchronous invocation settings (EventInvokeConfig): retries, maximum event age, destinations."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from ...server.errors import AwsError
from .functions import FunctionRecord
from .names import function_arn, parse_function_arn, parse_function_name
from .versions import paginate

if TYPE_CHECKING:
    from .provider import LambdaProvider

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600


def settings(rec: FunctionRecord, qualifier: str | None) -> dict:
    return (rec.extras.get("event_invoke") or {}).get(qualifier or "$LATEST") or {}


def destination_function(arn: str) -> tuple[str, str, str, str | None] | None:
    """(account, region, name, qualifier) when the ARN names a Lambda function, else None."""
    ref = parse_function_arn(arn)
    return None if ref is None else (ref.account or "", ref.region or "", ref.name, ref.qualifier)


class EventInvokeConfigOps:
    """Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s), mixed into the provider."""

    def _event_target(self: LambdaProvider, ctx: RequestContext, p: dict) -> tuple[FunctionRecord, str]:
        ref = parse_function_name(p["FunctionName"], p.get("Qualifier"), ctx.region)
        rec = self.functions.get(ctx.account, ctx.region, ref.name)
        if rec is None:
            raise AwsError("ResourceNotFoundException", "The function doesn't exist.", 404, Type="User")
        qualifier = ref.qualifier or "$LATEST"
        if rec.revision(qualifier) is None and qualifier not in rec.aliases:
            raise AwsError("ResourceNotFoundException",
                           f"Function not found: {function_arn(rec.region, rec.account, rec.name, qualifier)}", 404,
                           Type="User")
        return rec, qualifier

    def _check_destinations(self: LambdaProvider, rec: FunctionRecord, config: dict) -> None:
        for kind in ("OnSuccess", "OnFailure"):
            arn = ((config.get("DestinationConfig") or {}).get(kind) or {}).get("Destination")
            if not arn:
                continue
            if arn.startswith(("arn:aws:sqs:", "arn:aws:sns:")):
                if not self.target_exists(arn):
                    raise AwsError("InvalidParameterValueException", f"The destination ARN {arn} is invalid.")
                continue
            target = destination_function(arn)
            if target is None:
                raise AwsError("InvalidParameterValueException",
                               f"The destination ARN {arn} is invalid. (nubis delivers to Lambda functions, SQS "
                               "queues and SNS topics today; EventBridge destinations arrive with that service.)")
            account, region, name, _ = target
            if (account, region, name) == rec.key:
                raise AwsError("InvalidParameterValueException",
                               "You can't specify the function as a destination for itself.")
            if self.functions.get(account, region, name) is None:
                raise AwsError("InvalidParameterValueException", f"The destination ARN {arn} is invalid.")

    def target_exists(self: LambdaProvider, arn: str) -> bool:
        """Does the SQS queue or SNS topic an ARN names exist (asked through the bus)?"""
        if arn.startswith("arn:aws:sns:"):
            topics = self.bus.topics if self.bus is not None else None
            return topics is not None and topics.topic_attributes(arn) is not None
        queues = self.bus.queues if self.bus is not None else None
        return queues is not None and queues.queue_attributes(arn) is not None

    def check_dead_letter(self: LambdaProvider, p: dict) -> None:
        """DeadLetterConfig.TargetArn must name an existing SQS queue or SNS topic."""
        arn = (p.get("DeadLetterConfig") or {}).get("TargetArn")
        if not arn:
            return
        if arn.startswith(("arn:aws:sqs:", "arn:aws:sns:")) and self.target_exists(arn):
            return
        if arn.startswith(("arn:aws:sqs:", "arn:aws:sns:")):
            raise AwsError("InvalidParameterValueException",
                           f"The provided target arn {arn} is invalid. The queue or topic does not exist.")
        raise AwsError("InvalidParameterValueException",
                       "The provided target arn is invalid. It must be the ARN of an SQS queue or SNS topic.")

    def _store_event_config(self: LambdaProvider, rec: FunctionRecord, qualifier: str, config: dict) -> dict:
        if not any(k in config for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")):
            raise AwsError("InvalidParameterValueException",
                           "You must specify at least one of error handling or destination setting.")
        self._check_destinations(rec, config)
        stored = dict(config, FunctionArn=function_arn(rec.region, rec.account, rec.name, qualifier),
                      LastModified=time.time())
        stored.setdefault("DestinationConfig", {"OnSuccess": {}, "OnFailure": {}})
        rec.extras.setdefault("event_invoke", {})[qualifier] = stored
        self.functions.save(rec)
        return dict(stored)

    async def put_function_event_invoke_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, qualifier = self._event_target(ctx, p)
        config = {k: p[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig") if k in p}
        return self._store_event_config(rec, qualifier, config)

    async def update_function_event_invoke_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, qualifier = self._event_target(ctx, p)
        current = {k: v for k, v in settings(rec, qualifier).items() if k not in ("FunctionArn", "LastModified")}
        current.update({k: p[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
                        if k in p})
        return self._store_event_config(rec, qualifier, current)

    async def get_function_event_invoke_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, qualifier = self._event_target(ctx, p)
        config = settings(rec, qualifier)
        if not config:
            raise AwsError("ResourceNotFoundException",
                           f"The function {function_arn(rec.region, rec.account, rec.name, qualifier)} doesn't have "
                           "an EventInvokeConfig", 404, Type="User")
        return dict(config)

    async def delete_function_event_invoke_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, qualifier = self._event_target(ctx, p)
        await self.get_function_event_invoke_config(ctx, p)
        rec.extras["event_invoke"].pop(qualifier, None)
        self.functions.save(rec)
        return {}

    async def list_function_event_invoke_configs(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, _ = self._event_target(ctx, {"FunctionName": p["FunctionName"]})
        items = [dict(c) for _, c in sorted((rec.extras.get("event_invoke") or {}).items())]
        return paginate(items, p, "FunctionEventInvokeConfigs", key="FunctionArn")
