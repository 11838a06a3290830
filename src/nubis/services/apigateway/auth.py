"""Lambda authorizers (TOKEN and REQUEST) as REST APIs run them, with result caching by identity.

Outcomes as API Gateway gives them: a missing or invalid token is 401 `{"message":"Unauthorized"}`,
as is an authorizer that fails with the error message "Unauthorized"; a policy that denies the method
is 403 `{"Message":"User is not authorized to access this resource with an explicit deny"}`, one that
does not allow it 403 `{"Message":"User is not authorized to access this resource"}`; an authorizer
that cannot be invoked or answers something else is 500 `{"message":null}`.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ...events.bus import Bus
from ..apigw_common.authorizers import (AuthorizerCache, AuthorizerUnavailable, identity_values, invoke_authorizer,
                                        json_or_none, policy_response, policy_verdict)
from ..apigw_common.gateway import substitute_stage_variables
from .call import Call
from .gateway_responses import GatewayError
from .integrations import proxy_event
from .resources import lambda_arn_of

log = logging.getLogger("nubis.apigateway")


@dataclass(slots=True)
class Decision:
    expires: float
    policy: dict
    principal: str
    context: dict
    usage_key: str | None


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
        ttl = int(authorizer.get("authorizerResultTtlInSeconds") or 0) if identity else 0
        decision = await self.cache.get_or_make((call.rec.api_id, call.stage_name, authorizer["id"], identity), ttl,
                                                lambda: self._invoke(call, authorizer))
        verdict = policy_verdict(decision.policy, call.method_arn())
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
        sources = [s.strip().removeprefix("method.") for s in (authorizer.get("identitySource") or "").split(",")
                   if s.strip()]
        context = {"requestId": call.request_id, "stage": call.stage_name, "httpMethod": call.req.method,
                   "identity.sourceIp": call.req.remote or "127.0.0.1"}
        values = identity_values(sources, call.req.headers, call.query(), call.stage_variables, context)
        if values is None:
            raise GatewayError("UNAUTHORIZED")
        return tuple(values)

    def _event(self, call: Call, authorizer: dict) -> dict:
        if authorizer["type"] == "TOKEN":
            name = (authorizer.get("identitySource") or "").rpartition(".")[2]
            return {"type": "TOKEN", "methodArn": call.method_arn(), "authorizationToken": call.header(name)}
        event = proxy_event(call)  # the integration's event, without the body
        event.pop("body", None)
        event.pop("isBase64Encoded", None)
        return {"type": "REQUEST", "methodArn": call.method_arn(), **event}

    async def _invoke(self, call: Call, authorizer: dict) -> Decision:
        uri = substitute_stage_variables(authorizer.get("authorizerUri") or "", call.stage_variables)
        try:
            result = await invoke_authorizer(self.bus, call.rec, authorizer["id"], lambda_arn_of(uri),
                                             self._event(call, authorizer))
        except AuthorizerUnavailable:
            raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", None) from None
        value = json_or_none(result.payload)
        if result.function_error:
            if isinstance(value, dict) and value.get("errorMessage") == "Unauthorized":
                raise GatewayError("UNAUTHORIZED")
            raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", None)
        answer = policy_response(value)
        if answer is None or any(isinstance(v, (dict, list)) for v in answer[2].values()):
            log.info("API %s: authorizer %s returned an invalid response", call.rec.api_id, authorizer["id"])
            raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", None)
        usage_key = value.get("usageIdentifierKey")
        return Decision(0.0, answer[1], answer[0], answer[2], usage_key if isinstance(usage_key, str) else None)
