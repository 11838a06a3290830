"""Payload 1.0 / 2.0 events and response mapping (shared by function URLs and HTTP APIs)."""
import base64

import orjson
import pytest

from nubis.events.http_events import MalformedResponse, v1_event, v1_response, v2_event, v2_response
from nubis.server.messages import HttpRequest


def req(**kw) -> HttpRequest:
    base = dict(method="POST", path="/p", query="a=1&a=2", headers={"host": "h:8", "cookie": "x=1; y=2",
                                                                    "content-type": "application/json"},
                body=b'{"k":1}', remote="10.0.0.1")
    base.update(kw)
    return HttpRequest(**base)


def test_v2_event_shape():
    e = v2_event(req(), raw_path="/dev/p", route_key="POST /p", stage="dev", api_id="abc", host="h:8",
                 account_id="123456789012", request_id="rid=", now=1583348638.39)
    assert e["version"] == "2.0" and e["routeKey"] == "POST /p" and e["rawPath"] == "/dev/p"
    assert e["cookies"] == ["x=1", "y=2"] and "cookie" not in e["headers"]
    assert e["queryStringParameters"] == {"a": "1,2"} and e["body"] == '{"k":1}'
    assert e["headers"]["x-forwarded-for"] == "10.0.0.1" and e["headers"]["x-forwarded-port"] == "8"
    ctx = e["requestContext"]
    assert ctx["time"] == "04/Mar/2020:19:03:58 +0000" and ctx["timeEpoch"] == 1583348638390
    assert ctx["http"] == {"method": "POST", "path": "/dev/p", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1",
                           "userAgent": ""}
    assert (ctx["stage"], ctx["domainName"], ctx["domainPrefix"]) == ("dev", "h", "abc")


def test_binary_bodies_are_base64():
    e = v2_event(req(body=b"\x89PNG", headers={"content-type": "image/png"}), raw_path="/", route_key="$default",
                 stage="$default", api_id="a", host="h", account_id="1", request_id="r")
    assert e["isBase64Encoded"] is True and base64.b64decode(e["body"]) == b"\x89PNG"


def test_v1_event_nulls_and_multi_values():
    e = v1_event(req(query="", body=b""), resource="$default", path="/p", stage="$default", api_id="a", host="h",
                 account_id="1", request_id="r", resource_id="$default", path_parameters={}, stage_variables={})
    assert e["version"] == "1.0"
    for key in ("queryStringParameters", "multiValueQueryStringParameters", "pathParameters", "stageVariables",
                "body"):
        assert e[key] is None, key
    assert e["headers"]["cookie"] == "x=1; y=2" and e["multiValueHeaders"]["cookie"] == ["x=1; y=2"]
    rest = v1_event(req(), resource="/p", path="/p", stage="s", api_id="a", host="h", account_id="1",
                    request_id="r", resource_id=None, path_parameters=None, stage_variables=None, version=None)
    assert "version" not in rest and rest["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert rest["queryStringParameters"] == {"a": "2"}


@pytest.mark.parametrize("value,body", [("hello", b"hello"), ({"message": "hi"}, b'{"message":"hi"}'),
                                        ([1, True], b"[1,true]"), (3, b"3")])
def test_v2_inference(value, body):
    resp = v2_response(orjson.dumps(value))
    assert (resp.status, resp.body, resp.header("content-type")) == (200, body, "application/json")


def test_v2_full_response():
    resp = v2_response(orjson.dumps({"statusCode": 201, "cookies": ["a=1"], "headers": {"X": "y"}, "body": "b"}))
    assert resp.status == 201 and resp.body == b"b" and ("Set-Cookie", "a=1") in resp.headers
    with pytest.raises(MalformedResponse):
        v2_response(orjson.dumps({"statusCode": "abc"}))


def test_v1_response_rules():
    resp = v1_response(orjson.dumps({"statusCode": 200, "headers": {"a": "1", "b": "2"},
                                     "multiValueHeaders": {"b": ["x", "y"]}, "body": "ok"}))
    assert resp.status == 200 and resp.body == b"ok"
    assert [v for k, v in resp.headers if k == "b"] == ["x", "y"] and resp.header("a") == "1"
    b64 = v1_response(orjson.dumps({"statusCode": 200, "isBase64Encoded": True,
                                    "body": base64.b64encode(b"\x00\x01").decode()}))
    assert b64.body == b"\x00\x01"
    for bad in ({"body": "x"}, {"statusCode": 200, "body": {"a": 1}}, "text", [1], {"statusCode": "x"},
                {"statusCode": 99}, {"statusCode": 200, "headers": {"a": {"b": 1}}},
                {"statusCode": 200, "multiValueHeaders": {"a": "notalist"}}, {"statusCode": True}):
        with pytest.raises(MalformedResponse):
            v1_response(orjson.dumps(bad))
    with pytest.raises(MalformedResponse):
        v1_response(b"not json")
