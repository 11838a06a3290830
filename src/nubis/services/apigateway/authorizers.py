"""Authorizers, request validators and gateway responses (control plane)."""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import AUTHORIZER, GATEWAY_RESPONSE, VALIDATOR, bad_request, conflict, found
from .gateway_responses import DEFAULTS as GATEWAY_RESPONSE_DEFAULTS
from .patch import apply_patch
from .resources import lambda_arn_of
from .store import SHORT_ID_LEN, RestApiRecord, new_id

if TYPE_CHECKING:
    from .provider import ApiGatewayProvider

AUTHORIZER_PATCH = {"name": str, "type": str, "authorizerUri": str, "authorizerCredentials": str,
                    "identitySource": str, "identityValidationExpression": str, "authorizerResultTtlInSeconds": int,
                    "providerARNs": ("set", str), "authType": str}
VALIDATOR_PATCH = {"name": str, "validateRequestBody": bool, "validateRequestParameters": bool}
GATEWAY_RESPONSE_PATCH = {"statusCode": str, "responseParameters": ("map", str), "responseTemplates": ("map", str)}
_IDENTITY_SOURCE = re.compile(r"method\.request\.(header|querystring)\.[^\s,]+|stageVariables\.[^\s,]+|"
                              r"context\.[^\s,]+")


def check_authorizer(authorizer: dict) -> None:
    kind = authorizer.get("type")
    if kind not in ("TOKEN", "REQUEST", "COGNITO_USER_POOLS"):
        raise bad_request(f"Invalid authorizer type specified: {kind}")
    if kind == "COGNITO_USER_POOLS":
        if not authorizer.get("providerARNs"):
            raise bad_request("ProviderARNs need to be specified for COGNITO_USER_POOLS authorizers")
    else:
        uri = authorizer.get("authorizerUri")
        if not uri:
            raise bad_request(f"Authorizer URI must be specified for {kind} authorizers")
        if lambda_arn_of(uri) is None:
            raise bad_request("Invalid Authorizer URI specified: it must be an arn:aws:apigateway:<region>:lambda:"
                              "path/2015-03-31/functions/<function ARN>/invocations URI")
    source = authorizer.get("identitySource") or ""
    if kind == "TOKEN":
        if not re.fullmatch(r"method\.request\.header\.[^\s,]+", source):
            raise bad_request("Invalid identity source specified: a TOKEN authorizer needs "
                              "method.request.header.<name>")
    elif kind == "REQUEST":
        parts = [s.strip() for s in source.split(",") if s.strip()]
        if authorizer.get("authorizerResultTtlInSeconds", 300) > 0 and not parts:
            raise bad_request("Identity source must be specified when caching is enabled")
        for part in parts:
            if not _IDENTITY_SOURCE.fullmatch(part):
                raise bad_request(f"Invalid identity source specified: {part}")
    ttl = authorizer.get("authorizerResultTtlInSeconds", 300)
    if not 0 <= ttl <= 3600:
        raise bad_request("Authorizer result TTL must be between 0 and 3600 seconds")
    pattern = authorizer.get("identityValidationExpression")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error:
            raise bad_request(f"Invalid identity validation expression specified: {pattern}") from None


def _users(rec: RestApiRecord, member: str, value: str) -> list[str]:
    out = []
    for resource in rec.resources.values():
        for method in (resource.get("resourceMethods") or {}).values():
            if method.get(member) == value:
                out.append(f"{resource['path']}/{method['httpMethod']}")
    return out


