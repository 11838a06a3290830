"""What other services may ask of Lambda through the bus: policy-checked asynchronous invocations."""
from __future__ import annotations

import fnmatch
import uuid
from typing import TYPE_CHECKING

from ...engine import Invocation, InvocationResult
from ...engine import Throttled as EngineThrottled
from ...events.bus import SyncResult, Throttled, TriggerError
from .aliases import pick_version
from ...server.context import RequestContext
from .functions import FunctionRecord
from .names import parse_function_arn
from .policy import statements

if TYPE_CHECKING:
    from .provider import LambdaProvider


def _allows(stmt: dict, principal: str, source_arn: str, source_account: str) -> bool:
    actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
    if not any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions):
        return False
    who = stmt.get("Principal")
    if not (who == "*" or (isinstance(who, dict) and who.get("Service") == principal)):
        return False
    cond = stmt.get("Condition") or {}
    pattern = (cond.get("ArnLike") or {}).get("AWS:SourceArn") or (cond.get("ArnEquals") or {}).get("AWS:SourceArn")
    if pattern and not fnmatch.fnmatchcase(source_arn, pattern):
        return False
    account = (cond.get("StringEquals") or {}).get("AWS:SourceAccount")
    return not account or account == source_account


class TriggerOps:
    """Implements events.bus.FunctionTriggers for the provider."""

    def _trigger_target(self: LambdaProvider, function_arn: str) -> tuple[FunctionRecord, str | None] | None:
        ref = parse_function_arn(function_arn)
        if ref is None:
            return None
        rec = self.functions.get(ref.account, ref.region, ref.name)
        if rec is None or (ref.qualifier and rec.revision(ref.qualifier) is None and ref.qualifier not in rec.aliases):
            return None
        return rec, ref.qualifier

    def can_invoke(self: LambdaProvider, function_arn: str, *, principal: str, source_arn: str,
                   source_account: str) -> bool:
        target = self._trigger_target(function_arn)
        if target is None:
            return False
        rec, qualifier = target
        return any(_allows(s, principal, source_arn, source_account) for s in statements(rec, qualifier))

    async def invoke_async(self: LambdaProvider, function_arn: str, payload: bytes, *, principal: str,
                           source_arn: str, source_account: str) -> str:
        target = self._trigger_target(function_arn)
        if target is None or not self.can_invoke(function_arn, principal=principal, source_arn=source_arn,
                                                 source_account=source_account):
            raise TriggerError(f"{principal} may not invoke {function_arn}")
        rec, qualifier = target
        ctx = RequestContext(account=rec.account, region=rec.region, service="lambda", endpoint=self.endpoint,
                             request_id=str(uuid.uuid4()))
        await self.invoker._enqueue(ctx, rec, payload, qualifier)
        return ctx.request_id

    async def invoke_sync(self: LambdaProvider, function_arn: str, payload: bytes, *, principal: str,
                          source_arn: str, source_account: str) -> SyncResult:
        if not self.can_invoke(function_arn, principal=principal, source_arn=source_arn,
                               source_account=source_account):
            raise TriggerError(f"{principal} may not invoke {function_arn}")
        try:
            result = await self.invoke_target(function_arn, payload)
        except EngineThrottled:
            raise Throttled(f"{function_arn} is throttled") from None
        return SyncResult(result.payload, result.function_error, result.executed_version, result.request_id)

    async def invoke_target(self: LambdaProvider, function_arn: str, payload: bytes) -> InvocationResult:
        """Run the function (version or alias) an ARN names synchronously, on another service's behalf; the
        caller has checked any resource policy. TriggerError when it does not exist or is not ready; the
        engine's Throttled passes through."""
        target = self._trigger_target(function_arn)
        if target is None:
            raise TriggerError(f"{function_arn} does not exist")
        rec, qualifier = target
        alias = rec.aliases.get(qualifier or "")
        rev = rec.revision(pick_version(alias)) if alias else rec.revision(qualifier or "$LATEST")
        if rev is None or rec.state != "Active":
            raise TriggerError(f"{function_arn} is not ready")
        inv = Invocation(request_id=str(uuid.uuid4()), payload=payload,
                         invoked_arn=f"{rec.arn}:{qualifier}" if qualifier else rec.arn)
        return await self.engine.invoke(self.invoker.spec(rec, rev, self.endpoint), inv)
