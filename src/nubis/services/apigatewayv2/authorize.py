"""Evaluating a route's authorization per request: Lambda REQUEST authorizers (simple and IAM-policy
responses, identity sources, result caching) and JWT authorizers (JWKS fetched from the issuer).

Outcomes as API Gateway gives them: a missing identity source or a bad token is 401
`{"message":"Unauthorized"}`, a denial 403 `{"message":"Forbidden"}`, a failing authorizer function 500.
"""
from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from dataclasses import dataclass

import orjson

from ...events.bus import Bus, Throttled, TriggerError
from ...events.http_events import joined_query, v1_event, v2_event
from . import http_client, jwt
from .integrations import lambda_function_arn
from .lambda_proxy import PRINCIPAL, Call, GatewayError, source_arn
from .matching import parse_route_key

log = logging.getLogger("nubis.apigateway")

AUTHORIZER_TIMEOUT_S = 10.0
JWKS_TTL_S = 3600.0


class Unauthorized(GatewayError):
    def __init__(self, www_authenticate: str | None = None) -> None:
        super().__init__(401, "Unauthorized")
        self.www_authenticate = www_authenticate


@dataclass(slots=True)
class _Cached:
    expires: float
    allowed_arns: object  # True (simple response) or the policy document
    context: dict
    principal: str | None


class AuthorizerCache:
    def __init__(self) -> None:
        self._entries: dict[tuple, _Cached] = {}

    def get(self, key: tuple) -> _Cached | None:
        hit = self._entries.get(key)
        if hit is not None and hit.expires <= time.monotonic():
            del self._entries[key]
            return None
        return hit

    def put(self, key: tuple, value: _Cached) -> None:
        if len(self._entries) > 10000:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v.expires > now}
        self._entries[key] = value

    def forget(self, api_id: str, stage: str | None = None) -> None:
        self._entries = {k: v for k, v in self._entries.items()
                         if not (k[0] == api_id and (stage is None or k[1] == stage))}


def identity_values(call: Call, sources: list[str]) -> list[str] | None:
    """The values of the identity sources, or None if any is missing or empty."""
    values = []
    query = None
    for source in sources:
        kind, _, name = source[1:].rpartition(".")
        if kind == "request.header":
            value = call.req.headers.get(name.lower())
        elif kind == "request.querystring":
            query = query if query is not None else joined_query(call.req.query)
            value = query.get(name)
        elif kind == "stageVariables":
            value = (call.stage.get("StageVariables") or {}).get(name)
        elif kind == "context":
            value = {"requestId": call.request_id, "stage": call.stage_name, "apiId": call.rec.api_id,
                     "routeKey": call.match.route["RouteKey"], "httpMethod": call.req.method,
                     "identity.sourceIp": call.req.remote or "127.0.0.1"}.get(name)
        else:
            value = None
        if not value:
            return None
        values.append(value)
    return values


