"""API Gateway WebSocket APIs end to end: boto3 `apigatewayv2` (and the AWS CLI) to build them, the
`websockets` client to connect, real Python and Node.js functions behind the routes, and
`apigatewaymanagementapi` (from the test and from inside a function) to push to clients."""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from apigw_testing import ACCOUNT, allow_apigw, apigw_function, aws, invocation_uri  # noqa: F401 - aws: the fixture
from nubis_testing import create_function, unique

# One Python function serves every route: it records $connect/$disconnect events, refuses connections
# asked to (?reject=<status>), and pushes back through the @connections API from inside the function.
PY_HANDLER = """
import json, os, boto3

def _record(kind, event):
    path = os.path.join(os.environ["OUT_DIR"], kind + "-" + event["requestContext"]["connectionId"] + ".json")
    with open(path + ".tmp", "w") as f:  # whole files only: the test polls for them
        json.dump(event, f)
    os.rename(path + ".tmp", path)

def handler(event, context):
    ctx = event["requestContext"]
    route = ctx["routeKey"]
    if route == "$connect":
        reject = (event.get("queryStringParameters") or {}).get("reject")
        if reject:
            return {"statusCode": int(reject), "body": "go away"}
        _record("connect", event)
        return {"statusCode": 200}
    if route == "$disconnect":
        _record("disconnect", event)
        return {"statusCode": 200}
    if route == "boom":
        raise RuntimeError("boom")
    body = event["body"]
    try:
        mode = json.loads(body).get("mode", "default")
    except Exception:
        mode = "default"
    if mode == "path":  # the DNS-free endpoint of this API and stage
        endpoint = f"{os.environ['AWS_ENDPOINT_URL']}/_aws/execute-api/{ctx['apiId']}/{ctx['stage']}"
        api = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    else:  # nubis's own endpoint (AWS_ENDPOINT_URL): the connection id alone finds the connection
        api = boto3.client("apigatewaymanagementapi")
    info = api.get_connection(ConnectionId=ctx["connectionId"])
    reply = {"route": route, "got": body, "eventType": ctx["eventType"], "messageId": ctx.get("messageId"),
             "sourceIp": info["Identity"]["SourceIp"], "domainName": ctx["domainName"]}
    api.post_to_connection(ConnectionId=ctx["connectionId"], Data=json.dumps(reply).encode())
    return {"statusCode": 200}
"""

NODE_HANDLER = """
exports.handler = async (event) => {
  const ctx = event.requestContext;
  return {statusCode: 200, body: JSON.stringify({runtime: 'node', route: ctx.routeKey, eventType: ctx.eventType,
                                                 connectionId: ctx.connectionId, got: JSON.parse(event.body)})};
};
"""

AUTHORIZER = """
def handler(event, context):
    token = event["queryStringParameters"].get("token")
    effect = "Allow" if token == "letmein" else "Deny"
    return {"principalId": "user-" + token, "context": {"tier": "gold"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
"""


def ws_url(server, api_id: str, stage: str, query: str = "") -> str:
    """The DNS-free form: ws://127.0.0.1:<port>/_aws/execute-api/<api-id>/<stage>."""
    base = server.endpoint.replace("http://", "ws://")
    return f"{base}/_aws/execute-api/{api_id}/{stage}" + (f"?{query}" if query else "")


def open_ws(server, api_id: str, stage: str, query: str = "", host_form: bool = False, **kw):
    if host_form:  # ws://<api-id>.execute-api.localhost:<port>/<stage>, with the socket pinned to loopback
        port = int(server.endpoint.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port))
        url = f"ws://{api_id}.execute-api.localhost:{port}/{stage}" + (f"?{query}" if query else "")
        return connect(url, sock=sock, proxy=None, open_timeout=30, **kw)
    return connect(ws_url(server, api_id, stage, query), proxy=None, open_timeout=30, **kw)


def wait_for_file(path: Path, timeout: float = 30.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.stat().st_size:
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


def management(endpoint: str):
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 0}))


@pytest.fixture(scope="module")
def gw(server):
    return server.client("apigatewayv2")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ws-events")


@pytest.fixture(scope="module")
def py_fn(lam, out_dir):
    return apigw_function(lam, PY_HANDLER, Timeout=20, Environment={"Variables": {"OUT_DIR": str(out_dir)}})


