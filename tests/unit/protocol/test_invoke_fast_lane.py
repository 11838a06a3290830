"""The edge's Invoke fast lane parses exactly what botocore's model parses, or steps aside."""
from __future__ import annotations

import pytest

from nubis.services.lambda_.fast_lane import invoke_params
from nubis.server.messages import HttpRequest
from nubis.server.protocol import load_service


def _req(name: str, headers: dict[str, str] | None = None, body: bytes = b"{}", query: str = "",
         method: str = "POST") -> HttpRequest:
    return HttpRequest(method=method, path=f"/2015-03-31/functions/{name}/invocations", query=query,
                       headers={"host": "127.0.0.1", **(headers or {})}, body=body)


@pytest.mark.parametrize("req", [
    _req("noop"),
    _req("a-b_c.d", {"x-amz-invocation-type": "Event", "x-amz-log-type": "Tail", "x-amz-client-context": "e30="}),
    _req("f", {"x-amz-invocation-type": "DryRun", "x-amz-log-type": "None"}, body=b"[1, 2]"),
])
def test_fast_lane_matches_the_model(req):
    op, params = load_service("lambda").parse(req)
    assert load_service("lambda").validate(op, params) == []
    assert invoke_params(req) == params


@pytest.mark.parametrize("req", [
    _req("noop", {"x-amz-invocation-type": "Bogus"}),  # invalid enum: the model's error
    _req("noop", {"x-amz-log-type": "tail"}),
    _req("noop", {"x-amz-tenant-id": "t"}),  # validated by the model
    _req("arn:aws:lambda:us-east-1:000000000000:function:x"),  # ARNs, partial ARNs
    _req("x%3A1"),  # percent-encoded
    _req("noop", query="Qualifier=1"),
    _req("noop", body=b""),
    _req("noop", method="GET"),
    _req("x" * 65),
])
def test_fast_lane_steps_aside(req):
    assert invoke_params(req) is None
