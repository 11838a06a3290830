"""The @connections management API (botocore `apigatewaymanagementapi`): PostToConnection, GetConnection,
DeleteConnection, so a backend can push to, inspect and drop a WebSocket client.

Reached at the connection's own endpoint, `http://<api-id>.execute-api.localhost:<port>/<stage>`
(or its path form `/_aws/execute-api/<api-id>/<stage>`), and, for functions inside nubis, at the
plain endpoint (`AWS_ENDPOINT_URL`, i.e. `boto3.client("apigatewaymanagementapi")` with no
endpoint_url): connection ids are unique across nubis, so the id alone finds the connection.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

from ...server.errors import AwsError
from ...server.messages import HttpRequest, HttpResponse
from ...server.protocol import load_service
from ..base import snake
from .connections import ConnectionRegistry, WsConnection
from ..apigw_common.gateway import is_signed, new_request_id

MAX_POST = 128 * 1024


def _gone(connection_id: str) -> AwsError:
    return AwsError("GoneException", f"Connection {connection_id} is gone (closed or never opened)", 410)


def _iso(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class ManagementApi:
    def __init__(self, registry: ConnectionRegistry) -> None:
        self.registry = registry

    async def handle(self, req: HttpRequest, api_id: str | None, stage: str | None) -> HttpResponse:
        """`req.path` is relative to the management endpoint: /@connections/<id>."""
        protocol = load_service("apigatewaymanagementapi")
        op = None
        try:
            if not is_signed(req):
                raise AwsError("ForbiddenException", "Missing Authentication Token", 403)
            op, params = protocol.parse(req)
            if op.name == "PostToConnection" and len(params.get("Data") or b"") > MAX_POST:
                raise AwsError("PayloadTooLargeException", f"Message too long: {len(params['Data'])} bytes (the "
                               f"limit is {MAX_POST})", 413)
            violations = protocol.validate(op, params)
            if violations:
                raise protocol.validation_error(violations)
            conn = self._connection(params["ConnectionId"], api_id, stage)
            result = await getattr(self, snake(op.name))(conn, params)
            result["__request_id__"] = new_request_id()
            return protocol.serialize(op, result)
        except AwsError as err:
            return protocol.serialize_error(err, op)

    def _connection(self, connection_id: str, api_id: str | None, stage: str | None) -> WsConnection:
        conn = self.registry.get(connection_id)
        if conn is None or (api_id is not None and conn.api_id != api_id) or \
                (stage is not None and conn.stage != stage) or conn.session is None:
            raise _gone(connection_id)
        return conn

    async def post_to_connection(self, conn: WsConnection, p: dict) -> dict:
        data = p.get("Data") or b""
        if isinstance(data, str):
            data = data.encode()
        try:
            await conn.session.send(data)  # type: ignore[union-attr]
        except ConnectionError:
            raise _gone(conn.connection_id) from None
        conn.last_active_at = int(time.time() * 1000)
        return {}

    async def get_connection(self, conn: WsConnection, p: dict) -> dict:
        identity = {"SourceIp": conn.source_ip}
        if conn.user_agent:
            identity["UserAgent"] = conn.user_agent
        return {"ConnectedAt": _iso(conn.connected_at), "LastActiveAt": _iso(conn.last_active_at),
                "Identity": identity}

    async def delete_connection(self, conn: WsConnection, p: dict) -> dict:
        self.registry.remove(conn.connection_id)
        conn.closing_reason = "Connection deleted through the @connections API"
        conn.session.close(1000, "")  # type: ignore[union-attr]
        return {}
