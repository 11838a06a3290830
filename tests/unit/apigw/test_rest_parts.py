"""REST API building blocks: resource matching, JSON-patch operations, VTL helpers, quota periods and
gateway responses."""
from __future__ import annotations

import datetime as dt

import orjson
import pytest

from nubis.server.errors import AwsError
from nubis.services.apigateway import vtl
from nubis.services.apigateway.gateway_responses import GatewayError, render
from nubis.services.apigateway.limits import period_start
from nubis.services.apigateway.matching import ResourceTree
from nubis.services.apigateway.patch import apply_patch


def _tree() -> ResourceTree:
    def res(rid, parent, part, path, *methods):
        r = {"id": rid, "parentId": parent, "pathPart": part, "path": path}
        if methods:
            r["resourceMethods"] = {m: {"httpMethod": m} for m in methods}
        return r

    resources = {
        "root": {"id": "root", "path": "/", "resourceMethods": {"GET": {"httpMethod": "GET"}}},
        "items": res("items", "root", "items", "/items", "POST"),
        "item": res("item", "items", "{id}", "/items/{id}", "GET"),
        "special": res("special", "items", "special", "/items/special", "GET"),
        "proxy": res("proxy", "root", "{proxy+}", "/{proxy+}", "ANY"),
    }
    return ResourceTree(resources)


def test_matching_precedence():
    tree = _tree()
    assert tree.match("GET", "/").resource["id"] == "root"
    assert tree.match("GET", "/items/special").resource["id"] == "special"
    m = tree.match("GET", "/items/7")
    assert m.resource["id"] == "item" and m.path_parameters == {"id": "7"}
    assert tree.match("GET", "/items/a%20b").path_parameters == {"id": "a b"}
    m = tree.match("DELETE", "/a/b/c")
    assert m.resource["id"] == "proxy" and m.path_parameters == {"proxy": "a/b/c"} and m.method["httpMethod"] == "ANY"
    m = tree.match("GET", "/items/7/deeper")  # no literal/param child: the greedy resource at the root
    assert m.resource["id"] == "proxy" and m.path_parameters == {"proxy": "items/7/deeper"}
    assert tree.match("DELETE", "/items/7") is False  # the resource exists, the method does not
    assert tree.match("POST", "/") is False


def test_patch_operations():
    doc = {"name": "a", "binaryMediaTypes": ["image/png"]}
    rules = {"name": str, "enabled": bool, "binaryMediaTypes": ("set", str), "variables": ("map", str),
             "throttle": {"rateLimit": float, "burstLimit": int}}
    apply_patch(doc, [{"op": "replace", "path": "/name", "value": "b"},
                      {"op": "add", "path": "/binaryMediaTypes/application~1pdf"},
                      {"op": "remove", "path": "/binaryMediaTypes/image~1png"},
                      {"op": "replace", "path": "/enabled", "value": "TRUE"},
                      {"op": "replace", "path": "/variables/k", "value": "v"},
                      {"op": "replace", "path": "/throttle/rateLimit", "value": "2.5"}], rules)
    assert doc == {"name": "b", "binaryMediaTypes": ["application/pdf"], "enabled": True, "variables": {"k": "v"},
                   "throttle": {"rateLimit": 2.5}}
    for bad in ({"op": "replace", "path": "/nope", "value": "x"}, {"op": "jump", "path": "/name"},
                {"op": "replace", "path": "/enabled", "value": "maybe"},
                {"op": "replace", "path": "/throttle/burstLimit", "value": "1.5"}):
        with pytest.raises(AwsError) as err:
            apply_patch(doc, [bad], rules)
        assert err.value.code == "BadRequestException"


def test_json_path_and_input():
    value = {"a": {"b": [1, {"c": "x"}]}, "list": [{"n": 1}, {"n": 2}]}
    assert vtl.json_path(value, "$") == value
    assert vtl.json_path(value, "$.a.b[1].c") == "x"
    assert vtl.json_path(value, "$['a']['b'][0]") == 1
    assert vtl.json_path(value, "$.list[*].n") == [1, 2]
    assert vtl.json_path(value, "$.missing.x") is None
    with pytest.raises(vtl.TemplateError):
        vtl.json_path(value, "a.b")
    inp = vtl.Input('{"k": "v"}', {"path": {"id": "1"}, "querystring": {"q": "2"}, "header": {"x-h": "3"}})
    assert inp.json("$.k") == '"v"' and inp.path("$.k") == "v"
    assert (inp.params("id"), inp.params("q"), inp.params("X-H"), inp.params("none")) == ("1", "2", "3", "")
    assert vtl.Input("").json() == "{}"


def test_escape_javascript_and_render():
    assert vtl.escape_javascript('a"b\'c\\d/e\nf\u00e9') == 'a\\"b\\\'c\\\\d\\/e\\nf\\u00E9'
    out = vtl.render('#set($x = $input.path(\'$.n\') + 1){"n": $x, "e": "$util.base64Encode(\'hi\')", '
                     '"s": "$stageVariables.s"}', {"input": vtl.Input('{"n": 41}'), "context": {},
                                                   "stageVariables": {"s": "v"}})
    assert orjson.loads(out) == {"n": 42, "e": "aGk=", "s": "v"}
    with pytest.raises(vtl.TemplateError):
        vtl.render("$util.parseJson('not json')", {"input": vtl.Input(""), "context": {}, "stageVariables": {}})


def test_quota_periods():
    wednesday = dt.date(2024, 5, 15)
    assert period_start({"period": "DAY"}, wednesday) == wednesday
    assert period_start({"period": "WEEK"}, wednesday) == dt.date(2024, 5, 12)  # Sunday
    assert period_start({"period": "WEEK", "offset": 4}, wednesday) == dt.date(2024, 5, 9)
    assert period_start({"period": "MONTH"}, wednesday) == dt.date(2024, 5, 1)
    assert period_start({"period": "MONTH", "offset": 20}, wednesday) == dt.date(2024, 4, 21)


def test_gateway_responses():
    resp = render(GatewayError("MISSING_AUTHENTICATION_TOKEN"), {}, "rid")
    assert (resp.status, resp.body) == (403, b'{"message":"Missing Authentication Token"}')
    assert resp.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert render(GatewayError("AUTHORIZER_CONFIGURATION_ERROR", None), {}, "r").body == b'{"message":null}'
    assert render(GatewayError("DEFAULT_5XX", "Internal server error", 502), {}, "r").status == 502
    custom = {"DEFAULT_4XX": {"statusCode": "418", "responseParameters": {"gatewayresponse.header.X-Why": "'tea'"},
                              "responseTemplates": {"application/json": '{"error": $context.error.messageString}'}}}
    resp = render(GatewayError("UNAUTHORIZED"), custom, "r")
    assert (resp.status, resp.header("X-Why"), resp.body) == (418, "tea", b'{"error": "Unauthorized"}')
