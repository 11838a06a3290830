"""Helpers shared by the API Gateway end-to-end tests (REST, HTTP, WebSocket; boto3 and the AWS CLI): the
echo functions, plain HTTP and curl against the served APIs, Lambda permissions and integration URIs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nubis_testing import create_function, unique

ACCOUNT = "000000000000"
REGION = "us-east-1"
AWS = Path(sys.executable).parent / "aws"

# HTTP API echo (payload 1.0 and 2.0): the path's last segment picks a response shape.
ECHO = """
import base64, json, time
def handler(event, context):
    path = event.get("rawPath") or event.get("path") or ""
    if path.endswith("/raw"):
        return "hello"
    if path.endswith("/dict"):
        return {"message": "hi"}
    if path.endswith("/boom"):
        raise RuntimeError("boom")
    if path.endswith("/malformed"):
        return {"statusCode": 200, "body": {"not": "a string"}}
    if path.endswith("/nostatus"):
        return {"body": "no status"}
    if path.endswith("/badstatus"):
        return {"statusCode": "abc", "body": "x"}
    if path.endswith("/sleep"):
        time.sleep(3)
    if path.endswith("/cookies"):
        return {"statusCode": 201, "cookies": ["a=1", "b=2"], "headers": {"x-custom": "yes"}, "body": "c"}
    if path.endswith("/multi"):
        return {"statusCode": 200, "multiValueHeaders": {"x-multi": ["a", "b"]}, "headers": {"x-one": "1"},
                "body": "m"}
    if path.endswith("/binary"):
        return {"statusCode": 200, "headers": {"content-type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(b"\\x89PNG").decode()}
    if path.endswith("/cors"):
        return {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "https://evil.example"}, "body": "c"}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
"""

# REST API (Lambda proxy) echo.
PY_ECHO = """
import base64, json, time
def handler(event, context):
    path = event.get("path") or ""
    if path.endswith("/malformed"):
        return {"statusCode": 200, "body": {"not": "a string"}}
    if path.endswith("/boom"):
        raise RuntimeError("boom")
    if path.endswith("/sleep"):
        time.sleep(3)
    if path.endswith("/binary"):
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(b"\\x89PNG\\x00\\xff").decode()}
    if path.endswith("/multi"):
        return {"statusCode": 201, "headers": {"X-One": "1"},
                "multiValueHeaders": {"Set-Cookie": ["a=1; Path=/", "b=2"], "X-Multi": ["x", "y"]}, "body": "m"}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
"""


def http(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None):
    """(status, headers, body) of one request; an HTTP error status is an answer, not an exception."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def url(server, api_id: str, path: str = "/") -> str:
    """The DNS-free form of an API's URL: /_aws/execute-api/<api-id>/..."""
    return f"{server.endpoint}/_aws/execute-api/{api_id}{path}"


def curl(server, api_id: str, path: str, *extra: str) -> tuple[int, str, str]:
    """The host form (<api-id>.execute-api.localhost:<port>), pinned to loopback: (status, headers, body)."""
    port = server.endpoint.rsplit(":", 1)[1]
    host = f"{api_id}.execute-api.localhost"
    out = subprocess.run(["curl", "-s", "-i", "--resolve", f"{host}:{port}:127.0.0.1", *extra,
                          f"http://{host}:{port}{path}"], capture_output=True, text=True, timeout=60)
    head, _, body = out.stdout.replace("\r\n", "\n").partition("\n\n")
    status = int(head.split("\n", 1)[0].split()[1])
    return status, head, body


def invocation_uri(arn: str) -> str:
    """The API Gateway integration URI that invokes Lambda function `arn`."""
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"


def allow_apigw(lam, name: str, source: str = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*") -> None:
    """Let API Gateway (calls from `source`) invoke function `name`."""
    lam.add_permission(FunctionName=name, StatementId=unique("apigw"), Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=source)


def apigw_function(lam, code: str | dict[str, str], **kwargs) -> str:
    """A new function API Gateway may invoke; returns its ARN. kwargs go to create_function."""
    name = create_function(lam, code, **kwargs)
    allow_apigw(lam, name)
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def run_aws(server, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The AWS CLI (v1, from the venv) against `server`, with no user configuration in the way."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=str(cwd / "none"), AWS_SHARED_CREDENTIALS_FILE=str(cwd / "none"),
               AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true")
    return subprocess.run([sys.executable, str(AWS), "--endpoint-url", server.endpoint, "--output", "json", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def aws(server, tmp_path):
    """aws(*args) -> parsed JSON output (asserting success); aws.fails(*args) -> the CompletedProcess."""
    def call(*args: str) -> dict:
        proc = run_aws(server, tmp_path, *args)
        assert proc.returncode == 0, f"aws {' '.join(args)}: {proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    call.fails = lambda *args: run_aws(server, tmp_path, *args)  # type: ignore[attr-defined]
    return call
