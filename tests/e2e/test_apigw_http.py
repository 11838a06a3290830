"""API Gateway HTTP APIs end to end: boto3 `apigatewayv2` against a real server, real HTTP (urllib, curl)
to the APIs it serves, real Python functions behind them."""
from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from apigw_testing import ACCOUNT, ECHO, allow_apigw, apigw_function, http, url
from nubis_testing import create_function

@pytest.fixture(scope="module")
def gw(server):
    return server.client("apigatewayv2")


@pytest.fixture(scope="module")
def echo(lam):
    return apigw_function(lam, ECHO, Timeout=10)


def lambda_integration(gw, api_id: str, arn: str, version: str = "2.0", **extra) -> str:
    return gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
                                 PayloadFormatVersion=version, **extra)["IntegrationId"]


# -- control plane ---------------------------------------------------------------------------------------

def test_quick_create_shapes(gw, echo):
    api = gw.create_api(Name="quick", ProtocolType="HTTP", Target=echo)
    api_id = api["ApiId"]
    assert len(api_id) == 10 and api_id.isalnum() and api_id.islower()
    assert api["ApiEndpoint"].startswith(f"http://{api_id}.execute-api.localhost:")
    assert api["RouteSelectionExpression"] == "$request.method $request.path"
    assert api["ApiKeySelectionExpression"] == "$request.header.x-api-key"
    routes = gw.get_routes(ApiId=api_id)["Items"]
    assert [(r["RouteKey"], r["ApiGatewayManaged"], r["AuthorizationType"]) for r in routes] == \
        [("$default", True, "NONE")]
    integration = gw.get_integrations(ApiId=api_id)["Items"][0]
    assert routes[0]["Target"] == f"integrations/{integration['IntegrationId']}"
    assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationMethod"] == "POST" and integration["TimeoutInMillis"] == 30000
    assert integration["IntegrationUri"] == echo and integration["ConnectionType"] == "INTERNET"
    stage = gw.get_stage(ApiId=api_id, StageName="$default")
    assert stage["AutoDeploy"] is True and stage["ApiGatewayManaged"] is True
    assert stage["LastDeploymentStatusMessage"] == f"Successfully deployed stage with deployment ID " \
                                                   f"'{stage['DeploymentId']}'"
    deployments = gw.get_deployments(ApiId=api_id)["Items"]
    assert deployments[0]["AutoDeployed"] is True and deployments[0]["DeploymentStatus"] == "DEPLOYED"
    assert api_id in [a["ApiId"] for a in gw.get_apis()["Items"]]
    updated = gw.update_api(ApiId=api_id, Name="renamed", Description="d")
    assert updated["Name"] == "renamed" and gw.get_api(ApiId=api_id)["Description"] == "d"
    gw.delete_api(ApiId=api_id)
    with pytest.raises(ClientError) as exc:
        gw.get_api(ApiId=api_id)
    err = exc.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 404 and err["Error"]["Code"] == "NotFoundException"
    assert err["Error"]["Message"] == f"Invalid API identifier specified {ACCOUNT}:{api_id}"


def test_control_plane_errors(gw, echo):
    api_id = gw.create_api(Name="errors", ProtocolType="HTTP")["ApiId"]
    bad_keys = ["GET", "FETCH /x", "GET items", "GET /{proxy+}/x"]
    for key in bad_keys:
        with pytest.raises(ClientError) as exc:
            gw.create_route(ApiId=api_id, RouteKey=key)
        assert exc.value.response["Error"]["Code"] == "BadRequestException", key
    gw.create_route(ApiId=api_id, RouteKey="GET /items")
    with pytest.raises(ClientError) as exc:
        gw.create_route(ApiId=api_id, RouteKey="GET /items")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert exc.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as exc:
        gw.create_route(ApiId=api_id, RouteKey="GET /x", Target="integrations/nope123")
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as exc:  # the CLI/SDK must name a payload format for Lambda
        gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo)
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as exc:
        gw.get_route(ApiId=api_id, RouteId="nope123")
    assert exc.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as exc:
        gw.get_stage(ApiId=api_id, StageName="nope")
    assert exc.value.response["Error"]["Code"] == "NotFoundException"
    gw.create_stage(ApiId=api_id, StageName="dev")
    with pytest.raises(ClientError) as exc:
        gw.create_stage(ApiId=api_id, StageName="dev")
    assert exc.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as exc:
        gw.create_api(Name="x", ProtocolType="NOPE")
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    empty = gw.create_api(Name="empty", ProtocolType="HTTP")["ApiId"]
    with pytest.raises(ClientError) as exc:
        gw.create_deployment(ApiId=empty)
    assert exc.value.response["Error"]["Message"] == "Unable to deploy API because no routes exist in this API"
    with pytest.raises(ClientError) as exc:
        gw.get_routes(ApiId="nosuchapi1")
    assert exc.value.response["Error"]["Code"] == "NotFoundException"
    # pagination
    for i in range(3):
        gw.create_route(ApiId=api_id, RouteKey=f"GET /page/{i}")
    first = gw.get_routes(ApiId=api_id, MaxResults="2")
    assert len(first["Items"]) == 2 and first["NextToken"]
    rest = gw.get_routes(ApiId=api_id, MaxResults="10", NextToken=first["NextToken"])
    assert len(first["Items"]) + len(rest["Items"]) == 4 and "NextToken" not in rest


