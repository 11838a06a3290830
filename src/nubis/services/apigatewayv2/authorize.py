"""Evaluating a route's authorization per request: Lambda REQUEST authorizers (simple and IAM-policy
responses, identity sources, result caching) and JWT authorizers (JWKS fetched from the issuer).

Outcomes as API Gateway gives them: a missing identity source or a bad token is 401
`{"message":"Unauthorized"}`, a denial 403 `{"message":"Forbidden"}`, a failing authorizer function 500.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import orjson

from ...events.bus import Bus
from ...events.http_events import joined_query
from ..apigw_common.authorizers import (AuthorizerCache, AuthorizerUnavailable, identity_values, invoke_authorizer,
                                        json_or_none, policy_response, policy_verdict)
from ..apigw_common.gateway import is_signed
from . import http_client, jwt
from .lambda_proxy import Call, GatewayError, build_event, lambda_function_arn, source_arn

log = logging.getLogger("nubis.apigateway")

JWKS_TTL_S = 3600.0


class Unauthorized(GatewayError):
    def __init__(self, www_authenticate: str | None = None) -> None:
        super().__init__(401, "Unauthorized")
        self.www_authenticate = www_authenticate


@dataclass(slots=True)
class _Cached:
    expires: float
    policy: dict | None  # None: a simple response that allows
    context: dict
    principal: str | None


def request_identity(call: Call, sources: list[str]) -> list[str] | None:
    """The values of `$request.header.X`-style identity sources, or None if any is missing or empty."""
    context = {"requestId": call.request_id, "stage": call.stage_name, "apiId": call.rec.api_id,
               "routeKey": call.match.route["RouteKey"], "httpMethod": call.req.method,
               "identity.sourceIp": call.req.remote or "127.0.0.1"}
    return identity_values([s[1:] for s in sources], call.req.headers, joined_query(call.req.query),
                           call.stage.get("StageVariables") or {}, context)


class Authorizers:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.cache = AuthorizerCache()
        self._jwks: dict[str, tuple[float, dict]] = {}

    async def check(self, call: Call, authorizers: dict) -> dict | None:
        """Raise GatewayError to refuse the request; return requestContext.authorizer (or None)."""
        route = call.match.route
        kind = route.get("AuthorizationType", "NONE")
        if kind in ("NONE", "AWS_IAM"):
            if kind == "AWS_IAM" and not is_signed(call.req):
                raise GatewayError(403, "Forbidden")
            return None
        authorizer = authorizers.get(route.get("AuthorizerId") or "")
        if authorizer is None:
            raise GatewayError(500, "Internal Server Error")
        if authorizer["AuthorizerType"] == "JWT":
            return await self._jwt(call, authorizer, route.get("AuthorizationScopes") or [])
        return await self._lambda(call, authorizer)

    # -- Lambda REQUEST authorizers
    async def _lambda(self, call: Call, authorizer: dict) -> dict:
        sources = authorizer.get("IdentitySource") or []
        values = request_identity(call, sources)
        if values is None:
            raise Unauthorized()
        version = authorizer.get("AuthorizerPayloadFormatVersion", "2.0")
        route_arn = source_arn(call)
        ttl = int(authorizer.get("AuthorizerResultTtlInSeconds") or 0) if sources else 0
        key = (call.rec.api_id, call.stage_name, authorizer["AuthorizerId"], tuple(values))
        cached = await self.cache.get_or_make(
            key, ttl, lambda: self._call_authorizer(call, authorizer, version, route_arn, values))
        if cached.policy is not None and policy_verdict(cached.policy, route_arn) != "allow":
            raise GatewayError(403, "Forbidden")
        if call.payload_version == "1.0":
            out = dict(cached.context)
            if cached.principal is not None:
                out["principalId"] = cached.principal
            return out
        return {"lambda": dict(cached.context)}

    async def _call_authorizer(self, call: Call, authorizer: dict, version: str, route_arn: str,
                               values: list[str]) -> _Cached:
        try:
            result = await invoke_authorizer(self.bus, call.rec, authorizer["AuthorizerId"],
                                             lambda_function_arn(authorizer.get("AuthorizerUri") or ""),
                                             _authorizer_event(call, version, route_arn, values))
        except AuthorizerUnavailable:
            raise GatewayError(500, "Internal Server Error") from None
        value = None if result.function_error else json_or_none(result.payload)
        if authorizer.get("EnableSimpleResponses") and isinstance(value, dict):
            context = value.get("context") or {}
            if not isinstance(value.get("isAuthorized"), bool) or not isinstance(context, dict):
                raise GatewayError(500, "Internal Server Error")
            return _Cached(0.0, None if value["isAuthorized"] else {"Statement": []}, context, None)
        answer = policy_response(value)
        if answer is None:
            raise GatewayError(500, "Internal Server Error")
        return _Cached(0.0, answer[1], answer[2], answer[0])

    # -- JWT authorizers
    async def _jwt(self, call: Call, authorizer: dict, scopes: list[str]) -> dict:
        values = request_identity(call, authorizer.get("IdentitySource") or [])
        if values is None:
            raise Unauthorized()
        token = values[0]
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        config = authorizer.get("JwtConfiguration") or {}
        issuer = config.get("Issuer", "")
        try:
            header, claims, signing_input, signature = jwt.decode(token)
            jwks = await self._jwks_for(issuer)
            key = jwt.select_key(jwks, header)
            if key is None:
                jwks = await self._jwks_for(issuer, refresh=True)
                key = jwt.select_key(jwks, header)
            if key is None or not jwt.rsa_verify(header.get("alg", ""), key, signing_input, signature):
                raise jwt.InvalidToken("signature is invalid")
            jwt.validate_claims(claims, issuer, config.get("Audience") or [])
        except jwt.InvalidToken as err:
            raise Unauthorized(f'Bearer scope="{" ".join(scopes)}" error="invalid_token" '
                               f'error_description="{err}"') from None
        token_scopes = jwt.scopes_of(claims)
        if scopes and not set(scopes) & set(token_scopes):
            raise GatewayError(403, "Forbidden")
        context = {"claims": jwt.flat_claims(claims), "scopes": token_scopes or None}
        return context if call.payload_version == "1.0" else {"jwt": context}

    async def _jwks_for(self, issuer: str, refresh: bool = False) -> dict:
        hit = self._jwks.get(issuer)
        if hit is not None and not refresh and hit[0] > time.monotonic():
            return hit[1]
        try:
            config = await _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
            jwks = await _get_json(config["jwks_uri"])
        except (http_client.UpstreamError, KeyError, TypeError, ValueError, asyncio.TimeoutError) as err:
            log.warning("JWT authorizer: cannot load the JWKS of %s: %r", issuer, err)
            raise jwt.InvalidToken("the issuer's signing keys could not be retrieved") from None
        self._jwks[issuer] = (time.monotonic() + JWKS_TTL_S, jwks)
        return jwks


async def _get_json(url: str) -> dict:
    resp = await asyncio.wait_for(http_client.request("GET", url, [("Accept", "application/json")], b""), 5.0)
    if resp.status != 200:
        raise http_client.UpstreamError(f"{url} answered {resp.status}")
    value = orjson.loads(resp.body)
    if not isinstance(value, dict):
        raise ValueError(f"{url} did not return a JSON object")
    return value


def _authorizer_event(call: Call, version: str, route_arn: str, values: list[str]) -> dict:
    """The integration's event for the request (format 1.0 or 2.0) without its body, plus what identifies
    the authorizer call."""
    event = build_event(call, version)
    event.pop("body", None)
    event.pop("isBase64Encoded", None)
    if version == "1.0":
        joined = ",".join(values)
        event.update(type="REQUEST", methodArn=route_arn, identitySource=joined, authorizationToken=joined)
    else:
        event.update(type="REQUEST", routeArn=route_arn, identitySource=values)
    return event
