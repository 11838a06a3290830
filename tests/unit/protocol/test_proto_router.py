"""Route matching details, caching, and the cost of parsing the Invoke hot path."""
from __future__ import annotations

import timeit

import pytest

from nubis.server.messages import HttpRequest
from nubis.server.protocol import ServiceProtocol, load_service
from nubis.server.protocol.router import Router, compile_route

INVOKE = HttpRequest(
    "POST",
    "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn/invocations",
    "Qualifier=live",
    {"x-amz-invocation-type": "RequestResponse", "x-amz-log-type": "Tail", "content-type": "application/json",
     "authorization": "AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/lambda/aws4_request, ...",
     "x-amz-date": "20240101T000000Z", "user-agent": "Boto3/1.34"},
    b'{"hello": "world"}',
)


def test_load_service_is_cached():
    assert load_service("lambda") is load_service("lambda")
    assert isinstance(load_service("logs"), ServiceProtocol)
    assert (load_service("lambda").protocol, load_service("logs").protocol) == ("rest-json", "json")
    assert (load_service("s3").protocol, load_service("sns").protocol) == ("rest-xml", "query")


def test_unsupported_protocol():
    with pytest.raises(ValueError):
        load_service("sqs", "ec2")


def test_more_literal_segments_win():
    router = Router([compile_route("ByLabel", "GET", "/x/{a}", None), compile_route("Literal", "GET", "/x/y", None)])
    assert router.match("GET", "/x/y", {}, {})[0].op_name == "Literal"
    route, labels = router.match("GET", "/x/z%2Fw", {}, {})
    assert (route.op_name, labels) == ("ByLabel", {"a": "z/w"})
    assert router.match("GET", "/x/z/w", {}, {}) is None  # a plain label never spans '/'
    assert router.match("POST", "/x/y", {}, {}) is None


def test_greedy_label():
    op, params = load_service("s3").parse(HttpRequest("GET", "/bkt/a/b%20c/d%2Be.txt"))
    assert (op.name, params) == ("GetObject", {"Bucket": "bkt", "Key": "a/b c/d+e.txt"})
    op, params = load_service("s3").parse(HttpRequest("GET", "/bkt", "list-type=2&prefix=a%2F"))
    assert (op.name, params) == ("ListObjectsV2", {"Bucket": "bkt", "Prefix": "a/"})
    op, params = load_service("s3").parse(HttpRequest("PUT", "/bkt/k", "partNumber=3&uploadId=u"))
    assert (op.name, params["PartNumber"]) == ("UploadPart", 3)


def test_literal_query_value_must_match():
    svc = load_service("lambda")
    assert svc.parse(HttpRequest("GET", "/2018-10-31/layers", "find=LayerVersion&Arn=a"))[0].name == \
        "GetLayerVersionByArn"
    assert svc.parse(HttpRequest("GET", "/2018-10-31/layers", "find=Other"))[0].name == "ListLayers"


def test_invoke_parse_is_fast():
    svc = load_service("lambda")
    op, params = svc.parse(INVOKE)
    assert params["FunctionName"] == "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
    n = 5000
    per_call = timeit.timeit(lambda: svc.parse(INVOKE), number=n) / n
    print(f"\nLambda Invoke parse: {per_call * 1e6:.1f} us")
    assert per_call < 200e-6  # tens of microseconds expected; generous bound for slow CI machines