def test_tags(gw):
    api_id = gw.create_api(Name="tagged", ProtocolType="HTTP", Tags={"team": "a"})["ApiId"]
    arn = f"arn:aws:apigateway:us-east-1::/apis/{api_id}"
    gw.tag_resource(ResourceArn=arn, Tags={"env": "dev"})
    assert gw.get_tags(ResourceArn=arn)["Tags"] == {"team": "a", "env": "dev"}
    gw.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert gw.get_api(ApiId=api_id)["Tags"] == {"env": "dev"}


# -- serving ---------------------------------------------------------------------------------------------

def test_quick_create_needs_permission(server, gw, lam):
    """AWS does not add a Lambda permission for a quick-created API: without one the gateway answers 500."""
    name = create_function(lam, ECHO)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api_id = gw.create_api(Name="perm", ProtocolType="HTTP", Target=arn)["ApiId"]
    status, headers, body = http(url(server, api_id, "/hello"))
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert headers["apigw-requestid"]
    allow_apigw(lam, name, source=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/$default")
    status, headers, body = http(url(server, api_id, "/hello?a=1&a=2&b=x"), data=b'{"k": 1}',
                                 headers={"Content-Type": "application/json", "Cookie": "c1=v1; c2=v2"})
    assert status == 200, body
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "$default" and event["rawPath"] == "/hello"
    assert event["rawQueryString"] == "a=1&a=2&b=x" and event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]
    assert event["body"] == '{"k": 1}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["apiId"] == api_id and ctx["stage"] == "$default" and ctx["routeKey"] == "$default"
    assert ctx["accountId"] == ACCOUNT and ctx["domainPrefix"] == api_id
    assert ctx["http"]["method"] == "POST" and ctx["http"]["path"] == "/hello"
    assert ctx["requestId"] == headers["apigw-requestid"]
    assert "pathParameters" not in event and "stageVariables" not in event


def test_host_form_with_curl(server, gw, echo):
    api = gw.create_api(Name="host", ProtocolType="HTTP", Target=echo)
    port = server.endpoint.rsplit(":", 1)[1]
    host = f"{api['ApiId']}.execute-api.localhost"
    out = subprocess.run(["curl", "-s", "--resolve", f"{host}:{port}:127.0.0.1", "-w", "\n%{http_code}",
                          f"{api['ApiEndpoint']}/via/host?x=1"], capture_output=True, text=True, timeout=60)
    body, _, code = out.stdout.rpartition("\n")
    assert code == "200", out
    event = json.loads(body)
    assert event["rawPath"] == "/via/host" and event["requestContext"]["domainName"] == host


