"""Function URLs: the configuration API and the HTTP endpoint that turns requests into payload-2.0 events.

A URL is reachable as http://<url-id>.lambda-url.<region>.localhost:<port>/ (curl and browsers resolve
*.localhost to loopback) and, with no DNS at all, as http://<host>:<port>/_nubis/lambda/url/<url-id>/.
"""
from __future__ import annotations

import secrets
import string
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import orjson

from ...engine import Invocation, Throttled
from ...events.http_events import MalformedResponse, v2_event, v2_response
from ...server.context import RequestContext, account_for, parse_scope
from ...server.errors import AwsError
from ...server.messages import HttpRequest, HttpResponse
from .aliases import pick_version
from .functions import FunctionRecord
from .names import function_arn
from .policy import statements
from .versions import paginate

if TYPE_CHECKING:
    from .provider import LambdaProvider

PATH_PREFIX = "/_nubis/lambda/url/"
HOST_MARK = ".lambda-url."
_ALPHABET = string.ascii_lowercase + string.digits


def new_url_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _plain(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], orjson.dumps({"Message": message}))


class FunctionUrlOps:
    """Create/Get/Update/Delete/ListFunctionUrlConfig(s) and serving the URLs, mixed into the provider."""

    url_index: dict[str, tuple[str, str, str, str]]  # url-id -> (account, region, function, qualifier)

    def _index_urls(self: LambdaProvider) -> None:
        self.url_index = {}
        for rec in self.functions.all():
            for qualifier, cfg in (rec.extras.get("urls") or {}).items():
                self.url_index[cfg["UrlId"]] = (rec.account, rec.region, rec.name, qualifier)

    def _url_target(self: LambdaProvider, ctx: RequestContext, p: dict, creating: bool = False
                    ) -> tuple[FunctionRecord, str]:
        try:
            rec, ref = self.resolve(ctx, p["FunctionName"], p.get("Qualifier"))
        except AwsError as err:
            if creating and err.code == "ResourceNotFoundException":
                raise AwsError("ResourceNotFoundException", "Function does not exist", 404, Type="User") from None
            raise
        q = ref.qualifier
        if q is not None and (q == "$LATEST" or q.isdigit()):
            raise AwsError("ValidationException",
                           f"1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: "
                           "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)")
        if q is not None and q not in rec.aliases:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404, Type="User")
        return rec, q or "$LATEST"

    def _public_url(self, ctx: RequestContext, url_id: str, region: str) -> str:
        host_port = ctx.endpoint.split("://", 1)[-1]
        port = host_port.rsplit(":", 1)[-1] if ":" in host_port else "80"
        return f"http://{url_id}{HOST_MARK}{region}.localhost:{port}/"

    @staticmethod
    def _view(cfg: dict, with_modified: bool = True) -> dict:
        out = {k: v for k, v in cfg.items() if k != "UrlId"}
        if not with_modified:
            out.pop("LastModifiedTime", None)
        return out

    async def create_function_url_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q = self._url_target(ctx, p, creating=True)
        urls = rec.extras.setdefault("urls", {})
        arn = function_arn(rec.region, rec.account, rec.name, None if q == "$LATEST" else q)
        if q in urls:
            raise AwsError("ResourceConflictException",
                           f"Failed to create function url config for [functionArn = {arn}]. Error message:  "
                           "FunctionUrlConfig exists for this Lambda function", 409, Type="User")
        url_id = new_url_id()
        now = _iso(time.time())
        cfg = {"UrlId": url_id, "FunctionUrl": self._public_url(ctx, url_id, rec.region), "FunctionArn": arn,
               "AuthType": p["AuthType"], "CreationTime": now, "LastModifiedTime": now,
               "InvokeMode": p.get("InvokeMode") or "BUFFERED"}
        if p.get("Cors"):
            cfg["Cors"] = p["Cors"]
        urls[q] = cfg
        self.functions.save(rec)
        self.url_index[url_id] = (rec.account, rec.region, rec.name, q)
        return self._view(cfg, with_modified=False)

    def _existing_url(self: LambdaProvider, ctx: RequestContext, p: dict) -> tuple[FunctionRecord, str, dict]:
        rec, q = self._url_target(ctx, p)
        cfg = (rec.extras.get("urls") or {}).get(q)
        if cfg is None:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404, Type="User")
        return rec, q, cfg

    async def get_function_url_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        return self._view(self._existing_url(ctx, p)[2])

    async def update_function_url_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q, cfg = self._existing_url(ctx, p)
        for key in ("AuthType", "Cors", "InvokeMode"):
            if p.get(key) is not None:
                cfg[key] = p[key]
        cfg["LastModifiedTime"] = _iso(time.time())
        self.functions.save(rec)
        return self._view(cfg)

    async def delete_function_url_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q, cfg = self._existing_url(ctx, p)
        del rec.extras["urls"][q]
        self.functions.save(rec)
        self.url_index.pop(cfg["UrlId"], None)
        return {}

    async def list_function_url_configs(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, _ = self.resolve(ctx, p["FunctionName"])
        items = [self._view(c) for _, c in sorted((rec.extras.get("urls") or {}).items())]
        return paginate(items, p, "FunctionUrlConfigs", key="FunctionUrl")

    # -- serving
    def host_route(self: LambdaProvider, req: HttpRequest) -> HttpResponse | None:
        """Requests to <url-id>.lambda-url.<region>.localhost are function URL calls."""
        name = req.headers.get("host", "").split(":", 1)[0].lower()
        if HOST_MARK not in name:
            return None
        return self.serve_url(req, name.split(HOST_MARK, 1)[0], req.path)

    async def _serve_url_path(self: LambdaProvider, req: HttpRequest) -> HttpResponse:
        """The DNS-free form: /_nubis/lambda/url/<url-id>/<path>."""
        url_id, _, rest = req.path[len(PATH_PREFIX):].partition("/")
        return await self.serve_url(req, url_id, "/" + rest)

    async def serve_url(self: LambdaProvider, req: HttpRequest, url_id: str, path: str) -> HttpResponse:
        target = self.url_index.get(url_id)
        rec = self.functions.get(*target[:3]) if target else None
        cfg = (rec.extras.get("urls") or {}).get(target[3]) if rec and target else None
        if rec is None or cfg is None:
            return _plain(404, "Not Found")
        qualifier = target[3]
        cors = cfg.get("Cors") or {}
        origin = req.headers.get("origin")
        if req.method == "OPTIONS" and origin and "access-control-request-method" in req.headers and cors:
            return self._preflight(cors, origin)
        scope = parse_scope(req.headers.get("authorization"), req.query)
        if cfg["AuthType"] == "AWS_IAM" and scope is None:
            return _plain(403, "Forbidden")
        if cfg["AuthType"] == "AWS_IAM" and self.verifier is not None:
            try:
                self.verifier.check(req, scope, "rest-json")
            except AwsError as err:  # a known key with a wrong signature, or strict mode
                resp = _plain(403, err.message)
                resp.headers.append(("x-amzn-ErrorType", err.code))
                return resp
        if cfg["AuthType"] == "NONE" and not _public_invoke_allowed(rec, qualifier):
            return _plain(403, "Forbidden")
        alias = rec.aliases.get(qualifier)
        rev = rec.latest if qualifier == "$LATEST" else (rec.revision(pick_version(alias)) if alias else None)
        if rec.state != "Active" or rev is None:
            return _plain(503, "Service Unavailable")
        host = req.headers.get("host", "")
        event = url_event(req, path, url_id, host, rec, scope)
        inv = Invocation(request_id=event["requestContext"]["requestId"], payload=orjson.dumps(event),
                         invoked_arn=cfg["FunctionArn"])
        try:
            result = await self.engine.invoke(self.invoker.spec(rec, rev, self.endpoint), inv)
        except Throttled:
            return _plain(429, "Rate Exceeded.")
        if result.function_error:
            return _plain(502, "Internal Server Error")
        resp = url_response(result.payload)
        if origin and cors and _origin_allowed(cors, origin):
            resp.headers.append(("Access-Control-Allow-Origin", origin if cors.get("AllowCredentials") else
                                 ("*" if "*" in cors.get("AllowOrigins", []) else origin)))
            if cors.get("ExposeHeaders"):
                resp.headers.append(("Access-Control-Expose-Headers", ",".join(cors["ExposeHeaders"])))
            if cors.get("AllowCredentials"):
                resp.headers.append(("Access-Control-Allow-Credentials", "true"))
        resp.headers.append(("x-amzn-RequestId", inv.request_id))
        return resp

    @staticmethod
    def _preflight(cors: dict, origin: str) -> HttpResponse:
        if not _origin_allowed(cors, origin):
            return HttpResponse(200, [], b"")
        headers = [("Access-Control-Allow-Origin", origin if cors.get("AllowCredentials") or
                    "*" not in cors.get("AllowOrigins", []) else "*")]
        if cors.get("AllowMethods"):
            headers.append(("Access-Control-Allow-Methods", ",".join(cors["AllowMethods"])))
        if cors.get("AllowHeaders"):
            headers.append(("Access-Control-Allow-Headers", ",".join(cors["AllowHeaders"])))
        if cors.get("MaxAge") is not None:
            headers.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
        if cors.get("AllowCredentials"):
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return HttpResponse(200, headers, b"")


def _origin_allowed(cors: dict, origin: str) -> bool:
    allowed = cors.get("AllowOrigins") or []
    return "*" in allowed or origin in allowed


def _public_invoke_allowed(rec: FunctionRecord, qualifier: str) -> bool:
    """AuthType NONE still needs a statement granting lambda:InvokeFunctionUrl to everyone (AWS's rule)."""
    for stmt in statements(rec, None if qualifier == "$LATEST" else qualifier):
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        if stmt.get("Principal") == "*" and any(a in ("lambda:InvokeFunctionUrl", "lambda:*") for a in actions):
            return True
    return False


def url_event(req: HttpRequest, path: str, url_id: str, host: str, rec: FunctionRecord, scope) -> dict:
    """The payload-2.0 event a function URL sends."""
    authorizer = None
    if scope is not None:
        account = account_for(scope.access_key)
        authorizer = {"iam": {"accessKey": scope.access_key, "accountId": account, "callerId": scope.access_key,
                              "cognitoIdentity": None, "principalOrgId": None,
                              "userArn": f"arn:aws:iam::{account}:user/nubis", "userId": scope.access_key}}
    event = v2_event(req, raw_path=path, route_key="$default", stage="$default", api_id=url_id, host=host,
                     account_id="anonymous" if scope is None else account_for(scope.access_key),
                     request_id=str(uuid.uuid4()))
    if "authorization" in req.headers:
        event["headers"]["authorization"] = req.headers["authorization"]
    event["requestContext"].update(authentication=None, authorizer=authorizer)
    return event


def url_response(payload: bytes) -> HttpResponse:
    """Map the function's result to HTTP as function URLs do (an object with statusCode, or any JSON value)."""
    try:
        return v2_response(payload)
    except MalformedResponse:
        return _plain(502, "Internal Server Error")
