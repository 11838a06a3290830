"""HTTP_PROXY integrations: pass the request to an HTTP backend and its response back unchanged.

The integration URI may use path variables of the route (`{id}`, `{proxy}`) and stage variables.
For the `$default` route API Gateway appends the request path to the URI; query strings are always
passed on.
"""
from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import quote, urlsplit, urlunsplit

from ...events.http_events import trace_id
from ...server.messages import HttpResponse
from . import http_client
from .lambda_proxy import Call, GatewayError
from .matching import parse_route_key

log = logging.getLogger("nubis.apigateway")

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length", "expect"})


def target_url(call: Call, uri: str) -> str:
    for name, value in call.match.path_parameters.items():
        uri = uri.replace("{" + name + "}", quote(value, safe="/"))
        uri = uri.replace("{" + name + "+}", quote(value, safe="/"))
    parts = urlsplit(uri)
    path = parts.path
    if parse_route_key(call.match.route["RouteKey"]).is_default:
        path = path.rstrip("/") + call.stage_path
    query = "&".join(q for q in (parts.query, call.req.query) if q)
    return urlunsplit((parts.scheme, parts.netloc, path or "/", query, ""))


async def forward(call: Call, integration: dict, uri: str) -> HttpResponse:
    method = integration.get("IntegrationMethod") or "ANY"
    if method == "ANY":
        method = call.req.method
    now = time.time()
    headers = [(k, v) for k, v in call.req.headers.items() if k not in HOP_BY_HOP and not k.startswith("x-forwarded-")]
    forwarded_for = call.req.headers.get("x-forwarded-for")
    source = call.req.remote or "127.0.0.1"
    headers.append(("x-forwarded-for", f"{forwarded_for}, {source}" if forwarded_for else source))
    headers.append(("x-forwarded-proto", call.req.headers.get("x-forwarded-proto", "http")))
    headers.append(("x-forwarded-port", call.host.rsplit(":", 1)[-1] if ":" in call.host else "80"))
    if "x-amzn-trace-id" not in call.req.headers:
        headers.append(("x-amzn-trace-id", trace_id(now)))
    url = target_url(call, uri)
    timeout = integration.get("TimeoutInMillis", 30000) / 1000
    try:
        upstream = await asyncio.wait_for(http_client.request(method, url, headers, call.req.body), timeout)
    except asyncio.TimeoutError:
        raise GatewayError(503, "Service Unavailable") from None
    except http_client.UpstreamError as err:
        log.warning("API %s: HTTP_PROXY %s %s failed: %s", call.rec.api_id, method, url, err)
        raise GatewayError(500, "Internal Server Error") from None
    out = [(k, v) for k, v in upstream.headers if k.lower() not in HOP_BY_HOP]
    return HttpResponse(upstream.status, out, upstream.body)
