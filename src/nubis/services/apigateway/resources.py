"""Resources, methods, method responses, integrations and integration responses.

Methods live inside their resource (`resourceMethods`), the integration inside its method
(`methodIntegration`), responses inside those (`methodResponses`, `integrationResponses`): the
shapes AWS returns, so Get* operations hand out copies.
"""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import (INTEGRATION, METHOD, RESOURCE, RESPONSE, VALIDATOR, bad_request, conflict, found,
                     not_found)
from .patch import apply_patch
from .store import SHORT_ID_LEN, RestApiRecord, new_id

if TYPE_CHECKING:
    from .provider import ApiGatewayProvider

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
AUTHORIZATION_TYPES = ("NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS")
INTEGRATION_TYPES = ("HTTP", "AWS", "MOCK", "HTTP_PROXY", "AWS_PROXY")
PASSTHROUGH = ("WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER")
_PATH_PART = re.compile(r"[a-zA-Z0-9._:@\-]+|\{[a-zA-Z0-9._\-]+\+?\}")
_STATUS = re.compile(r"[1-5]\d\d")
LAMBDA_URI = re.compile(r"arn:aws[a-zA-Z-]*:apigateway:[^:]+:lambda:path/2015-03-31/functions/(.+)/invocations$")

METHOD_PATCH = {"authorizationType": str, "authorizerId": str, "apiKeyRequired": bool, "operationName": str,
                "requestValidatorId": str, "requestParameters": ("map", bool), "requestModels": ("map", str),
                "authorizationScopes": ("set", str)}
INTEGRATION_PATCH = {"uri": str, "httpMethod": str, "credentials": str, "passthroughBehavior": str,
                     "contentHandling": str, "timeoutInMillis": int, "requestParameters": ("map", str),
                     "requestTemplates": ("map", str), "cacheNamespace": str, "cacheKeyParameters": ("set", str),
                     "connectionType": str, "connectionId": str}
INTEGRATION_RESPONSE_PATCH = {"selectionPattern": str, "contentHandling": str, "responseParameters": ("map", str),
                              "responseTemplates": ("map", str)}
METHOD_RESPONSE_PATCH = {"responseParameters": ("map", bool), "responseModels": ("map", str)}


def lambda_arn_of(uri: str) -> str | None:
    """The function ARN inside an `arn:aws:apigateway:<region>:lambda:path/.../functions/<arn>/invocations` URI."""
    m = LAMBDA_URI.match(uri or "")
    return m.group(1) if m else None


def resource_view(resource: dict, embed_methods: bool) -> dict:
    view = {k: v for k, v in resource.items() if k != "resourceMethods"}
    methods = resource.get("resourceMethods") or {}
    if methods:
        view["resourceMethods"] = copy.deepcopy(methods) if embed_methods else {m: {} for m in methods}
    return view


def check_integration(integration: dict) -> None:
    kind = integration["type"]
    if kind not in INTEGRATION_TYPES:
        raise bad_request(f"Invalid integration type specified: {kind}")
    if kind != "MOCK":
        if not integration.get("httpMethod"):
            raise bad_request("Enumeration value for HttpMethod must be non-empty")
        if integration["httpMethod"] not in HTTP_METHODS:
            raise bad_request(f"Invalid HttpMethod specified. Valid options are {','.join(HTTP_METHODS)}")
        uri = integration.get("uri") or ""
        if not uri:
            raise bad_request("Invalid integration URI specified")
        if kind in ("AWS", "AWS_PROXY"):
            if not uri.startswith("arn:"):
                raise bad_request("Invalid ARN specified in the request")
            if ":path/" not in uri and ":action/" not in uri:
                raise bad_request("AWS ARN for integration must contain path or action")
        elif not uri.startswith(("http://", "https://")):
            raise bad_request("Invalid HTTP endpoint specified for URI")
    if integration.get("passthroughBehavior") not in PASSTHROUGH:
        raise bad_request(f"Invalid passthrough behavior specified: {integration.get('passthroughBehavior')}. "
                          f"Valid options are {', '.join(PASSTHROUGH)}")
    timeout = integration.get("timeoutInMillis", 29000)
    if not 50 <= timeout <= 29000:
        raise bad_request("Timeout should be between 50 ms and 29000 ms")
    handling = integration.get("contentHandling")
    if handling is not None and handling not in ("CONVERT_TO_BINARY", "CONVERT_TO_TEXT"):
        raise bad_request(f"Invalid content handling specified: {handling}")


