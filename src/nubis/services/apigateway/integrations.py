"""Calling a method's integration and mapping its answer to the HTTP response.

- AWS_PROXY (Lambda proxy): the request as a payload-1.0 event, the function's result must be the
  proxy response object (else 502 `{"message": "Internal server error"}`).
- AWS (Lambda custom integration): the payload is the request mapped by a request template, or the
  body passed through (passthroughBehavior); the result is mapped by the integration response chosen
  by `selectionPattern` against the function's errorMessage (the default response otherwise).
- MOCK: the request template's `statusCode` chooses the integration response (selectionPattern is
  matched against the status code).
"""
from __future__ import annotations

import asyncio
import base64
import logging
import re

import orjson

from ...events.bus import Bus, Throttled, TriggerError
from ...events.http_events import MalformedResponse, v1_event, v1_response
from ...server.messages import HttpResponse
from ..apigw_common.gateway import invoke, substitute_stage_variables
from . import vtl
from .call import Call
from .gateway_responses import GatewayError
from .resources import lambda_arn_of

log = logging.getLogger("nubis.apigateway")


def media_type_matches(content_type: str, patterns: list[str]) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        return False
    for pattern in patterns:
        p = pattern.strip().lower()
        if p == media or p == "*/*" or (p.endswith("/*") and media.startswith(p[:-1])):
            return True
    return False


def is_binary_request(call: Call) -> bool:
    types = call.snapshot["api"].get("binaryMediaTypes") or []
    return bool(types) and media_type_matches(call.req.headers.get("content-type", ""), types)


def accepts_binary(call: Call, response_type: str | None) -> bool:
    types = call.snapshot["api"].get("binaryMediaTypes") or []
    if not types:
        return False
    accepted = [a.strip() for a in call.req.headers.get("accept", "").split(",") if a.strip()]
    return any(media_type_matches(a, types) for a in accepted[:1]) or \
        (response_type is not None and media_type_matches(response_type, types))


async def dispatch(bus: Bus, call: Call) -> HttpResponse:
    integration = call.match.method["methodIntegration"]
    kind = integration["type"]
    if kind == "AWS_PROXY":
        return await lambda_proxy(bus, call, integration)
    if kind == "AWS":
        return await lambda_custom(bus, call, integration)
    if kind == "MOCK":
        return mock(call, integration)
    log.warning("API %s: %s integrations are not served by nubis", call.rec.api_id, kind)
    raise GatewayError("API_CONFIGURATION_ERROR")


# -- invoking -------------------------------------------------------------------------------------------

async def _invoke(bus: Bus, call: Call, integration: dict, payload: bytes):
    uri = substitute_stage_variables(integration.get("uri") or "", call.stage_variables)
    function_arn = lambda_arn_of(uri)
    if function_arn is None or bus.functions is None:
        log.warning("API %s: integration URI %r does not name a Lambda function", call.rec.api_id, uri)
        call.error = "Execution failed due to configuration error: Invalid Lambda function URI"
        raise GatewayError("API_CONFIGURATION_ERROR")
    timeout = integration.get("timeoutInMillis", 29000) / 1000
    rec = call.rec
    source_arn = call.method_arn()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        result = await invoke(bus, function_arn, payload, source_arn, rec.account, timeout)
    except asyncio.TimeoutError:
        call.error = "Endpoint request timed out"
        raise GatewayError("INTEGRATION_TIMEOUT") from None
    except Throttled:
        call.error = "Lambda invocation failed with status: 429"
        raise GatewayError("API_CONFIGURATION_ERROR") from None
    except TriggerError as err:
        # AWS logs "Execution failed due to configuration error: Invalid permissions on Lambda function"
        log.warning("API %s: cannot invoke %s for %s: %s", rec.api_id, function_arn, source_arn, err)
        call.error = "Execution failed due to configuration error: Invalid permissions on Lambda function"
        raise GatewayError("API_CONFIGURATION_ERROR") from None
    finally:
        call.integration_latency = int((loop.time() - started) * 1000)
    call.integration_status = "200"
    return result


# -- AWS_PROXY ------------------------------------------------------------------------------------------

def proxy_event(call: Call) -> dict:
    req = call.req
    if not req.body:
        body = (None, False)
    elif is_binary_request(call):
        body = (base64.b64encode(req.body).decode(), True)
    else:
        body = (req.body.decode("utf-8", "replace"), False)
    event = v1_event(req, resource=call.resource_path, path=call.stage_path, stage=call.stage_name,
                     api_id=call.rec.api_id, host=call.host, account_id=call.rec.account, request_id=call.request_id,
                     resource_id=call.match.resource["id"], path_parameters=call.match.path_parameters,
                     stage_variables=call.stage_variables or None, version=None, body=body,
                     context_path=f"/{call.stage_name}{call.stage_path}")
    ctx = event["requestContext"]
    ctx["extendedRequestId"] = call.extended_id
    if call.api_key is not None:
        ctx["identity"]["apiKey"] = call.api_key["value"]
        ctx["identity"]["apiKeyId"] = call.api_key["id"]
    if call.authorizer is not None:
        ctx["authorizer"] = call.authorizer
    return event


