"""Create/Get/GetIntegrations/Update/DeleteIntegration: AWS_PROXY (Lambda) and HTTP_PROXY for HTTP APIs,
AWS_PROXY and MOCK for WebSocket APIs."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import bad_request, conflict, integration_not_found
from .lambda_proxy import lambda_function_arn
from .store import INTEGRATION_ID_LEN, ApiRecord, new_id

if TYPE_CHECKING:
    from .provider import ApiGatewayV2Provider

HTTP_API_TYPES = ("AWS_PROXY", "HTTP_PROXY")
WEBSOCKET_TYPES = ("AWS_PROXY", "MOCK", "AWS", "HTTP", "HTTP_PROXY")
WEBSOCKET_SERVED = ("AWS_PROXY", "MOCK")


class IntegrationOps:
    def _integration(self, rec: ApiRecord, integration_id: str) -> dict:
        integration = rec.integrations.get(integration_id)
        if integration is None:
            raise integration_not_found(integration_id)
        return integration

    def _check_integration(self, rec: ApiRecord, i: dict) -> None:
        kind = i["IntegrationType"]
        if rec.api["ProtocolType"] == "HTTP":
            if kind not in HTTP_API_TYPES:
                raise bad_request(f"Integration type {kind} is not supported for HTTP APIs. "
                                  f"Supported types: {', '.join(HTTP_API_TYPES)}.")
            if i.get("IntegrationSubtype"):
                raise bad_request("nubis does not support integration subtypes (AWS service integrations) yet; "
                                  "use AWS_PROXY with a Lambda function or HTTP_PROXY.")
            if i.get("ConnectionType", "INTERNET") != "INTERNET":
                raise bad_request("nubis does not support VPC_LINK connections; use ConnectionType INTERNET.")
        else:
            if kind not in WEBSOCKET_TYPES:
                raise bad_request(f"Integration type {kind} is not supported for WebSocket APIs")
            if kind not in WEBSOCKET_SERVED:
                raise bad_request(f"nubis does not support {kind} integrations for WebSocket APIs yet; use AWS_PROXY "
                                  "(Lambda) or MOCK.")
            if i.get("PayloadFormatVersion", "1.0") != "1.0":
                raise bad_request("PayloadFormatVersion must be 1.0 for WebSocket APIs")
            if i.get("IntegrationSubtype"):
                raise bad_request("IntegrationSubtype is only supported for HTTP APIs")
        uri = i.get("IntegrationUri")
        if kind == "AWS_PROXY":
            if not uri:
                raise bad_request("IntegrationUri is required for AWS_PROXY integrations")
            if "${stageVariables." not in uri and lambda_function_arn(uri) is None:
                raise bad_request(f"Invalid integration URI specified: {uri}. Expected a Lambda function ARN.")
            if rec.api["ProtocolType"] == "HTTP" and i.get("PayloadFormatVersion") not in ("1.0", "2.0"):
                raise bad_request("PayloadFormatVersion is required for Lambda proxy integrations of HTTP APIs "
                                  "and must be 1.0 or 2.0")
        elif kind == "HTTP_PROXY":
            if not uri:
                raise bad_request("IntegrationUri is required for HTTP_PROXY integrations")
            if not uri.startswith(("http://", "https://")) and "${stageVariables." not in uri:
                raise bad_request(f"Invalid HTTP endpoint specified for URI: {uri}")
            if not i.get("IntegrationMethod"):
                raise bad_request("IntegrationMethod is required for HTTP_PROXY integrations")
            if i.get("PayloadFormatVersion", "1.0") != "1.0":
                raise bad_request("PayloadFormatVersion must be 1.0 for HTTP_PROXY integrations")

    async def create_integration(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        integration = {k: v for k, v in p.items() if k != "ApiId" and v is not None}
        integration.setdefault("ConnectionType", "INTERNET")
        kind = integration["IntegrationType"]
        if kind == "AWS_PROXY":
            integration.setdefault("IntegrationMethod", "POST")
        if kind in ("HTTP_PROXY", "HTTP", "MOCK", "AWS") or rec.api["ProtocolType"] == "WEBSOCKET":
            integration.setdefault("PayloadFormatVersion", "1.0")
        integration.setdefault("TimeoutInMillis", 30000 if rec.api["ProtocolType"] == "HTTP" else 29000)
        self._check_integration(rec, integration)
        integration["IntegrationId"] = new_id(INTEGRATION_ID_LEN, rec.integrations)
        rec.integrations[integration["IntegrationId"]] = integration
        self.auto_deploy(rec)
        self.store.save(rec)
        return copy.deepcopy(integration)

    async def get_integration(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        return copy.deepcopy(self._integration(rec, p["IntegrationId"]))

    async def get_integrations(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        return paginate([copy.deepcopy(i) for i in rec.integrations.values()], p)

    async def update_integration(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        current = self._integration(rec, p["IntegrationId"])
        updated = dict(current)
        updated.update({k: v for k, v in p.items() if k not in ("ApiId", "IntegrationId") and v is not None})
        self._check_integration(rec, updated)
        rec.integrations[p["IntegrationId"]] = updated
        self.auto_deploy(rec)
        self.store.save(rec)
        return copy.deepcopy(updated)

    async def delete_integration(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec = self.api_record(ctx, p["ApiId"])
        self._integration(rec, p["IntegrationId"])
        target = f"integrations/{p['IntegrationId']}"
        users = [r["RouteKey"] for r in rec.routes.values() if r.get("Target") == target]
        if users:
            raise conflict(f"Unable to delete integration {p['IntegrationId']}: it is the target of route(s) "
                           f"{', '.join(users)}. Update or delete the route(s) first.")
        del rec.integrations[p["IntegrationId"]]
        rec.integration_responses.pop(p["IntegrationId"], None)
        self.auto_deploy(rec)
        self.store.save(rec)
        return {}
