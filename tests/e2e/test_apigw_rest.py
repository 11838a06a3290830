"""API Gateway REST APIs end to end: boto3 `apigateway` against a real server, real HTTP (urllib, curl)
to the stages it serves, real Python and Node.js functions behind them."""
from __future__ import annotations

import base64
import json
import time

import pytest
from botocore.exceptions import ClientError

from apigw_testing import (ACCOUNT, PY_ECHO, REGION, allow_apigw, apigw_function, curl, http, invocation_uri,
                           url)
from nubis_testing import create_function, unique

NODE_ECHO = """
exports.handler = async (event, context) => ({
  statusCode: 200,
  headers: {"Content-Type": "application/json", "X-Runtime": "node"},
  body: JSON.stringify({runtime: process.version, event}),
});
"""

AUTHORIZER = """
def handler(event, context):
    token = event.get("authorizationToken") or (event.get("headers") or {}).get("x-token") or ""
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "broken":
        return {"nothing": "useful"}
    effect = "Allow" if token.startswith("allow") else "Deny"
    resource = event["methodArn"] if token != "allow-other" else event["methodArn"].rsplit("/", 1)[0] + "/other"
    return {"principalId": "user-" + token, "usageIdentifierKey": "k" * 20 + "-" + token,
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]},
            "context": {"user": "alice", "n": 1, "admin": True, "event_type": event["type"]}}
"""

CUSTOM = """
def handler(event, context):
    if event.get("name") == "missing":
        raise Exception("NotFound: no such item")
    return {"greeting": "hello " + str(event.get("name")), "received": event}
"""


def code_of(err: pytest.ExceptionInfo) -> tuple[int, str, str]:
    r = err.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


@pytest.fixture(scope="module")
def apigw(server):
    return server.client("apigateway")


@pytest.fixture(scope="module")
def py_echo(lam):
    return apigw_function(lam, PY_ECHO, Timeout=10)


@pytest.fixture(scope="module")
def node_echo(lam):
    return apigw_function(lam, {"index.js": NODE_ECHO}, Runtime="nodejs20.x", handler="index.handler", Timeout=10)


@pytest.fixture(scope="module")
def authorizer_fn(lam):
    return apigw_function(lam, AUTHORIZER, Timeout=10)


def root_of(apigw, api_id: str) -> str:
    return next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")


def proxy_method(apigw, api_id: str, resource_id: str, arn: str, method: str = "ANY", **extra) -> None:
    apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=method,
                     authorizationType=extra.pop("authorizationType", "NONE"), **extra)
    apigw.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod=method, type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=invocation_uri(arn))


@pytest.fixture(scope="module")
def shop(apigw, py_echo, node_echo):
    """/items/{id} (GET, Python), /node (GET, Node.js), /{proxy+} (ANY, Python), deployed to `dev`."""
    api = apigw.create_rest_api(name="shop", binaryMediaTypes=["image/png", "application/octet-stream"])
    api_id = api["id"]
    root = root_of(apigw, api_id)
    items = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="items")
    item = apigw.create_resource(restApiId=api_id, parentId=items["id"], pathPart="{id}")
    proxy_method(apigw, api_id, item["id"], py_echo, "GET")
    node = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="node")
    proxy_method(apigw, api_id, node["id"], node_echo, "GET")
    proxy = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")
    proxy_method(apigw, api_id, proxy["id"], py_echo, "ANY")
    apigw.create_deployment(restApiId=api_id, stageName="dev", variables={"env": "dev", "table": "items-dev"})
    return {"id": api_id, "item": item["id"], "proxy": proxy["id"], "root": root}


# -- control plane ---------------------------------------------------------------------------------------

def test_rest_api_shapes_and_updates(apigw):
    api = apigw.create_rest_api(name="shapes", description="d", tags={"team": "a"})
    api_id = api["id"]
    assert len(api_id) == 10 and api_id.isalnum() and api_id.islower()
    assert api["apiKeySource"] == "HEADER" and api["endpointConfiguration"]["types"] == ["EDGE"]
    assert api["disableExecuteApiEndpoint"] is False and api["tags"] == {"team": "a"}
    resources = apigw.get_resources(restApiId=api_id)["items"]
    assert resources == [{"id": api["rootResourceId"], "path": "/"}]
    assert api_id in [a["id"] for a in apigw.get_rest_apis(limit=500)["items"]]
    updated = apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "replace", "path": "/description", "value": "new"},
        {"op": "add", "path": "/binaryMediaTypes/image~1png"},
        {"op": "add", "path": "/binaryMediaTypes/application~1pdf"}])
    assert updated["name"] == "renamed" and updated["description"] == "new"
    assert updated["binaryMediaTypes"] == ["image/png", "application/pdf"]
    updated = apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "remove", "path": "/binaryMediaTypes/image~1png"}])
    assert updated["binaryMediaTypes"] == ["application/pdf"]
    assert {m["name"] for m in apigw.get_models(restApiId=api_id)["items"]} == {"Empty", "Error"}
    arn = f"arn:aws:apigateway:{REGION}::/restapis/{api_id}"
    apigw.tag_resource(resourceArn=arn, tags={"env": "x"})
    assert apigw.get_tags(resourceArn=arn)["tags"] == {"team": "a", "env": "x"}
    apigw.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert apigw.get_tags(resourceArn=arn)["tags"] == {"env": "x"}
    apigw.delete_rest_api(restApiId=api_id)
    with pytest.raises(ClientError) as err:
        apigw.get_rest_api(restApiId=api_id)
    assert code_of(err) == (404, "NotFoundException", f"Invalid API identifier specified {ACCOUNT}:{api_id}")