async def lambda_proxy(bus: Bus, call: Call, integration: dict) -> HttpResponse:
    result = await _invoke(bus, call, integration, orjson.dumps(proxy_event(call)))
    if result.function_error:
        call.error = "Internal server error"
        raise GatewayError("DEFAULT_5XX", "Internal server error", 502)
    try:
        resp = v1_response(result.payload)
    except MalformedResponse as err:
        log.info("API %s: malformed Lambda proxy response: %s", call.rec.api_id, err)
        call.error = "Execution failed due to configuration error: Malformed Lambda proxy response"
        raise GatewayError("DEFAULT_5XX", "Internal server error", 502) from None
    value = orjson.loads(result.payload)
    b64 = value.get("isBase64Encoded")
    if (b64 is True or (isinstance(b64, str) and b64.lower() == "true")) and \
            not accepts_binary(call, resp.header("content-type")):
        resp.body = (value.get("body") or "").encode()  # binary support is off: the text goes out as sent
    return resp


# -- templates ------------------------------------------------------------------------------------------

def _template_for(templates: dict, content_type: str) -> tuple[bool, str | None]:
    """(found, template) for the request content type (application/json when there is none)."""
    media = (content_type.split(";", 1)[0].strip().lower() or "application/json")
    for key, template in templates.items():
        if key.lower() == media:
            return True, template
    return False, None


def request_payload(call: Call, integration: dict) -> str:
    """The integration request body: the request template's rendering, or the body passed through."""
    templates = integration.get("requestTemplates") or {}
    found, template = _template_for(templates, call.req.headers.get("content-type", ""))
    behavior = integration.get("passthroughBehavior", "WHEN_NO_MATCH")
    body = call.req.body.decode("utf-8", "replace")
    if not found:
        if behavior == "NEVER" or (behavior == "WHEN_NO_TEMPLATES" and templates):
            raise GatewayError("UNSUPPORTED_MEDIA_TYPE")
        return body
    if template is None or template == "":
        return body
    return _render(call, template, body)


def _render(call: Call, template: str, body: str, context: dict | None = None) -> str:
    try:
        return vtl.render(template, {"input": vtl.Input(body, call.vtl_params()),
                                     "context": context if context is not None else call.context(),
                                     "stageVariables": dict(call.stage_variables)})
    except vtl.TemplateError as err:
        log.info("API %s: mapping template failed: %s", call.rec.api_id, err)
        call.error = "Execution failed due to configuration error: Unable to transform request"
        raise GatewayError("API_CONFIGURATION_ERROR") from None


def select_response(integration: dict, subject: str | None) -> dict:
    """The integration response whose selectionPattern matches `subject` (None: only the default)."""
    responses = (integration.get("integrationResponses") or {}).values()
    if subject is not None:
        for response in responses:
            pattern = response.get("selectionPattern")
            if pattern and re.fullmatch(pattern, subject, re.DOTALL):
                return response
    for response in responses:
        if not response.get("selectionPattern"):
            return response
    raise GatewayError("API_CONFIGURATION_ERROR")


def _response_value(expr: str, call: Call, body: str) -> str | None:
    if expr.startswith("'") and expr.endswith("'") and len(expr) >= 2:
        return expr[1:-1]
    if expr == "integration.response.body":
        return body
    if expr.startswith("integration.response.body."):
        try:
            value = vtl.json_path(orjson.loads(body), "$." + expr[len("integration.response.body."):])
        except (orjson.JSONDecodeError, vtl.TemplateError):
            return None
        return None if value is None else (value if isinstance(value, str) else orjson.dumps(value).decode())
    if expr.startswith("stageVariables."):
        return call.stage_variables.get(expr[len("stageVariables."):])
    if expr.startswith("context."):
        value = vtl.json_path(call.context(), "$." + expr[len("context."):])
        return None if value is None else str(value)
    return None


def integration_response(call: Call, response: dict, body: str) -> HttpResponse:
    status = int(response["statusCode"])
    headers: list[tuple[str, str]] = []
    for name, expr in (response.get("responseParameters") or {}).items():
        if name.startswith("method.response.header."):
            value = _response_value(expr, call, body)
            if value is not None:
                headers.append((name[len("method.response.header."):], value))
    templates = response.get("responseTemplates") or {}
    accept = call.req.headers.get("accept", "").split(",", 1)[0].strip()
    found, template = _template_for(templates, accept if accept in templates else "application/json")
    if not found and templates:
        found, template = True, next(iter(templates.values()))
    content_type = "application/json"
    out = body
    if found and template:
        context = call.context()
        out = _render(call, template, body, context)
        override = context.get("responseOverride") or {}
        if override.get("status"):
            status = int(override["status"])
        for name, value in (override.get("header") or {}).items():
            headers.append((name, str(value)))
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", content_type))
    return HttpResponse(status, headers, out.encode())


# -- AWS (Lambda custom integration) --------------------------------------------------------------------

async def lambda_custom(bus: Bus, call: Call, integration: dict) -> HttpResponse:
    payload = request_payload(call, integration)
    result = await _invoke(bus, call, integration, payload.encode() if payload.strip() else b"{}")
    body = result.payload.decode("utf-8", "replace")
    subject = None
    if result.function_error:
        try:
            value = orjson.loads(result.payload)
            subject = str(value.get("errorMessage", "")) if isinstance(value, dict) else ""
        except orjson.JSONDecodeError:
            subject = ""
    return integration_response(call, select_response(integration, subject), body)


# -- MOCK -----------------------------------------------------------------------------------------------

def mock(call: Call, integration: dict) -> HttpResponse:
    payload = request_payload(call, integration)
    status = 200
    if (integration.get("requestTemplates") or {}) and payload.strip():
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise GatewayError("API_CONFIGURATION_ERROR") from None
        if isinstance(value, dict) and "statusCode" in value:
            try:
                status = int(value["statusCode"])
            except (TypeError, ValueError):
                raise GatewayError("API_CONFIGURATION_ERROR") from None
    call.integration_status = str(status)
    return integration_response(call, select_response(integration, str(status)), "")
