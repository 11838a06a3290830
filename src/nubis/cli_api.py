"""`nubis api ls`: API Gateway APIs with their URLs, stages and routes. Plain functions over boto3 clients
(tests call them directly); `cmd_api` is the command."""
from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import urlsplit

from nubis import cli_output as out
from nubis.cli_client import aws_client
from nubis.cli_errors import error_code


def _function_name(uri: str) -> str:
    """`...:function:hello/invocations` or a function ARN -> `hello` (alias kept: `hello:live`)."""
    if ":function:" not in uri:
        return uri
    tail = uri.split(":function:", 1)[1]
    return tail.split("/", 1)[0]


def api_urls(endpoint: str, api_id: str, stage: str, websocket: bool = False) -> list[str]:
    """The host form and the DNS-free path form of one stage of an API."""
    port = urlsplit(endpoint).port or 80
    scheme = "ws" if websocket else "http"
    base = endpoint.replace("http", scheme, 1)
    suffix = "" if stage == "$default" else stage
    return [f"{scheme}://{api_id}.execute-api.localhost:{port}/{suffix}",
            f"{base}/_aws/execute-api/{api_id}/{suffix}"]


def pages(client: Any, method: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a NextToken-paginated apigatewayv2 list (botocore has no paginator for all)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = getattr(client, method)(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return items


def v2_apis(client: Any, endpoint: str) -> list[dict[str, Any]]:
    """HTTP and WebSocket APIs (apigatewayv2), each with stages, URLs and `ROUTE -> target` lines."""
    result = []
    for api in pages(client, "get_apis", "Items"):
        api_id = api["ApiId"]
        integrations = {i["IntegrationId"]: i for i in pages(client, "get_integrations", "Items", ApiId=api_id)}
        routes = []
        for route in sorted(pages(client, "get_routes", "Items", ApiId=api_id), key=lambda r: r["RouteKey"]):
            target = route.get("Target", "")
            integration = integrations.get(target.partition("/")[2]) if target else None
            if integration is None:
                dest = "-"
            elif integration.get("IntegrationType") == "AWS_PROXY":
                dest = "function:" + _function_name(integration.get("IntegrationUri", ""))
            else:
                dest = f"{integration.get('IntegrationType')} {integration.get('IntegrationUri', '')}".strip()
            routes.append({"RouteKey": route["RouteKey"], "Target": dest})
        websocket = api.get("ProtocolType") == "WEBSOCKET"
        stages = [s["StageName"] for s in pages(client, "get_stages", "Items", ApiId=api_id)]
        result.append({"ApiId": api_id, "Name": api.get("Name"), "Protocol": api.get("ProtocolType"),
                       "Stages": stages, "Routes": routes,
                       "Urls": {s: api_urls(endpoint, api_id, s, websocket) for s in stages}})
    return result


def rest_apis(client: Any, endpoint: str) -> list[dict[str, Any]]:
    """REST APIs (apigateway v1): stages and `METHOD /path` routes; [] where the server has none."""
    try:
        apis = [a for page in client.get_paginator("get_rest_apis").paginate() for a in page.get("items", [])]
    except Exception as e:
        if error_code(e) in ("NotImplementedException", "UnknownServiceException"):
            return []
        raise
    result = []
    for api in apis:
        api_id = api["id"]
        routes = []
        for page in client.get_paginator("get_resources").paginate(restApiId=api_id):
            for resource in page.get("items", []):
                for method in sorted(resource.get("resourceMethods") or {}):
                    routes.append({"RouteKey": f"{method} {resource['path']}",
                                   "Target": _rest_target(client, api_id, resource["id"], method)})
        stages = [s["stageName"] for s in client.get_stages(restApiId=api_id).get("item", [])]
        result.append({"ApiId": api_id, "Name": api.get("name"), "Protocol": "REST", "Stages": stages,
                       "Routes": sorted(routes, key=lambda r: r["RouteKey"].split(" ", 1)[::-1]),
                       "Urls": {s: api_urls(endpoint, api_id, s) for s in stages}})
    return result


def _rest_target(client: Any, api_id: str, resource_id: str, method: str) -> str:
    """`function:<name>` for Lambda integrations, else the integration type (and URI)."""
    try:
        integration = client.get_integration(restApiId=api_id, resourceId=resource_id, httpMethod=method)
    except Exception as e:
        if error_code(e) == "NotFoundException":  # a method without an integration yet
            return "-"
        raise
    uri = integration.get("uri", "")
    if integration.get("type") in ("AWS_PROXY", "AWS") and ":function:" in uri:
        return "function:" + _function_name(uri)
    return f"{integration.get('type')} {uri}".strip()


def render_apis(apis: list[dict[str, Any]]) -> str:
    """One block per API: a heading line, each stage's URLs, then the routes as a small table."""
    blocks = []
    for api in apis:
        lines = [f"{api['ApiId']}  {api['Name']}  ({api['Protocol']})"]
        if not api["Stages"]:
            lines.append("  no stage yet: create one (or a deployment) to serve it")
        for stage in api["Stages"]:
            host, path = api["Urls"][stage]
            lines.append(f"  stage {stage}: {host}")
            lines.append(f"  {' ' * len('stage ' + stage)}  {path}  (no DNS needed)")
        if api["Routes"]:
            rows = [(r["RouteKey"], "->", r["Target"]) for r in api["Routes"]]
            lines.append("\n".join("  " + line for line in out.table(["ROUTE", "", "TARGET"], rows).splitlines()))
        else:
            lines.append("  no routes")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def cmd_api(args: argparse.Namespace) -> int:
    apis = (v2_apis(aws_client(args, "apigatewayv2"), args.endpoint)
            + rest_apis(aws_client(args, "apigateway"), args.endpoint))
    if args.json:
        out.dump_json({"Apis": apis})
    elif not apis:
        print("no APIs yet — create one with `aws apigatewayv2 create-api --name NAME --protocol-type HTTP "
              "--target FUNCTION_ARN` (see docs/apigateway.md)", file=sys.stderr)
    else:
        print(render_apis(apis))
    return 0
