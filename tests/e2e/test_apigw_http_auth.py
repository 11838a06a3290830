"""HTTP API authorization end to end: Lambda REQUEST authorizers (simple and IAM-policy responses, identity
sources, result caching) and JWT authorizers against a JWKS served by the test."""
from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from apigw_testing import ECHO, apigw_function, http, invocation_uri, url

SIMPLE_AUTHORIZER = """
import uuid
def handler(event, context):
    token = event["headers"].get("authorization")
    if token == "boom":
        raise RuntimeError("authorizer failed")
    if token == "garbage":
        return "not a response"
    return {"isAuthorized": token == "allow",
            "context": {"user": "alice", "nonce": str(uuid.uuid4()), "seen": event["identitySource"],
                        "type": event["type"], "routeArn": event["routeArn"]}}
"""

POLICY_AUTHORIZER = """
def handler(event, context):
    api = event["methodArn"].split("/")[0]
    effect = "Allow" if event["authorizationToken"] == "allow" else "Deny"
    return {"principalId": "user-7",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": api + "/*/GET/open/*"}]},
            "context": {"tier": "gold", "version": event["version"]}}
"""


@pytest.fixture(scope="module")
def gw(server):
    return server.client("apigatewayv2")


@pytest.fixture(scope="module")
def echo(lam):
    return apigw_function(lam, ECHO)


def test_simple_responses_and_caching(server, gw, lam, echo):
    auth_arn = apigw_function(lam, SIMPLE_AUTHORIZER)
    api_id = gw.create_api(Name="auth-simple", ProtocolType="HTTP")["ApiId"]
    cached = gw.create_authorizer(ApiId=api_id, Name="cached", AuthorizerType="REQUEST",
                                  AuthorizerUri=invocation_uri(auth_arn), AuthorizerPayloadFormatVersion="2.0",
                                  EnableSimpleResponses=True, IdentitySource=["$request.header.Authorization"],
                                  AuthorizerResultTtlInSeconds=300)
    assert cached["AuthorizerType"] == "REQUEST" and len(cached["AuthorizerId"]) == 6
    uncached = gw.create_authorizer(ApiId=api_id, Name="uncached", AuthorizerType="REQUEST",
                                    AuthorizerUri=invocation_uri(auth_arn), AuthorizerPayloadFormatVersion="2.0",
                                    EnableSimpleResponses=True, IdentitySource=["$request.header.Authorization"])
    integration = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                        PayloadFormatVersion="2.0")["IntegrationId"]
    for key, authorizer in (("GET /cached", cached), ("GET /uncached", uncached)):
        gw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}",
                        AuthorizationType="CUSTOM", AuthorizerId=authorizer["AuthorizerId"])
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    def call(path: str, token: str | None):
        status, _, body = http(url(server, api_id, path), headers={"Authorization": token} if token else {})
        return status, json.loads(body)

    assert call("/cached", None) == (401, {"message": "Unauthorized"})  # identity source missing
    assert call("/cached", "deny") == (403, {"message": "Forbidden"})
    assert call("/cached", "boom") == (500, {"message": "Internal Server Error"})
    assert call("/uncached", "garbage") == (500, {"message": "Internal Server Error"})
    status, event = call("/cached", "allow")
    assert status == 200
    context = event["requestContext"]["authorizer"]["lambda"]
    assert context["user"] == "alice" and context["seen"] == ["allow"] and context["type"] == "REQUEST"
    assert context["routeArn"] == f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/$default/GET/cached"
    assert call("/cached", "allow")[1]["requestContext"]["authorizer"]["lambda"]["nonce"] == context["nonce"]
    first = call("/uncached", "allow")[1]["requestContext"]["authorizer"]["lambda"]["nonce"]
    assert call("/uncached", "allow")[1]["requestContext"]["authorizer"]["lambda"]["nonce"] != first
    gw.reset_authorizers_cache(ApiId=api_id, StageName="$default")
    assert call("/cached", "allow")[1]["requestContext"]["authorizer"]["lambda"]["nonce"] != context["nonce"]
    with pytest.raises(ClientError) as exc:  # in use by a route
        gw.delete_authorizer(ApiId=api_id, AuthorizerId=cached["AuthorizerId"])
    assert exc.value.response["Error"]["Code"] == "ConflictException"


