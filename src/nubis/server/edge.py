"""The edge: one entry point for every request; finds the service, parses, dispatches, serializes.

Every failure becomes the service's own error format here: a client never sees a traceback.
"""
from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable

import orjson

from ..services.base import Provider
from .context import RequestContext, account_for, parse_scope, DEFAULT_REGION
from .errors import AwsError
from .http import MAX_BODY
from .messages import HttpRequest, HttpResponse
from .protocol import REQUEST_ID_KEY, load_service
from .routing import execute_api_host_style, execute_api_id, s3_path_style, service_for
from .sigv4 import Verifier

log = logging.getLogger("nubis.edge")

InternalRoute = Callable[[HttpRequest], Awaitable[HttpResponse]]

def json_response(status: int, doc: object, error_code: str | None = None) -> HttpResponse:
    headers = [("Content-Type", "application/json")]
    if error_code:
        headers.append(("x-amzn-ErrorType", error_code))
    return HttpResponse(status, headers, orjson.dumps(doc))


class Edge:
    def __init__(self, providers: list[Provider], endpoint: str,
                 internal: dict[str, InternalRoute] | None = None, verifier: Verifier | None = None) -> None:
        self.verifier = verifier
        self.providers = {p.service: p for p in providers}
        self.endpoint = endpoint
        self.internal: dict[str, InternalRoute] = dict(internal or {})
        for p in providers:
            self.internal.update(p.raw_routes())
        self.host_routers = [p for p in providers if type(p).host_route is not Provider.host_route]

    async def handle(self, req: HttpRequest) -> HttpResponse:
        if req.path.startswith(("/_nubis/", "/_aws/")):
            req = execute_api_host_style(req) or req
            if req.path.startswith(("/_nubis/", "/_aws/")):
                return await self._internal(req)
        signed = req  # as it arrived (Host and path are signed)
        if ".s3." in req.headers.get("host", ""):
            req = s3_path_style(req) or req
        for provider in self.host_routers:
            claimed = provider.host_route(req)
            if claimed is not None:
                return await claimed
        if execute_api_id(req) is not None:  # no API Gateway flavour knows this API id
            return HttpResponse(404, [("Content-Type", "application/json")], b'{"message":"Not Found"}')
        scope = parse_scope(req.headers.get("authorization"), req.query)
        service = service_for(req, scope)
        provider = self.providers.get(service or "")
        if provider is None:
            code = "NotImplementedException" if service else "UnknownServiceException"
            message = (f"nubis does not implement the '{service}' service yet" if service else
                       "Could not tell which AWS service this request is for: sign it with SigV4 "
                       "(any credentials) or send X-Amz-Target")
            return json_response(501 if service else 400, {"__type": code, "message": message}, code)
        protocol = load_service(provider.service, provider.wire_protocol(req))
        fast = provider.fast_params(req)
        ctx = RequestContext(
            account=account_for(scope.access_key if scope else None),
            region=scope.region if scope else DEFAULT_REGION,
            service=provider.service,
            endpoint=self.endpoint,
            body_size=len(req.body),
            http=req,
        )
        op = None
        try:
            if self.verifier is not None:
                family = "s3" if provider.service == "s3" else protocol.protocol
                try:
                    stream = self.verifier.check(signed, scope, family, req.path)
                except AwsError as err:
                    if family == "s3":  # S3's request ids are 16 hex digits
                        err.fields.setdefault(REQUEST_ID_KEY, secrets.token_hex(8).upper())
                    raise
                if stream is not None:
                    req = dataclasses.replace(req, stream=stream)
            if req.body_too_large:
                raise AwsError("RequestEntityTooLargeException",
                               f"Request must be smaller than {MAX_BODY} bytes (received {req.body_too_large})", 413)
            if fast is not None:
                op, params = protocol.model.operation_model(fast[0]), fast[1]
            else:
                op, params = protocol.parse(req)
                violations = protocol.validate(op, params)
                if violations:
                    violations = provider.checked_violations(op.name, violations)
                if violations:
                    raise provider.validation_error(op.name, violations) or protocol.validation_error(violations)
            result = await provider.handle(ctx, op.name, params)
            if isinstance(result, HttpResponse):
                return result
            result.setdefault("__request_id__", ctx.request_id)
            return protocol.serialize(op, result)
        except AwsError as err:
            return protocol.serialize_error(err, op)
        except Exception:
            log.exception("internal error in %s %s", provider.service, op.name if op else "?")
            return protocol.serialize_error(
                AwsError("ServiceException", "An internal error occurred in nubis; see the server log.", 500), op)

    async def _internal(self, req: HttpRequest) -> HttpResponse:
        for prefix, route in self.internal.items():
            if req.path == prefix or req.path.startswith(prefix.rstrip("/") + "/"):
                try:
                    return await route(req)
                except AwsError as err:
                    return json_response(err.status, {"__type": err.code, "message": err.message}, err.code)
        return json_response(404, {"__type": "NotFound", "message": f"No such nubis route: {req.path}"})
