"""OpenAPI / Swagger documents (an API's `Body`) as API Gateway API calls, the way ImportApi and
ImportRestApi read them: paths and methods, `x-amazon-apigateway-integration`, authorizers in the
security schemes, CORS and binary media types."""
from __future__ import annotations

import json
from typing import Any

from botocore.client import BaseClient

from .base import ResourceFailed, call

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method")


def _method(name: str) -> str:
    return "ANY" if name == "x-amazon-apigateway-any-method" else name.upper()


def _schemes(body: dict) -> dict:
    return {**(body.get("securityDefinitions") or {}), **((body.get("components") or {}).get("securitySchemes") or {})}


def _check(body: Any) -> dict:
    if not isinstance(body, dict) or not ("openapi" in body or "swagger" in body):
        raise ResourceFailed("Resource handler returned message: \"Invalid OpenAPI input: the Body is not an "
                             "OpenAPI 3 or Swagger 2 document\"")
    return body


# -- HTTP APIs (API Gateway v2)
_CORS_KEYS = {"allowOrigins": "AllowOrigins", "allowMethods": "AllowMethods", "allowHeaders": "AllowHeaders",
              "exposeHeaders": "ExposeHeaders", "maxAge": "MaxAge", "allowCredentials": "AllowCredentials"}


def http_api_settings(body: dict) -> dict:
    """Name, Description and CorsConfiguration of an HTTP API from its document."""
    body = _check(body)
    info = body.get("info") or {}
    out: dict[str, Any] = {"Name": str(info.get("title") or "api")}
    if info.get("description"):
        out["Description"] = str(info["description"])
    cors = body.get("x-amazon-apigateway-cors")
    if isinstance(cors, dict):
        out["CorsConfiguration"] = {_CORS_KEYS[k]: (int(v) if k == "maxAge" else v) for k, v in cors.items()
                                    if k in _CORS_KEYS}
    return out


def import_http_api(client: BaseClient, api_id: str, body: dict) -> None:
    """Create the routes, integrations and authorizers an HTTP API's document describes."""
    body = _check(body)
    schemes = _schemes(body)
    authorizers: dict[str, str] = {}
    integrations: dict[str, str] = {}

    def authorizer(name: str) -> tuple[str, str]:
        spec = (schemes.get(name) or {}).get("x-amazon-apigateway-authorizer")
        if spec is None:
            if (schemes.get(name) or {}).get("type") == "awsSigv4" or name == "AWS_IAM":
                return "AWS_IAM", ""
            raise ResourceFailed(f"Resource handler returned message: \"Invalid OpenAPI input: security scheme "
                                 f"{name} has no x-amazon-apigateway-authorizer\"")
        if name not in authorizers:
            kind = str(spec.get("type", "")).lower()
            params: dict[str, Any] = {"ApiId": api_id, "Name": name}
            source = spec.get("identitySource")
            if isinstance(source, str):
                source = [s.strip() for s in source.split(",") if s.strip()]
            if kind == "jwt":
                jwt = spec.get("jwtConfiguration") or {}
                params.update(AuthorizerType="JWT", IdentitySource=source or ["$request.header.Authorization"],
                              JwtConfiguration={"Issuer": jwt.get("issuer"), "Audience": jwt.get("audience", [])})
            else:
                params.update(AuthorizerType="REQUEST", AuthorizerUri=spec.get("authorizerUri"),
                              IdentitySource=source or [],
                              AuthorizerPayloadFormatVersion=spec.get("authorizerPayloadFormatVersion", "2.0"),
                              EnableSimpleResponses=spec.get("enableSimpleResponses"),
                              AuthorizerResultTtlInSeconds=spec.get("authorizerResultTtlInSeconds"))
            authorizers[name] = call(client, "create_authorizer", **params)["AuthorizerId"]
        kind = str(spec.get("type", "")).lower()
        return ("JWT" if kind == "jwt" else "CUSTOM"), authorizers[name]

    for path, item in (body.get("paths") or {}).items():
        for method, op in (item or {}).items():
            if method not in METHODS or not isinstance(op, dict):
                continue
            integ = op.get("x-amazon-apigateway-integration")
            route: dict[str, Any] = {"ApiId": api_id,
                                     "RouteKey": "$default" if path == "$default" else f"{_method(method)} {path}"}
            if isinstance(integ, dict):
                key = json.dumps(integ, sort_keys=True)
                if key not in integrations:
                    params = {"ApiId": api_id, "IntegrationType": str(integ.get("type", "aws_proxy")).upper(),
                              "IntegrationUri": integ.get("uri"), "PayloadFormatVersion": integ.get("payloadFormatVersion",
                              "2.0" if str(integ.get("type", "")).lower() == "aws_proxy" else "1.0"),
                              "IntegrationMethod": integ.get("httpMethod"), "ConnectionType": integ.get("connectionType"),
                              "TimeoutInMillis": int(integ["timeoutInMillis"]) if "timeoutInMillis" in integ else None,
                              "RequestParameters": integ.get("requestParameters"),
                              "CredentialsArn": integ.get("credentials")}
                    if params["IntegrationType"] == "AWS_PROXY":
                        params["IntegrationMethod"] = None
                    integrations[key] = call(client, "create_integration", **params)["IntegrationId"]
                route["Target"] = f"integrations/{integrations[key]}"
            security = op.get("security", body.get("security"))
            if security:
                name, scopes = next(iter(security[0].items())) if security[0] else (None, [])
                if name:
                    kind, auth_id = authorizer(name)
                    route["AuthorizationType"] = kind
                    if auth_id:
                        route["AuthorizerId"] = auth_id
                    if scopes and kind == "JWT":
                        route["AuthorizationScopes"] = scopes
            call(client, "create_route", **route)


