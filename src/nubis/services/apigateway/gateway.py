"""Serving REST APIs: `/<stage>/<path>` on an API's URL becomes a stage, a resource and method, an
authorization decision, an API key check, a request validation and an integration call — with API
Gateway's own answers (gateway responses) wherever the request stops.

Order as on AWS: stage, resource/method (else 403 Missing Authentication Token), stage throttling,
authorizer, API key and usage plan (throttle, quota), request validator, integration.
"""
from __future__ import annotations

import logging
import uuid
from urllib.parse import unquote

from ...events.bus import Bus
from ...server.messages import HttpRequest, HttpResponse
from ...store.logs import LogStore
from ..apigw_common.gateway import is_signed, new_request_id
from . import access_log, integrations, validate
from .auth import Authorizers
from .call import Call
from .gateway_responses import GatewayError, render
from .limits import Limits
from .matching import ResourceTree
from .store import RestStore

log = logging.getLogger("nubis.apigateway")


class Gateway:
    def __init__(self, store: RestStore, bus: Bus, logs: LogStore | None = None) -> None:
        self.store = store
        self.bus = bus
        self.logs = logs
        self.authorizers = Authorizers(bus)
        self.limits = Limits(store)
        self._trees: dict[tuple[str, str], ResourceTree] = {}

    def forget(self, api_id: str, stage: str | None = None) -> None:
        """Drop what was compiled or counted for an API (or one stage) after it changed."""
        self._trees = {k: v for k, v in self._trees.items() if k[0] != api_id}
        self.authorizers.cache.forget(api_id, stage)
        self.limits.forget(api_id, stage)

    async def serve(self, req: HttpRequest, api_id: str) -> HttpResponse:
        request_id = str(uuid.uuid4())
        call: Call | None = None
        customised: dict = {}
        try:
            rec = self.store.get(api_id)
            if rec is None or rec.api.get("disableExecuteApiEndpoint"):
                raise GatewayError("DEFAULT_4XX", "Forbidden", 403)
            first, _, rest = req.path[1:].partition("/")
            stage_name = unquote(first)
            if not stage_name:
                raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
            stage = rec.stages.get(stage_name)
            deployment = rec.deployments.get((stage or {}).get("deploymentId", ""))
            if stage is None or deployment is None:
                raise GatewayError("DEFAULT_4XX", "Forbidden", 403)
            snapshot = deployment["snapshot"]
            customised = snapshot.get("gateway_responses") or {}
            call = Call(req, rec, stage_name, stage, snapshot, "/" + rest, req.headers.get("host", ""), request_id,
                        new_request_id())
            resp = await self._serve(call)
        except GatewayError as err:
            if call is not None:
                call.error = call.error or (err.message or "")
            resp = render(err, customised, request_id)
        except Exception:
            log.exception("API %s: internal error serving %s %s", api_id, req.method, req.path)
            resp = render(GatewayError("API_CONFIGURATION_ERROR"), customised, request_id)
        if resp.header("x-amzn-RequestId") is None:
            resp.headers.append(("x-amzn-RequestId", request_id))
        if call is not None:
            resp.headers.append(("x-amz-apigw-id", call.extended_id))
            call.status = resp.status
            call.response_length = len(resp.body)
            try:
                access_log.write(self.logs, call)
            except Exception:  # an access log must never break the response
                log.exception("API %s: access log failed", api_id)
        return resp

    async def _serve(self, call: Call) -> HttpResponse:
        key = (call.rec.api_id, call.stage["deploymentId"])
        tree = self._trees.get(key)
        if tree is None:
            if len(self._trees) > 1000:
                self._trees.clear()
            tree = self._trees[key] = ResourceTree(call.snapshot["resources"])
        match = tree.match(call.req.method, call.stage_path)
        if not match:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
        call.match = match
        method = match.method
        self.limits.check_stage(call.rec.api_id, call.stage, match.resource["path"], method["httpMethod"])
        usage_key = None
        kind = method.get("authorizationType", "NONE")
        if kind == "AWS_IAM":
            if not is_signed(call.req):
                raise GatewayError("MISSING_AUTHENTICATION_TOKEN")
        elif kind in ("CUSTOM", "COGNITO_USER_POOLS"):
            authorizer = call.snapshot["authorizers"].get(method.get("authorizerId") or "")
            if authorizer is None:
                raise GatewayError("AUTHORIZER_CONFIGURATION_ERROR", None)
            usage_key = (await self.authorizers.check(call, authorizer)).get("usage_key")
        if method.get("apiKeyRequired"):
            source = call.snapshot["api"].get("apiKeySource") or "HEADER"
            value = usage_key if source == "AUTHORIZER" else call.header("x-api-key")
            call.api_key = self.limits.check_key(call.rec.account, call.rec.region, call.rec.api_id, call.stage_name,
                                                 value)
        validate.check(call)
        return await integrations.dispatch(self.bus, call)
