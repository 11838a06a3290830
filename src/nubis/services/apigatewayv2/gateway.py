"""Serving HTTP APIs: a request to an API's URL becomes a stage, a route, an authorization decision
and an integration call, with API Gateway's own answers where it does not reach the integration.

Stage selection: a first path segment naming a stage selects it (its name stays in the path the
integration sees, as on AWS); otherwise the `$default` stage, served at the root. Each stage serves
the deployment it points at.
"""
from __future__ import annotations

import logging
from urllib.parse import unquote

import orjson

from ...events.bus import Bus
from ...server.messages import HttpRequest, HttpResponse
from ..apigw_common.gateway import TokenBucket, new_request_id, substitute_stage_variables, take_token
from . import cors, http_proxy, lambda_proxy
from .authorize import Authorizers, Unauthorized
from .lambda_proxy import Call, GatewayError
from .matching import RouteTable
from .store import ApiRecord, ApiStore

log = logging.getLogger("nubis.apigateway")


def gateway_response(status: int, message: str, request_id: str) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json"), ("apigw-requestid", request_id)],
                        orjson.dumps({"message": message}))


def select_stage(rec: ApiRecord, path: str) -> tuple[str, dict, str] | None:
    """(stage name, stage, path relative to the stage) for a path relative to the API root."""
    first, _, rest = path[1:].partition("/")
    name = unquote(first)
    if name and name != "$default" and name in rec.stages:
        return name, rec.stages[name], "/" + rest
    stage = rec.stages.get("$default")
    return ("$default", stage, path) if stage is not None else None


class Gateway:
    def __init__(self, store: ApiStore, bus: Bus) -> None:
        self.store = store
        self.bus = bus
        self.authorizers = Authorizers(bus)
        self._tables: dict[tuple[str, str], RouteTable] = {}
        self._buckets: dict[tuple, TokenBucket] = {}

    def forget(self) -> None:
        """Drop compiled route tables (after an API is deleted)."""
        self._tables.clear()
        self._buckets.clear()

    async def serve(self, req: HttpRequest, api_id: str, path: str) -> HttpResponse:
        request_id = new_request_id()
        try:
            resp = await self._serve(req, api_id, path or "/", request_id)
        except Unauthorized as err:
            resp = gateway_response(401, err.message, request_id)
            if err.www_authenticate:
                resp.headers.append(("www-authenticate", err.www_authenticate))
            return resp
        except GatewayError as err:
            return gateway_response(err.status, err.message, request_id)
        except Exception:
            log.exception("API %s: internal error serving %s %s", api_id, req.method, path)
            return gateway_response(500, "Internal Server Error", request_id)
        resp.headers.append(("apigw-requestid", request_id))
        return resp

    async def _serve(self, req: HttpRequest, api_id: str, path: str, request_id: str) -> HttpResponse:
        rec = self.store.get(api_id)
        if rec is None or rec.api["ProtocolType"] != "HTTP":
            raise GatewayError(404, "Not Found")
        if rec.api.get("DisableExecuteApiEndpoint"):
            raise GatewayError(403, "Forbidden")
        selected = select_stage(rec, path)
        if selected is None:
            raise GatewayError(404, "Not Found")
        stage_name, stage, stage_path = selected
        deployment_id = stage.get("DeploymentId")
        snapshot = (rec.deployments.get(deployment_id) or {}).get("snapshot") if deployment_id else None
        if snapshot is None:
            raise GatewayError(404, "Not Found")
        cors_config = snapshot.get("cors")
        if cors_config and cors.is_preflight(req):
            return cors.preflight(cors_config, req)
        table = self._tables.get((api_id, deployment_id))
        if table is None:
            if len(self._tables) > 1000:
                self._tables.clear()
            table = self._tables[(api_id, deployment_id)] = RouteTable(snapshot["routes"])
        match = table.match(req.method, stage_path)
        if match is None:
            raise GatewayError(404, "Not Found")
        self._throttle(api_id, stage_name, stage, match.route["RouteKey"])
        target = match.route.get("Target") or ""
        integration = snapshot["integrations"].get(target.partition("/")[2]) if target else None
        call = Call(req, rec, stage_name, stage, match, path, stage_path, req.headers.get("host", ""), request_id,
                    payload_version=(integration or {}).get("PayloadFormatVersion", "2.0"))
        call.authorizer = await self.authorizers.check(call, snapshot.get("authorizers") or {})
        if integration is None:
            raise GatewayError(404, "Not Found")
        uri = substitute_stage_variables(integration.get("IntegrationUri", ""), stage.get("StageVariables") or {})
        if integration["IntegrationType"] == "AWS_PROXY":
            resp = await lambda_proxy.invoke(self.bus, call, integration, uri)
        elif integration["IntegrationType"] == "HTTP_PROXY":
            resp = await http_proxy.forward(call, integration, uri)
        else:
            raise GatewayError(500, "Internal Server Error")
        if cors_config:
            cors.decorate(cors_config, req, resp)
        return resp

    def _throttle(self, api_id: str, stage_name: str, stage: dict, route_key: str) -> None:
        """Stage throttling (DefaultRouteSettings, overridden per route by RouteSettings)."""
        settings = dict(stage.get("DefaultRouteSettings") or {})
        settings.update((stage.get("RouteSettings") or {}).get(route_key) or {})
        rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
        if rate is None and burst is None:
            return
        rate = float(rate if rate is not None else 10000.0)
        burst = int(burst if burst is not None else 5000)
        if not take_token(self._buckets, (api_id, stage_name, route_key), rate, burst):
            raise GatewayError(429, "Too Many Requests")
