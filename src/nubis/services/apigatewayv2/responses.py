"""Route responses and integration responses (WebSocket APIs only): Create/Get/Get...s/Update/Delete.

A route with a `$default` route response is two-way: what its integration returns goes back to the
client (for Lambda proxy integrations, the response's `body`). Integration responses are kept and
listed; nubis does not evaluate their mapping templates.
"""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .errors import bad_request, conflict, not_found
from .store import RESPONSE_ID_LEN, ApiRecord, new_id

if TYPE_CHECKING:
    from .provider import ApiGatewayV2Provider

_ROUTE_RESPONSE_MEMBERS = ("ModelSelectionExpression", "ResponseModels", "ResponseParameters", "RouteResponseKey")
_INTEGRATION_RESPONSE_MEMBERS = ("ContentHandlingStrategy", "IntegrationResponseKey", "ResponseParameters",
                                 "ResponseTemplates", "TemplateSelectionExpression")
_INTEGRATION_RESPONSE_KEY = re.compile(r"\$default|/.+/")  # $default or a status-code regex like /4\d\d/


def websocket_only(rec: ApiRecord, what: str) -> None:
    if rec.api["ProtocolType"] != "WEBSOCKET":
        raise bad_request(f"{what} are supported only for WebSocket APIs")


def two_way(snapshot: dict, route: dict) -> bool:
    """Does this deployed route send its integration's result back to the client?"""
    return bool((snapshot.get("route_responses") or {}).get(route["RouteId"]))


class ResponseOps:
    # -- route responses
    def _route_responses(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> tuple[ApiRecord, dict]:
        rec = self.api_record(ctx, p["ApiId"])
        self._route(rec, p["RouteId"])
        return rec, rec.route_responses.setdefault(p["RouteId"], {})

    @staticmethod
    def _route_response(responses: dict, response_id: str) -> dict:
        response = responses.get(response_id)
        if response is None:
            raise not_found(f"Invalid RouteResponse identifier specified {response_id}")
        return response

    @staticmethod
    def _check_route_response(responses: dict, response: dict) -> None:
        key = response["RouteResponseKey"]
        if key != "$default":
            raise bad_request(f"Invalid route response key: {key}. Only $default is supported for WebSocket APIs")
        if any(r["RouteResponseKey"] == key and r["RouteResponseId"] != response.get("RouteResponseId")
               for r in responses.values()):
            raise conflict(f"RouteResponse with key {key} already exists for this Route")

    async def create_route_response(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec, responses = self._route_responses(ctx, p)
        websocket_only(rec, "Route responses")
        response = {k: p[k] for k in _ROUTE_RESPONSE_MEMBERS if p.get(k) is not None}
        self._check_route_response(responses, response)
        response["RouteResponseId"] = new_id(RESPONSE_ID_LEN, responses)
        responses[response["RouteResponseId"]] = response
        self.auto_deploy(rec)
        self.store.save(rec)
        return copy.deepcopy(response)

    async def get_route_response(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        _, responses = self._route_responses(ctx, p)
        return copy.deepcopy(self._route_response(responses, p["RouteResponseId"]))

    async def get_route_responses(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        from .apis import paginate

        _, responses = self._route_responses(ctx, p)
        return paginate([copy.deepcopy(r) for r in responses.values()], p)

    async def update_route_response(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec, responses = self._route_responses(ctx, p)
        updated = dict(self._route_response(responses, p["RouteResponseId"]))
        updated.update({k: p[k] for k in _ROUTE_RESPONSE_MEMBERS if p.get(k) is not None})
        self._check_route_response(responses, updated)
        responses[p["RouteResponseId"]] = updated
        self.auto_deploy(rec)
        self.store.save(rec)
        return copy.deepcopy(updated)

    async def delete_route_response(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec, responses = self._route_responses(ctx, p)
        self._route_response(responses, p["RouteResponseId"])
        del responses[p["RouteResponseId"]]
        self.auto_deploy(rec)
        self.store.save(rec)
        return {}

    # -- integration responses
    def _integration_responses(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> tuple[ApiRecord, dict]:
        rec = self.api_record(ctx, p["ApiId"])
        self._integration(rec, p["IntegrationId"])
        return rec, rec.integration_responses.setdefault(p["IntegrationId"], {})

    @staticmethod
    def _integration_response(responses: dict, response_id: str) -> dict:
        response = responses.get(response_id)
        if response is None:
            raise not_found(f"Invalid IntegrationResponse identifier specified {response_id}")
        return response

    @staticmethod
    def _check_integration_response(responses: dict, response: dict) -> None:
        key = response["IntegrationResponseKey"]
        if not _INTEGRATION_RESPONSE_KEY.fullmatch(key):
            raise bad_request(f"Invalid integration response key: {key}. Use $default or a status code "
                              "regular expression between slashes, such as /4\\d\\d/")
        if any(r["IntegrationResponseKey"] == key and r["IntegrationResponseId"] != response.get("IntegrationResponseId")
               for r in responses.values()):
            raise conflict(f"IntegrationResponse with key {key} already exists for this Integration")

    async def create_integration_response(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec, responses = self._integration_responses(ctx, p)
        websocket_only(rec, "Integration responses")
        response = {k: p[k] for k in _INTEGRATION_RESPONSE_MEMBERS if p.get(k) is not None}
        self._check_integration_response(responses, response)
        response["IntegrationResponseId"] = new_id(RESPONSE_ID_LEN, responses)
        responses[response["IntegrationResponseId"]] = response
        self.store.save(rec)
        return copy.deepcopy(response)

    async def get_integration_response(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        _, responses = self._integration_responses(ctx, p)
        return copy.deepcopy(self._integration_response(responses, p["IntegrationResponseId"]))

    async def get_integration_responses(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        from .apis import paginate

        _, responses = self._integration_responses(ctx, p)
        return paginate([copy.deepcopy(r) for r in responses.values()], p)

    async def update_integration_response(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec, responses = self._integration_responses(ctx, p)
        updated = dict(self._integration_response(responses, p["IntegrationResponseId"]))
        updated.update({k: p[k] for k in _INTEGRATION_RESPONSE_MEMBERS if p.get(k) is not None})
        self._check_integration_response(responses, updated)
        responses[p["IntegrationResponseId"]] = updated
        self.store.save(rec)
        return copy.deepcopy(updated)

    async def delete_integration_response(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict) -> dict:
        rec, responses = self._integration_responses(ctx, p)
        self._integration_response(responses, p["IntegrationResponseId"])
        del responses[p["IntegrationResponseId"]]
        self.store.save(rec)
        return {}
