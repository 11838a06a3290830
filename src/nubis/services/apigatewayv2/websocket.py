"""Serving WebSocket APIs: the upgrade handshake runs the `$connect` route (authorizer, integration) and
answers 101 only if it allows the connection; then each message is routed by the API's
RouteSelectionExpression (falling back to `$default`), and `$disconnect` runs when the connection ends.

The URL is ws://<api-id>.execute-api.localhost:<port>/<stage> (or the DNS-free path form, see
server.routing). Frames are handled by wsproto (sans-IO) over the HTTP server's upgraded connection.
Limits as on AWS: 128 KB per message (larger: close 1009), 10 minutes idle and 2 hours in all
(close 1001 "Going away").
"""
from __future__ import annotations

import asyncio
import base64
import logging
import time
from functools import lru_cache
from urllib.parse import unquote

import orjson
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.utilities import generate_accept_token

from ...events.bus import Bus, SyncResult, Throttled, TriggerError
from ...server.messages import HttpRequest, HttpResponse
from ..apigw_common.gateway import invoke, new_request_id, substitute_stage_variables
from .connections import ConnectionRegistry, WsConnection, new_connection_id
from .gateway import gateway_response
from .lambda_proxy import GatewayError, lambda_function_arn
from .responses import two_way
from .selection import Selector, SelectionError, parse_selection
from .store import ApiRecord, ApiStore
from .ws_authorize import authorize_connect
from .ws_events import connect_event, disconnect_event, message_event

log = logging.getLogger("nubis.apigateway.websocket")

MAX_MESSAGE = 128 * 1024
IDLE_TIMEOUT_S = 600.0
MAX_DURATION_S = 7200.0


@lru_cache(maxsize=256)
def _selector(expression: str) -> Selector | None:
    try:
        return parse_selection(expression)
    except SelectionError:
        return None


def deployed(rec: ApiRecord, stage_name: str) -> tuple[dict, dict] | None:
    """(stage, deployment snapshot) a stage serves, or None."""
    stage = rec.stages.get(stage_name)
    if stage is None or not stage.get("DeploymentId"):
        return None
    snapshot = (rec.deployments.get(stage["DeploymentId"]) or {}).get("snapshot")
    return (stage, snapshot) if snapshot is not None else None


def route_by_key(snapshot: dict, key: str) -> dict | None:
    for route in snapshot["routes"].values():
        if route["RouteKey"] == key:
            return route
    return None


def route_arn(rec: ApiRecord, stage: str, route_key: str) -> str:
    return f"arn:aws:execute-api:{rec.region}:{rec.account}:{rec.api_id}/{stage}/{route_key}"


async def invoke_integration(bus: Bus, rec: ApiRecord, stage_name: str, stage: dict, integration: dict,
                             route_key: str, event: dict) -> SyncResult:
    """Invoke a route's Lambda integration as API Gateway; GatewayError with the status the client would see."""
    uri = substitute_stage_variables(integration.get("IntegrationUri", ""), stage.get("StageVariables") or {})
    function_arn = lambda_function_arn(uri)
    if function_arn is None or bus.functions is None:
        raise GatewayError(500, "Internal server error")
    try:
        result = await invoke(bus, function_arn, orjson.dumps(event), route_arn(rec, stage_name, route_key),
                              rec.account, integration.get("TimeoutInMillis", 29000) / 1000)
    except asyncio.TimeoutError:
        raise GatewayError(504, "Endpoint request timed out") from None
    except Throttled:
        raise GatewayError(429, "Too Many Requests") from None
    except TriggerError as err:
        log.warning("API %s: cannot invoke %s: %s", rec.api_id, function_arn, err)
        raise GatewayError(500, "Internal server error") from None
    if result.function_error:
        log.info("API %s: %s failed (%s): %s", rec.api_id, function_arn, result.function_error,
                 result.payload[:500].decode(errors="replace"))
        raise GatewayError(500, "Internal server error")
    return result


