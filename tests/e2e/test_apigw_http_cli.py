"""HTTP APIs made with the AWS CLI (v1, from the venv) exactly as AWS's documentation shows, then called
with curl at the URL the CLI printed."""
from __future__ import annotations

import json
import subprocess

from apigw_testing import ECHO, aws  # noqa: F401 - the fixture
from nubis_testing import create_function


def curl(server, endpoint: str, path: str, *extra: str) -> tuple[int, str]:
    """curl the API's own URL (<api-id>.execute-api.localhost:<port>), pinned to loopback."""
    host_port = endpoint.split("//", 1)[1]
    host, port = host_port.rsplit(":", 1)
    out = subprocess.run(["curl", "-s", "--resolve", f"{host}:{port}:127.0.0.1", "-w", "\n%{http_code}", *extra,
                          endpoint + path], capture_output=True, text=True, timeout=60)
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body


def test_cli_quick_create_permission_and_curl(server, lam, aws):
    name = create_function(lam, ECHO)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api = aws("apigatewayv2", "create-api", "--name", "my-api", "--protocol-type", "HTTP", "--target", arn)
    api_id, endpoint = api["ApiId"], api["ApiEndpoint"]
    assert api["ProtocolType"] == "HTTP" and endpoint == f"http://{api_id}.execute-api.localhost:" + \
        server.endpoint.rsplit(":", 1)[1]
    assert curl(server, endpoint, "/pets") == (500, '{"message":"Internal Server Error"}')
    aws("lambda", "add-permission", "--function-name", name, "--statement-id", "apigw", "--action",
        "lambda:InvokeFunction", "--principal", "apigateway.amazonaws.com", "--source-arn",
        f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/*")
    code, body = curl(server, endpoint, "/pets?kind=dog", "-X", "POST", "-H", "Content-Type: text/plain",
                      "--data", "woof")
    assert code == 200, body
    event = json.loads(body)
    assert event["rawPath"] == "/pets" and event["body"] == "woof"
    assert event["queryStringParameters"] == {"kind": "dog"}

    route = aws("apigatewayv2", "create-route", "--api-id", api_id, "--route-key", "GET /pets/{petId}", "--target",
                aws("apigatewayv2", "get-routes", "--api-id", api_id)["Items"][0]["Target"])
    assert route["RouteKey"] == "GET /pets/{petId}" and route["AuthorizationType"] == "NONE"
    event = json.loads(curl(server, endpoint, "/pets/7")[1])
    assert event["routeKey"] == "GET /pets/{petId}" and event["pathParameters"] == {"petId": "7"}

    cors = aws("apigatewayv2", "update-api", "--api-id", api_id, "--cors-configuration",
               "AllowOrigins=https://www.example.com")
    assert cors["CorsConfiguration"]["AllowOrigins"] == ["https://www.example.com"]
    code, _ = curl(server, endpoint, "/pets", "-X", "OPTIONS", "-H", "Origin: https://www.example.com",
                   "-H", "Access-Control-Request-Method: GET")
    assert code == 204
    assert api_id in [a["ApiId"] for a in aws("apigatewayv2", "get-apis")["Items"]]
    aws("apigatewayv2", "delete-api", "--api-id", api_id)
    proc = aws.fails("apigatewayv2", "get-api", "--api-id", api_id)
    assert proc.returncode in (254, 255) and "NotFoundException" in proc.stderr
    assert f"Invalid API identifier specified 000000000000:{api_id}" in proc.stderr
    assert curl(server, endpoint, "/pets") == (404, '{"message":"Not Found"}')


def test_cli_stages_and_deployments(server, lam, aws):
    name = create_function(lam, ECHO)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    aws("lambda", "add-permission", "--function-name", name, "--statement-id", "apigw", "--action",
        "lambda:InvokeFunction", "--principal", "apigateway.amazonaws.com")
    api_id = aws("apigatewayv2", "create-api", "--name", "staged", "--protocol-type", "HTTP")["ApiId"]
    integration = aws("apigatewayv2", "create-integration", "--api-id", api_id, "--integration-type", "AWS_PROXY",
                      "--integration-uri", arn, "--payload-format-version", "1.0")
    assert integration["PayloadFormatVersion"] == "1.0" and integration["IntegrationMethod"] == "POST"
    aws("apigatewayv2", "create-route", "--api-id", api_id, "--route-key", "ANY /{proxy+}", "--target",
        f"integrations/{integration['IntegrationId']}")
    stage = aws("apigatewayv2", "create-stage", "--api-id", api_id, "--stage-name", "prod", "--stage-variables",
                "function=my-prod-function")
    assert stage["StageVariables"] == {"function": "my-prod-function"} and "DeploymentId" not in stage
    deployment = aws("apigatewayv2", "create-deployment", "--api-id", api_id, "--stage-name", "prod")
    assert deployment["DeploymentStatus"] == "DEPLOYED"
    endpoint = aws("apigatewayv2", "get-api", "--api-id", api_id)["ApiEndpoint"]
    code, body = curl(server, endpoint, "/prod/any/thing")
    assert code == 200, body
    event = json.loads(body)
    assert event["version"] == "1.0" and event["path"] == "/prod/any/thing"
    assert event["pathParameters"] == {"proxy": "any/thing"}
    assert event["stageVariables"] == {"function": "my-prod-function"}
    assert event["requestContext"]["stage"] == "prod"
    items = aws("apigatewayv2", "get-deployments", "--api-id", api_id)["Items"]
    assert [d["DeploymentId"] for d in items] == [deployment["DeploymentId"]]
