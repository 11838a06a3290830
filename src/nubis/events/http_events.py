"""HTTP requests as Lambda proxy events, and Lambda results as HTTP responses.

Shared by everything that puts a function behind HTTP: function URLs and API Gateway HTTP APIs send
payload format 2.0; HTTP APIs (optionally) and REST APIs send format 1.0. The shapes follow AWS's
documentation of those formats (reference/aws-lambda-facts.md §5.1-5.3). Callers decide what a
malformed result turns into (each front door has its own error body), so the response mappers
raise MalformedResponse instead of answering.
"""
from __future__ import annotations

import base64
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import orjson

from ..server.messages import HttpRequest, HttpResponse

# Content types whose bodies are passed to the function as text; anything else goes base64-encoded.
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded", "application/graphql")


class MalformedResponse(Exception):
    """The function's result cannot be mapped to an HTTP response."""


# -- pieces ----------------------------------------------------------------------------------------------

def request_time(now: float) -> str:
    """The `time` / `requestTime` format: 12/Mar/2020:19:03:58 +0000."""
    return datetime.fromtimestamp(now, tz=timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")


def trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"


def forwarded_headers(req: HttpRequest, host: str, now: float) -> dict[str, str]:
    """The request headers (lower-case, no Cookie) plus the ones AWS's front end adds."""
    headers = {k: v for k, v in req.headers.items() if k != "cookie"}
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-forwarded-for", req.remote or "127.0.0.1")
    headers.setdefault("x-forwarded-port", host.rsplit(":", 1)[-1] if ":" in host else "80")
    headers.setdefault("x-amzn-trace-id", trace_id(now))
    return headers


def single_and_multi_value(req: HttpRequest, headers: dict[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Payload 1.0's `headers` (a repeated header's last value, as AWS documents) and
    `multiValueHeaders` (every value, in order)."""
    repeated = req.repeated_headers or {}
    single = {k: repeated[k][-1] if k in repeated else v for k, v in headers.items()}
    return single, {k: list(repeated[k]) if k in repeated else [v] for k, v in headers.items()}


def event_body(req: HttpRequest) -> tuple[str | None, bool]:
    """(body, isBase64Encoded): text content types as text, everything else base64."""
    if not req.body:
        return None, False
    ctype = req.headers.get("content-type", "").lower()
    if ctype.startswith(TEXT_TYPES) or not ctype:
        try:
            return req.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(req.body).decode(), True


def cookies_of(req: HttpRequest) -> list[str]:
    return [c.strip() for c in req.headers.get("cookie", "").split(";") if c.strip()]


def joined_query(query: str) -> dict[str, str]:
    """Format 2.0: repeated keys comma-joined."""
    out: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        out[k] = f"{out[k]},{v}" if k in out else v
    return out


# -- payload format 2.0 ---------------------------------------------------------------------------------

def v2_event(req: HttpRequest, *, raw_path: str, route_key: str, stage: str, api_id: str, host: str,
             account_id: str, request_id: str, now: float | None = None) -> dict:
    """The payload-2.0 event common to function URLs and HTTP APIs.

    Callers add what only they send: requestContext.authorizer/authentication, pathParameters,
    stageVariables.
    """
    now = time.time() if now is None else now
    domain = host.split(":", 1)[0]
    event: dict = {
        "version": "2.0", "routeKey": route_key, "rawPath": raw_path, "rawQueryString": req.query,
        "headers": forwarded_headers(req, host, now),
        "requestContext": {
            "accountId": account_id, "apiId": api_id, "domainName": domain,
            "domainPrefix": api_id,
            "http": {"method": req.method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": req.remote or "127.0.0.1", "userAgent": req.headers.get("user-agent", "")},
            "requestId": request_id, "routeKey": route_key, "stage": stage,
            "time": request_time(now), "timeEpoch": int(now * 1000)},
        "isBase64Encoded": False,
    }
    cookies = cookies_of(req)
    if cookies:
        event["cookies"] = cookies
    query = joined_query(req.query)
    if query:
        event["queryStringParameters"] = query
    body, b64 = event_body(req)
    if body is not None:
        event["body"], event["isBase64Encoded"] = body, b64
    return event


def v2_response(payload: bytes) -> HttpResponse:
    """Map a result as format 2.0 does: an object with statusCode, or any JSON value (status 200)."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return HttpResponse(200, [("Content-Type", "application/json")], payload)
    if not isinstance(value, dict) or "statusCode" not in value:
        body = value.encode() if isinstance(value, str) else orjson.dumps(value)
        return HttpResponse(200, [("Content-Type", "application/json")], body)
    try:
        status = int(value["statusCode"])
    except (TypeError, ValueError):
        raise MalformedResponse("statusCode is not an integer") from None
    headers = [(str(k), str(v)) for k, v in (value.get("headers") or {}).items()]
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers += [("Set-Cookie", str(c)) for c in value.get("cookies") or []]
    body = value.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        data = orjson.dumps(body)
    elif value.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body)
        except ValueError:
            raise MalformedResponse("body is not valid base64") from None
    else:
        data = body.encode()
    return HttpResponse(status, headers, data)


# -- payload format 1.0 ---------------------------------------------------------------------------------

def v1_event(req: HttpRequest, *, resource: str, path: str, stage: str, api_id: str, host: str,
             account_id: str, request_id: str, resource_id: str | None, path_parameters: dict | None,
             stage_variables: dict | None, version: str | None = "1.0", now: float | None = None,
             body: tuple[str | None, bool] | None = None, context_path: str | None = None) -> dict:
    """The payload-1.0 (REST API proxy) event; `version` is "1.0" for HTTP APIs, None for REST APIs.

    Absent collections are null, as AWS sends them. A repeated header has its last value in
    `headers` and every value in `multiValueHeaders`.
    `body` overrides how the body is encoded (REST APIs decide by the API's binary media types);
    `context_path` is requestContext.path when it differs from `path` (REST: it includes the stage).
    """
    now = time.time() if now is None else now
    domain = host.split(":", 1)[0]
    headers = forwarded_headers(req, host, now)
    if "cookie" in req.headers:
        headers["cookie"] = req.headers["cookie"]
    headers, multi_headers = single_and_multi_value(req, headers)
    multi_query: dict[str, list[str]] = {}
    for k, v in parse_qsl(req.query, keep_blank_values=True):
        multi_query.setdefault(k, []).append(v)
    body, b64 = event_body(req) if body is None else body
    event: dict = {}
    if version is not None:
        event["version"] = version
    event.update({
        "resource": resource, "path": path, "httpMethod": req.method,
        "headers": headers, "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": {
            "accountId": account_id, "apiId": api_id, "domainName": domain,
            "domainPrefix": api_id, "extendedRequestId": request_id,
            "httpMethod": req.method,
            "identity": {"accessKey": None, "accountId": None, "caller": None, "cognitoAmr": None,
                         "cognitoAuthenticationProvider": None, "cognitoAuthenticationType": None,
                         "cognitoIdentityId": None, "cognitoIdentityPoolId": None, "principalOrgId": None,
                         "sourceIp": req.remote or "127.0.0.1", "user": None,
                         "userAgent": req.headers.get("user-agent", ""), "userArn": None},
            "path": path if context_path is None else context_path, "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": request_time(now), "requestTimeEpoch": int(now * 1000),
            "resourceId": resource_id, "resourcePath": resource, "stage": stage},
        "pathParameters": path_parameters or None,
        "stageVariables": stage_variables or None,
        "body": body,
        "isBase64Encoded": b64,
    })
    return event


def v1_response(payload: bytes) -> HttpResponse:
    """Map a format-1.0 result: it must be an object with an integer statusCode and a string body."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise MalformedResponse("result is not JSON") from None
    if not isinstance(value, dict) or "statusCode" not in value:
        raise MalformedResponse("result is not an object with a statusCode")
    code = value["statusCode"]
    if isinstance(code, bool) or not isinstance(code, (int, str)):
        raise MalformedResponse("statusCode is not an integer")
    try:
        status = int(code)
    except ValueError:
        raise MalformedResponse("statusCode is not an integer") from None
    if not 100 <= status <= 599:
        raise MalformedResponse("statusCode is out of range")
    body = value.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedResponse("body is not a string")
    single = value.get("headers") or {}
    multi = value.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedResponse("headers are not an object")
    headers: list[tuple[str, str]] = []
    for k, values in multi.items():
        if not isinstance(values, list) or any(isinstance(v, (dict, list)) for v in values):
            raise MalformedResponse("multiValueHeaders values must be lists of strings")
        headers += [(str(k), _scalar(v)) for v in values]
    lower = {k.lower() for k in multi}
    for k, v in single.items():
        if isinstance(v, (dict, list)):
            raise MalformedResponse("header values must be strings")
        if k.lower() not in lower:
            headers.append((str(k), _scalar(v)))
    b64 = value.get("isBase64Encoded", False)
    if body is None:
        data = b""
    elif b64 is True or (isinstance(b64, str) and b64.lower() == "true"):
        try:
            data = base64.b64decode(body)
        except ValueError:
            raise MalformedResponse("body is not valid base64") from None
    else:
        data = body.encode()
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status, headers, data)


def _scalar(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)