def test_resources_methods_integrations(apigw, py_echo):
    api_id = apigw.create_rest_api(name="crud")["id"]
    root = root_of(apigw, api_id)
    pets = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")
    assert pets["path"] == "/pets" and pets["parentId"] == root and pets["pathPart"] == "pets"
    pet = apigw.create_resource(restApiId=api_id, parentId=pets["id"], pathPart="{petId}")
    assert pet["path"] == "/pets/{petId}"
    with pytest.raises(ClientError) as err:
        apigw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")
    assert code_of(err) == (409, "ConflictException", "Another resource with the same parent already has this name: "
                                                      "pets")
    with pytest.raises(ClientError) as err:
        apigw.create_resource(restApiId=api_id, parentId=root, pathPart="bad path")
    assert code_of(err)[:2] == (400, "BadRequestException")
    with pytest.raises(ClientError) as err:
        apigw.create_resource(restApiId=api_id, parentId="nope00", pathPart="x")
    assert code_of(err) == (404, "NotFoundException",
                            f"Invalid Resource identifier specified {ACCOUNT}:{api_id}:nope00")

    method = apigw.put_method(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", authorizationType="NONE",
                              requestParameters={"method.request.querystring.verbose": False})
    assert method["httpMethod"] == "GET" and method["apiKeyRequired"] is False
    with pytest.raises(ClientError) as err:
        apigw.put_method(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", authorizationType="NONE")
    assert code_of(err) == (409, "ConflictException", "Method already exists for this resource")
    with pytest.raises(ClientError) as err:
        apigw.put_method(restApiId=api_id, resourceId=pet["id"], httpMethod="POST", authorizationType="CUSTOM")
    assert code_of(err)[:2] == (400, "BadRequestException")
    with pytest.raises(ClientError) as err:
        apigw.get_integration(restApiId=api_id, resourceId=pet["id"], httpMethod="GET")
    assert code_of(err) == (404, "NotFoundException", "Invalid Integration identifier specified")
    with pytest.raises(ClientError) as err:
        apigw.get_method(restApiId=api_id, resourceId=pet["id"], httpMethod="PUT")
    assert code_of(err) == (404, "NotFoundException", "Invalid Method identifier specified")
    with pytest.raises(ClientError) as err:
        apigw.create_deployment(restApiId=api_id, stageName="dev")
    assert code_of(err) == (400, "BadRequestException", "No integration defined for method")
    with pytest.raises(ClientError) as err:
        apigw.put_integration(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", type="AWS_PROXY",
                              uri=invocation_uri(py_echo))
    assert code_of(err) == (400, "BadRequestException", "Enumeration value for HttpMethod must be non-empty")
    integration = apigw.put_integration(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", type="AWS_PROXY",
                                        integrationHttpMethod="POST", uri=invocation_uri(py_echo))
    assert integration["type"] == "AWS_PROXY" and integration["httpMethod"] == "POST"
    assert integration["passthroughBehavior"] == "WHEN_NO_MATCH" and integration["timeoutInMillis"] == 29000
    assert integration["cacheNamespace"] == pet["id"]
    updated = apigw.update_integration(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", patchOperations=[
        {"op": "replace", "path": "/timeoutInMillis", "value": "5000"}])
    assert updated["timeoutInMillis"] == 5000
    updated = apigw.update_method(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", patchOperations=[
        {"op": "replace", "path": "/apiKeyRequired", "value": "true"},
        {"op": "add", "path": "/requestParameters/method.request.header.x-trace", "value": "true"}])
    assert updated["apiKeyRequired"] is True
    assert updated["requestParameters"] == {"method.request.querystring.verbose": False,
                                            "method.request.header.x-trace": True}
    got = apigw.get_method(restApiId=api_id, resourceId=pet["id"], httpMethod="GET")
    assert got["methodIntegration"]["timeoutInMillis"] == 5000
    embedded = {r["path"]: r for r in apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]}
    assert embedded["/pets/{petId}"]["resourceMethods"]["GET"]["methodIntegration"]["type"] == "AWS_PROXY"
    plain = {r["path"]: r for r in apigw.get_resources(restApiId=api_id)["items"]}
    assert plain["/pets/{petId}"]["resourceMethods"] == {"GET": {}}

    deployment = apigw.create_deployment(restApiId=api_id, stageName="prod", description="first")
    assert deployment["description"] == "first" and len(deployment["id"]) == 6
    stage = apigw.get_stage(restApiId=api_id, stageName="prod")
    assert stage["deploymentId"] == deployment["id"] and stage["cacheClusterStatus"] == "NOT_AVAILABLE"
    with pytest.raises(ClientError) as err:
        apigw.create_stage(restApiId=api_id, stageName="prod", deploymentId=deployment["id"])
    assert code_of(err) == (409, "ConflictException", "Stage already exists")
    with pytest.raises(ClientError) as err:
        apigw.create_stage(restApiId=api_id, stageName="qa", deploymentId="zzzzzz")
    assert code_of(err) == (404, "NotFoundException", "Invalid Deployment identifier specified")
    with pytest.raises(ClientError) as err:
        apigw.delete_deployment(restApiId=api_id, deploymentId=deployment["id"])
    assert code_of(err) == (400, "BadRequestException",
                            "Active stages pointing to this deployment must be moved or deleted")
    stage = apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/variables/color", "value": "blue"},
        {"op": "replace", "path": "/description", "value": "production"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "50"}])
    assert stage["variables"] == {"color": "blue"} and stage["description"] == "production"
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 100.0
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 50
    stage = apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "remove", "path": "/variables/color"}])
    assert "variables" not in stage
    assert [s["stageName"] for s in apigw.get_stages(restApiId=api_id)["item"]] == ["prod"]
    assert [d["id"] for d in apigw.get_deployments(restApiId=api_id)["items"]] == [deployment["id"]]
    with pytest.raises(ClientError) as err:
        apigw.get_stage(restApiId=api_id, stageName="nope")
    assert code_of(err) == (404, "NotFoundException", "Invalid Stage identifier specified")

    apigw.delete_method(restApiId=api_id, resourceId=pet["id"], httpMethod="GET")
    apigw.delete_resource(restApiId=api_id, resourceId=pets["id"])
    assert [r["path"] for r in apigw.get_resources(restApiId=api_id)["items"]] == ["/"]
    with pytest.raises(ClientError) as err:
        apigw.get_resource(restApiId=api_id, resourceId=pet["id"])
    assert code_of(err)[:2] == (404, "NotFoundException")
    empty = apigw.create_rest_api(name="empty")["id"]
    with pytest.raises(ClientError) as err:
        apigw.create_deployment(restApiId=empty, stageName="dev")
    assert code_of(err) == (400, "BadRequestException", "The REST API doesn't contain any methods")


