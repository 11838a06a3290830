"""Route responses and integration responses (WebSocket APIs only): Create/Get/Get...s/Update/Delete.

A route with a `$default` route response is two-way: what its integration returns goes back to the
client (for Lambda proxy integrations, the response's `body`). Integration responses are kept and
listed; nubis does not evaluate their mapping templates. The two kinds differ only in names, members,
the keys they accept and whether they are deployed, so one set of operations serves both.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import bad_request, conflict, not_found
from .store import RESPONSE_ID_LEN, ApiRecord, new_id

if TYPE_CHECKING:
    from .provider import ApiGatewayV2Provider


@dataclass(frozen=True)
class _Kind:
    name: str  # RouteResponse: members RouteResponseId, RouteResponseKey
    parent: str  # Route: found by RouteId, kept in rec.route_responses
    members: tuple[str, ...]
    key: re.Pattern
    bad_key: str  # the message for a key `key` does not match
    deployed: bool  # part of the deployment snapshot (so auto-deploy follows changes)


ROUTE = _Kind("RouteResponse", "Route",
              ("ModelSelectionExpression", "ResponseModels", "ResponseParameters", "RouteResponseKey"),
              re.compile(r"\$default"), "Invalid route response key: {}. Only $default is supported for WebSocket APIs",
              True)
INTEGRATION = _Kind("IntegrationResponse", "Integration",
                    ("ContentHandlingStrategy", "IntegrationResponseKey", "ResponseParameters", "ResponseTemplates",
                     "TemplateSelectionExpression"),
                    re.compile(r"\$default|/.+/"),  # or a status-code regex like /4\d\d/
                    "Invalid integration response key: {}. Use $default or a status code regular expression "
                    "between slashes, such as /4\\d\\d/", False)


def two_way(snapshot: dict, route: dict) -> bool:
    """Does this deployed route send its integration's result back to the client?"""
    return bool((snapshot.get("route_responses") or {}).get(route["RouteId"]))


class ResponseOps:
    def _responses(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict, kind: _Kind) -> tuple[ApiRecord, dict]:
        rec = self.api_record(ctx, p["ApiId"])
        parent_id = p[f"{kind.parent}Id"]
        getattr(self, f"_{kind.parent.lower()}")(rec, parent_id)  # NotFound for an unknown route/integration
        return rec, getattr(rec, f"{kind.parent.lower()}_responses").setdefault(parent_id, {})

    @staticmethod
    def _response(responses: dict, kind: _Kind, p: dict) -> dict:
        response = responses.get(p[f"{kind.name}Id"])
        if response is None:
            raise not_found(f"Invalid {kind.name} identifier specified {p[f'{kind.name}Id']}")
        return response

    def _put(self: ApiGatewayV2Provider, rec: ApiRecord, responses: dict, kind: _Kind, response: dict) -> dict:
        key = response[f"{kind.name}Key"]
        if not kind.key.fullmatch(key):
            raise bad_request(kind.bad_key.format(key))
        if any(r[f"{kind.name}Key"] == key and r[f"{kind.name}Id"] != response[f"{kind.name}Id"]
               for r in responses.values()):
            raise conflict(f"{kind.name} with key {key} already exists for this {kind.parent}")
        responses[response[f"{kind.name}Id"]] = response
        if kind.deployed:
            self.auto_deploy(rec)
        self.store.save(rec)
        return copy.deepcopy(response)

    async def _create(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict, kind: _Kind) -> dict:
        rec, responses = self._responses(ctx, p, kind)
        if rec.api["ProtocolType"] != "WEBSOCKET":
            raise bad_request(f"{kind.parent} responses are supported only for WebSocket APIs")
        response = {k: p[k] for k in kind.members if p.get(k) is not None}
        response[f"{kind.name}Id"] = new_id(RESPONSE_ID_LEN, responses)
        return self._put(rec, responses, kind, response)

    async def _get(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict, kind: _Kind) -> dict:
        return copy.deepcopy(self._response(self._responses(ctx, p, kind)[1], kind, p))

    async def _list(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict, kind: _Kind) -> dict:
        return paginate([copy.deepcopy(r) for r in self._responses(ctx, p, kind)[1].values()], p)

    async def _update(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict, kind: _Kind) -> dict:
        rec, responses = self._responses(ctx, p, kind)
        updated = {**self._response(responses, kind, p), **{k: p[k] for k in kind.members if p.get(k) is not None}}
        return self._put(rec, responses, kind, updated)

    async def _delete(self: ApiGatewayV2Provider, ctx: RequestContext, p: dict, kind: _Kind) -> dict:
        rec, responses = self._responses(ctx, p, kind)
        del responses[self._response(responses, kind, p)[f"{kind.name}Id"]]
        if kind.deployed:
            self.auto_deploy(rec)
        self.store.save(rec)
        return {}

    async def create_route_response(self, ctx: RequestContext, p: dict) -> dict:
        return await self._create(ctx, p, ROUTE)

    async def get_route_response(self, ctx: RequestContext, p: dict) -> dict:
        return await self._get(ctx, p, ROUTE)

    async def get_route_responses(self, ctx: RequestContext, p: dict) -> dict:
        return await self._list(ctx, p, ROUTE)

    async def update_route_response(self, ctx: RequestContext, p: dict) -> dict:
        return await self._update(ctx, p, ROUTE)

    async def delete_route_response(self, ctx: RequestContext, p: dict) -> dict:
        return await self._delete(ctx, p, ROUTE)

    async def create_integration_response(self, ctx: RequestContext, p: dict) -> dict:
        return await self._create(ctx, p, INTEGRATION)

    async def get_integration_response(self, ctx: RequestContext, p: dict) -> dict:
        return await self._get(ctx, p, INTEGRATION)

    async def get_integration_responses(self, ctx: RequestContext, p: dict) -> dict:
        return await self._list(ctx, p, INTEGRATION)

    async def update_integration_response(self, ctx: RequestContext, p: dict) -> dict:
        return await self._update(ctx, p, INTEGRATION)

    async def delete_integration_response(self, ctx: RequestContext, p: dict) -> dict:
        return await self._delete(ctx, p, INTEGRATION)
