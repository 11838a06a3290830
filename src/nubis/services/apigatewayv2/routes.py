"""Create/Get/GetRoutes/Update/DeleteRoute (and DeleteRouteRequestParameter)."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import bad_request, conflict, not_found, route_not_found
from .matching import RouteKeyError, parse_route_key
from .store import ROUTE_ID_LEN, ApiRecord, new_id

if TYPE_CHECKING:
    from .provider import ApiGatewayV2Provider

AUTH_TYPES_HTTP = ("NONE", "JWT", "CUSTOM", "AWS_IAM")
AUTH_TYPES_WEBSOCKET = ("NONE", "CUSTOM", "AWS_IAM")
WEBSOCKET_KEYS = ("$connect", "$disconnect", "$default")
_MEMBERS = ("ApiKeyRequired", "AuthorizationScopes", "AuthorizationType", "AuthorizerId", "ModelSelectionExpression",
            "OperationName", "RequestModels", "RequestParameters", "RouteKey", "RouteResponseSelectionExpression",
            "Target")


class RouteOps:
    def _route(self, rec: ApiRecord, route_id: str) -> dict:
        route = rec.routes.get(route_id)
        if route is None:
            raise route_not_found(route_id)
        return route

    def _check_route(self, rec: ApiRecord, route: dict) -> None:
        key = route["RouteKey"]
        http = rec.api["ProtocolType"] == "HTTP"
        if http:
            try:
                parse_route_key(key)
            except RouteKeyError as err:
                raise bad_request(str(err)) from None
            if route.get("RouteResponseSelectionExpression") is not None:
                raise bad_request("RouteResponseSelectionExpression is only supported for WebSocket APIs")
        else:
            self._check_websocket_route(route)
        for other in rec.routes.values():
            if other["RouteKey"] == key and other["RouteId"] != route.get("RouteId"):
                raise conflict(f"Route with key {key} already exists for this API")
        target = route.get("Target")
        if target is not None:
            kind, _, ident = target.partition("/")
            if kind != "integrations" or ident not in rec.integrations:
                raise bad_request(f"Invalid target specified: {target}. Targets must be of the form "
                                  "integrations/<IntegrationId> and name an existing integration.")
        auth = route.get("AuthorizationType", "NONE")
        if http and auth not in AUTH_TYPES_HTTP:
            raise bad_request(f"AuthorizationType {auth} is not supported for HTTP APIs")
        if auth in ("JWT", "CUSTOM"):
            authorizer = rec.authorizers.get(route.get("AuthorizerId") or "")
            if authorizer is None:
                raise not_found(f"Invalid authorizer identifier specified {route.get('AuthorizerId')}")
            expected = "JWT" if auth == "JWT" else "REQUEST"
            if authorizer["AuthorizerType"] != expected:
                raise bad_request(f"AuthorizationType {auth} requires an authorizer of type {expected}")
        elif route.get("AuthorizerId"):
            raise bad_request("AuthorizerId can only be set when AuthorizationType is JWT or CUSTOM")
        if route.get("AuthorizationScopes") and auth != "JWT":
            raise bad_request("AuthorizationScopes are only supported for JWT authorizers")

    @staticmethod
    def _check_websocket_route(route: dict) -> None:
        key = route["RouteKey"]
        if not key or len(key) > 128 or (key.startswith("$") and key not in WEBSOCKET_KEYS):
            raise bad_request(f"Unable to create Route. Route key '{key}' is invalid: use $connect, $disconnect, "
                              "$default or a custom key that does not start with '$'.")
        auth = route.get("AuthorizationType", "NONE")
        if auth not in AUTH_TYPES_WEBSOCKET:
            raise bad_request(f"AuthorizationType {auth} is not supported for WebSocket APIs")
        if auth != "NONE" and key != "$connect":
            raise bad_request("Currently, authorization is restricted to the $connect route only")
        expression = route.get("RouteResponseSelectionExpression")
        if expression is not None and expression != "$default":
            raise bad_request(f"Invalid route response selection expression: {expression}. Only $default is "
                              "supported for WebSocket APIs")

    async def create_route(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        route = {"ApiKeyRequired": False, "AuthorizationType": "NONE"}
        route.update({k: p[k] for k in _MEMBERS if p.get(k) is not None})
        self._check_route(rec, route)
        route["RouteId"] = new_id(ROUTE_ID_LEN, rec.routes)
        rec.routes[route["RouteId"]] = route
        self.auto_deploy(rec)
        self.store.save(rec)
        return copy.deepcopy(route)

    async def get_route(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        return copy.deepcopy(self._route(self.api_record(ctx, p["ApiId"]), p["RouteId"]))

    async def get_routes(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        return paginate([copy.deepcopy(r) for r in rec.routes.values()], p)

    async def update_route(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        current = self._route(rec, p["RouteId"])
        if current.get("ApiGatewayManaged") and p.get("RouteKey") not in (None, current["RouteKey"]):
            raise bad_request("The route key of a route managed by API Gateway (quick create) cannot be changed; "
                              "use UpdateApi with RouteKey")
        updated = dict(current)
        updated.update({k: p[k] for k in _MEMBERS if p.get(k) is not None})
        if p.get("AuthorizationType") == "NONE" or p.get("AuthorizationType") == "AWS_IAM":
            updated.pop("AuthorizerId", None)
            updated.pop("AuthorizationScopes", None)
        self._check_route(rec, updated)
        rec.routes[p["RouteId"]] = updated
        self.auto_deploy(rec)
        self.store.save(rec)
        return copy.deepcopy(updated)

    async def delete_route(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        self._route(rec, p["RouteId"])
        del rec.routes[p["RouteId"]]
        rec.route_responses.pop(p["RouteId"], None)
        self.auto_deploy(rec)
        self.store.save(rec)
        return {}

    async def delete_route_request_parameter(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        route = self._route(rec, p["RouteId"])
        params = route.get("RequestParameters") or {}
        if p["RequestParameterKey"] not in params:
            raise not_found(f"Invalid request parameter key specified {p['RequestParameterKey']}")
        del params[p["RequestParameterKey"]]
        self.auto_deploy(rec)
        self.store.save(rec)
        return {}