def test_routes_and_path_parameters(server, gw, echo):
    api_id = gw.create_api(Name="routes", ProtocolType="HTTP")["ApiId"]
    target = f"integrations/{lambda_integration(gw, api_id, echo)}"
    for key in ("GET /items/{id}", "GET /items/special", "ANY /{proxy+}", "GET /files/{path+}",
                "POST /items/{id}/tags/{tag}"):
        gw.create_route(ApiId=api_id, RouteKey=key, Target=target)
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    def route_of(method: str, path: str):
        status, _, body = http(url(server, api_id, path), method=method, data=b"" if method == "POST" else None)
        return status, (json.loads(body) if status == 200 else json.loads(body))

    status, event = route_of("GET", "/items/42")
    assert status == 200 and event["routeKey"] == "GET /items/{id}" and event["pathParameters"] == {"id": "42"}
    assert route_of("GET", "/items/special")[1]["routeKey"] == "GET /items/special"
    status, event = route_of("GET", "/items/a%20b")
    assert event["pathParameters"] == {"id": "a b"} and event["rawPath"] == "/items/a%20b"
    status, event = route_of("POST", "/items/7/tags/red")
    assert event["pathParameters"] == {"id": "7", "tag": "red"}
    status, event = route_of("DELETE", "/items/42")
    assert event["routeKey"] == "ANY /{proxy+}" and event["pathParameters"] == {"proxy": "items/42"}
    status, event = route_of("GET", "/files/a/b/c.txt")
    assert event["routeKey"] == "GET /files/{path+}" and event["pathParameters"] == {"path": "a/b/c.txt"}
    # `/{proxy+}` does not match the root and there is no $default route
    status, body = route_of("GET", "/")
    assert (status, body) == (404, {"message": "Not Found"})
    gw.create_route(ApiId=api_id, RouteKey="$default", Target=target)
    assert route_of("GET", "/")[1]["routeKey"] == "$default"