@pytest.fixture(scope="module")
def node_fn(lam):
    return apigw_function(lam, {"index.js": NODE_HANDLER}, Runtime="nodejs20.x", handler="index.handler",
                          Timeout=10)


@pytest.fixture(scope="module")
def chat(gw, py_fn, node_fn):
    """$connect, $disconnect, $default, `echo` and `boom` on the Python function; two-way `whoami` on Node."""
    api = gw.create_api(Name=unique("chat"), ProtocolType="WEBSOCKET",
                        RouteSelectionExpression="$request.body.action")
    api_id = api["ApiId"]
    py = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=invocation_uri(py_fn))
    node = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=invocation_uri(node_fn))
    for key in ("$connect", "$disconnect", "$default", "echo", "boom"):
        gw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{py['IntegrationId']}")
    whoami = gw.create_route(ApiId=api_id, RouteKey="whoami", Target=f"integrations/{node['IntegrationId']}",
                             RouteResponseSelectionExpression="$default")
    gw.create_route_response(ApiId=api_id, RouteId=whoami["RouteId"], RouteResponseKey="$default")
    gw.create_stage(ApiId=api_id, StageName="dev", AutoDeploy=True)
    return api


def test_connect_route_selection_and_disconnect(server, chat, out_dir):
    api_id = chat["ApiId"]
    with open_ws(server, api_id, "dev", "room=blue", additional_headers={"X-Team": "infra"}) as ws:
        ws.send(json.dumps({"action": "echo", "text": "hi"}))
        reply = json.loads(ws.recv(timeout=30))
        assert reply["route"] == "echo" and json.loads(reply["got"]) == {"action": "echo", "text": "hi"}
        assert reply["eventType"] == "MESSAGE" and reply["messageId"] and reply["sourceIp"] == "127.0.0.1"
        port = server.endpoint.rsplit(":", 1)[1]
        assert reply["domainName"] == f"{api_id}.execute-api.localhost:{port}"

        ws.send(json.dumps({"action": "not-a-route"}))  # no such route key: $default
        assert json.loads(ws.recv(timeout=30))["route"] == "$default"
        ws.send("plain text, not JSON")  # cannot be selected: $default
        reply = json.loads(ws.recv(timeout=30))
        assert reply["route"] == "$default" and reply["got"] == "plain text, not JSON"
        ws.send(json.dumps({"action": "echo", "mode": "path"}))  # the function uses the path-form endpoint
        assert json.loads(ws.recv(timeout=30))["route"] == "echo"

        ws.send(json.dumps({"action": "boom"}))  # a failing function: API Gateway's own error message
        error = json.loads(ws.recv(timeout=30))
        assert error["message"] == "Internal server error" and error["connectionId"] and error["requestId"]
        connection_id = error["connectionId"]

    event = wait_for_file(out_dir / f"connect-{connection_id}.json")
    ctx = event["requestContext"]
    assert ctx["routeKey"] == "$connect" and ctx["eventType"] == "CONNECT" and ctx["messageDirection"] == "IN"
    assert ctx["stage"] == "dev" and ctx["apiId"] == api_id and ctx["connectionId"] == connection_id
    assert ctx["identity"]["sourceIp"] == "127.0.0.1" and "websockets" in ctx["identity"]["userAgent"]
    assert isinstance(ctx["connectedAt"], int) and isinstance(ctx["requestTimeEpoch"], int)
    assert ctx["requestId"] and ctx["extendedRequestId"] and ctx["requestTime"].endswith("+0000")
    assert event["queryStringParameters"] == {"room": "blue"}
    assert event["multiValueQueryStringParameters"] == {"room": ["blue"]}
    assert event["headers"]["x-team"] == "infra" and event["headers"]["sec-websocket-version"] == "13"
    assert event["multiValueHeaders"]["x-team"] == ["infra"] and event["isBase64Encoded"] is False

    event = wait_for_file(out_dir / f"disconnect-{connection_id}.json")
    ctx = event["requestContext"]
    assert ctx["routeKey"] == "$disconnect" and ctx["eventType"] == "DISCONNECT"
    assert ctx["disconnectStatusCode"] == 1000 and "1000" in ctx["disconnectReason"]
    assert ctx["connectionId"] == connection_id


