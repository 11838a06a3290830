"""AWS_PROXY integrations: the request as a payload 1.0 or 2.0 event, invoked through the bus with
API Gateway's identity (so the function's resource policy must allow apigateway.amazonaws.com),
and the result mapped back to HTTP the way that payload format defines."""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import orjson

from ...events.bus import Bus, Throttled, TriggerError
from ...events.http_events import MalformedResponse, v1_event, v1_response, v2_event, v2_response
from ...server.messages import HttpRequest, HttpResponse
from ..apigw_common.gateway import invoke as invoke_function
from .matching import Match, parse_route_key
from .store import ApiRecord

log = logging.getLogger("nubis.apigateway")

_LAMBDA_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:[^:]+:\d{12}:function:[^/]+")
_INVOCATION_URI = re.compile(r"arn:aws[a-zA-Z-]*:apigateway:[^:]+:lambda:path/2015-03-31/functions/(.+)/invocations")


def lambda_function_arn(uri: str) -> str | None:
    """The function ARN an AWS_PROXY integration URI names: a function/alias/version ARN or the
    apigateway invocation form arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations.
    Stage variables may stand for parts of it (`${stageVariables.fn}`); they are resolved per request."""
    m = _INVOCATION_URI.fullmatch(uri)
    if m:
        uri = m.group(1)
    return uri if _LAMBDA_ARN.fullmatch(uri) else None


@dataclass(slots=True)
class Call:
    """One request on its way through the gateway: what the integration needs to know."""

    req: HttpRequest
    rec: ApiRecord
    stage_name: str
    stage: dict
    match: Match
    path: str  # the path as received, relative to the API root (includes /<stage> for named stages)
    stage_path: str  # the path relative to the stage
    host: str
    request_id: str
    payload_version: str = "2.0"  # of the route's integration: decides the authorizer context's shape
    authorizer: dict | None = None  # requestContext.authorizer for the event


class GatewayError(Exception):
    """Answer the client with API Gateway's own error response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def source_arn(call: Call) -> str:
    """arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<route path> ($default: .../<stage>/$default)."""
    rec = call.rec
    key = parse_route_key(call.match.route["RouteKey"])
    tail = "$default" if key.is_default else f"{call.req.method}{key.path}"
    return f"arn:aws:execute-api:{rec.region}:{rec.account}:{rec.api_id}/{call.stage_name}/{tail}"


def build_event(call: Call, version: str) -> dict:
    route = call.match.route
    stage_variables = call.stage.get("StageVariables") or None
    if version == "1.0":
        key = parse_route_key(route["RouteKey"])
        resource = "$default" if key.is_default else key.path
        event = v1_event(call.req, resource=resource, path=call.path, stage=call.stage_name, api_id=call.rec.api_id,
                         host=call.host, account_id=call.rec.account, request_id=call.request_id,
                         resource_id=route["RouteKey"], path_parameters=call.match.path_parameters,
                         stage_variables=stage_variables)
    else:
        event = v2_event(call.req, raw_path=call.path, route_key=route["RouteKey"], stage=call.stage_name,
                         api_id=call.rec.api_id, host=call.host, account_id=call.rec.account,
                         request_id=call.request_id)
        if call.match.path_parameters:
            event["pathParameters"] = call.match.path_parameters
        if stage_variables:
            event["stageVariables"] = stage_variables
    if call.authorizer is not None:
        event["requestContext"]["authorizer"] = call.authorizer
    return event


async def invoke(bus: Bus, call: Call, integration: dict, function_uri: str) -> HttpResponse:
    function_arn = lambda_function_arn(function_uri)
    if function_arn is None or bus.functions is None:
        log.warning("API %s route %s: %r is not a Lambda function ARN", call.rec.api_id,
                    call.match.route["RouteKey"], function_uri)
        raise GatewayError(500, "Internal Server Error")
    version = integration.get("PayloadFormatVersion", "2.0")
    payload = orjson.dumps(build_event(call, version))
    timeout = integration.get("TimeoutInMillis", 30000) / 1000
    try:
        result = await invoke_function(bus, function_arn, payload, source_arn(call), call.rec.account, timeout)
    except asyncio.TimeoutError:
        log.info("API %s: integration timed out after %.3f s", call.rec.api_id, timeout)
        raise GatewayError(503, "Service Unavailable") from None
    except Throttled:
        raise GatewayError(429, "Too Many Requests") from None
    except TriggerError as err:
        # AWS answers 500 and logs "Invalid permissions on Lambda function" (or a missing function).
        log.warning("API %s: cannot invoke %s: %s", call.rec.api_id, function_arn, err)
        raise GatewayError(500, "Internal Server Error") from None
    if result.function_error:
        raise GatewayError(500, "Internal Server Error")
    try:
        return v1_response(result.payload) if version == "1.0" else v2_response(result.payload)
    except MalformedResponse as err:
        log.info("API %s: malformed Lambda proxy response from %s: %s", call.rec.api_id, function_arn, err)
        raise GatewayError(502, "Internal Server Error") from None
