"""The API Gateway API (botocore `apigateway`, 2015-07-09) for REST APIs, and where they are served.

Every deployed API answers at http://<api-id>.execute-api.localhost:<port>/<stage>/... (curl and
browsers resolve *.localhost to loopback) and, with no DNS at all, at
http://<host>:<port>/_aws/execute-api/<api-id>/<stage>/... (the edge turns that form into the host
form, see server.routing.execute_api_host_style).
"""
from __future__ import annotations

from ...events.bus import Bus
from ...server.messages import HttpRequest
from ...server.routing import execute_api_id
from ...store.db import Database
from ...store.logs import LogStore
from ..apigw_common.provider import ApiGatewayBase
from .apis import ApiOps
from .authorizers import AuthorizerOps
from .gateway import Gateway
from .keys import KeyOps
from .resources import ResourceOps
from .stages import StageOps
from .store import RestApiRecord, RestStore


class ApiGatewayProvider(ApiOps, ResourceOps, StageOps, KeyOps, AuthorizerOps, ApiGatewayBase[RestApiRecord]):
    service = "apigateway"

    def __init__(self, db: Database, bus: Bus, logs: LogStore | None = None) -> None:
        self.store = RestStore(db)
        self.gateway = Gateway(self.store, bus, logs)

    # -- serving
    def host_route(self, req: HttpRequest):
        """Requests to <api-id>.execute-api.localhost for one of this provider's REST APIs; other API ids
        are left to the other API Gateway flavours."""
        api_id = execute_api_id(req)
        if api_id is None or self.store.get(api_id) is None:
            return None
        return self.gateway.serve(req, api_id)
