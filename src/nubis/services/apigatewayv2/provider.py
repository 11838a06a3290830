"""The API Gateway v2 API (botocore `apigatewayv2`, 2018-11-29) for HTTP APIs, and where they are served.

Every API answers at http://<api-id>.execute-api.localhost:<port>/ (curl and browsers resolve
*.localhost to loopback) and, with no DNS at all, at http://<host>:<port>/_nubis/execute-api/<api-id>/.
The path after that is the one a client would send to https://<api-id>.execute-api.<region>.amazonaws.com:
`/<stage>/...` for a named stage, no stage segment for `$default`.
"""
from __future__ import annotations

from typing import Any

from ...events.bus import Bus
from ...server.context import RequestContext
from ...server.errors import AwsError
from ...server.messages import HttpRequest, HttpResponse
from ...store.db import Database
from ..base import Provider, RawRoute
from .apis import ApiOps
from .authorizers import AuthorizerOps
from .deployments import DeploymentOps
from .errors import api_not_found, bad_request
from .gateway import Gateway
from .integrations import IntegrationOps
from .routes import RouteOps
from .stages import StageOps
from .store import ApiRecord, ApiStore

PATH_PREFIX = "/_nubis/execute-api/"
HOST_MARK = ".execute-api."


class ApiGatewayV2Provider(ApiOps, RouteOps, IntegrationOps, StageOps, DeploymentOps, AuthorizerOps, Provider):
    service = "apigatewayv2"

    def __init__(self, db: Database, bus: Bus) -> None:
        self.store = ApiStore(db)
        self.gateway = Gateway(self.store, bus)

    @property
    def authorizer_cache(self):
        return self.gateway.authorizers.cache

    def validation_error(self, operation: str, violations: list[Any]) -> AwsError | None:
        """API Gateway answers constraint failures with BadRequestException."""
        from ...server.protocol.validation import format_violations

        return bad_request(format_violations(violations))

    def api_record(self, ctx: RequestContext, api_id: str) -> ApiRecord:
        rec = self.store.owned(ctx.account, ctx.region, api_id)
        if rec is None:
            raise api_not_found(ctx.account, api_id)
        return rec

    @staticmethod
    def api_endpoint(ctx: RequestContext, api_id: str) -> str:
        host_port = ctx.endpoint.split("://", 1)[-1]
        port = host_port.rsplit(":", 1)[-1] if ":" in host_port else "80"
        return f"http://{api_id}{HOST_MARK}localhost:{port}"

    def forget_tables(self) -> None:
        self.gateway.forget()

    # -- serving
    def host_route(self, req: HttpRequest):
        """Requests to <api-id>.execute-api.localhost (or .execute-api.<region>.localhost) are API calls."""
        name = req.headers.get("host", "").split(":", 1)[0].lower()
        if HOST_MARK not in name:
            return None
        return self.gateway.serve(req, name.split(HOST_MARK, 1)[0], req.path)

    def raw_routes(self) -> dict[str, RawRoute]:
        return {PATH_PREFIX: self._serve_path}

    async def _serve_path(self, req: HttpRequest) -> HttpResponse:
        """The DNS-free form: /_nubis/execute-api/<api-id>/<stage path>."""
        api_id, _, rest = req.path[len(PATH_PREFIX):].partition("/")
        return await self.gateway.serve(req, api_id, "/" + rest)