def test_payload_1_0(server, gw, echo):
    api_id = gw.create_api(Name="v1", ProtocolType="HTTP")["ApiId"]
    integration = lambda_integration(gw, api_id, echo, "1.0")
    route_id = gw.create_route(ApiId=api_id, RouteKey="GET /users/{id}",
                               Target=f"integrations/{integration}")["RouteId"]
    gw.create_route(ApiId=api_id, RouteKey="ANY /v1/{proxy+}", Target=f"integrations/{integration}")
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True, StageVariables={"color": "blue"})
    status, _, body = http(url(server, api_id, "/users/9?q=1&q=2&r=3"), headers={"X-Thing": "t"})
    assert status == 200, body
    event = json.loads(body)
    assert event["version"] == "1.0" and event["resource"] == "/users/{id}" and event["path"] == "/users/9"
    assert event["httpMethod"] == "GET" and event["pathParameters"] == {"id": "9"}
    assert event["queryStringParameters"] == {"q": "2", "r": "3"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"], "r": ["3"]}
    assert event["headers"]["x-thing"] == "t" and event["multiValueHeaders"]["x-thing"] == ["t"]
    assert event["stageVariables"] == {"color": "blue"} and event["body"] is None
    ctx = event["requestContext"]
    assert ctx["resourcePath"] == "/users/{id}" and ctx["path"] == "/users/9" and ctx["stage"] == "$default"
    assert ctx["httpMethod"] == "GET" and ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["resourceId"] == "GET /users/{id}" and ctx["apiId"] == api_id
    assert route_id
    # 1.0 responses: multiValueHeaders, base64 bodies; anything malformed is a 502
    status, headers, body = http(url(server, api_id, "/v1/multi"))
    assert status == 200 and headers.get_all("x-multi") == ["a", "b"] and headers["x-one"] == "1"
    status, headers, body = http(url(server, api_id, "/v1/binary"))
    assert status == 200 and body == b"\x89PNG" and headers["content-type"] == "image/png"
    for path in ("/v1/malformed", "/v1/nostatus", "/v1/raw", "/v1/badstatus"):
        status, _, body = http(url(server, api_id, path))
        assert (status, json.loads(body)) == (502, {"message": "Internal Server Error"}), path
    status, _, body = http(url(server, api_id, "/v1/boom"))
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_payload_2_0_response_mapping(server, gw, echo):
    api_id = gw.create_api(Name="v2", ProtocolType="HTTP", Target=echo)["ApiId"]
    status, headers, body = http(url(server, api_id, "/raw"))
    assert (status, body, headers["content-type"]) == (200, b"hello", "application/json")
    status, headers, body = http(url(server, api_id, "/dict"))
    assert status == 200 and json.loads(body) == {"message": "hi"}
    status, headers, body = http(url(server, api_id, "/cookies"))
    assert status == 201 and body == b"c" and headers.get_all("set-cookie") == ["a=1", "b=2"]
    assert headers["x-custom"] == "yes"
    status, _, body = http(url(server, api_id, "/badstatus"))
    assert (status, json.loads(body)) == (502, {"message": "Internal Server Error"})
    status, _, body = http(url(server, api_id, "/boom"))
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_named_stage_stage_variables_and_deployments(server, gw, echo):
    api_id = gw.create_api(Name="stages", ProtocolType="HTTP")["ApiId"]
    target = f"integrations/{lambda_integration(gw, api_id, echo)}"
    gw.create_route(ApiId=api_id, RouteKey="GET /hello", Target=target)
    gw.create_stage(ApiId=api_id, StageName="dev", StageVariables={"color": "green"})
    # not deployed yet: nothing answers
    status, _, body = http(url(server, api_id, "/dev/hello"))
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    deployment = gw.create_deployment(ApiId=api_id, StageName="dev", Description="first")
    assert deployment["AutoDeployed"] is False and deployment["DeploymentStatus"] == "DEPLOYED"
    assert gw.get_stage(ApiId=api_id, StageName="dev")["DeploymentId"] == deployment["DeploymentId"]
    status, _, body = http(url(server, api_id, "/dev/hello"))
    assert status == 200, body
    event = json.loads(body)
    assert event["rawPath"] == "/dev/hello" and event["requestContext"]["stage"] == "dev"
    assert event["requestContext"]["http"]["path"] == "/dev/hello"
    assert event["stageVariables"] == {"color": "green"}
    # a new route reaches the stage only when deployed (no AutoDeploy)
    gw.create_route(ApiId=api_id, RouteKey="GET /later", Target=target)
    assert http(url(server, api_id, "/dev/later"))[0] == 404
    gw.create_deployment(ApiId=api_id, StageName="dev")
    assert http(url(server, api_id, "/dev/later"))[0] == 200
    # stage variables are live, not part of the deployment
    gw.update_stage(ApiId=api_id, StageName="dev", StageVariables={"size": "xl"})
    event = json.loads(http(url(server, api_id, "/dev/hello"))[2])
    assert event["stageVariables"] == {"color": "green", "size": "xl"}
    # no $default stage: paths outside a stage are not found
    assert http(url(server, api_id, "/hello"))[0] == 404
    with pytest.raises(ClientError) as exc:
        gw.delete_deployment(ApiId=api_id, DeploymentId=gw.get_stage(ApiId=api_id, StageName="dev")["DeploymentId"])
    assert exc.value.response["Error"]["Code"] == "BadRequestException"
    assert len(gw.get_deployments(ApiId=api_id)["Items"]) == 2


def test_stage_variable_in_integration_uri(server, gw, lam, echo):
    other = create_function(lam, "def handler(e, c):\n    return {'statusCode': 200, 'body': 'other'}\n")
    allow_apigw(lam, other)
    fn_base = echo.rsplit(":", 1)[0]
    api_id = gw.create_api(Name="stagevar", ProtocolType="HTTP")["ApiId"]
    integration = lambda_integration(gw, api_id, fn_base + ":${stageVariables.fn}")
    gw.create_route(ApiId=api_id, RouteKey="GET /which", Target=f"integrations/{integration}")
    gw.create_stage(ApiId=api_id, StageName="a", AutoDeploy=True, StageVariables={"fn": other})
    gw.create_stage(ApiId=api_id, StageName="b", AutoDeploy=True, StageVariables={"fn": echo.rsplit(":", 1)[1]})
    assert http(url(server, api_id, "/a/which"))[2] == b"other"
    assert json.loads(http(url(server, api_id, "/b/which"))[2])["requestContext"]["stage"] == "b"


def test_cors(server, gw, echo):
    api_id = gw.create_api(Name="cors", ProtocolType="HTTP", Target=echo,
                           CorsConfiguration={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
                                              "AllowHeaders": ["x-custom"], "ExposeHeaders": ["x-total"],
                                              "MaxAge": 300})["ApiId"]
    status, headers, body = http(url(server, api_id, "/anything"), method="OPTIONS",
                                 headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-headers"] == "x-custom" and headers["access-control-max-age"] == "300"
    status, headers, _ = http(url(server, api_id, "/anything"), method="OPTIONS",
                              headers={"Origin": "https://other.example", "Access-Control-Request-Method": "GET"})
    assert status == 204 and "access-control-allow-origin" not in headers
    # actual requests: the configured headers replace the backend's
    status, headers, _ = http(url(server, api_id, "/cors"), headers={"Origin": "https://app.example"})
    assert status == 200 and headers.get_all("access-control-allow-origin") == ["https://app.example"]
    assert headers["access-control-expose-headers"] == "x-total"
    gw.delete_cors_configuration(ApiId=api_id)
    assert "CorsConfiguration" not in gw.get_api(ApiId=api_id)
    status, headers, _ = http(url(server, api_id, "/cors"), headers={"Origin": "https://app.example"})
    assert headers["access-control-allow-origin"] == "https://evil.example"


class _Backend(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        doc = {"method": self.command, "path": self.path, "body": body.decode(),
               "headers": {k.lower(): v for k, v in self.headers.items()}}
        data = json.dumps(doc).encode()
        self.send_response(207 if self.path.startswith("/status") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend", "yes")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def backend():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_http_proxy(server, gw, backend):
    # quick create with a URL: $default route, the request path appended to the URL
    api_id = gw.create_api(Name="proxy", ProtocolType="HTTP", Target=backend + "/base")["ApiId"]
    integration = gw.get_integrations(ApiId=api_id)["Items"][0]
    assert integration["IntegrationType"] == "HTTP_PROXY" and integration["IntegrationMethod"] == "ANY"
    assert integration["PayloadFormatVersion"] == "1.0"
    status, headers, body = http(url(server, api_id, "/a/b?x=1"), data=b"payload", method="PUT",
                                 headers={"X-Client": "c"})
    assert status == 200 and headers["x-backend"] == "yes"
    doc = json.loads(body)
    assert doc["method"] == "PUT" and doc["path"] == "/base/a/b?x=1" and doc["body"] == "payload"
    assert doc["headers"]["x-client"] == "c" and doc["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert doc["headers"]["host"] == backend.split("//")[1]
    # explicit route with a path variable in the URI and a fixed method
    integration_id = gw.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="GET",
                                           IntegrationUri=backend + "/status/{id}",
                                           PayloadFormatVersion="1.0")["IntegrationId"]
    gw.create_route(ApiId=api_id, RouteKey="POST /things/{id}", Target=f"integrations/{integration_id}")
    status, _, body = http(url(server, api_id, "/things/5"), data=b"", method="POST")
    assert status == 207 and json.loads(body)["method"] == "GET" and json.loads(body)["path"] == "/status/5"
    # an unreachable backend
    dead = gw.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                 IntegrationUri="http://127.0.0.1:9/nothing", PayloadFormatVersion="1.0")
    gw.create_route(ApiId=api_id, RouteKey="GET /dead", Target=f"integrations/{dead['IntegrationId']}")
    status, _, body = http(url(server, api_id, "/dead"))
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_throttling_and_timeouts(server, gw, lam, echo):
    api_id = gw.create_api(Name="limits", ProtocolType="HTTP")["ApiId"]
    target = f"integrations/{lambda_integration(gw, api_id, echo, TimeoutInMillis=500)}"
    gw.create_route(ApiId=api_id, RouteKey="GET /sleep", Target=target)
    gw.create_route(ApiId=api_id, RouteKey="GET /closed", Target=target)
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True,
                    RouteSettings={"GET /closed": {"ThrottlingBurstLimit": 0, "ThrottlingRateLimit": 0.0}})
    status, _, body = http(url(server, api_id, "/closed"))
    assert (status, json.loads(body)) == (429, {"message": "Too Many Requests"})
    status, _, body = http(url(server, api_id, "/sleep"))
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})
    # a function with no concurrency left is throttled: 429 as well
    name = create_function(lam, ECHO)
    allow_apigw(lam, name)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    api = gw.create_api(Name="zero", ProtocolType="HTTP",
                        Target=lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])
    status, _, body = http(url(server, api["ApiId"], "/x"))
    assert (status, json.loads(body)) == (429, {"message": "Too Many Requests"})


def test_disabled_endpoint_and_unknown_api(server, gw, echo):
    api_id = gw.create_api(Name="off", ProtocolType="HTTP", Target=echo, DisableExecuteApiEndpoint=True)["ApiId"]
    status, _, body = http(url(server, api_id, "/x"))
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    status, _, body = http(url(server, "zzzzzzzzzz", "/x"))
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


def test_persisted_across_restart(tmp_path_factory):
    """APIs survive a restart (kill -9 included): the store writes through."""
    import signal

    from nubis_testing import start_server, stop_server

    srv = start_server(tmp_path_factory.mktemp("apigw-restart") / "data")
    try:
        gw = srv.client("apigatewayv2")
        api_id = gw.create_api(Name="durable", ProtocolType="HTTP")["ApiId"]
        gw.create_route(ApiId=api_id, RouteKey="GET /x")
        stop_server(srv, signal.SIGKILL)
        srv = start_server(srv.data_dir)
        gw = srv.client("apigatewayv2")
        assert gw.get_api(ApiId=api_id)["Name"] == "durable"
        assert [r["RouteKey"] for r in gw.get_routes(ApiId=api_id)["Items"]] == ["GET /x"]
    finally:
        stop_server(srv)