# -- serving: Lambda proxy --------------------------------------------------------------------------------

def test_unknown_names_answer_not_found(apigw, py_echo):
    """Each kind of thing a request may name answers NotFoundException with AWS's message for that kind."""
    api_id = apigw.create_rest_api(name=unique("nf"))["id"]
    root = root_of(apigw, api_id)
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    plan = apigw.create_usage_plan(name=unique("plan"))["id"]
    key = apigw.create_api_key(name=unique("key"))["id"]
    api = {"restApiId": api_id}
    missing = [
        (apigw.get_resource, dict(api, resourceId="nope00"),
         f"Invalid Resource identifier specified {ACCOUNT}:{api_id}:nope00"),
        (apigw.get_method, dict(api, resourceId=root, httpMethod="POST"), "Invalid Method identifier specified"),
        (apigw.get_integration, dict(api, resourceId=root, httpMethod="POST"), "Invalid Method identifier specified"),
        (apigw.get_method_response, dict(api, resourceId=root, httpMethod="GET", statusCode="200"),
         "Invalid Response status code specified"),
        (apigw.get_integration_response, dict(api, resourceId=root, httpMethod="GET", statusCode="200"),
         "Invalid Response status code specified"),
        (apigw.get_model, dict(api, modelName="Nope"), "Invalid model name specified"),
        (apigw.get_stage, dict(api, stageName="nope"), "Invalid Stage identifier specified"),
        (apigw.get_deployment, dict(api, deploymentId="nope00"), "Invalid Deployment identifier specified"),
        (apigw.get_authorizer, dict(api, authorizerId="nope00"), "Invalid Authorizer identifier specified"),
        (apigw.get_request_validator, dict(api, requestValidatorId="nope00"),
         "Invalid Request Validator identifier specified"),
        (apigw.delete_gateway_response, dict(api, responseType="THROTTLED"),
         "Invalid Gateway Response identifier specified"),
        (apigw.get_api_key, {"apiKey": "nope000000"}, "Invalid API Key identifier specified"),
        (apigw.get_usage_plan, {"usagePlanId": "nope00"}, "Invalid Usage Plan ID specified"),
        (apigw.get_usage_plan_key, {"usagePlanId": plan, "keyId": key}, "Invalid Usage Plan Key identifier specified"),
        (apigw.get_tags, {"resourceArn": f"arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/nope"},
         f"Invalid resource identifier specified arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/nope"),
    ]
    for call, params, message in missing:
        with pytest.raises(ClientError) as err:
            call(**params)
        assert code_of(err) == (404, "NotFoundException", message), call.__name__


def test_repeated_request_headers(server, shop):
    """A header sent twice: its last value in `headers`, both in `multiValueHeaders` (payload 1.0)."""
    import http.client
    from urllib.parse import urlsplit

    target = urlsplit(url(server, shop["id"], "/dev/items/7"))
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    conn.putrequest("GET", target.path)
    conn.putheader("X-Multi", "first")
    conn.putheader("X-Multi", "second")
    conn.putheader("X-Single", "only")
    conn.endheaders()
    resp = conn.getresponse()
    event = json.loads(resp.read())
    conn.close()
    assert resp.status == 200
    assert event["headers"]["x-multi"] == "second"
    assert event["multiValueHeaders"]["x-multi"] == ["first", "second"]
    assert event["multiValueHeaders"]["x-single"] == ["only"]


def test_proxy_event_shape_python(server, shop):
    status, headers, body = http(url(server, shop["id"], "/dev/items/42?color=red&color=blue&size=m"),
                                 headers={"X-Custom": "v", "Cookie": "session=abc"})
    assert status == 200, body
    assert headers["x-amzn-RequestId"] and headers["x-amz-apigw-id"]
    event = json.loads(body)
    assert "version" not in event
    assert event["resource"] == "/items/{id}" and event["path"] == "/items/42" and event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"color": "blue", "size": "m"}
    assert event["multiValueQueryStringParameters"] == {"color": ["red", "blue"], "size": ["m"]}
    assert event["headers"]["x-custom"] == "v" and event["multiValueHeaders"]["x-custom"] == ["v"]
    assert event["headers"]["cookie"] == "session=abc"
    assert event["stageVariables"] == {"env": "dev", "table": "items-dev"}
    assert event["body"] is None and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["apiId"] == shop["id"] and ctx["stage"] == "dev" and ctx["resourcePath"] == "/items/{id}"
    assert ctx["resourceId"] == shop["item"] and ctx["path"] == "/dev/items/42" and ctx["httpMethod"] == "GET"
    assert ctx["accountId"] == ACCOUNT and ctx["protocol"] == "HTTP/1.1"
    assert ctx["requestId"] == headers["x-amzn-RequestId"]
    assert ctx["extendedRequestId"] == headers["x-amz-apigw-id"]
    assert ctx["identity"]["sourceIp"] == "127.0.0.1" and "requestTimeEpoch" in ctx


