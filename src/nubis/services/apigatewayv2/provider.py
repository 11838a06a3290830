"""The API Gateway v2 API (botocore `apigatewayv2`, 2018-11-29) for HTTP and WebSocket APIs, and where
they are served.

Every API answers at http://<api-id>.execute-api.localhost:<port>/ (curl and browsers resolve
*.localhost to loopback) and, with no DNS at all, at http://<host>:<port>/_aws/execute-api/<api-id>/
(the edge turns that form into the host form, see server.routing.execute_api_host_style).
The path after that is the one a client would send to https://<api-id>.execute-api.<region>.amazonaws.com:
`/<stage>/...` for a named stage, no stage segment for `$default`. WebSocket APIs answer the upgrade
at `/<stage>` (websocket.py) and the @connections management API at `/<stage>/@connections/<id>`
(management.py).
"""
from __future__ import annotations

import dataclasses
from urllib.parse import unquote

from ...events.bus import Bus
from ...server.context import RequestContext
from ...server.messages import HttpRequest
from ...server.routing import execute_api_id
from ...store.db import Database
from ..apigw_common.provider import ApiGatewayBase
from .apis import ApiOps
from .authorizers import AuthorizerOps
from .connections import ConnectionRegistry
from .deployments import DeploymentOps
from .gateway import Gateway
from .integrations import IntegrationOps
from .management import ManagementApi
from .responses import ResponseOps
from .routes import RouteOps
from .stages import StageOps
from .store import ApiRecord, ApiStore
from .websocket import WebSocketGateway

HOST_MARK = ".execute-api."
CONNECTIONS = "/@connections/"


class ApiGatewayV2Provider(ApiOps, RouteOps, IntegrationOps, StageOps, DeploymentOps, AuthorizerOps, ResponseOps,
                           ApiGatewayBase[ApiRecord]):
    service = "apigatewayv2"

    def __init__(self, db: Database, bus: Bus) -> None:
        self.store = ApiStore(db)
        self.gateway = Gateway(self.store, bus)
        self.connections = ConnectionRegistry()
        self.websockets = WebSocketGateway(self.store, bus, self.connections)
        self.management = ManagementApi(self.connections)

    @staticmethod
    def api_endpoint(ctx: RequestContext, api_id: str) -> str:
        host_port = ctx.endpoint.split("://", 1)[-1]
        port = host_port.rsplit(":", 1)[-1] if ":" in host_port else "80"
        return f"http://{api_id}{HOST_MARK}localhost:{port}"

    # -- serving
    def host_route(self, req: HttpRequest):
        """Requests to <api-id>.execute-api.localhost (or .execute-api.<region>.localhost) for one of
        this provider's APIs are API calls; other API ids are left to the other API Gateway flavours."""
        api_id = execute_api_id(req)
        if api_id is None:
            if req.path.startswith(CONNECTIONS):  # AWS_ENDPOINT_URL inside a function: found by connection id
                return self.management.handle(req, None, None)
            return None
        rec = self.store.get(api_id)
        if rec is None:
            return None
        if rec.api["ProtocolType"] == "WEBSOCKET":
            return self._websocket_route(req, rec)
        return self.gateway.serve(req, api_id, req.path)

    def _websocket_route(self, req: HttpRequest, rec: ApiRecord):
        stage, sep, rest = req.path[1:].partition("/")
        if sep and ("/" + rest).startswith(CONNECTIONS):
            return self.management.handle(dataclasses.replace(req, path="/" + rest), rec.api_id, unquote(stage))
        return self.websockets.connect(req, rec)

    async def stop(self) -> None:
        self.websockets.close_all()
