"""A REST API made with the AWS CLI (v1, from the venv) the way AWS's tutorials do it, then called with
curl at both URL forms."""
from __future__ import annotations

import json

from apigw_testing import PY_ECHO, aws, curl  # noqa: F401 - aws: the fixture
from nubis_testing import create_function


def test_cli_rest_api_lambda_proxy(server, lam, aws):  # noqa: F811
    name = create_function(lam, PY_ECHO)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api = aws("apigateway", "create-rest-api", "--name", "cli-api", "--binary-media-types", "image/png")
    api_id = api["id"]
    assert api["name"] == "cli-api" and api["binaryMediaTypes"] == ["image/png"]
    root = aws("apigateway", "get-resources", "--rest-api-id", api_id)["items"][0]
    assert root["path"] == "/"
    res = aws("apigateway", "create-resource", "--rest-api-id", api_id, "--parent-id", root["id"],
              "--path-part", "{proxy+}")
    assert res["path"] == "/{proxy+}"
    aws("apigateway", "put-method", "--rest-api-id", api_id, "--resource-id", res["id"], "--http-method", "ANY",
        "--authorization-type", "NONE")
    integration = aws("apigateway", "put-integration", "--rest-api-id", api_id, "--resource-id", res["id"],
                      "--http-method", "ANY", "--type", "AWS_PROXY", "--integration-http-method", "POST",
                      "--uri", f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations")
    assert integration["type"] == "AWS_PROXY"
    deployment = aws("apigateway", "create-deployment", "--rest-api-id", api_id, "--stage-name", "prod",
                     "--variables", "table=orders")
    assert len(deployment["id"]) == 6
    # no permission yet: 500 as on AWS
    assert curl(server, api_id, "/prod/orders/7")[0::2] == (500, '{"message":"Internal server error"}')
    aws("lambda", "add-permission", "--function-name", name, "--statement-id", "apigw", "--action",
        "lambda:InvokeFunction", "--principal", "apigateway.amazonaws.com", "--source-arn",
        f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/*/*/*")
    status, _, body = curl(server, api_id, "/prod/orders/7?x=1", "-X", "POST", "-H", "Content-Type: text/plain",
                           "--data", "hello")
    assert status == 200, body
    event = json.loads(body)
    assert event["path"] == "/orders/7" and event["pathParameters"] == {"proxy": "orders/7"}
    assert event["body"] == "hello" and event["stageVariables"] == {"table": "orders"}
    assert event["requestContext"]["stage"] == "prod"

    stage = aws("apigateway", "update-stage", "--rest-api-id", api_id, "--stage-name", "prod",
                "--patch-operations", "op=replace,path=/variables/table,value=archive")
    assert stage["variables"] == {"table": "archive"}
    # the DNS-free form answers the same API
    import urllib.request
    with urllib.request.urlopen(f"{server.endpoint}/_aws/execute-api/{api_id}/prod/orders", timeout=30) as resp:
        assert json.loads(resp.read())["stageVariables"] == {"table": "archive"}

    proc = aws.fails("apigateway", "get-rest-api", "--rest-api-id", "nope000000")
    assert proc.returncode in (254, 255) and "NotFoundException" in proc.stderr
    assert "Invalid API identifier specified 000000000000:nope000000" in proc.stderr
    aws("apigateway", "delete-rest-api", "--rest-api-id", api_id)
    assert curl(server, api_id, "/prod/orders")[0] == 404
