"""Lambda authorizers as every API Gateway flavour runs them: the identity sources a request must
carry (also the cache key), invoking the function as API Gateway, reading and evaluating the IAM
policy it answers with, and caching its decisions per identity for the authorizer's TTL."""
from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from typing import Any, Awaitable, Callable, Mapping, TypeVar

import orjson

from ...events.bus import Bus, SyncResult, TriggerError
from .gateway import invoke
from .store import Record

log = logging.getLogger("nubis.apigateway")

AUTHORIZER_TIMEOUT_S = 10.0

T = TypeVar("T")


class AuthorizerUnavailable(Exception):
    """The authorizer function could not be invoked (unknown, not allowed, throttled or timed out)."""


def identity_values(sources: list[str], headers: Mapping[str, str], query: Mapping[str, str],
                    stage_variables: Mapping[str, str], context: Mapping[str, Any]) -> list[str] | None:
    """The values of identity sources written without their flavour's prefix (`request.header.Auth`,
    `request.querystring.q`, `stageVariables.v`, `context.requestId`); None if any is missing or empty."""
    lookups = (("request.header.", lambda name: headers.get(name.lower())), ("request.querystring.", query.get),
               ("stageVariables.", stage_variables.get), ("context.", context.get))
    values = []
    for source in sources:
        value = next((get(source[len(prefix):]) for prefix, get in lookups if source.startswith(prefix)), None)
        if not value:
            return None
        values.append(value)
    return values


def policy_verdict(policy: dict, arn: str) -> str:
    """'deny' (an explicit Deny), 'allow', or 'none' (no statement allows execute-api:Invoke on `arn`)."""
    statements = policy.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    allowed = False
    for stmt in statements:
        if not isinstance(stmt, dict) or not _statement_matches(stmt, arn):
            continue
        if stmt.get("Effect") == "Deny":
            return "deny"
        if stmt.get("Effect") == "Allow":
            allowed = True
    return "allow" if allowed else "none"


def _statement_matches(stmt: dict, arn: str) -> bool:
    actions = stmt.get("Action") or []
    actions = [actions] if isinstance(actions, str) else actions
    if not any(isinstance(a, str) and fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
        return False
    resources = stmt.get("Resource") or []
    resources = [resources] if isinstance(resources, str) else resources
    return any(isinstance(r, str) and fnmatch.fnmatchcase(arn, r) for r in resources)


def json_or_none(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def policy_response(value: Any) -> tuple[str, dict, dict] | None:
    """(principalId, policyDocument, context) of an IAM-policy answer; None if it is not one."""
    if not isinstance(value, dict) or "principalId" not in value or not isinstance(value.get("policyDocument"), dict):
        return None
    context = value.get("context") or {}
    return (str(value["principalId"]), value["policyDocument"], context) if isinstance(context, dict) else None


async def invoke_authorizer(bus: Bus, rec: Record, authorizer_id: str, function_arn: str | None,
                            event: dict) -> SyncResult:
    """Invoke as API Gateway with the authorizer's source ARN (`.../authorizers/<id>`), which the
    function's policy must allow; AuthorizerUnavailable when that cannot be done."""
    if function_arn is None or bus.functions is None:
        raise AuthorizerUnavailable
    source = f"arn:aws:execute-api:{rec.region}:{rec.account}:{rec.api_id}/authorizers/{authorizer_id}"
    try:
        return await invoke(bus, function_arn, orjson.dumps(event), source, rec.account, AUTHORIZER_TIMEOUT_S)
    except (TriggerError, asyncio.TimeoutError) as err:
        log.warning("API %s: authorizer %s could not be invoked: %r", rec.api_id, authorizer_id, err)
        raise AuthorizerUnavailable from None


class AuthorizerCache:
    """Decisions by (api id, stage, authorizer id, identity values); a decision has an `expires` member."""

    def __init__(self) -> None:
        self._entries: dict[tuple, Any] = {}

    async def get_or_make(self, key: tuple, ttl: int, make: Callable[[], Awaitable[T]]) -> T:
        """The cached decision for `key`, else `make()`'s (kept `ttl` seconds; 0: not cached)."""
        hit = self._entries.get(key) if ttl > 0 else None
        if hit is not None and hit.expires > time.monotonic():
            return hit
        decision = await make()
        if ttl > 0:
            decision.expires = time.monotonic() + ttl  # type: ignore[attr-defined]
            if len(self._entries) > 10000:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v.expires > now}
            self._entries[key] = decision
        return decision

    def forget(self, api_id: str, stage: str | None = None) -> None:
        self._entries = {k: v for k, v in self._entries.items()
                         if not (k[0] == api_id and (stage is None or k[1] == stage))}
