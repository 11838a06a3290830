"""The Lambda proxy events of WebSocket APIs: CONNECT (with the upgrade request's headers and query
string), MESSAGE (with the frame's body) and DISCONNECT (with the close code and reason), shaped as
API Gateway sends them.

`domainName` is the host (and port) the client connected to, so `http://{domainName}/{stage}` is the
connection's management endpoint where *.localhost resolves (see docs/apigateway.md).
"""
from __future__ import annotations

import base64
import os
import time
from urllib.parse import parse_qsl

from ...events.http_events import forwarded_headers, request_time, single_and_multi_value
from ...server.messages import HttpRequest
from .connections import WsConnection


def new_message_id() -> str:
    """Message ids look like request ids: `XfGLwFTktjMFsLg=`."""
    return base64.b64encode(os.urandom(10)).decode()


def _context(conn: WsConnection, route_key: str, event_type: str, request_id: str, now: float) -> dict:
    identity: dict = {"sourceIp": conn.source_ip}
    if conn.user_agent:
        identity["userAgent"] = conn.user_agent
    ctx = {"routeKey": route_key, "eventType": event_type, "extendedRequestId": request_id,
           "requestTime": request_time(now), "messageDirection": "IN", "stage": conn.stage,
           "connectedAt": conn.connected_at, "requestTimeEpoch": int(now * 1000), "identity": identity,
           "requestId": request_id, "domainName": conn.domain_name, "connectionId": conn.connection_id,
           "apiId": conn.api_id}
    if conn.authorizer is not None:
        ctx["authorizer"] = dict(conn.authorizer)
    return ctx


def connect_event(conn: WsConnection, req: HttpRequest, request_id: str, stage_variables: dict | None) -> dict:
    now = time.time()
    headers, multi_headers = single_and_multi_value(req, forwarded_headers(req, conn.domain_name, now))
    event: dict = {"headers": headers, "multiValueHeaders": multi_headers}
    multi: dict[str, list[str]] = {}
    for k, v in parse_qsl(req.query, keep_blank_values=True):
        multi.setdefault(k, []).append(v)
    if multi:
        event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()}
        event["multiValueQueryStringParameters"] = multi
    if stage_variables:
        event["stageVariables"] = dict(stage_variables)
    event["requestContext"] = _context(conn, "$connect", "CONNECT", request_id, now)
    event["isBase64Encoded"] = False
    return event


def message_event(conn: WsConnection, route_key: str, data: str | bytes, request_id: str,
                  stage_variables: dict | None) -> dict:
    """A text frame's body is passed as text; a binary frame's base64-encoded."""
    now = time.time()
    ctx = _context(conn, route_key, "MESSAGE", request_id, now)
    ctx["messageId"] = new_message_id()
    event: dict = {"requestContext": ctx}
    if stage_variables:
        event["stageVariables"] = dict(stage_variables)
    if isinstance(data, str):
        event.update(body=data, isBase64Encoded=False)
    else:
        event.update(body=base64.b64encode(data).decode(), isBase64Encoded=True)
    return event


def disconnect_event(conn: WsConnection, code: int, reason: str, request_id: str,
                     stage_variables: dict | None) -> dict:
    now = time.time()
    host = conn.domain_name
    headers = {"Host": host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    ctx = _context(conn, "$disconnect", "DISCONNECT", request_id, now)
    ctx["disconnectStatusCode"] = code
    ctx["disconnectReason"] = reason
    event: dict = {"headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()}}
    if stage_variables:
        event["stageVariables"] = dict(stage_variables)
    event.update(requestContext=ctx, isBase64Encoded=False)
    return event
