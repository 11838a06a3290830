"""Create/Get/GetAuthorizers/Update/DeleteAuthorizer and ResetAuthorizersCache (the control plane).

HTTP APIs have two kinds: REQUEST (a Lambda function decides) and JWT (the gateway validates a
token against the issuer's JWKS). authorize.py evaluates them per request.
"""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import authorizer_not_found, bad_request, conflict
from .lambda_proxy import lambda_function_arn
from .store import AUTHORIZER_ID_LEN, ApiRecord, new_id

if TYPE_CHECKING:
    from .provider import ApiGatewayV2Provider

_IDENTITY = re.compile(r"\$(request\.header|request\.querystring|context|stageVariables)\.[A-Za-z0-9_.\-]+")
# WebSocket APIs name identity sources without the '$': route.request.header.Auth, route.request.querystring.token
_WS_IDENTITY = re.compile(r"(route\.request\.header|route\.request\.querystring|context|stageVariables)\.[A-Za-z0-9_.\-]+")
_MEMBERS = ("AuthorizerCredentialsArn", "AuthorizerPayloadFormatVersion", "AuthorizerResultTtlInSeconds",
            "AuthorizerType", "AuthorizerUri", "EnableSimpleResponses", "IdentitySource",
            "IdentityValidationExpression", "JwtConfiguration", "Name")


def check_authorizer(rec: ApiRecord, a: dict) -> None:
    kind = a["AuthorizerType"]
    if rec.api["ProtocolType"] == "HTTP" and kind not in ("REQUEST", "JWT"):
        raise bad_request(f"AuthorizerType {kind} is not supported for HTTP APIs; use REQUEST or JWT")
    sources = a.get("IdentitySource") or []
    if rec.api["ProtocolType"] == "WEBSOCKET":
        _check_websocket(a, sources)
        return
    for source in sources:
        if not _IDENTITY.fullmatch(source):
            raise bad_request(f"Invalid identity source {source}: expected $request.header.<name>, "
                              "$request.querystring.<name>, $context.<name> or $stageVariables.<name>")
    if kind == "JWT":
        issuer = (a.get("JwtConfiguration") or {}).get("Issuer")
        if not issuer:
            raise bad_request("JwtConfiguration.Issuer is required for JWT authorizers")
        if len(sources) != 1:
            raise bad_request("JWT authorizers take exactly one identity source, e.g. $request.header.Authorization")
        if a.get("AuthorizerUri"):
            raise bad_request("AuthorizerUri is not supported for JWT authorizers")
    elif kind == "REQUEST":
        _check_lambda_uri(a)
        version = a.get("AuthorizerPayloadFormatVersion")
        if version not in ("1.0", "2.0"):
            raise bad_request("AuthorizerPayloadFormatVersion is required for REQUEST authorizers and must be 1.0 "
                              "or 2.0")
        if a.get("EnableSimpleResponses") and version != "2.0":
            raise bad_request("Simple responses are only supported with AuthorizerPayloadFormatVersion 2.0")
        if a.get("AuthorizerResultTtlInSeconds") and not sources:
            raise bad_request("Identity sources are required when authorizer caching is enabled "
                              "(AuthorizerResultTtlInSeconds > 0)")


def _check_websocket(a: dict, sources: list[str]) -> None:
    if a["AuthorizerType"] != "REQUEST":
        raise bad_request(f"AuthorizerType {a['AuthorizerType']} is not supported for WebSocket APIs; use REQUEST")
    for source in sources:
        if not _WS_IDENTITY.fullmatch(source):
            raise bad_request(f"Invalid identity source {source}: expected route.request.header.<name>, "
                              "route.request.querystring.<name>, context.<name> or stageVariables.<name>")
    for member in ("AuthorizerPayloadFormatVersion", "EnableSimpleResponses", "JwtConfiguration"):
        if a.get(member):
            raise bad_request(f"{member} is only supported for HTTP APIs")
    _check_lambda_uri(a)


def _check_lambda_uri(a: dict) -> None:
    uri = a.get("AuthorizerUri")
    if not uri or lambda_function_arn(uri) is None:
        raise bad_request(f"Invalid authorizer URI specified: {uri}. Expected "
                          "arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function-arn>/invocations")


class AuthorizerOps:
    def _authorizer(self, rec: ApiRecord, authorizer_id: str) -> dict:
        authorizer = rec.authorizers.get(authorizer_id)
        if authorizer is None:
            raise authorizer_not_found(authorizer_id)
        return authorizer

    async def create_authorizer(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        authorizer = {k: p[k] for k in _MEMBERS if p.get(k) is not None}
        if authorizer["AuthorizerType"] == "REQUEST":
            authorizer.setdefault("AuthorizerResultTtlInSeconds", 0)
            if rec.api["ProtocolType"] == "HTTP":
                authorizer.setdefault("EnableSimpleResponses", False)
        check_authorizer(rec, authorizer)
        authorizer["AuthorizerId"] = new_id(AUTHORIZER_ID_LEN, rec.authorizers)
        rec.authorizers[authorizer["AuthorizerId"]] = authorizer
        self.auto_deploy(rec)
        self.store.save(rec)
        return copy.deepcopy(authorizer)

    async def get_authorizer(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        return copy.deepcopy(self._authorizer(rec, p["AuthorizerId"]))

    async def get_authorizers(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        return paginate([copy.deepcopy(a) for a in rec.authorizers.values()], p)

    async def update_authorizer(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        updated = dict(self._authorizer(rec, p["AuthorizerId"]))
        updated.update({k: p[k] for k in _MEMBERS if p.get(k) is not None})
        check_authorizer(rec, updated)
        rec.authorizers[p["AuthorizerId"]] = updated
        self.gateway.authorizers.cache.forget(rec.api_id)
        self.auto_deploy(rec)
        self.store.save(rec)
        return copy.deepcopy(updated)

    async def delete_authorizer(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        self._authorizer(rec, p["AuthorizerId"])
        users = [r["RouteKey"] for r in rec.routes.values() if r.get("AuthorizerId") == p["AuthorizerId"]]
        if users:
            raise conflict(f"Unable to delete authorizer {p['AuthorizerId']}: it is used by route(s) "
                           f"{', '.join(users)}")
        del rec.authorizers[p["AuthorizerId"]]
        self.gateway.authorizers.cache.forget(rec.api_id)
        self.auto_deploy(rec)
        self.store.save(rec)
        return {}

    async def reset_authorizers_cache(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        self.stage(rec, p["StageName"])
        self.gateway.authorizers.cache.forget(rec.api_id, p["StageName"])
        return {}
