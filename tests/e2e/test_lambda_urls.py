"""Function URLs: configuration API, payload-2.0 events, response mapping, auth and CORS, via real HTTP."""
import json
import subprocess
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function

ECHO = """
import base64, json
def handler(event, context):
    if event["rawPath"] == "/raw":
        return "hello"
    if event["rawPath"] == "/list":
        return ["hello", 3, True]
    if event["rawPath"] == "/binary":
        return {"statusCode": 201, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(b"\\x89PNG").decode(), "cookies": ["a=1", "b=2"]}
    if event["rawPath"] == "/boom":
        raise RuntimeError("boom")
    return {"statusCode": 200, "body": json.dumps(event)}
"""


def path_url(server, function_url: str, path: str = "/") -> str:
    url_id = function_url.split("//", 1)[1].split(".", 1)[0]
    return f"{server.endpoint}/_nubis/lambda/url/{url_id}{path}"


def http(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def public_url(server, lam):
    name = create_function(lam, ECHO)
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE",
                                         Cors={"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET", "POST"],
                                               "AllowHeaders": ["x-custom"], "MaxAge": 60})
    lam.add_permission(FunctionName=name, StatementId="public", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    return name, cfg["FunctionUrl"]


def test_url_config_api(lam, public_url):
    name, url = public_url
    assert url.startswith("http://") and ".lambda-url.us-east-1.localhost:" in url
    cfg = lam.get_function_url_config(FunctionName=name)
    assert cfg["AuthType"] == "NONE" and cfg["InvokeMode"] == "BUFFERED" and "LastModifiedTime" in cfg
    assert [c["FunctionUrl"] for c in lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]] == [url]
    with pytest.raises(ClientError) as exc:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    with pytest.raises(ClientError) as exc:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE", Qualifier="1")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        lam.create_function_url_config(FunctionName="no-such-fn", AuthType="NONE")
    assert exc.value.response["Error"]["Message"] == "Function does not exist"


def test_event_shape_and_default_mapping(server, public_url):
    _, url = public_url
    status, headers, body = http(path_url(server, url, "/items/7?a=1&a=2&b=x"), data=b'{"k": "v"}',
                                 headers={"Content-Type": "application/json", "Cookie": "c1=v1; c2=v2"})
    assert status == 200
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/items/7" and event["rawQueryString"] == "a=1&a=2&b=x"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["body"] == '{"k": "v"}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["stage"] == "$default"
    assert event["headers"]["content-type"] == "application/json"
    assert headers["Content-Type"] == "application/json"


def test_response_mapping(server, public_url):
    _, url = public_url
    assert http(path_url(server, url, "/raw"))[2] == b"hello"  # a bare string: no quotes
    assert http(path_url(server, url, "/list"))[2] == b'["hello",3,true]'
    status, headers, body = http(path_url(server, url, "/binary"))
    assert (status, body, headers["Content-Type"]) == (201, b"\x89PNG", "image/png")
    status, _, body = http(path_url(server, url, "/boom"))
    assert status == 502


def test_binary_request_body_is_base64(server, public_url):
    _, url = public_url
    status, _, body = http(path_url(server, url, "/"), data=b"\x00\x01", headers={"Content-Type": "application/octet-stream"})
    event = json.loads(body)
    assert event["isBase64Encoded"] is True and event["body"] == "AAE="


def test_host_form_with_curl(public_url):
    _, url = public_url
    out = subprocess.run(["curl", "-s", "-i", url + "raw"], capture_output=True, text=True, timeout=30)
    assert out.stdout.startswith("HTTP/1.1 200") and out.stdout.rstrip().endswith("hello"), out.stdout + out.stderr


def test_cors(server, public_url):
    _, url = public_url
    status, headers, _ = http(path_url(server, url, "/"), method="OPTIONS",
                              headers={"Origin": "https://example.com", "Access-Control-Request-Method": "POST"})
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST" and headers["Access-Control-Max-Age"] == "60"
    _, headers, _ = http(path_url(server, url, "/raw"), headers={"Origin": "https://example.com"})
    assert headers["Access-Control-Allow-Origin"] == "https://example.com"
    _, headers, _ = http(path_url(server, url, "/raw"), headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers


def test_auth(server, lam):
    name = create_function(lam, ECHO)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    assert http(path_url(server, url, "/raw"))[0] == 403  # no lambda:InvokeFunctionUrl statement yet
    iam = create_function(lam, ECHO)
    iam_url = lam.create_function_url_config(FunctionName=iam, AuthType="AWS_IAM")["FunctionUrl"]
    assert http(path_url(server, iam_url, "/raw"))[0] == 403
    signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/lambda/aws4_request, "
                               "SignedHeaders=host, Signature=abc"}
    status, _, body = http(path_url(server, iam_url, "/"), headers=signed)
    assert status == 200
    assert json.loads(body)["requestContext"]["authorizer"]["iam"]["accountId"] == "123456789012"
    lam.delete_function_url_config(FunctionName=iam)
    assert http(path_url(server, iam_url, "/raw"), headers=signed)[0] == 404
