"""CreateApi (with quick create), GetApi(s), UpdateApi, DeleteApi, DeleteCorsConfiguration and tags."""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .errors import bad_request, not_found
from .lambda_proxy import lambda_function_arn
from .matching import RouteKeyError, parse_route_key
from .selection import SelectionError, parse_selection
from .store import (INTEGRATION_ID_LEN, ROUTE_ID_LEN, ApiRecord, new_id, now)

if TYPE_CHECKING:
    from .provider import ApiGatewayV2Provider

HTTP_ROUTE_SELECTION = "$request.method $request.path"
_API_ARN = re.compile(r"arn:aws[a-zA-Z-]*:apigateway:([^:]+)::/apis/([a-z0-9]+)(?:/stages/([^/]+))?$")


def paginate(items: list[dict], p: dict) -> dict:
    """GetApis/GetRoutes/...: MaxResults and NextToken are strings; the token is an offset."""
    try:
        start = int(p.get("NextToken") or 0)
    except ValueError:
        raise bad_request("Invalid pagination token specified") from None
    try:
        size = int(p["MaxResults"]) if p.get("MaxResults") else 100
    except ValueError:
        raise bad_request("Invalid MaxResults specified") from None
    if size < 1:
        raise bad_request("MaxResults must be greater than 0")
    page = items[start:start + size]
    out: dict = {"Items": page}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


def check_selection(expression: str) -> None:
    try:
        parse_selection(expression)
    except SelectionError as err:
        raise bad_request(str(err)) from None