class ResourceOps:
    # -- lookups
    def resource(self: ApiGatewayProvider, rec: RestApiRecord, resource_id: str) -> dict:
        return found(rec.resources.get(resource_id),
                     RESOURCE.format(account=rec.account, api_id=rec.api_id, resource_id=resource_id))

    def method(self: ApiGatewayProvider, rec: RestApiRecord, resource_id: str, http_method: str) -> dict:
        return found((self.resource(rec, resource_id).get("resourceMethods") or {}).get(http_method), METHOD)

    def integration(self: ApiGatewayProvider, rec: RestApiRecord, resource_id: str, http_method: str) -> dict:
        return found(self.method(rec, resource_id, http_method).get("methodIntegration"), INTEGRATION)

    # -- resources
    async def get_resources(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        embed = "methods" in (p.get("embed") or [])
        items = sorted(rec.resources.values(), key=lambda r: r["path"])
        return paginate([resource_view(r, embed) for r in items], {**p, "limit": p.get("limit") or 500})

    async def get_resource(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        return resource_view(self.resource(rec, p["resourceId"]), "methods" in (p.get("embed") or []))

    def _check_path_part(self, rec: RestApiRecord, parent: dict, part: str, own_id: str | None = None) -> None:
        if not _PATH_PART.fullmatch(part):
            raise bad_request("Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and "
                              "the end and an optional plus sign before the closing brace.")
        if parent.get("pathPart", "").endswith("+}"):
            raise bad_request(f"Cannot create a child of a resource with a greedy path variable: "
                              f"{parent['pathPart']}")
        for sibling in rec.resources.values():
            if sibling.get("parentId") != parent["id"] or sibling["id"] == own_id:
                continue
            if sibling["pathPart"] == part:
                raise conflict(f"Another resource with the same parent already has this name: {part}")
            if part.startswith("{") and sibling["pathPart"].startswith("{"):
                raise bad_request(f"A sibling ({sibling['pathPart']}) of this resource already has a variable path "
                                  f"part -- only one is allowed")

    async def create_resource(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        parent = self.resource(rec, p["parentId"])
        part = p["pathPart"]
        self._check_path_part(rec, parent, part)
        resource_id = new_id(SHORT_ID_LEN, rec.resources)
        path = parent["path"].rstrip("/") + "/" + part
        resource = {"id": resource_id, "parentId": parent["id"], "pathPart": part, "path": path}
        rec.resources[resource_id] = resource
        self.store.save(rec)
        return dict(resource)

    async def update_resource(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        resource = self.resource(rec, p["resourceId"])
        if resource["path"] == "/":
            raise bad_request("Root resource cannot be updated")
        updated = {k: v for k, v in resource.items() if k in ("parentId", "pathPart")}
        apply_patch(updated, p.get("patchOperations") or [], {"parentId": str, "pathPart": str})
        parent = self.resource(rec, updated.get("parentId", ""))
        self._check_path_part(rec, parent, updated.get("pathPart", ""), own_id=resource["id"])
        resource.update(updated)
        self._repath(rec)
        self.store.save(rec)
        return resource_view(resource, False)

    @staticmethod
    def _repath(rec: RestApiRecord) -> None:
        def path_of(res: dict) -> str:
            if "parentId" not in res:
                return "/"
            return path_of(rec.resources[res["parentId"]]).rstrip("/") + "/" + res["pathPart"]

        for res in rec.resources.values():
            res["path"] = path_of(res)

    async def delete_resource(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        resource = self.resource(rec, p["resourceId"])
        if "parentId" not in resource:
            raise bad_request("Cannot delete root resource")
        doomed = {resource["id"]}
        grew = True
        while grew:
            children = {r["id"] for r in rec.resources.values() if r.get("parentId") in doomed}
            grew = not children <= doomed
            doomed |= children
        for resource_id in doomed:
            del rec.resources[resource_id]
        self.store.save(rec)
        return {}

    # -- methods
    async def put_method(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        resource = self.resource(rec, p["resourceId"])
        http_method = p["httpMethod"]
        if http_method not in HTTP_METHODS:
            raise bad_request(f"Invalid HttpMethod specified. Valid options are {','.join(HTTP_METHODS)}")
        if http_method in (resource.get("resourceMethods") or {}):
            raise conflict("Method already exists for this resource")
        method = {"httpMethod": http_method, "authorizationType": p["authorizationType"],
                  "apiKeyRequired": bool(p.get("apiKeyRequired"))}
        for member in ("authorizerId", "requestValidatorId", "operationName", "requestParameters", "requestModels",
                       "authorizationScopes"):
            if p.get(member) is not None:
                method[member] = copy.deepcopy(p[member])
        self._check_method(rec, method)
        resource.setdefault("resourceMethods", {})[http_method] = method
        self.store.save(rec)
        return copy.deepcopy(method)

    def _check_method(self, rec: RestApiRecord, method: dict) -> None:
        kind = method.get("authorizationType")
        if kind not in AUTHORIZATION_TYPES:
            raise bad_request(f"Invalid authorization type specified. Valid options are "
                              f"{','.join(AUTHORIZATION_TYPES)}")
        if kind in ("CUSTOM", "COGNITO_USER_POOLS"):
            if method.get("authorizerId") not in rec.authorizers:
                raise bad_request("Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
                                  "COGNITO_USER_POOLS requires a valid authorizer.")
        if method.get("requestValidatorId") and method["requestValidatorId"] not in rec.validators:
            raise not_found(VALIDATOR)
        for content_type, model in (method.get("requestModels") or {}).items():
            if model not in rec.models:
                raise bad_request(f"Invalid model identifier specified: {model}")

    async def get_method(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        return copy.deepcopy(self.method(rec, p["resourceId"], p["httpMethod"]))

    async def update_method(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        method = self.method(rec, p["resourceId"], p["httpMethod"])
        updated = copy.deepcopy(method)
        apply_patch(updated, p.get("patchOperations") or [], METHOD_PATCH)
        if updated.get("authorizationType") not in ("CUSTOM", "COGNITO_USER_POOLS"):
            updated.pop("authorizerId", None)
        self._check_method(rec, updated)
        method.clear()
        method.update(updated)
        self.store.save(rec)
        return copy.deepcopy(method)

    async def delete_method(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        self.method(rec, p["resourceId"], p["httpMethod"])
        methods = rec.resources[p["resourceId"]]["resourceMethods"]
        del methods[p["httpMethod"]]
        if not methods:
            del rec.resources[p["resourceId"]]["resourceMethods"]
        self.store.save(rec)
        return {}

    # -- method responses
    async def put_method_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        method = self.method(rec, p["resourceId"], p["httpMethod"])
        code = p["statusCode"]
        if not _STATUS.fullmatch(code):
            raise bad_request("Invalid status code specified. Status code must be a 3-digit number between 100 "
                              "and 599")
        response = {"statusCode": code}
        for member in ("responseParameters", "responseModels"):
            if p.get(member) is not None:
                response[member] = dict(p[member])
        method.setdefault("methodResponses", {})[code] = response
        self.store.save(rec)
        return copy.deepcopy(response)

    def _method_response(self, rec: RestApiRecord, p: dict) -> dict:
        method = self.method(rec, p["resourceId"], p["httpMethod"])
        return found((method.get("methodResponses") or {}).get(p["statusCode"]), RESPONSE)

    async def get_method_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return copy.deepcopy(self._method_response(self.api_record(ctx, p["restApiId"]), p))

    async def update_method_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        response = self._method_response(rec, p)
        apply_patch(response, p.get("patchOperations") or [], METHOD_RESPONSE_PATCH)
        self.store.save(rec)
        return copy.deepcopy(response)

    async def delete_method_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        self._method_response(rec, p)
        del self.method(rec, p["resourceId"], p["httpMethod"])["methodResponses"][p["statusCode"]]
        self.store.save(rec)
        return {}

    # -- integrations
    async def put_integration(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        method = self.method(rec, p["resourceId"], p["httpMethod"])
        integration = {"type": p["type"], "passthroughBehavior": p.get("passthroughBehavior") or "WHEN_NO_MATCH",
                       "timeoutInMillis": p.get("timeoutInMillis") or 29000,
                       "cacheNamespace": p.get("cacheNamespace") or p["resourceId"],
                       "cacheKeyParameters": list(p.get("cacheKeyParameters") or [])}
        if p.get("type") != "MOCK" or p.get("integrationHttpMethod"):
            integration["httpMethod"] = p.get("integrationHttpMethod")
        if p.get("type") != "MOCK":
            integration["connectionType"] = p.get("connectionType") or "INTERNET"
        for member in ("uri", "credentials", "requestParameters", "requestTemplates", "contentHandling",
                       "connectionId", "tlsConfig"):
            if p.get(member) is not None:
                integration[member] = copy.deepcopy(p[member])
        check_integration(integration)
        method["methodIntegration"] = integration
        self.store.save(rec)
        return copy.deepcopy(integration)

    async def get_integration(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        return copy.deepcopy(self.integration(rec, p["resourceId"], p["httpMethod"]))

    async def update_integration(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        integration = self.integration(rec, p["resourceId"], p["httpMethod"])
        updated = copy.deepcopy(integration)
        apply_patch(updated, p.get("patchOperations") or [], INTEGRATION_PATCH)
        check_integration(updated)
        integration.clear()
        integration.update(updated)
        self.store.save(rec)
        return copy.deepcopy(integration)

    async def delete_integration(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        self.integration(rec, p["resourceId"], p["httpMethod"])
        del self.method(rec, p["resourceId"], p["httpMethod"])["methodIntegration"]
        self.store.save(rec)
        return {}

    # -- integration responses
    async def put_integration_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        integration = self.integration(rec, p["resourceId"], p["httpMethod"])
        code = p["statusCode"]
        if not _STATUS.fullmatch(code):
            raise bad_request("Invalid status code specified. Status code must be a 3-digit number between 100 "
                              "and 599")
        response = {"statusCode": code}
        for member in ("selectionPattern", "responseParameters", "responseTemplates", "contentHandling"):
            if p.get(member) is not None:
                response[member] = copy.deepcopy(p[member])
        if response.get("selectionPattern") is not None:
            try:
                re.compile(response["selectionPattern"])
            except re.error:
                raise bad_request(f"Invalid selection pattern specified: {response['selectionPattern']}") from None
        integration.setdefault("integrationResponses", {})[code] = response
        self.store.save(rec)
        return copy.deepcopy(response)

    def _integration_response(self, rec: RestApiRecord, p: dict) -> dict:
        integration = self.integration(rec, p["resourceId"], p["httpMethod"])
        return found((integration.get("integrationResponses") or {}).get(p["statusCode"]), RESPONSE)

    async def get_integration_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return copy.deepcopy(self._integration_response(self.api_record(ctx, p["restApiId"]), p))

    async def update_integration_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        response = self._integration_response(rec, p)
        apply_patch(response, p.get("patchOperations") or [], INTEGRATION_RESPONSE_PATCH)
        self.store.save(rec)
        return copy.deepcopy(response)

    async def delete_integration_response(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["restApiId"])
        self._integration_response(rec, p)
        del self.integration(rec, p["resourceId"], p["httpMethod"])["integrationResponses"][p["statusCode"]]
        self.store.save(rec)
        return {}