def test_proxy_greedy_path_and_post_body(server, shop):
    status, _, body = http(url(server, shop["id"], "/dev/a/b/c"), data=b'{"x": 1}',
                           headers={"Content-Type": "application/json"}, method="POST")
    assert status == 200, body
    event = json.loads(body)
    assert event["resource"] == "/{proxy+}" and event["pathParameters"] == {"proxy": "a/b/c"}
    assert event["httpMethod"] == "POST" and event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None


def test_node_function_behind_host_form(server, shop):
    status, head, body = curl(server, shop["id"], "/dev/node?q=1", "-H", "X-Node: yes")
    assert status == 200, body
    assert "x-runtime: node" in head.lower()
    out = json.loads(body)
    assert out["runtime"].startswith("v20")
    event = out["event"]
    assert event["resource"] == "/node" and event["queryStringParameters"] == {"q": "1"}
    assert event["headers"]["x-node"] == "yes" and event["requestContext"]["stage"] == "dev"
    assert event["requestContext"]["domainName"] == f"{shop['id']}.execute-api.localhost"


def test_gateway_errors(server, shop):
    # unknown path/method inside a stage: 403 Missing Authentication Token, as AWS answers
    assert curl(server, shop["id"], "/dev/items")[0::2] == (403, '{"message":"Missing Authentication Token"}')
    status, head, body = curl(server, shop["id"], "/dev/items/1", "-X", "DELETE")
    assert (status, body) == (403, '{"message":"Missing Authentication Token"}')
    assert "x-amzn-errortype: missingauthenticationtokenexception" in head.lower()
    assert curl(server, shop["id"], "/")[0::2] == (403, '{"message":"Missing Authentication Token"}')
    status, head, body = curl(server, shop["id"], "/nostage/items/1")
    assert (status, body) == (403, '{"message":"Forbidden"}') and "x-amzn-errortype: forbiddenexception" in head.lower()
    # malformed function result and function errors: 502
    assert curl(server, shop["id"], "/dev/x/malformed")[0::2] == (502, '{"message":"Internal server error"}')
    assert curl(server, shop["id"], "/dev/x/boom")[0::2] == (502, '{"message":"Internal server error"}')
    # an unknown API id is nobody's: 404
    assert http(url(server, "zzzzzzzzzz", "/dev/x"))[0] == 404


def test_multi_value_headers_and_cookies(server, shop):
    status, head, body = curl(server, shop["id"], "/dev/x/multi")
    assert (status, body) == (201, "m")
    lines = head.lower().split("\n")
    assert "set-cookie: a=1; path=/" in lines and "set-cookie: b=2" in lines
    assert "x-multi: x" in lines and "x-multi: y" in lines and "x-one: 1" in lines


def test_binary_media_types(server, shop):
    png = b"\x89PNG\r\n\x1a\n\x00\xff\xfe"
    status, _, body = http(url(server, shop["id"], "/dev/upload"), data=png,
                           headers={"Content-Type": "image/png"}, method="PUT")
    event = json.loads(body)
    assert status == 200 and event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == png
    status, _, body = http(url(server, shop["id"], "/dev/upload"), data=b"plain text",
                           headers={"Content-Type": "text/plain"}, method="PUT")
    event = json.loads(body)
    assert event["isBase64Encoded"] is False and event["body"] == "plain text"
    # a base64 result is decoded when the client accepts a binary media type ...
    status, headers, body = http(url(server, shop["id"], "/dev/x/binary"), headers={"Accept": "image/png"})
    assert status == 200 and body == b"\x89PNG\x00\xff" and headers["Content-Type"] == "image/png"


def test_binary_off_returns_base64_text(apigw, server, py_echo):
    api_id = apigw.create_rest_api(name="nobinary")["id"]
    proxy = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="{proxy+}")
    proxy_method(apigw, api_id, proxy["id"], py_echo)
    apigw.create_deployment(restApiId=api_id, stageName="v1")
    status, _, body = http(url(server, api_id, "/v1/x/binary"), headers={"Accept": "image/png"})
    assert status == 200 and base64.b64decode(body) == b"\x89PNG\x00\xff"


