"""Lambda authorizers (TOKEN and REQUEST) as REST APIs run them, with result caching by identity.

Outcomes as API Gateway gives them: a missing or invalid token is 401 `{"message":"Unauthorized"}`,
as is an authorizer that fails with the error message "Unauthorized"; a policy that denies the method
is 403 `{"Message":"User is not authorized to access this resource with an explicit deny"}`, one that
does not allow it 403 `{"Message":"User is not authorized to access this resource"}`; an authorizer
that cannot be invoked or answers something else is 500 `{"message":null}`.
"""
from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
import time
from dataclasses import dataclass

import orjson

from ...events.bus import Bus, TriggerError
from ...events.http_events import v1_event
from .call import Call, substitute_stage_variables
from .gateway_responses import GatewayError
from .resources import lambda_arn_of

log = logging.getLogger("nubis.apigateway")

PRINCIPAL = "apigateway.amazonaws.com"
AUTHORIZER_TIMEOUT_S = 10.0


@dataclass(slots=True)
class Decision:
    expires: float
    policy: dict
    principal: str
    context: dict
    usage_key: str | None


def statement_matches(stmt: dict, arn: str) -> bool:
    actions = stmt.get("Action") or []
    actions = [actions] if isinstance(actions, str) else actions
    if not any(isinstance(a, str) and fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
        return False
    resources = stmt.get("Resource") or []
    resources = [resources] if isinstance(resources, str) else resources
    return any(isinstance(r, str) and fnmatch.fnmatchcase(arn, r) for r in resources)


def evaluate(policy: dict, arn: str) -> str:
    """'deny' (explicit), 'allow', or 'none' (no statement allows it)."""
    statements = policy.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    allowed = False
    for stmt in statements:
        if not isinstance(stmt, dict) or not statement_matches(stmt, arn):
            continue
        if stmt.get("Effect") == "Deny":
            return "deny"
        if stmt.get("Effect") == "Allow":
            allowed = True
    return "allow" if allowed else "none"


def _context_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Authorizers:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.cache = AuthorizerCache()

    async def check(self, call: Call, authorizer: dict) -> dict:
        """requestContext.authorizer for an allowed request; raises GatewayError otherwise."""
        if authorizer.get("type") == "COGNITO_USER_POOLS":
            # nubis has no Cognito user pools to verify tokens against: refuse as an invalid token would be
            raise GatewayError("UNAUTHORIZED")
        identity = self._identity(call, authorizer)
        ttl = int(authorizer.get("authorizerResultTtlInSeconds") or 0)
        key = (call.rec.api_id, call.stage_name, authorizer["id"], identity)
        decision = self.cache.get(key) if ttl > 0 and identity else None
        if decision is None:
            decision = await self._invoke(call, authorizer)
            if ttl > 0 and identity:
                decision.expires = time.monotonic() + ttl
                self.cache.put(key, decision)
        verdict = evaluate(decision.policy, call.method_arn())
        if verdict == "deny":
            raise GatewayError("ACCESS_DENIED", "User is not authorized to access this resource with an explicit deny",
                               json_key="Message")
        if verdict == "none":
            raise GatewayError("ACCESS_DENIED", json_key="Message")
        call.authorizer = {"principalId": decision.principal, "integrationLatency": 0,
                           **{k: _context_value(v) for k, v in decision.context.items()}}
        return {"usage_key": decision.usage_key}

    def _identity(self, call: Call, authorizer: dict) -> tuple:
        """The identity source values (the cache key); 401 when a required one is missing."""
        if authorizer["type"] == "TOKEN":
            name = (authorizer.get("identitySource") or "").rpartition(".")[2]
            token = call.header(name)
            if not token:
                raise GatewayError("UNAUTHORIZED")
            pattern = authorizer.get("identityValidationExpression")
            if pattern and not re.fullmatch(pattern, token):
                raise GatewayError("UNAUTHORIZED")
            return (token,)
        values = []
        query = call.query()
        for source in [s.strip() for s in (authorizer.get("identitySource") or "").split(",") if s.strip()]:
            if source.startswith("method.request.header."):
                value = call.header(source[len("method.request.header."):])
            elif source.startswith("method.request.querystring."):
                value = query.get(source[len("method.request.querystring."):])
            elif source.startswith("stageVariables."):
                value = call.stage_variables.get(source[len("stageVariables."):])
            elif source.startswith("context."):
                value = {"requestId": call.request_id, "stage": call.stage_name, "httpMethod": call.req.method,
                         "identity.sourceIp": call.req.remote or "127.0.0.1"}.get(source[len("context."):])
            else:
                value = None
            if not value:
                raise GatewayError("UNAUTHORIZED")
            values.append(value)
        return tuple(values)

    def _event(self, call: Call, authorizer: dict) -> dict:
        if authorizer["type"] == "TOKEN":
            name = (authorizer.get("identitySource") or "").rpartition(".")[2]
            return {"type": "TOKEN", "methodArn": call.method_arn(), "authorizationToken": call.header(name)}
        match = call.match
        event = v1_event(call.req, resource=call.resource_path, path=call.stage_path, stage=call.stage_name,
                         api_id=call.rec.api_id, host=call.host, account_id=call.rec.account,
                         request_id=call.request_id, resource_id=match.resource["id"] if match else None,
                         path_parameters=match.path_parameters if match else None,
                         stage_variables=call.stage_variables or None, version=None,
                         context_path=f"/{call.stage_name}{call.stage_path}")
        event.pop("body", None)
        event.pop("isBase64Encoded", None)
        return {"type": "REQUEST", "methodArn": call.method_arn(), **event}

    async def _invoke(self, call: Call, authorizer: dict) -> Decision:
        rec = call.rec
        function_arn = lambda_arn_of(substitute_stage_variables(authorizer.get("authorizerUri") or "", call.stage_variables))
        if function_arn is None or self.bus.functions is None:
            raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", None)
        source = f"arn:aws:execute-api:{rec.region}:{rec.account}:{rec.api_id}/authorizers/{authorizer['id']}"
        try:
            result = await asyncio.wait_for(self.bus.functions.invoke_sync(
                function_arn, orjson.dumps(self._event(call, authorizer)), principal=PRINCIPAL, source_arn=source,
                source_account=rec.account), AUTHORIZER_TIMEOUT_S)
        except (TriggerError, asyncio.TimeoutError) as err:
            log.warning("API %s: authorizer %s could not be invoked: %r", rec.api_id, authorizer["id"], err)
            raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", None) from None
        try:
            value = orjson.loads(result.payload)
        except orjson.JSONDecodeError:
            value = None
        if result.function_error:
            message = value.get("errorMessage") if isinstance(value, dict) else None
            if message == "Unauthorized":
                raise GatewayError("UNAUTHORIZED")
            raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", None)
        policy = value.get("policyDocument") if isinstance(value, dict) else None
        context = (value.get("context") or {}) if isinstance(value, dict) else None
        if not isinstance(policy, dict) or "principalId" not in value or not isinstance(context, dict) or \
                any(isinstance(v, (dict, list)) for v in context.values()):
            log.info("API %s: authorizer %s returned an invalid response", rec.api_id, authorizer["id"])
            raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", None)
        usage_key = value.get("usageIdentifierKey")
        return Decision(0.0, policy, str(value["principalId"]), context,
                        usage_key if isinstance(usage_key, str) else None)


class AuthorizerCache:
    def __init__(self) -> None:
        self._entries: dict[tuple, Decision] = {}

    def get(self, key: tuple) -> Decision | None:
        hit = self._entries.get(key)
        if hit is not None and hit.expires <= time.monotonic():
            del self._entries[key]
            return None
        return hit

    def put(self, key: tuple, value: Decision) -> None:
        if len(self._entries) > 10000:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v.expires > now}
        self._entries[key] = value

    def forget(self, api_id: str, stage: str | None = None) -> None:
        self._entries = {k: v for k, v in self._entries.items()
                         if not (k[0] == api_id and (stage is None or k[1] == stage))}