def test_iam_policy_responses(server, gw, lam, echo):
    auth_arn = apigw_function(lam, POLICY_AUTHORIZER)
    api_id = gw.create_api(Name="auth-policy", ProtocolType="HTTP")["ApiId"]
    authorizer = gw.create_authorizer(ApiId=api_id, Name="policy", AuthorizerType="REQUEST",
                                      AuthorizerUri=invocation_uri(auth_arn), AuthorizerPayloadFormatVersion="1.0",
                                      IdentitySource=["$request.querystring.token"],
                                      AuthorizerResultTtlInSeconds=60)["AuthorizerId"]
    for version in ("1.0", "2.0"):
        integration = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                            PayloadFormatVersion=version)["IntegrationId"]
        prefix = "/open" if version == "2.0" else "/open/v1"
        gw.create_route(ApiId=api_id, RouteKey=f"GET {prefix}/{{id}}", Target=f"integrations/{integration}",
                        AuthorizationType="CUSTOM", AuthorizerId=authorizer)
    gw.create_route(ApiId=api_id, RouteKey="GET /closed", Target=f"integrations/{integration}",
                    AuthorizationType="CUSTOM", AuthorizerId=authorizer)
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    status, _, body = http(url(server, api_id, "/open/1?token=allow"))
    assert status == 200, body
    assert json.loads(body)["requestContext"]["authorizer"] == {"lambda": {"tier": "gold", "version": "1.0"}}
    status, _, body = http(url(server, api_id, "/open/v1/2?token=allow"))
    ctx = json.loads(body)["requestContext"]["authorizer"]
    assert status == 200 and ctx["principalId"] == "user-7" and ctx["tier"] == "gold"
    # the cached policy is evaluated against each route: it does not cover GET /closed
    assert http(url(server, api_id, "/closed?token=allow"))[0] == 403
    assert http(url(server, api_id, "/open/1?token=deny"))[0] == 403
    assert http(url(server, api_id, "/open/1"))[0] == 401


# -- JWT ---------------------------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class RsaKey:
    """An RSA key made and used by the openssl command line (no crypto package needed)."""

    def __init__(self, folder: Path, kid: str) -> None:
        self.kid = kid
        self.path = folder / f"{kid}.pem"
        subprocess.run(["openssl", "genrsa", "-out", str(self.path), "2048"], check=True, capture_output=True)
        modulus = subprocess.run(["openssl", "rsa", "-in", str(self.path), "-noout", "-modulus"], check=True,
                                 capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": b64url(bytes.fromhex(modulus)), "e": b64url((65537).to_bytes(3, "big"))}

    def token(self, claims: dict, kid: str | None = None) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": kid or self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.path)], input=signing_input.encode(),
                                   check=True, capture_output=True).stdout
        return f"{signing_input}.{b64url(signature)}"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    """A JWKS 'identity provider' on loopback: /.well-known/openid-configuration and /jwks."""
    folder = tmp_path_factory.mktemp("jwt")
    key, other = RsaKey(folder, "key-1"), RsaKey(folder, "key-2")
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                doc = {"issuer": state["issuer"], "jwks_uri": state["issuer"] + "/jwks"}
            elif self.path == "/jwks":
                doc = {"keys": [key.jwk]}
            else:
                self.send_error(404)
                return
            data = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["issuer"] = f"http://127.0.0.1:{srv.server_address[1]}"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield state["issuer"], key, other
    srv.shutdown()
    srv.server_close()


def test_jwt_authorizer(server, gw, echo, issuer):
    iss, key, other = issuer
    api_id = gw.create_api(Name="jwt", ProtocolType="HTTP")["ApiId"]
    authorizer = gw.create_authorizer(ApiId=api_id, Name="jwt", AuthorizerType="JWT",
                                      IdentitySource=["$request.header.Authorization"],
                                      JwtConfiguration={"Issuer": iss, "Audience": ["my-app"]})
    assert authorizer["JwtConfiguration"] == {"Issuer": iss, "Audience": ["my-app"]}
    integration = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                        PayloadFormatVersion="2.0")["IntegrationId"]
    gw.create_route(ApiId=api_id, RouteKey="GET /me", Target=f"integrations/{integration}",
                    AuthorizationType="JWT", AuthorizerId=authorizer["AuthorizerId"])
    gw.create_route(ApiId=api_id, RouteKey="GET /admin", Target=f"integrations/{integration}",
                    AuthorizationType="JWT", AuthorizerId=authorizer["AuthorizerId"], AuthorizationScopes=["admin"])
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    now = int(time.time())
    good = {"iss": iss, "aud": "my-app", "sub": "user-1", "exp": now + 600, "iat": now, "scope": "read write"}

    def call(path: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, resp_headers, body = http(url(server, api_id, path), headers=headers)
        return status, resp_headers, json.loads(body)

    status, _, event = call("/me", key.token(good))
    assert status == 200, event
    jwt_ctx = event["requestContext"]["authorizer"]["jwt"]
    assert jwt_ctx["claims"]["sub"] == "user-1" and jwt_ctx["claims"]["exp"] == str(now + 600)
    assert jwt_ctx["scopes"] == ["read", "write"]
    assert call("/admin", key.token(good))[0] == 403
    assert call("/admin", key.token({**good, "scope": "admin"}))[0] == 200
    status, headers, body = call("/me", key.token({**good, "exp": now - 10}))
    assert (status, body) == (401, {"message": "Unauthorized"})
    assert 'error="invalid_token"' in headers["www-authenticate"] and "expired" in headers["www-authenticate"]
    assert call("/me", key.token({**good, "aud": "someone-else"}))[0] == 401
    assert call("/me", key.token({**good, "iss": "https://elsewhere"}))[0] == 401
    assert call("/me", other.token(good, kid="key-1"))[0] == 401  # signed with a key not in the JWKS
    assert call("/me", "not.a.jwt")[0] == 401
    assert call("/me", None)[0] == 401