def test_timeout_gives_504(apigw, server, py_echo):
    api_id = apigw.create_rest_api(name="slow")["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="sleep")
    apigw.put_method(restApiId=api_id, resourceId=res["id"], httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=res["id"], httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=invocation_uri(py_echo), timeoutInMillis=500)
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    status, _, body = http(url(server, api_id, "/dev/sleep"))
    assert (status, body) == (504, b'{"message":"Endpoint request timed out"}')


def test_missing_permission_gives_500(apigw, lam, server):
    name = create_function(lam, PY_ECHO)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api_id = apigw.create_rest_api(name="noperm")["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="fn")
    proxy_method(apigw, api_id, res["id"], arn, "GET")
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    assert http(url(server, api_id, "/dev/fn"))[0::2] == (500, b'{"message":"Internal server error"}')
    # a permission for another API does not help; one for this API's GET /fn on any stage does
    allow_apigw(lam, name, f"arn:aws:execute-api:{REGION}:{ACCOUNT}:otherapi00/*/GET/fn")
    assert http(url(server, api_id, "/dev/fn"))[0] == 500
    allow_apigw(lam, name, f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/GET/fn")
    assert http(url(server, api_id, "/dev/fn"))[0] == 200


def test_stage_throttling(apigw, server, shop):
    apigw.create_stage(restApiId=shop["id"], stageName="tight",
                       deploymentId=apigw.get_stage(restApiId=shop["id"], stageName="dev")["deploymentId"])
    apigw.update_stage(restApiId=shop["id"], stageName="tight", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.001"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"}])
    codes = [http(url(server, shop["id"], "/tight/items/1"))[0] for _ in range(4)]
    assert codes[:2] == [200, 200] and codes[2:] == [429, 429]
    status, _, body = http(url(server, shop["id"], "/tight/items/1"))
    assert (status, body) == (429, b'{"message":"Too Many Requests"}')
    assert http(url(server, shop["id"], "/dev/items/1"))[0] == 200  # other stages are not affected


# -- API keys and usage plans -----------------------------------------------------------------------------

def test_api_keys_usage_plans_throttle_and_quota(apigw, server, py_echo):
    api_id = apigw.create_rest_api(name="keyed")["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="data")
    proxy_method(apigw, api_id, res["id"], py_echo, "GET", apiKeyRequired=True)
    apigw.create_deployment(restApiId=api_id, stageName="prod")

    key = apigw.create_api_key(name=unique("key"), enabled=True)
    assert len(key["value"]) >= 20 and key["enabled"] is True and len(key["id"]) == 10
    assert "value" not in apigw.get_api_key(apiKey=key["id"])
    assert apigw.get_api_key(apiKey=key["id"], includeValue=True)["value"] == key["value"]
    # no key, an unknown key, a key in no plan for this stage: 403 Forbidden
    assert http(url(server, api_id, "/prod/data"))[0::2] == (403, b'{"message":"Forbidden"}')
    assert http(url(server, api_id, "/prod/data"), headers={"x-api-key": "x" * 30})[0] == 403
    assert http(url(server, api_id, "/prod/data"), headers={"x-api-key": key["value"]})[0] == 403

    plan = apigw.create_usage_plan(name=unique("plan"), apiStages=[{"apiId": api_id, "stage": "prod"}],
                                   throttle={"rateLimit": 1000, "burstLimit": 100},
                                   quota={"limit": 3, "period": "DAY"})
    assert plan["quota"] == {"limit": 3, "offset": 0, "period": "DAY"}
    assert plan["apiStages"] == [{"apiId": api_id, "stage": "prod"}]
    plan_key = apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    assert plan_key == {"id": key["id"], "type": "API_KEY", "value": key["value"], "name": key["name"],
                        "ResponseMetadata": plan_key["ResponseMetadata"]}
    with pytest.raises(ClientError) as err:
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId="nokey00000", keyType="API_KEY")
    assert code_of(err) == (404, "NotFoundException", "Invalid API Key identifier specified")
    status, _, body = http(url(server, api_id, "/prod/data"), headers={"x-api-key": key["value"]})
    assert status == 200, body
    identity = json.loads(body)["requestContext"]["identity"]
    assert identity["apiKey"] == key["value"] and identity["apiKeyId"] == key["id"]
    codes = [http(url(server, api_id, "/prod/data"), headers={"x-api-key": key["value"]})[0] for _ in range(3)]
    assert codes == [200, 200, 429]
    status, _, body = http(url(server, api_id, "/prod/data"), headers={"x-api-key": key["value"]})
    assert (status, body) == (429, b'{"message":"Limit Exceeded"}')
    today = time.strftime("%Y-%m-%d", time.gmtime())
    usage = apigw.get_usage(usagePlanId=plan["id"], startDate=today, endDate=today)
    assert usage["items"] == {key["id"]: [[3, 0]]}

    # a tight throttle on a second plan/key: burst 1, then 429 Too Many Requests
    key2 = apigw.create_api_key(name=unique("key"), enabled=True, value="k2" * 15)
    api2 = apigw.create_rest_api(name="keyed2")["id"]
    res2 = apigw.create_resource(restApiId=api2, parentId=root_of(apigw, api2), pathPart="data")
    proxy_method(apigw, api2, res2["id"], py_echo, "GET", apiKeyRequired=True)
    apigw.create_deployment(restApiId=api2, stageName="prod")
    plan2 = apigw.create_usage_plan(name=unique("plan"), apiStages=[{"apiId": api2, "stage": "prod"}],
                                    throttle={"rateLimit": 0.001, "burstLimit": 1})
    apigw.create_usage_plan_key(usagePlanId=plan2["id"], keyId=key2["id"], keyType="API_KEY")
    codes = [http(url(server, api2, "/prod/data"), headers={"x-api-key": "k2" * 15})[0] for _ in range(3)]
    assert codes == [200, 429, 429]
    assert http(url(server, api2, "/prod/data"), headers={"x-api-key": "k2" * 15})[2] == \
        b'{"message":"Too Many Requests"}'

    # a disabled key is refused
    apigw.update_api_key(apiKey=key2["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
    assert http(url(server, api2, "/prod/data"), headers={"x-api-key": "k2" * 15})[0] == 403

    with pytest.raises(ClientError) as err:
        apigw.create_api_key(name="dup", value="k2" * 15)
    assert code_of(err)[:2] == (409, "ConflictException")
    with pytest.raises(ClientError) as err:
        apigw.create_api_key(name="short", value="tooshort")
    assert code_of(err) == (400, "BadRequestException", "API Key value should be at least 20 characters")
    with pytest.raises(ClientError) as err:
        apigw.get_usage_plan(usagePlanId="nope00")
    assert code_of(err) == (404, "NotFoundException", "Invalid Usage Plan ID specified")
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    updated = apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
        {"op": "replace", "path": "/quota/limit", "value": "10"}])
    assert updated["quota"]["limit"] == 10
    assert http(url(server, api_id, "/prod/data"), headers={"x-api-key": key["value"]})[0] == 200
    apigw.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
    assert http(url(server, api_id, "/prod/data"), headers={"x-api-key": key["value"]})[0] == 403
    apigw.delete_api_key(apiKey=key["id"])
    with pytest.raises(ClientError) as err:
        apigw.get_api_key(apiKey=key["id"])
    assert code_of(err) == (404, "NotFoundException", "Invalid API Key identifier specified")


# -- authorizers ------------------------------------------------------------------------------------------

def test_token_authorizer(apigw, server, py_echo, authorizer_fn):
    api_id = apigw.create_rest_api(name="authz")["id"]
    authorizer = apigw.create_authorizer(restApiId=api_id, name="tok", type="TOKEN",
                                         authorizerUri=invocation_uri(authorizer_fn),
                                         identitySource="method.request.header.Authorization",
                                         identityValidationExpression="^(allow|deny|unauthorized|broken).*$",
                                         authorizerResultTtlInSeconds=0)
    assert authorizer["type"] == "TOKEN" and authorizer["authorizerResultTtlInSeconds"] == 0
    res = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="secret")
    proxy_method(apigw, api_id, res["id"], py_echo, "GET", authorizationType="CUSTOM",
                 authorizerId=authorizer["id"])
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    target = url(server, api_id, "/dev/secret")

    status, _, body = http(target, headers={"Authorization": "allow-me"})
    assert status == 200, body
    auth = json.loads(body)["requestContext"]["authorizer"]
    assert auth["principalId"] == "user-allow-me" and auth["user"] == "alice"
    assert auth["n"] == "1" and auth["admin"] == "true" and auth["event_type"] == "TOKEN"
    assert http(target)[0::2] == (401, b'{"message":"Unauthorized"}')
    assert http(target, headers={"Authorization": "nonsense"})[0::2] == (401, b'{"message":"Unauthorized"}')
    assert http(target, headers={"Authorization": "unauthorized"})[0::2] == (401, b'{"message":"Unauthorized"}')
    assert http(target, headers={"Authorization": "deny"})[0::2] == \
        (403, b'{"Message":"User is not authorized to access this resource with an explicit deny"}')
    assert http(target, headers={"Authorization": "allow-other"})[0::2] == \
        (403, b'{"Message":"User is not authorized to access this resource"}')
    assert http(target, headers={"Authorization": "broken"})[0::2] == (500, b'{"message":null}')
    with pytest.raises(ClientError) as err:
        apigw.delete_authorizer(restApiId=api_id, authorizerId=authorizer["id"])
    assert code_of(err)[:2] == (409, "ConflictException")
    assert [a["id"] for a in apigw.get_authorizers(restApiId=api_id)["items"]] == [authorizer["id"]]
    with pytest.raises(ClientError) as err:
        apigw.get_authorizer(restApiId=api_id, authorizerId="nope00")
    assert code_of(err) == (404, "NotFoundException", "Invalid Authorizer identifier specified")

    # a customised gateway response takes effect with the next deployment
    default = apigw.get_gateway_response(restApiId=api_id, responseType="UNAUTHORIZED")
    assert default["defaultResponse"] is True and default["statusCode"] == "401"
    apigw.put_gateway_response(restApiId=api_id, responseType="UNAUTHORIZED", statusCode="401",
                               responseParameters={"gatewayresponse.header.WWW-Authenticate": "'Bearer'"},
                               responseTemplates={"application/json": '{"error": $context.error.messageString, '
                                                                      '"id": "$context.requestId"}'})
    assert http(target)[2] == b'{"message":"Unauthorized"}'
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    status, headers, body = http(target)
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(body) == {"error": "Unauthorized", "id": headers["x-amzn-RequestId"]}
    with pytest.raises(ClientError) as err:
        apigw.put_gateway_response(restApiId=api_id, responseType="NOPE")
    assert code_of(err)[:2] == (400, "BadRequestException")