class ApiOps:
    def api_view(self: ApiGatewayV2Provider, ctx: RequestContext, rec: ApiRecord) -> dict:
        view = copy.deepcopy(rec.api)
        view["ApiEndpoint"] = self.api_endpoint(ctx, rec.api_id)
        if rec.api["ProtocolType"] == "WEBSOCKET":
            view["ApiEndpoint"] = "ws" + view["ApiEndpoint"][4:]  # http://... -> ws://...
        view.setdefault("Tags", {})
        return view

    async def create_api(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        protocol = p["ProtocolType"]
        selection = p.get("RouteSelectionExpression")
        if protocol == "HTTP":
            if selection not in (None, HTTP_ROUTE_SELECTION, "${request.method} ${request.path}"):
                raise bad_request(f"Unsupported route selection expression for HTTP Apis: {selection}")
            selection = HTTP_ROUTE_SELECTION
        else:
            if not selection:
                raise bad_request("Route selection expression is required for WEBSOCKET Apis")
            check_selection(selection)
            for member in ("Target", "RouteKey", "CorsConfiguration", "CredentialsArn"):
                if p.get(member) is not None:
                    raise bad_request(f"{member} is only supported for HTTP APIs")
        if p.get("Target") is None:
            for member in ("RouteKey", "CredentialsArn"):
                if p.get(member) is not None:
                    raise bad_request(f"{member} can only be specified with Target (quick create)")
        api = {"ApiId": self.store.new_api_id(), "Name": p["Name"], "ProtocolType": protocol,
               "RouteSelectionExpression": selection,
               "ApiKeySelectionExpression": p.get("ApiKeySelectionExpression") or "$request.header.x-api-key",
               "CreatedDate": now(), "DisableExecuteApiEndpoint": bool(p.get("DisableExecuteApiEndpoint")),
               "IpAddressType": p.get("IpAddressType") or "ipv4", "Tags": dict(p.get("Tags") or {})}
        for member in ("Description", "Version", "DisableSchemaValidation"):
            if p.get(member) is not None:
                api[member] = p[member]
        if p.get("CorsConfiguration") is not None:
            api["CorsConfiguration"] = self.check_cors(p["CorsConfiguration"])
        rec = ApiRecord(ctx.account, ctx.region, api)
        if p.get("Target") is not None:
            self._quick_create(rec, p)
        self.store.save(rec)
        return self.api_view(ctx, rec)

    def _quick_create(self: ApiGatewayV2Provider, rec: ApiRecord, p: dict) -> None:
        """A managed integration for Target, a managed route (RouteKey, default $default) and an
        auto-deployed $default stage. API Gateway does not add a Lambda permission for the API."""
        target = p["Target"]
        integration = {"ApiGatewayManaged": True, "ConnectionType": "INTERNET", "TimeoutInMillis": 30000}
        if lambda_function_arn(target) is not None:
            integration.update(IntegrationType="AWS_PROXY", IntegrationMethod="POST", PayloadFormatVersion="2.0")
        elif target.startswith(("http://", "https://")):
            integration.update(IntegrationType="HTTP_PROXY", IntegrationMethod="ANY", PayloadFormatVersion="1.0")
        else:
            raise bad_request(f"Invalid target specified: {target}. Target must be a Lambda function ARN or an "
                              "HTTP(S) URL.")
        integration["IntegrationUri"] = target
        if p.get("CredentialsArn"):
            integration["CredentialsArn"] = p["CredentialsArn"]
        route_key = p.get("RouteKey") or "$default"
        try:
            parse_route_key(route_key)
        except RouteKeyError as err:
            raise bad_request(str(err)) from None
        integration_id = new_id(INTEGRATION_ID_LEN)
        integration["IntegrationId"] = integration_id
        rec.integrations[integration_id] = integration
        route_id = new_id(ROUTE_ID_LEN)
        rec.routes[route_id] = {"ApiGatewayManaged": True, "ApiKeyRequired": False, "AuthorizationType": "NONE",
                                "RouteId": route_id, "RouteKey": route_key, "Target": f"integrations/{integration_id}"}
        t = now()
        rec.stages["$default"] = {"ApiGatewayManaged": True, "AutoDeploy": True, "CreatedDate": t,
                                  "DefaultRouteSettings": {"DetailedMetricsEnabled": False},
                                  "LastUpdatedDate": t, "RouteSettings": {}, "StageName": "$default",
                                  "StageVariables": {}, "Tags": {}}
        self.auto_deploy(rec)

    async def get_api(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        return self.api_view(ctx, self.api_record(ctx, p["ApiId"]))

    async def get_apis(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        recs = sorted(self.store.list(ctx.account, ctx.region), key=lambda r: (r.api["CreatedDate"], r.api_id))
        return paginate([self.api_view(ctx, r) for r in recs], p)

    async def update_api(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        api = rec.api
        http = api["ProtocolType"] == "HTTP"
        selection = p.get("RouteSelectionExpression")
        if selection is not None:
            if http and selection not in (HTTP_ROUTE_SELECTION, "${request.method} ${request.path}"):
                raise bad_request(f"Unsupported route selection expression for HTTP Apis: {selection}")
            if not http:
                check_selection(selection)
                api["RouteSelectionExpression"] = selection
        for member in ("Name", "Description", "Version", "ApiKeySelectionExpression", "DisableSchemaValidation",
                       "DisableExecuteApiEndpoint", "IpAddressType"):
            if p.get(member) is not None:
                api[member] = p[member]
        redeploy = False
        if p.get("CorsConfiguration") is not None:
            if not http:
                raise bad_request("CorsConfiguration is only supported for HTTP APIs")
            api["CorsConfiguration"] = self.check_cors({**api.get("CorsConfiguration", {}), **p["CorsConfiguration"]})
            redeploy = True
        if not http and any(p.get(m) is not None for m in ("Target", "RouteKey", "CredentialsArn")):
            raise bad_request("Target, RouteKey and CredentialsArn are only supported for HTTP APIs")
        if p.get("Target") is not None or p.get("RouteKey") is not None or p.get("CredentialsArn") is not None:
            redeploy |= self._update_quick_create(rec, p)
        if redeploy:
            self.auto_deploy(rec)
        self.store.save(rec)
        return self.api_view(ctx, rec)

    def _update_quick_create(self: ApiGatewayV2Provider, rec: ApiRecord, p: dict) -> bool:
        """UpdateApi's Target/RouteKey/CredentialsArn replace those of the quick-create resources."""
        route = next((r for r in rec.routes.values() if r.get("ApiGatewayManaged")), None)
        integration = next((i for i in rec.integrations.values() if i.get("ApiGatewayManaged")), None)
        if route is None or integration is None:
            raise bad_request("Target, RouteKey and CredentialsArn can only be updated on an API made with quick "
                              "create")
        if p.get("Target") is not None:
            target = p["Target"]
            if (integration["IntegrationType"] == "AWS_PROXY") != (lambda_function_arn(target) is not None):
                raise bad_request(f"Invalid target specified: {target}")
            integration["IntegrationUri"] = target
        if p.get("CredentialsArn") is not None:
            integration["CredentialsArn"] = p["CredentialsArn"]
        if p.get("RouteKey") is not None:
            try:
                parse_route_key(p["RouteKey"])
            except RouteKeyError as err:
                raise bad_request(str(err)) from None
            route["RouteKey"] = p["RouteKey"]
        return True

    async def delete_api(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        self.store.delete(self.api_record(ctx, p["ApiId"]))
        self.gateway.forget()
        return {}

    async def delete_cors_configuration(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        if rec.api.pop("CorsConfiguration", None) is not None:
            self.auto_deploy(rec)
        self.store.save(rec)
        return {}

    def check_cors(self, cors: dict) -> dict:
        origins = cors.get("AllowOrigins") or []
        if cors.get("AllowCredentials") and "*" in origins:
            raise bad_request("allow-credentials is not supported when allow-origins contains a wildcard ('*'). "
                              "Specify the allowed origins explicitly.")
        return dict(cors)

    # -- tags (APIs and stages)
    def _tag_target(self: ApiGatewayV2Provider, ctx: RequestContext, arn: str) -> dict:
        m = _API_ARN.match(arn)
        rec = self.store.owned(ctx.account, ctx.region, m.group(2)) if m else None
        if rec is None:
            raise not_found(f"Invalid resource identifier specified {arn}")
        if m.group(3):
            stage = rec.stages.get(m.group(3))
            if stage is None:
                raise not_found(f"Invalid resource identifier specified {arn}")
            return stage
        return rec.api

    async def tag_resource(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        target = self._tag_target(ctx, p["ResourceArn"])
        target.setdefault("Tags", {}).update(p.get("Tags") or {})
        self._save_owner(ctx, p["ResourceArn"])
        return {}

    async def untag_resource(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        target = self._tag_target(ctx, p["ResourceArn"])
        for key in p.get("TagKeys") or []:
            target.setdefault("Tags", {}).pop(key, None)
        self._save_owner(ctx, p["ResourceArn"])
        return {}

    async def get_tags(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        return {"Tags": dict(self._tag_target(ctx, p["ResourceArn"]).get("Tags") or {})}

    def _save_owner(self: ApiGatewayV2Provider, ctx: RequestContext, arn: str) -> None:
        m = _API_ARN.match(arn)
        rec = self.store.owned(ctx.account, ctx.region, m.group(2)) if m else None
        if rec is not None:
            self.store.save(rec)