def test_host_form_and_node_two_way_route(server, chat):
    with open_ws(server, chat["ApiId"], "dev", host_form=True) as ws:
        ws.send(json.dumps({"action": "whoami", "n": 7}))
        reply = json.loads(ws.recv(timeout=30))
        assert reply == {"runtime": "node", "route": "whoami", "eventType": "MESSAGE",
                         "connectionId": reply["connectionId"], "got": {"action": "whoami", "n": 7}}
        assert len(reply["connectionId"]) == 16 and reply["connectionId"].endswith("=")


def test_connect_rejection_and_unknown_stage(server, chat):
    with pytest.raises(InvalidStatus) as err:
        open_ws(server, chat["ApiId"], "dev", "reject=401")
    assert err.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as err:
        open_ws(server, chat["ApiId"], "prod")
    assert err.value.response.status_code == 403


def test_management_api_from_outside(server, chat, out_dir):
    api_id = chat["ApiId"]
    mgmt = management(f"{server.endpoint}/_aws/execute-api/{api_id}/dev")
    with open_ws(server, api_id, "dev") as ws:
        ws.send(json.dumps({"action": "boom"}))
        connection_id = json.loads(ws.recv(timeout=30))["connectionId"]
        info = mgmt.get_connection(ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1" and "websockets" in info["Identity"]["UserAgent"]
        assert info["ConnectedAt"] <= info["LastActiveAt"]
        mgmt.post_to_connection(ConnectionId=connection_id, Data=b'{"pushed": true}')
        assert json.loads(ws.recv(timeout=30)) == {"pushed": True}
        mgmt.post_to_connection(ConnectionId=connection_id, Data=b"\xff\x00binary")
        assert ws.recv(timeout=30) == b"\xff\x00binary"
        with pytest.raises(ClientError) as err:
            mgmt.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        assert err.value.response["Error"]["Code"] == "PayloadTooLargeException"
        other_stage = management(f"{server.endpoint}/_aws/execute-api/{api_id}/other")
        with pytest.raises(ClientError) as err:
            other_stage.get_connection(ConnectionId=connection_id)
        assert err.value.response["Error"]["Code"] == "GoneException"

        mgmt.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
    with pytest.raises(ClientError) as err:
        mgmt.post_to_connection(ConnectionId=connection_id, Data=b"late")
    assert err.value.response["Error"]["Code"] == "GoneException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    with pytest.raises(ClientError) as err:
        mgmt.delete_connection(ConnectionId=connection_id)
    assert err.value.response["Error"]["Code"] == "GoneException"
    ctx = wait_for_file(out_dir / f"disconnect-{connection_id}.json")["requestContext"]
    assert ctx["disconnectStatusCode"] == 1000 and "deleted" in ctx["disconnectReason"]

    unsigned = urllib.request.Request(f"{server.endpoint}/_aws/execute-api/{api_id}/dev/@connections/{connection_id}")
    with pytest.raises(urllib.error.HTTPError) as http_err:
        urllib.request.urlopen(unsigned, timeout=30)
    assert http_err.value.code == 403 and http_err.value.headers["x-amzn-ErrorType"].startswith("ForbiddenException")


def test_dropped_connection_runs_disconnect_with_1006(server, chat, out_dir):
    ws = open_ws(server, chat["ApiId"], "dev")
    ws.send(json.dumps({"action": "boom"}))
    connection_id = json.loads(ws.recv(timeout=30))["connectionId"]
    ws.socket.close()  # no close frame: the TCP connection just goes away
    ctx = wait_for_file(out_dir / f"disconnect-{connection_id}.json")["requestContext"]
    assert ctx["disconnectStatusCode"] == 1006 and ctx["eventType"] == "DISCONNECT"


def test_unmatched_message_without_default_route_is_forbidden(server, gw, node_fn):
    api = gw.create_api(Name=unique("nodefault"), ProtocolType="WEBSOCKET",
                        RouteSelectionExpression="${request.body.kind}")
    integration = gw.create_integration(ApiId=api["ApiId"], IntegrationType="AWS_PROXY",
                                        IntegrationUri=invocation_uri(node_fn))
    route = gw.create_route(ApiId=api["ApiId"], RouteKey="ask", Target=f"integrations/{integration['IntegrationId']}")
    gw.create_route_response(ApiId=api["ApiId"], RouteId=route["RouteId"], RouteResponseKey="$default")
    deployment = gw.create_deployment(ApiId=api["ApiId"])
    gw.create_stage(ApiId=api["ApiId"], StageName="v1", DeploymentId=deployment["DeploymentId"])
    with open_ws(server, api["ApiId"], "v1") as ws:
        ws.send(json.dumps({"kind": "ask"}))
        assert json.loads(ws.recv(timeout=30))["route"] == "ask"
        ws.send(json.dumps({"kind": "tell"}))
        reply = json.loads(ws.recv(timeout=30))
        assert reply["message"] == "Forbidden" and reply["connectionId"] and reply["requestId"]


def test_connect_authorizer(server, gw, lam, py_fn):
    auth_name = create_function(lam, AUTHORIZER)
    allow_apigw(lam, auth_name, source=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*/authorizers/*")
    auth_arn = lam.get_function(FunctionName=auth_name)["Configuration"]["FunctionArn"]
    node_echo = create_function(lam, {"index.js": """
exports.handler = async (event) => ({statusCode: 200, body: JSON.stringify(event.requestContext.authorizer || null)});
"""}, Runtime="nodejs20.x", handler="index.handler")
    allow_apigw(lam, node_echo)
    api_id = gw.create_api(Name=unique("authz"), ProtocolType="WEBSOCKET",
                           RouteSelectionExpression="$request.body.action")["ApiId"]
    authorizer = gw.create_authorizer(ApiId=api_id, Name="token", AuthorizerType="REQUEST",
                                      AuthorizerUri=invocation_uri(auth_arn),
                                      IdentitySource=["route.request.querystring.token"])
    fn_arn = lam.get_function(FunctionName=node_echo)["Configuration"]["FunctionArn"]
    integration = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=invocation_uri(fn_arn))
    target = f"integrations/{integration['IntegrationId']}"
    gw.create_route(ApiId=api_id, RouteKey="$connect", Target=target, AuthorizationType="CUSTOM",
                    AuthorizerId=authorizer["AuthorizerId"])
    default = gw.create_route(ApiId=api_id, RouteKey="$default", Target=target)
    gw.create_route_response(ApiId=api_id, RouteId=default["RouteId"], RouteResponseKey="$default")
    gw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)

    for query, status in (("", 401), ("token=wrong", 403)):
        with pytest.raises(InvalidStatus) as err:
            open_ws(server, api_id, "prod", query)
        assert err.value.response.status_code == status
    with open_ws(server, api_id, "prod", "token=letmein") as ws:
        ws.send("who am i")
        assert json.loads(ws.recv(timeout=30)) == {"tier": "gold", "principalId": "user-letmein"}


def test_control_plane_validation(server, gw, py_fn):
    def bad(call, **kw) -> str:
        with pytest.raises(ClientError) as err:
            call(**kw)
        assert err.value.response["Error"]["Code"] == "BadRequestException", err.value.response
        return err.value.response["Error"]["Message"]

    bad(gw.create_api, Name="x", ProtocolType="WEBSOCKET")  # no RouteSelectionExpression
    bad(gw.create_api, Name="x", ProtocolType="WEBSOCKET", RouteSelectionExpression="action")
    assert "HTTP" in bad(gw.create_api, Name="x", ProtocolType="WEBSOCKET",
                         RouteSelectionExpression="$request.body.action", Target=py_fn)
    assert "HTTP" in bad(gw.create_api, Name="x", ProtocolType="WEBSOCKET",
                         RouteSelectionExpression="$request.body.action",
                         CorsConfiguration={"AllowOrigins": ["*"]})
    api = gw.create_api(Name=unique("v"), ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
    api_id = api["ApiId"]
    assert api["ApiEndpoint"].startswith(f"ws://{api_id}.execute-api.localhost:")
    assert gw.get_api(ApiId=api_id)["RouteSelectionExpression"] == "$request.body.action"
    bad(gw.create_route, ApiId=api_id, RouteKey="$bogus")
    bad(gw.create_route, ApiId=api_id, RouteKey="send", AuthorizationType="AWS_IAM")  # only on $connect
    bad(gw.create_route, ApiId=api_id, RouteKey="send", RouteResponseSelectionExpression="$request.body.x")
    bad(gw.create_authorizer, ApiId=api_id, Name="j", AuthorizerType="JWT", IdentitySource=["$request.header.a"],
        JwtConfiguration={"Issuer": "https://example.com"})
    bad(gw.create_integration, ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=invocation_uri(py_fn),
        PayloadFormatVersion="2.0")
    integration = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=invocation_uri(py_fn))
    assert integration["PayloadFormatVersion"] == "1.0" and integration["TimeoutInMillis"] == 29000
    route = gw.create_route(ApiId=api_id, RouteKey="send", Target=f"integrations/{integration['IntegrationId']}")
    bad(gw.create_route_response, ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$connect")
    rr = gw.create_route_response(ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default")
    rr.pop("ResponseMetadata")
    assert gw.get_route_responses(ApiId=api_id, RouteId=route["RouteId"])["Items"] == [rr]
    with pytest.raises(ClientError) as err:
        gw.create_route_response(ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default")
    assert err.value.response["Error"]["Code"] == "ConflictException"
    ir = gw.create_integration_response(ApiId=api_id, IntegrationId=integration["IntegrationId"],
                                        IntegrationResponseKey="$default")
    ir.pop("ResponseMetadata")
    got = gw.get_integration_response(ApiId=api_id, IntegrationId=integration["IntegrationId"],
                                      IntegrationResponseId=ir["IntegrationResponseId"])
    got.pop("ResponseMetadata")
    assert got == ir
    bad(gw.create_integration_response, ApiId=api_id, IntegrationId=integration["IntegrationId"],
        IntegrationResponseKey="oops")
    gw.delete_route_response(ApiId=api_id, RouteId=route["RouteId"], RouteResponseId=rr["RouteResponseId"])
    with pytest.raises(ClientError) as err:
        gw.get_route_response(ApiId=api_id, RouteId=route["RouteId"], RouteResponseId=rr["RouteResponseId"])
    assert err.value.response["Error"]["Code"] == "NotFoundException"

    http_api = gw.create_api(Name=unique("h"), ProtocolType="HTTP")
    http_route = gw.create_route(ApiId=http_api["ApiId"], RouteKey="GET /x")
    bad(gw.create_route_response, ApiId=http_api["ApiId"], RouteId=http_route["RouteId"], RouteResponseKey="$default")
    bad(gw.create_route, ApiId=http_api["ApiId"], RouteKey="GET /y", RouteResponseSelectionExpression="$default")


def test_cli_create_websocket_api_and_talk(server, aws, node_fn):  # noqa: F811
    api = aws("apigatewayv2", "create-api", "--name", "cli-chat", "--protocol-type", "WEBSOCKET",
              "--route-selection-expression", "$request.body.action")
    api_id = api["ApiId"]
    assert api["ProtocolType"] == "WEBSOCKET" and api["ApiEndpoint"].startswith("ws://")
    integration = aws("apigatewayv2", "create-integration", "--api-id", api_id, "--integration-type", "AWS_PROXY",
                      "--integration-uri", invocation_uri(node_fn))
    route = aws("apigatewayv2", "create-route", "--api-id", api_id, "--route-key", "sendmessage",
                "--route-response-selection-expression", "$default",
                "--target", f"integrations/{integration['IntegrationId']}")
    aws("apigatewayv2", "create-route-response", "--api-id", api_id, "--route-id", route["RouteId"],
        "--route-response-key", "$default")
    aws("apigatewayv2", "create-stage", "--api-id", api_id, "--stage-name", "production", "--auto-deploy")
    with open_ws(server, api_id, "production") as ws:
        ws.send(json.dumps({"action": "sendmessage", "message": "hello"}))
        assert json.loads(ws.recv(timeout=30))["got"] == {"action": "sendmessage", "message": "hello"}
    proc = aws.fails("apigatewayv2", "create-api", "--name", "x", "--protocol-type", "WEBSOCKET")
    assert proc.returncode != 0 and "BadRequestException" in proc.stderr
