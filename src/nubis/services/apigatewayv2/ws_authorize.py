"""Authorizing a WebSocket connection on `$connect` (the only route that takes authorization).

CUSTOM: a Lambda REQUEST authorizer gets the handshake's headers, query string and context and answers
with an IAM policy (principalId, policyDocument, context); missing identity sources refuse with 401,
a policy that does not allow `.../<stage>/$connect` with 403, a failing authorizer with 500. Its
principalId and context become requestContext.authorizer in every event of the connection.
AWS_IAM: nubis has no IAM to evaluate, so any SigV4-signed handshake is let through.
Results are not cached (AuthorizerResultTtlInSeconds is accepted and ignored).
"""
from __future__ import annotations

from ...events.bus import Bus
from ...events.http_events import joined_query
from ...server.messages import HttpRequest
from ..apigw_common.authorizers import (AuthorizerUnavailable, identity_values, invoke_authorizer, json_or_none,
                                        policy_response, policy_verdict)
from ..apigw_common.gateway import is_signed
from .connections import WsConnection
from .lambda_proxy import GatewayError, lambda_function_arn
from .store import ApiRecord
from .ws_events import connect_event


async def authorize_connect(bus: Bus, rec: ApiRecord, conn: WsConnection, req: HttpRequest, route: dict,
                            snapshot: dict, stage_variables: dict | None, method_arn: str,
                            request_id: str) -> dict | None:
    """requestContext.authorizer for the connection (None without one); GatewayError refuses it."""
    kind = route.get("AuthorizationType", "NONE")
    if kind == "NONE":
        return None
    if kind == "AWS_IAM":
        if not is_signed(req):
            raise GatewayError(403, "Forbidden")
        return None
    authorizer = (snapshot.get("authorizers") or {}).get(route.get("AuthorizerId") or "")
    if authorizer is None:
        raise GatewayError(500, "Internal server error")
    sources = [s.removeprefix("route.") for s in authorizer.get("IdentitySource") or []]
    context = {"connectionId": conn.connection_id, "stage": conn.stage, "apiId": conn.api_id, "routeKey": "$connect",
               "requestId": request_id, "identity.sourceIp": conn.source_ip, "eventType": "CONNECT"}
    if identity_values(sources, req.headers, joined_query(req.query), stage_variables or {}, context) is None:
        raise GatewayError(401, "Unauthorized")
    event = {"type": "REQUEST", "methodArn": method_arn, **connect_event(conn, req, request_id, stage_variables)}
    event.pop("isBase64Encoded", None)
    try:
        result = await invoke_authorizer(bus, rec, authorizer["AuthorizerId"],
                                         lambda_function_arn(authorizer.get("AuthorizerUri", "")), event)
    except AuthorizerUnavailable:
        raise GatewayError(500, "Internal server error") from None
    answer = None if result.function_error else policy_response(json_or_none(result.payload))
    if answer is None:
        raise GatewayError(500, "Internal server error")
    principal, policy, authorizer_context = answer
    if policy_verdict(policy, method_arn) != "allow":
        raise GatewayError(403, "Forbidden")
    return {**authorizer_context, "principalId": principal}