def clear_http_api(client: BaseClient, api_id: str) -> None:
    """Remove the routes, integrations and authorizers (before re-importing a changed document)."""
    for r in call(client, "get_routes", ApiId=api_id).get("Items", []):
        call(client, "delete_route", ApiId=api_id, RouteId=r["RouteId"])
    for i in call(client, "get_integrations", ApiId=api_id).get("Items", []):
        call(client, "delete_integration", ApiId=api_id, IntegrationId=i["IntegrationId"])
    for a in call(client, "get_authorizers", ApiId=api_id).get("Items", []):
        call(client, "delete_authorizer", ApiId=api_id, AuthorizerId=a["AuthorizerId"])


# -- REST APIs (API Gateway v1)
def rest_api_settings(body: dict) -> dict:
    body = _check(body)
    info = body.get("info") or {}
    out: dict[str, Any] = {"name": str(info.get("title") or "api")}
    if info.get("description"):
        out["description"] = str(info["description"])
    media = body.get("x-amazon-apigateway-binary-media-types")
    if media:
        out["binaryMediaTypes"] = list(media)
    return out


def import_rest_api(client: BaseClient, api_id: str, body: dict) -> None:
    """Resources, methods, integrations, responses and authorizers of a REST API's document."""
    body = _check(body)
    schemes = _schemes(body)
    resources = {r["path"]: r["id"] for r in call(client, "get_resources", restApiId=api_id, limit=500)["items"]}
    authorizers: dict[str, str] = {}

    def resource_id(path: str) -> str:
        if path in resources:
            return resources[path]
        parent, _, part = path.rstrip("/").rpartition("/")
        parent_id = resource_id(parent or "/")
        resources[path] = call(client, "create_resource", restApiId=api_id, parentId=parent_id,
                               pathPart=part)["id"]
        return resources[path]

    def authorizer(name: str) -> tuple[str, str | None, bool]:
        scheme = schemes.get(name) or {}
        if scheme.get("type") == "apiKey" and "x-amazon-apigateway-authorizer" not in scheme:
            return "NONE", None, True
        spec = scheme.get("x-amazon-apigateway-authorizer")
        if spec is None:
            return "AWS_IAM", None, False
        if name not in authorizers:
            kind = str(spec.get("type", "token")).upper()
            params: dict[str, Any] = {"restApiId": api_id, "name": name,
                                      "type": "COGNITO_USER_POOLS" if kind == "COGNITO_USER_POOLS" else kind,
                                      "authorizerUri": spec.get("authorizerUri"),
                                      "identitySource": spec.get("identitySource") or (
                                          f"method.request.header.{scheme.get('name', 'Authorization')}"
                                          if kind == "TOKEN" else None),
                                      "identityValidationExpression": spec.get("identityValidationExpression"),
                                      "providerARNs": spec.get("providerARNs"),
                                      "authorizerResultTtlInSeconds": int(spec["authorizerResultTtlInSeconds"])
                                      if "authorizerResultTtlInSeconds" in spec else None}
            authorizers[name] = call(client, "create_authorizer", **params)["id"]
        kind = str(spec.get("type", "token")).upper()
        return ("COGNITO_USER_POOLS" if kind == "COGNITO_USER_POOLS" else "CUSTOM"), authorizers[name], False

    for path, item in sorted((body.get("paths") or {}).items()):
        rid = resource_id(path if path.startswith("/") else "/" + path)
        for method, op in (item or {}).items():
            if method not in METHODS or not isinstance(op, dict):
                continue
            http_method = _method(method)
            auth_type, auth_id, key_required = "NONE", None, False
            security = op.get("security", body.get("security"))
            for requirement in security or []:
                for name in requirement:
                    kind, aid, key = authorizer(name)
                    key_required |= key
                    if kind != "NONE":
                        auth_type, auth_id = kind, aid
            request_params: dict[str, bool] = {}
            for p in list(item.get("parameters") or []) + list(op.get("parameters") or []):
                where = {"path": "path", "query": "querystring", "header": "header"}.get(p.get("in"))
                if where and p.get("name"):
                    request_params[f"method.request.{where}.{p['name']}"] = bool(p.get("required", False))
            call(client, "put_method", restApiId=api_id, resourceId=rid, httpMethod=http_method,
                 authorizationType=auth_type, authorizerId=auth_id, apiKeyRequired=key_required or None,
                 operationName=op.get("operationId"), requestParameters=request_params or None)
            for status, resp in (op.get("responses") or {}).items():
                if not str(status).isdigit():
                    continue
                headers = (resp or {}).get("headers") or {}
                call(client, "put_method_response", restApiId=api_id, resourceId=rid, httpMethod=http_method,
                     statusCode=str(status),
                     responseParameters={f"method.response.header.{h}": False for h in headers} or None)
            integ = op.get("x-amazon-apigateway-integration")
            if not isinstance(integ, dict):
                continue
            kind = str(integ.get("type", "aws_proxy")).upper()
            call(client, "put_integration", restApiId=api_id, resourceId=rid, httpMethod=http_method, type=kind,
                 integrationHttpMethod=integ.get("httpMethod") if kind != "MOCK" else None, uri=integ.get("uri"),
                 requestTemplates=integ.get("requestTemplates"), requestParameters=integ.get("requestParameters"),
                 passthroughBehavior=str(integ["passthroughBehavior"]).upper() if "passthroughBehavior" in integ else None,
                 contentHandling=integ.get("contentHandling"), credentials=integ.get("credentials"),
                 timeoutInMillis=int(integ["timeoutInMillis"]) if "timeoutInMillis" in integ else None,
                 cacheKeyParameters=integ.get("cacheKeyParameters"))
            for pattern, resp in (integ.get("responses") or {}).items():
                call(client, "put_integration_response", restApiId=api_id, resourceId=rid, httpMethod=http_method,
                     statusCode=str(resp.get("statusCode", "200")),
                     selectionPattern=None if pattern == "default" else pattern,
                     responseParameters=resp.get("responseParameters"),
                     responseTemplates=resp.get("responseTemplates"), contentHandling=resp.get("contentHandling"))


def clear_rest_api(client: BaseClient, api_id: str) -> None:
    """Remove every resource but the root, the root's methods and the authorizers."""
    items = call(client, "get_resources", restApiId=api_id, limit=500)["items"]
    root = next(r for r in items if r["path"] == "/")
    for r in items:
        if r.get("parentId") == root["id"]:
            call(client, "delete_resource", restApiId=api_id, resourceId=r["id"])
    for method in (root.get("resourceMethods") or {}):
        call(client, "delete_method", restApiId=api_id, resourceId=root["id"], httpMethod=method)
    for a in call(client, "get_authorizers", restApiId=api_id).get("items", []):
        call(client, "delete_authorizer", restApiId=api_id, authorizerId=a["id"])
