"""Authorizing a WebSocket connection on `$connect` (the only route that takes authorization).

CUSTOM: a Lambda REQUEST authorizer gets the handshake's headers, query string and context and answers
with an IAM policy (principalId, policyDocument, context); missing identity sources refuse with 401,
a policy that does not allow `.../<stage>/$connect` with 403, a failing authorizer with 500. Its
principalId and context become requestContext.authorizer in every event of the connection.
AWS_IAM: nubis has no IAM to evaluate, so any SigV4-signed handshake is let through.
Results are not cached (AuthorizerResultTtlInSeconds is accepted and ignored).
"""
from __future__ import annotations

import orjson

from ...server.messages import HttpRequest
from .authorize import _policy_allows
from .connections import WsConnection
from .lambda_proxy import GatewayError
from .store import ApiRecord
from .ws_events import connect_event


def identity_values(req: HttpRequest, conn: WsConnection, sources: list[str], stage_variables: dict | None,
                    request_id: str) -> list[str] | None:
    from ...events.http_events import joined_query

    values = []
    for source in sources:
        kind, _, name = source.rpartition(".")
        if kind == "route.request.header":
            value = req.headers.get(name.lower())
        elif kind == "route.request.querystring":
            value = joined_query(req.query).get(name)
        elif kind == "stageVariables":
            value = (stage_variables or {}).get(name)
        elif kind == "context":
            value = {"connectionId": conn.connection_id, "stage": conn.stage, "apiId": conn.api_id,
                     "routeKey": "$connect", "requestId": request_id, "identity.sourceIp": conn.source_ip,
                     "eventType": "CONNECT"}.get(name)
        else:
            value = None
        if not value:
            return None
        values.append(value)
    return values


async def authorize_connect(bus, rec: ApiRecord, conn: WsConnection, req: HttpRequest, route: dict,
                            snapshot: dict, stage_variables: dict | None, method_arn: str,
                            request_id: str) -> dict | None:
    """requestContext.authorizer for the connection (None without one); GatewayError refuses it."""
    from .websocket import invoke_function

    kind = route.get("AuthorizationType", "NONE")
    if kind == "NONE":
        return None
    if kind == "AWS_IAM":
        if "authorization" not in req.headers and "X-Amz-Signature=" not in req.query:
            raise GatewayError(403, "Forbidden")
        return None
    authorizer = (snapshot.get("authorizers") or {}).get(route.get("AuthorizerId") or "")
    if authorizer is None:
        raise GatewayError(500, "Internal server error")
    sources = authorizer.get("IdentitySource") or []
    if identity_values(req, conn, sources, stage_variables, request_id) is None:
        raise GatewayError(401, "Unauthorized")
    event = connect_event(conn, req, request_id, stage_variables)
    event = {"type": "REQUEST", "methodArn": method_arn, **event}
    event.pop("isBase64Encoded", None)
    auth_arn = f"arn:aws:execute-api:{rec.region}:{rec.account}:{rec.api_id}/authorizers/{authorizer['AuthorizerId']}"
    result = await invoke_function(bus, rec, authorizer.get("AuthorizerUri", ""), event, auth_arn, 10.0)
    try:
        value = orjson.loads(result.payload)
    except orjson.JSONDecodeError:
        raise GatewayError(500, "Internal server error") from None
    if not isinstance(value, dict) or "principalId" not in value or not isinstance(value.get("policyDocument"), dict):
        raise GatewayError(500, "Internal server error")
    if not _policy_allows(value["policyDocument"], method_arn):
        raise GatewayError(403, "Forbidden")
    context = value.get("context") or {}
    if not isinstance(context, dict):
        raise GatewayError(500, "Internal server error")
    return {**context, "principalId": str(value["principalId"])}
