"""Stage selection, CORS and throttling helpers of the HTTP API gateway."""
from nubis.server.messages import HttpRequest, HttpResponse
from nubis.services.apigatewayv2 import cors
from nubis.services.apigw_common.gateway import TokenBucket, substitute_stage_variables
from nubis.services.apigatewayv2.gateway import select_stage
from nubis.services.apigatewayv2.store import ApiRecord


def record(*stages: str) -> ApiRecord:
    return ApiRecord("1", "r", {"ApiId": "a"}, stages={s: {"StageName": s} for s in stages})


def test_stage_selection():
    rec = record("$default", "dev")
    assert select_stage(rec, "/dev/x")[0::2] == ("dev", "/x")
    assert select_stage(rec, "/dev")[0::2] == ("dev", "/")
    assert select_stage(rec, "/prod/x")[0::2] == ("$default", "/prod/x")
    assert select_stage(rec, "/$default/x")[0::2] == ("$default", "/$default/x")
    assert select_stage(record("dev"), "/x") is None


def test_stage_variables_substitution():
    assert substitute_stage_variables("http://${stageVariables.host}/${stageVariables.none}x", {"host": "h"}) == \
        "http://h/x"


def test_cors_preflight_and_decoration():
    config = {"AllowOrigins": ["*"], "AllowMethods": ["GET"], "AllowHeaders": ["a", "b"], "MaxAge": 10,
              "ExposeHeaders": ["x"]}
    pre = HttpRequest("OPTIONS", "/", headers={"origin": "https://o", "access-control-request-method": "GET"})
    assert cors.is_preflight(pre)
    resp = cors.preflight(config, pre)
    assert resp.status == 204 and resp.header("access-control-allow-origin") == "*"
    assert resp.header("access-control-allow-headers") == "a,b" and resp.header("access-control-max-age") == "10"
    out = cors.decorate(config, HttpRequest("GET", "/", headers={"origin": "https://o"}),
                        HttpResponse(200, [("Access-Control-Allow-Origin", "https://evil")]))
    assert out.headers == [("access-control-allow-origin", "*"), ("access-control-expose-headers", "x")]
    assert not cors.is_preflight(HttpRequest("OPTIONS", "/", headers={"origin": "https://o"}))


def test_token_bucket_zero_and_burst():
    assert not TokenBucket(0.0, 0).take()
    bucket = TokenBucket(0.0, 2)
    assert bucket.take() and bucket.take() and not bucket.take()