def test_request_authorizer_and_authorizer_api_key_source(apigw, server, py_echo, authorizer_fn):
    api_id = apigw.create_rest_api(name="reqauth", apiKeySource="AUTHORIZER")["id"]
    authorizer = apigw.create_authorizer(restApiId=api_id, name="req", type="REQUEST",
                                         authorizerUri=invocation_uri(authorizer_fn),
                                         identitySource="method.request.header.X-Token, method.request.querystring.t",
                                         authorizerResultTtlInSeconds=300)
    res = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="r")
    proxy_method(apigw, api_id, res["id"], py_echo, "GET", authorizationType="CUSTOM",
                 authorizerId=authorizer["id"], apiKeyRequired=True)
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    key = apigw.create_api_key(name=unique("k"), enabled=True, value="k" * 20 + "-allow-1")
    plan = apigw.create_usage_plan(name=unique("p"), apiStages=[{"apiId": api_id, "stage": "dev"}])
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    target = url(server, api_id, "/dev/r")
    assert http(target + "?t=1", headers={"X-Token": "allow-1"})[0] == 200
    assert http(target, headers={"X-Token": "allow-1"})[0::2] == (401, b'{"message":"Unauthorized"}')
    # the authorizer's usageIdentifierKey names a key in no plan: Forbidden
    assert http(target + "?t=1", headers={"X-Token": "allow-2"})[0::2] == (403, b'{"message":"Forbidden"}')
    status, _, body = http(target + "?t=1", headers={"X-Token": "allow-1"})
    event = json.loads(body)
    assert event["requestContext"]["authorizer"]["event_type"] == "REQUEST"
    assert event["requestContext"]["identity"]["apiKeyId"] == key["id"]