class WebSocketGateway:
    def __init__(self, store: ApiStore, bus: Bus, registry: ConnectionRegistry) -> None:
        self.store = store
        self.bus = bus
        self.registry = registry
        self._tasks: set[asyncio.Task] = set()

    # -- the handshake
    async def connect(self, req: HttpRequest, rec: ApiRecord) -> HttpResponse:
        request_id = new_request_id()
        try:
            return await self._connect(req, rec, request_id)
        except GatewayError as err:
            return gateway_response(err.status, err.message, request_id)
        except Exception:
            log.exception("API %s: internal error on $connect", rec.api_id)
            return gateway_response(500, "Internal server error", request_id)

    async def _connect(self, req: HttpRequest, rec: ApiRecord, request_id: str) -> HttpResponse:
        if rec.api.get("DisableExecuteApiEndpoint"):
            raise GatewayError(403, "Forbidden")
        stage_name = unquote(req.path.strip("/")) or "$default"
        served = deployed(rec, stage_name) if "/" not in stage_name else None
        if served is None:
            raise GatewayError(403, "Forbidden")
        stage, snapshot = served
        key = req.headers.get("sec-websocket-key", "")
        if (req.method != "GET" or "websocket" not in req.headers.get("upgrade", "").lower()
                or req.headers.get("sec-websocket-version") != "13" or not _valid_key(key)):
            return HttpResponse(426, [("Content-Type", "application/json"), ("Sec-WebSocket-Version", "13")],
                                b'{"message":"Upgrade Required"}')
        now_ms = int(time.time() * 1000)
        conn = WsConnection(new_connection_id(), rec.api_id, stage_name, req.headers.get("host", ""),
                            req.remote or "127.0.0.1", req.headers.get("user-agent", ""), now_ms, now_ms)
        headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Accept", generate_accept_token(key.encode()).decode())]
        route = route_by_key(snapshot, "$connect")
        if route is not None:
            stage_variables = stage.get("StageVariables") or None
            conn.authorizer = await authorize_connect(self.bus, rec, conn, req, route, snapshot, stage_variables,
                                                      route_arn(rec, stage_name, "$connect"), request_id)
            integration = self._integration(snapshot, route)
            if integration["IntegrationType"] == "AWS_PROXY":
                event = connect_event(conn, req, request_id, stage_variables)
                result = await invoke_integration(self.bus, rec, stage_name, stage, integration, "$connect", event)
                refused = _connect_refusal(result.payload)
                if refused is not None:
                    return refused
                protocol = _subprotocol(result.payload)
                if protocol:
                    headers.append(("Sec-WebSocket-Protocol", protocol))
        return HttpResponse(101, headers, upgrade=lambda upgraded: self._session(conn, upgraded))

    @staticmethod
    def _integration(snapshot: dict, route: dict) -> dict:
        target = route.get("Target") or ""
        integration = snapshot["integrations"].get(target.partition("/")[2]) if target else None
        if integration is None:
            raise GatewayError(500, "Internal server error")
        return integration

    # -- the connection
    async def _session(self, conn: WsConnection, upgraded) -> None:
        session = WsSession(upgraded)
        conn.session = session
        self.registry.add(conn)
        code, reason = 1006, "Connection was closed abnormally"
        deadline = time.monotonic() + MAX_DURATION_S
        try:
            while True:
                wait = min(IDLE_TIMEOUT_S, deadline - time.monotonic())
                try:
                    data = await asyncio.wait_for(upgraded.read(), max(wait, 0.0))
                except asyncio.TimeoutError:
                    code, reason = 1001, "Going away"
                    session.close(1001, "Going away")
                    break
                if not data:
                    if conn.closing_reason is not None:
                        code, reason = 1000, conn.closing_reason
                    break
                closed = session.receive(data, lambda message: self._on_message(conn, message))
                if closed is not None:
                    code, reason = closed
                    break
        finally:
            self.registry.remove(conn.connection_id)
            session.finish()
            upgraded.close()
        await self._disconnect(conn, code, reason)

    def _on_message(self, conn: WsConnection, message: str | bytes) -> None:
        conn.last_active_at = int(time.time() * 1000)
        task = asyncio.get_running_loop().create_task(self._route_message(conn, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _route_message(self, conn: WsConnection, message: str | bytes) -> None:
        request_id = new_request_id()
        rec = self.store.get(conn.api_id)
        served = deployed(rec, conn.stage) if rec is not None else None
        if served is None:
            return await self._reply_error(conn, "Forbidden", request_id)
        stage, snapshot = served
        route = None
        if isinstance(message, str):
            selector = _selector(rec.api.get("RouteSelectionExpression") or "")
            key = selector.select(message) if selector is not None else None
            if key and not key.startswith("$"):
                route = route_by_key(snapshot, key)
        route = route or route_by_key(snapshot, "$default")
        if route is None:
            return await self._reply_error(conn, "Forbidden", request_id)
        try:
            integration = self._integration(snapshot, route)
            if integration["IntegrationType"] != "AWS_PROXY":
                return  # MOCK: accepted, nothing to send back
            event = message_event(conn, route["RouteKey"], message, request_id, stage.get("StageVariables"))
            result = await invoke_integration(self.bus, rec, conn.stage, stage, integration, route["RouteKey"], event)
        except GatewayError as err:
            message_text = "Internal server error" if err.status >= 500 else err.message
            return await self._reply_error(conn, message_text, request_id)
        if two_way(snapshot, route):
            body = _response_body(result.payload)
            if body is not None and conn.session is not None:
                await conn.session.send(body)

    async def _reply_error(self, conn: WsConnection, message: str, request_id: str) -> None:
        """API Gateway's own message to the client when it could not process one of its messages."""
        if conn.session is not None:
            await conn.session.send(orjson.dumps({"message": message, "connectionId": conn.connection_id,
                                                  "requestId": request_id}))

    async def _disconnect(self, conn: WsConnection, code: int, reason: str) -> None:
        rec = self.store.get(conn.api_id)
        served = deployed(rec, conn.stage) if rec is not None else None
        route = route_by_key(served[1], "$disconnect") if served is not None else None
        if route is None:
            return
        stage, snapshot = served
        request_id = new_request_id()
        try:
            integration = self._integration(snapshot, route)
            if integration["IntegrationType"] != "AWS_PROXY":
                return
            event = disconnect_event(conn, code, reason, request_id, stage.get("StageVariables"))
            await invoke_integration(self.bus, rec, conn.stage, stage, integration, "$disconnect", event)
        except GatewayError as err:
            log.info("API %s: $disconnect for %s failed: %s", rec.api_id, conn.connection_id, err.message)

    def close_all(self) -> None:
        """Server shutdown: close every connection (1001 Going away)."""
        for conn in self.registry.all():
            if conn.session is not None:
                conn.session.close(1001, "Going away")


class WsSession:
    """One connection's frames: wsproto for the protocol, the upgraded HTTP connection for bytes."""

    def __init__(self, upgraded) -> None:
        self.upgraded = upgraded
        self.ws = Connection(ConnectionType.SERVER)
        self._parts: list[str | bytes] = []
        self._size = 0
        self.closed = False

    def receive(self, data: bytes, on_message) -> tuple[int, str] | None:
        """Feed bytes; hand complete messages to `on_message`. (code, reason) once the connection closes."""
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._parts.append(event.data)
                self._size += len(event.data)
                if self._size > MAX_MESSAGE:
                    self.close(1009, "Message too big")
                    return 1009, "Message too big"
                if event.message_finished:
                    joined = "".join(self._parts) if isinstance(event, TextMessage) else b"".join(self._parts)
                    self._parts, self._size = [], 0
                    on_message(joined)
            elif isinstance(event, Ping):
                self._write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self.ws.state is ConnectionState.REMOTE_CLOSING:
                    self._write(self.ws.send(event.response()))
                self.closed = True
                return event.code, f"Client-side close frame status code '{event.code}' and reason " \
                                   f"'{event.reason or ''}'"
        return None

    async def send(self, data: bytes) -> None:
        if self.closed or self.ws.state is not ConnectionState.OPEN:
            raise ConnectionError("the connection is closed")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self._write(self.ws.send(Message(data=data)))
        else:
            self._write(self.ws.send(Message(data=text)))
        await self.upgraded.drain()

    def close(self, code: int, reason: str) -> None:
        if not self.closed and self.ws.state is ConnectionState.OPEN:
            self._write(self.ws.send(CloseConnection(code=code, reason=reason)))
        self.closed = True
        self.upgraded.close()

    def finish(self) -> None:
        self.closed = True

    def _write(self, data: bytes) -> None:
        if data:
            self.upgraded.write(data)


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        return False


def _connect_refusal(payload: bytes) -> HttpResponse | None:
    """A $connect Lambda result with a non-2xx statusCode refuses the connection with that status."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict) or "statusCode" not in value:
        return None
    try:
        status = int(value["statusCode"])
    except (TypeError, ValueError):
        return HttpResponse(502, [("Content-Type", "application/json")], b'{"message":"Internal server error"}')
    if 200 <= status < 300:
        return None
    body = value.get("body")
    return HttpResponse(status if 100 <= status < 600 else 502, [("Content-Type", "application/json")],
                        body.encode() if isinstance(body, str) else b"")


def _subprotocol(payload: bytes) -> str | None:
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    headers = value.get("headers") if isinstance(value, dict) else None
    if not isinstance(headers, dict):
        return None
    for k, v in headers.items():
        if k.lower() == "sec-websocket-protocol" and isinstance(v, str):
            return v
    return None


def _response_body(payload: bytes) -> bytes | None:
    """What a two-way route sends back: the proxy response's body (or the result itself if it is not
    a proxy response)."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload or None
    if isinstance(value, dict) and ("statusCode" in value or "body" in value):
        body = value.get("body")
        if body is None:
            return None
        if value.get("isBase64Encoded") and isinstance(body, str):
            try:
                return base64.b64decode(body)
            except ValueError:
                return None
        return body.encode() if isinstance(body, str) else orjson.dumps(body)
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else payload
