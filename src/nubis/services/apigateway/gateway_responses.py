"""API Gateway's own answers (gateway responses) when a request does not reach, or fails at, the
integration: the AWS defaults, and the API's customisations (PutGatewayResponse) applied on top.

Default bodies are `{"message":"<text>"}` exactly as AWS writes them; a customised response's
template may use `$context.error.message`, `$context.error.messageString` and `$context.requestId`.
"""
from __future__ import annotations

import re

import orjson

from ...server.messages import HttpResponse

# type -> (default status, default message (None: null), x-amzn-ErrorType)
DEFAULTS: dict[str, tuple[int | None, str | None, str]] = {
    "ACCESS_DENIED": (403, "User is not authorized to access this resource", "AccessDeniedException"),
    "API_CONFIGURATION_ERROR": (500, "Internal server error", "InternalServerErrorException"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, None, "AuthorizerConfigurationException"),
    "AUTHORIZER_FAILURE": (500, None, "AuthorizerFailureException"),
    "BAD_REQUEST_PARAMETERS": (400, "Missing required request parameters", "BadRequestException"),
    "BAD_REQUEST_BODY": (400, "Invalid request body", "BadRequestException"),
    "DEFAULT_4XX": (None, None, ""),
    "DEFAULT_5XX": (None, None, "InternalServerErrorException"),
    "EXPIRED_TOKEN": (403, "The security token included in the request is expired", "ExpiredTokenException"),
    "INTEGRATION_FAILURE": (504, "Internal server error", "InternalServerErrorException"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out", "InternalServerErrorException"),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "INVALID_SIGNATURE": (403, "The request signature we calculated does not match the signature you provided",
                          "InvalidSignatureException"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    "QUOTA_EXCEEDED": (429, "Limit Exceeded", "LimitExceededException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLargeException"),
    "RESOURCE_NOT_FOUND": (404, "Not Found", "NotFoundException"),
    "THROTTLED": (429, "Too Many Requests", "TooManyRequestsException"),
    "UNAUTHORIZED": (401, "Unauthorized", "UnauthorizedException"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported Media Type", "UnsupportedMediaTypeException"),
    "WAF_FILTERED": (403, "Forbidden", "WAFFilteredException"),
}

_CONTEXT = re.compile(r"\$context\.([A-Za-z0-9_.]+)")


class GatewayError(Exception):
    """Answer with the gateway response `kind`; `message`/`status` override the type's defaults
    (e.g. the 502 for a malformed Lambda proxy response is a DEFAULT_5XX with status 502)."""

    def __init__(self, kind: str, message: str | None = "", status: int | None = None,
                 json_key: str = "message") -> None:
        default_status, default_message, _ = DEFAULTS[kind]
        self.kind = kind
        self.message = default_message if message == "" else message
        self.status = status or default_status or (500 if kind == "DEFAULT_5XX" else 400)
        self.json_key = json_key  # ACCESS_DENIED from an authorizer policy says "Message"
        super().__init__(self.message or kind)


def render(err: GatewayError, customised: dict, request_id: str) -> HttpResponse:
    """The response for `err`, using the API's customised response for its type (or DEFAULT_4XX/5XX)."""
    _, _, error_type = DEFAULTS[err.kind]
    if not error_type and err.status == 403:
        error_type = "ForbiddenException"
    custom = customised.get(err.kind) or customised.get("DEFAULT_4XX" if err.status < 500 else "DEFAULT_5XX")
    status = err.status
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    body = orjson.dumps({err.json_key: err.message})
    if custom:
        if custom.get("statusCode"):
            status = int(custom["statusCode"])
        for name, value in (custom.get("responseParameters") or {}).items():
            if name.startswith("gatewayresponse.header.") and value.startswith("'") and value.endswith("'"):
                headers.append((name[len("gatewayresponse.header."):], value[1:-1]))
        template = (custom.get("responseTemplates") or {}).get("application/json")
        if template is not None:
            values = {"error.message": err.message or "", "error.messageString": orjson.dumps(err.message).decode(),
                      "error.responseType": err.kind, "requestId": request_id}
            body = _CONTEXT.sub(lambda m: values.get(m.group(1), ""), template).encode()
    return HttpResponse(status, headers, body)