# -- request validators and models ------------------------------------------------------------------------

def test_request_validator(apigw, server, py_echo):
    api_id = apigw.create_rest_api(name="validated")["id"]
    model = apigw.create_model(restApiId=api_id, name="Pet", contentType="application/json", schema=json.dumps({
        "$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}))
    assert model["name"] == "Pet"
    validator = apigw.create_request_validator(restApiId=api_id, name="all", validateRequestBody=True,
                                               validateRequestParameters=True)
    assert validator["validateRequestBody"] is True
    res = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="pets")
    proxy_method(apigw, api_id, res["id"], py_echo, "POST", requestValidatorId=validator["id"],
                 requestModels={"application/json": "Pet"},
                 requestParameters={"method.request.querystring.owner": True, "method.request.header.x-req": True,
                                    "method.request.querystring.optional": False})
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    target = url(server, api_id, "/dev/pets")
    ok_headers = {"Content-Type": "application/json", "x-req": "1"}
    assert http(target + "?owner=me", b'{"name": "rex", "age": 3}', ok_headers)[0] == 200
    assert http(target + "?owner=me", b'{"age": 3}', ok_headers)[0::2] == \
        (400, b'{"message":"Invalid request body"}')
    assert http(target + "?owner=me", b'{"name": "rex", "age": -1}', ok_headers)[0] == 400
    assert http(target + "?owner=me", b'not json', ok_headers)[0::2] == (400, b'{"message":"Invalid request body"}')
    assert http(target, b'{"name": "rex"}', {"Content-Type": "application/json"})[0::2] == \
        (400, b'{"message":"Missing required request parameters: [owner, x-req]"}')
    with pytest.raises(ClientError) as err:
        apigw.delete_model(restApiId=api_id, modelName="Pet")
    assert code_of(err)[:2] == (409, "ConflictException")
    with pytest.raises(ClientError) as err:
        apigw.get_request_validator(restApiId=api_id, requestValidatorId="nope00")
    assert code_of(err) == (404, "NotFoundException", "Invalid Request Validator identifier specified")
    updated = apigw.update_request_validator(restApiId=api_id, requestValidatorId=validator["id"], patchOperations=[
        {"op": "replace", "path": "/validateRequestBody", "value": "false"}])
    assert updated["validateRequestBody"] is False


# -- MOCK and AWS (custom) integrations -------------------------------------------------------------------

def test_mock_integration(apigw, server):
    api_id = apigw.create_rest_api(name="mock")["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="health")
    apigw.put_method(restApiId=api_id, resourceId=res["id"], httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=res["id"], httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json":
                                            '#if($input.params("fail") == "yes"){"statusCode": 503}'
                                            '#else{"statusCode": 200}#end'})
    apigw.put_method_response(restApiId=api_id, resourceId=res["id"], httpMethod="GET", statusCode="200",
                              responseParameters={"method.response.header.X-Mock": False})
    apigw.put_method_response(restApiId=api_id, resourceId=res["id"], httpMethod="GET", statusCode="503")
    apigw.put_integration_response(restApiId=api_id, resourceId=res["id"], httpMethod="GET", statusCode="200",
                                   responseParameters={"method.response.header.X-Mock": "'yes'"},
                                   responseTemplates={"application/json":
                                                      '{"status": "ok", "stage": "$context.stage", '
                                                      '"color": "$stageVariables.color"}'})
    apigw.put_integration_response(restApiId=api_id, resourceId=res["id"], httpMethod="GET", statusCode="503",
                                   selectionPattern="5\\d\\d",
                                   responseTemplates={"application/json": '{"status": "down"}'})
    got = apigw.get_integration_response(restApiId=api_id, resourceId=res["id"], httpMethod="GET", statusCode="503")
    assert got["selectionPattern"] == "5\\d\\d"
    apigw.create_deployment(restApiId=api_id, stageName="live", variables={"color": "green"})
    status, headers, body = http(url(server, api_id, "/live/health"))
    assert status == 200 and headers["X-Mock"] == "yes"
    assert json.loads(body) == {"status": "ok", "stage": "live", "color": "green"}
    status, _, body = http(url(server, api_id, "/live/health?fail=yes"))
    assert (status, json.loads(body)) == (503, {"status": "down"})


def test_aws_lambda_custom_integration(apigw, lam, server):
    name = create_function(lam, CUSTOM)
    allow_apigw(lam, name)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api_id = apigw.create_rest_api(name="custom")["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="{name}")
    apigw.put_method(restApiId=api_id, resourceId=res["id"], httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api_id, resourceId=res["id"], httpMethod="POST", type="AWS", integrationHttpMethod="POST",
        uri=invocation_uri(arn), passthroughBehavior="WHEN_NO_TEMPLATES",
        requestTemplates={"application/json": '{"name": "$input.params(\'name\')", "body": $input.json(\'$\'), '
                                              '"quote": "$util.escapeJavaScript($input.path(\'$.text\'))", '
                                              '"method": "$context.httpMethod", "env": "$stageVariables.env"}'})
    apigw.put_method_response(restApiId=api_id, resourceId=res["id"], httpMethod="POST", statusCode="200")
    apigw.put_method_response(restApiId=api_id, resourceId=res["id"], httpMethod="POST", statusCode="404")
    apigw.put_integration_response(restApiId=api_id, resourceId=res["id"], httpMethod="POST", statusCode="200",
                                   responseTemplates={"application/json": '{"msg": $input.json(\'$.greeting\')}'})
    apigw.put_integration_response(restApiId=api_id, resourceId=res["id"], httpMethod="POST", statusCode="404",
                                   selectionPattern="NotFound:.*",
                                   responseTemplates={"application/json":
                                                      '{"error": "$input.path(\'$.errorMessage\')"}'})
    apigw.create_deployment(restApiId=api_id, stageName="dev", variables={"env": "test"})
    target = url(server, api_id, "/dev/bob")
    status, _, body = http(target, json.dumps({"text": 'say "hi"'}).encode(), {"Content-Type": "application/json"})
    assert status == 200, body
    assert json.loads(body) == {"msg": "hello bob"}
    status, _, body = http(url(server, api_id, "/dev/missing"), b"{}", {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (404, {"error": "NotFound: no such item"})
    # WHEN_NO_TEMPLATES with templates but none for this content type: 415
    status, _, body = http(target, b"x=1", {"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, body) == (415, b'{"message":"Unsupported Media Type"}')

    # what the function received: the rendered template (echoed back through a pass-through response)
    apigw.update_integration_response(restApiId=api_id, resourceId=res["id"], httpMethod="POST", statusCode="200",
                                      patchOperations=[{"op": "remove",
                                                        "path": "/responseTemplates/application~1json"}])
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    status, _, body = http(target, json.dumps({"text": 'say "hi"'}).encode(), {"Content-Type": "application/json"})
    received = json.loads(body)["received"]
    assert received == {"name": "bob", "body": {"text": 'say "hi"'}, "quote": 'say "hi"', "method": "POST",
                        "env": "test"}


# -- access logs ------------------------------------------------------------------------------------------

def test_access_logs(apigw, server, shop):
    logs = server.client("logs")
    group = unique("/aws/apigateway/access")
    apigw.update_stage(restApiId=shop["id"], stageName="dev", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn",
         "value": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"},
        {"op": "replace", "path": "/accessLogSettings/format",
         "value": '{"requestId":"$context.requestId","status":"$context.status","method":"$context.httpMethod",'
                  '"resourcePath":"$context.resourcePath","ip":"$context.identity.sourceIp","err":"$context.error.message"}'}])
    _, headers, _ = http(url(server, shop["id"], "/dev/items/9"))
    http(url(server, shop["id"], "/dev/nothing/here"), method="DELETE")
    http(url(server, shop["id"], "/dev/x/malformed"))
    deadline = time.time() + 10
    events = []
    while time.time() < deadline and len(events) < 3:
        try:
            events = logs.filter_log_events(logGroupName=group)["events"]
        except ClientError:
            events = []
        time.sleep(0.1)
    lines = [json.loads(e["message"]) for e in events]
    assert lines[0] == {"requestId": headers["x-amzn-RequestId"], "status": "200", "method": "GET",
                        "resourcePath": "/items/{id}", "ip": "127.0.0.1", "err": "-"}
    assert lines[1]["status"] == "200" and lines[1]["resourcePath"] == "/{proxy+}"
    assert lines[2]["status"] == "502"
    assert lines[2]["err"] == "Execution failed due to configuration error: Malformed Lambda proxy response"
    apigw.update_stage(restApiId=shop["id"], stageName="dev", patchOperations=[
        {"op": "remove", "path": "/accessLogSettings"}])


def test_persisted_across_restart(tmp_path_factory):
    """REST APIs, keys and usage plans survive kill -9 (the store writes through) and serve again."""
    import signal

    from nubis_testing import start_server, stop_server

    srv = start_server(tmp_path_factory.mktemp("apigw-rest-restart") / "data")
    try:
        apigw = srv.client("apigateway")
        api_id = apigw.create_rest_api(name="durable")["id"]
        res = apigw.create_resource(restApiId=api_id, parentId=root_of(apigw, api_id), pathPart="ping")
        apigw.put_method(restApiId=api_id, resourceId=res["id"], httpMethod="GET", authorizationType="NONE",
                         apiKeyRequired=True)
        apigw.put_integration(restApiId=api_id, resourceId=res["id"], httpMethod="GET", type="MOCK",
                              requestTemplates={"application/json": '{"statusCode": 200}'})
        apigw.put_integration_response(restApiId=api_id, resourceId=res["id"], httpMethod="GET", statusCode="200",
                                       responseTemplates={"application/json": '{"pong": true}'})
        apigw.create_deployment(restApiId=api_id, stageName="dev")
        key = apigw.create_api_key(name="k", enabled=True)
        plan = apigw.create_usage_plan(name="p", apiStages=[{"apiId": api_id, "stage": "dev"}])
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        stop_server(srv, signal.SIGKILL)
        srv = start_server(srv.data_dir)
        apigw = srv.client("apigateway")
        assert apigw.get_rest_api(restApiId=api_id)["name"] == "durable"
        assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
        status, _, body = http(url(srv, api_id, "/dev/ping"), headers={"x-api-key": key["value"]})
        assert (status, body) == (200, b'{"pong": true}')
    finally:
        stop_server(srv)
