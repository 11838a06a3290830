"""Which AWS service a request is for: SigV4 scope, then X-Amz-Target, then the path."""
from __future__ import annotations

import dataclasses

from .context import SigV4Scope
from .messages import HttpRequest

# SigV4 signing name -> botocore service model name, where they differ.
SIGNING_TO_MODEL = {
    "states": "stepfunctions",
    "execute-api": "apigateway",
    "events": "events",
}

# X-Amz-Target prefix -> botocore model name (JSON-protocol services).
TARGET_PREFIXES = {
    "Logs_20140328": "logs",
    "AWSStepFunctions": "stepfunctions",
    "AmazonSQS": "sqs",
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodbstreams",
    "Kinesis_20131202": "kinesis",
    "AWSEvents": "events",
}

# Unsigned requests (curl, plain HTTP clients): Lambda's API is recognisable by its path.
LAMBDA_PATH_PREFIXES = ("/2015-03-31/", "/2014-11-13/", "/2016-08-19/", "/2017-03-31/", "/2017-10-31/",
                        "/2018-10-31/", "/2019-09-25/", "/2019-09-30/", "/2020-04-22/", "/2020-06-30/",
                        "/2021-07-20/", "/2021-10-31/", "/2021-11-15/", "/2024-08-31/", "/2025-11-30/",
                        "/2025-12-01/")


def service_for(req: HttpRequest, scope: SigV4Scope | None) -> str | None:
    target = req.headers.get("x-amz-target")
    if target:
        prefix = target.split(".", 1)[0]
        if prefix in TARGET_PREFIXES:
            return TARGET_PREFIXES[prefix]
    if scope is not None:
        if scope.service == "apigateway":  # API Gateway v1 and v2 share a signing name; v2 paths start /v2/
            return "apigatewayv2" if req.path.startswith("/v2/") else "apigateway"
        return SIGNING_TO_MODEL.get(scope.service, scope.service)
    if req.path.startswith(LAMBDA_PATH_PREFIXES):
        return "lambda"
    if ".s3." in req.headers.get("host", ""):
        return "s3"  # anonymous requests to a virtual-hosted bucket
    return None


def s3_path_style(req: HttpRequest) -> HttpRequest | None:
    """A virtual-hosted S3 request (`<bucket>.s3[.<region>].localhost[:port]`, or the same under
    amazonaws.com) as the path-style request it stands for (`/<bucket>/<key>`); None for any other host."""
    host = req.headers.get("host", "")
    if ".s3." not in host:
        return None
    name = host.rsplit(":", 1)[0].lower() if not host.endswith("]") else host
    bucket, _, rest = name.rpartition(".s3.")
    if not bucket or not (rest == "localhost" or rest.endswith(".localhost") or rest.endswith("amazonaws.com")):
        return None
    path = "/" + bucket + (req.path if req.path != "/" else "")
    return dataclasses.replace(req, path=path)


EXECUTE_API_PATH_PREFIXES = ("/_aws/execute-api/", "/_nubis/execute-api/")
EXECUTE_API_HOST_MARK = ".execute-api."


def execute_api_host_style(req: HttpRequest) -> HttpRequest | None:
    """The DNS-free form of an API Gateway URL (`/_aws/execute-api/<api-id>/<path>`, or the older
    `/_nubis/execute-api/...`) as the request it stands for: Host `<api-id>.execute-api.localhost`, path
    `/<path>`. None for any other path. Every API Gateway flavour (HTTP, REST, WebSocket) then routes by
    Host alone."""
    for prefix in EXECUTE_API_PATH_PREFIXES:
        if req.path.startswith(prefix):
            api_id, _, rest = req.path[len(prefix):].partition("/")
            port = req.headers.get("host", "").rpartition(":")[2]
            host = f"{api_id}{EXECUTE_API_HOST_MARK}localhost" + (f":{port}" if port.isdigit() else "")
            return dataclasses.replace(req, path="/" + rest, headers={**req.headers, "host": host})
    return None


def execute_api_id(req: HttpRequest) -> str | None:
    """The API id a request to `<api-id>.execute-api.<anything>` is for; None for other hosts."""
    name = req.headers.get("host", "").split(":", 1)[0].lower()
    if EXECUTE_API_HOST_MARK not in name:
        return None
    return name.split(EXECUTE_API_HOST_MARK, 1)[0]