class AuthorizerOps:
    # -- authorizers
    def authorizer(self, rec: RestApiRecord, authorizer_id: str) -> dict:
        return found(rec.authorizers.get(authorizer_id), AUTHORIZER)

    async def create_authorizer(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        authorizer = {"id": new_id(SHORT_ID_LEN, rec.authorizers), "name": p["name"], "type": p["type"]}
        for member in ("providerARNs", "authType", "authorizerUri", "authorizerCredentials", "identitySource",
                       "identityValidationExpression"):
            if p.get(member) is not None:
                authorizer[member] = copy.deepcopy(p[member])
        if p["type"] != "COGNITO_USER_POOLS" or p.get("authorizerResultTtlInSeconds") is not None:
            ttl = p.get("authorizerResultTtlInSeconds")
            authorizer["authorizerResultTtlInSeconds"] = 300 if ttl is None else ttl
        check_authorizer(authorizer)
        rec.authorizers[authorizer["id"]] = authorizer
        self.store.save(rec)
        return copy.deepcopy(authorizer)

    async def get_authorizer(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return copy.deepcopy(self.authorizer(self.api_record(ctx, p["restApiId"]), p["authorizerId"]))

    async def get_authorizers(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        return paginate([copy.deepcopy(a) for a in rec.authorizers.values()], p)

    async def update_authorizer(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        authorizer = self.authorizer(rec, p["authorizerId"])
        updated = copy.deepcopy(authorizer)
        apply_patch(updated, p.get("patchOperations") or [], AUTHORIZER_PATCH)
        check_authorizer(updated)
        authorizer.clear()
        authorizer.update(updated)
        self.store.save(rec)
        return copy.deepcopy(authorizer)

    async def delete_authorizer(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        authorizer = self.authorizer(rec, p["authorizerId"])
        users = _users(rec, "authorizerId", authorizer["id"])
        if users:
            raise conflict(f"Cannot delete authorizer '{authorizer['name']}', is referenced in method: {users[0]}")
        del rec.authorizers[authorizer["id"]]
        self.store.save(rec)
        return {}

    # -- request validators
    def validator(self, rec: RestApiRecord, validator_id: str) -> dict:
        return found(rec.validators.get(validator_id), VALIDATOR)

    async def create_request_validator(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        validator = {"id": new_id(SHORT_ID_LEN, rec.validators), "name": p.get("name") or "",
                     "validateRequestBody": bool(p.get("validateRequestBody")),
                     "validateRequestParameters": bool(p.get("validateRequestParameters"))}
        if not validator["name"]:
            validator.pop("name")
        rec.validators[validator["id"]] = validator
        self.store.save(rec)
        return dict(validator)

    async def get_request_validator(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return dict(self.validator(self.api_record(ctx, p["restApiId"]), p["requestValidatorId"]))

    async def get_request_validators(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        return paginate([dict(v) for v in rec.validators.values()], p)

    async def update_request_validator(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        validator = self.validator(rec, p["requestValidatorId"])
        apply_patch(validator, p.get("patchOperations") or [], VALIDATOR_PATCH)
        self.store.save(rec)
        return dict(validator)

    async def delete_request_validator(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        validator = self.validator(rec, p["requestValidatorId"])
        users = _users(rec, "requestValidatorId", validator["id"])
        if users:
            raise conflict(f"Cannot delete request validator '{validator.get('name', validator['id'])}', is "
                           f"referenced in method: {users[0]}")
        del rec.validators[validator["id"]]
        self.store.save(rec)
        return {}

    # -- gateway responses
    @staticmethod
    def _response_type(response_type: str) -> str:
        if response_type not in GATEWAY_RESPONSE_DEFAULTS:
            raise bad_request(f"Invalid response type specified: {response_type}")
        return response_type

    @staticmethod
    def _gateway_response_view(rec: RestApiRecord, response_type: str) -> dict:
        custom = rec.gateway_responses.get(response_type)
        if custom is not None:
            return {**copy.deepcopy(custom), "defaultResponse": False}
        status, _message, _error = GATEWAY_RESPONSE_DEFAULTS[response_type]
        view = {"responseType": response_type, "defaultResponse": True, "responseParameters": {},
                "responseTemplates": {"application/json": '{"message":$context.error.messageString}'}}
        if status is not None:
            view["statusCode"] = str(status)
        return view

    async def put_gateway_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        response_type = self._response_type(p["responseType"])
        response = {"responseType": response_type, "responseParameters": dict(p.get("responseParameters") or {}),
                    "responseTemplates": dict(p.get("responseTemplates") or {})}
        if p.get("statusCode"):
            response["statusCode"] = p["statusCode"]
        rec.gateway_responses[response_type] = response
        self.store.save(rec)
        return self._gateway_response_view(rec, response_type)

    async def get_gateway_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        return self._gateway_response_view(rec, self._response_type(p["responseType"]))

    async def get_gateway_responses(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        return paginate([self._gateway_response_view(rec, t) for t in GATEWAY_RESPONSE_DEFAULTS], p)

    async def update_gateway_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        response_type = self._response_type(p["responseType"])
        response = self._gateway_response_view(rec, response_type)
        response.pop("defaultResponse", None)
        apply_patch(response, p.get("patchOperations") or [], GATEWAY_RESPONSE_PATCH)
        rec.gateway_responses[response_type] = response
        self.store.save(rec)
        return self._gateway_response_view(rec, response_type)

    async def delete_gateway_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        response_type = self._response_type(p["responseType"])
        found(rec.gateway_responses.pop(response_type, None), GATEWAY_RESPONSE)
        self.store.save(rec)
        return {}