def _policy_allows(policy: object, arn: str) -> bool:
    if not isinstance(policy, dict):
        return False
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for stmt in statements:
        if not isinstance(stmt, dict):
            continue
        actions = stmt.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in actions):
            continue
        resources = stmt.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if not any(isinstance(r, str) and fnmatch.fnmatchcase(arn, r) for r in resources):
            continue
        if stmt.get("Effect") == "Deny":
            return False
        if stmt.get("Effect") == "Allow":
            allowed = True
    return allowed


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
            # AWS_IAM: nubis accepts any SigV4-signed request (there is no IAM to evaluate policies against).
            if kind == "AWS_IAM" and "authorization" not in call.req.headers and "X-Amz-Signature=" not in call.req.query:
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
        values = identity_values(call, sources)
        if values is None:
            raise Unauthorized()
        version = authorizer.get("AuthorizerPayloadFormatVersion", "2.0")
        route_arn = source_arn(call)
        ttl = int(authorizer.get("AuthorizerResultTtlInSeconds") or 0)
        key = (call.rec.api_id, call.stage_name, authorizer["AuthorizerId"], tuple(values))
        cached = self.cache.get(key) if ttl > 0 and sources else None
        if cached is None:
            cached = await self._call_authorizer(call, authorizer, version, route_arn, values)
            if ttl > 0 and sources:
                cached.expires = time.monotonic() + ttl
                self.cache.put(key, cached)
        if cached.allowed_arns is not True and not _policy_allows(cached.allowed_arns, route_arn):
            raise GatewayError(403, "Forbidden")
        if call.payload_version == "1.0":
            out = dict(cached.context)
            if cached.principal is not None:
                out["principalId"] = cached.principal
            return out
        return {"lambda": dict(cached.context)}

    async def _call_authorizer(self, call: Call, authorizer: dict, version: str, route_arn: str,
                               values: list[str]) -> _Cached:
        function_arn = lambda_function_arn(authorizer.get("AuthorizerUri") or "")
        if function_arn is None or self.bus.functions is None:
            raise GatewayError(500, "Internal Server Error")
        event = _authorizer_event(call, version, route_arn, values)
        rec = call.rec
        auth_source = f"arn:aws:execute-api:{rec.region}:{rec.account}:{rec.api_id}/authorizers/" \
                      f"{authorizer['AuthorizerId']}"
        try:
            result = await asyncio.wait_for(self.bus.functions.invoke_sync(
                function_arn, orjson.dumps(event), principal=PRINCIPAL, source_arn=auth_source,
                source_account=rec.account), AUTHORIZER_TIMEOUT_S)
        except (TriggerError, Throttled, asyncio.TimeoutError) as err:
            log.warning("API %s: authorizer %s could not be invoked: %r", rec.api_id, authorizer["AuthorizerId"], err)
            raise GatewayError(500, "Internal Server Error") from None
        if result.function_error:
            raise GatewayError(500, "Internal Server Error")
        try:
            value = orjson.loads(result.payload)
        except orjson.JSONDecodeError:
            raise GatewayError(500, "Internal Server Error") from None
        if not isinstance(value, dict):
            raise GatewayError(500, "Internal Server Error")
        context = value.get("context") or {}
        if not isinstance(context, dict):
            raise GatewayError(500, "Internal Server Error")
        if authorizer.get("EnableSimpleResponses"):
            if not isinstance(value.get("isAuthorized"), bool):
                raise GatewayError(500, "Internal Server Error")
            if not value["isAuthorized"]:
                return _Cached(0.0, {"Statement": []}, context, None)
            return _Cached(0.0, True, context, None)
        policy = value.get("policyDocument")
        if not isinstance(policy, dict) or "principalId" not in value:
            raise GatewayError(500, "Internal Server Error")
        return _Cached(0.0, policy, context, str(value["principalId"]))

    # -- JWT authorizers
    async def _jwt(self, call: Call, authorizer: dict, scopes: list[str]) -> dict:
        values = identity_values(call, authorizer.get("IdentitySource") or [])
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
    route = call.match.route
    stage_variables = call.stage.get("StageVariables") or None
    if version == "1.0":
        key = parse_route_key(route["RouteKey"])
        event = v1_event(call.req, resource="$default" if key.is_default else key.path, path=call.path,
                         stage=call.stage_name, api_id=call.rec.api_id, host=call.host, account_id=call.rec.account,
                         request_id=call.request_id, resource_id=route["RouteKey"],
                         path_parameters=call.match.path_parameters, stage_variables=stage_variables)
        joined = ",".join(values)
        event.update(type="REQUEST", methodArn=route_arn, identitySource=joined, authorizationToken=joined)
        event.pop("body", None)
        event.pop("isBase64Encoded", None)
        return event
    event = v2_event(call.req, raw_path=call.path, route_key=route["RouteKey"], stage=call.stage_name,
                     api_id=call.rec.api_id, host=call.host, account_id=call.rec.account, request_id=call.request_id)
    event.update(type="REQUEST", routeArn=route_arn, identitySource=values)
    event.pop("body", None)
    event.pop("isBase64Encoded", None)
    if call.match.path_parameters:
        event["pathParameters"] = call.match.path_parameters
    if stage_variables:
        event["stageVariables"] = stage_variables
    return event
