"""rest-json request parsing, checked against what a real boto3 Lambda client sends."""
from __future__ import annotations

import pytest

from nubis.server.errors import AwsError
from nubis.server.messages import HttpRequest
from nubis.server.protocol import load_service

ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"


def test_create_function_with_zip_bytes(lambda_lb):
    params = dict(
        FunctionName="my-fn",
        Runtime="python3.12",
        Role="arn:aws:iam::123456789012:role/lambda-role",
        Handler="app.handler",
        Code={"ZipFile": b"PK\x03\x04\x00\xff binary"},
        MemorySize=256,
        Timeout=30,
        Publish=True,
        Environment={"Variables": {"A": "1", "B_2": "two"}},
        Architectures=["arm64"],
        Tags={"team": "x"},
        Layers=["arn:aws:lambda:us-east-1:123456789012:layer:l:1"],
    )
    name, parsed = lambda_lb.capture("create_function", **params)
    assert name == "CreateFunction"
    assert parsed == params
    assert isinstance(parsed["Code"]["ZipFile"], bytes)


def test_invoke_payload_and_headers(lambda_lb):
    params = dict(
        FunctionName="my-fn",
        InvocationType="Event",
        LogType="Tail",
        Qualifier="live",
        Payload=b'{"hello": "world"}',
        ClientContext="eyJjdXN0b20iOnt9fQ==",
    )
    name, parsed = lambda_lb.capture("invoke", **params)
    assert name == "Invoke"
    assert parsed == params


def test_invoke_without_payload_has_no_payload_member(lambda_lb):
    name, parsed = lambda_lb.capture("invoke", FunctionName="f")
    assert (name, parsed) == ("Invoke", {"FunctionName": "f"})


def test_function_arn_with_colons_in_path(lambda_lb):
    name, parsed = lambda_lb.capture("invoke", FunctionName=ARN + ":prod", Payload=b"{}")
    assert "%3A" in lambda_lb.request.path  # boto3 encodes ':' ...
    assert parsed["FunctionName"] == ARN + ":prod"  # ... and the server decodes it


def test_get_function_with_qualifier(lambda_lb):
    assert lambda_lb.capture("get_function", FunctionName=ARN, Qualifier="3") == (
        "GetFunction", {"FunctionName": ARN, "Qualifier": "3"})


def test_list_functions_marker_and_max_items(lambda_lb):
    name, parsed = lambda_lb.capture("list_functions", Marker="abc+/=", MaxItems=25, FunctionVersion="ALL")
    assert name == "ListFunctions"
    assert parsed == {"Marker": "abc+/=", "MaxItems": 25, "FunctionVersion": "ALL"}
    assert isinstance(parsed["MaxItems"], int)


def test_untag_resource_repeated_query_keys(lambda_lb):
    name, parsed = lambda_lb.capture("untag_resource", Resource=ARN, TagKeys=["a", "b c", "d"])
    assert lambda_lb.request.query.count("tagKeys=") == 3
    assert (name, parsed) == ("UntagResource", {"Resource": ARN, "TagKeys": ["a", "b c", "d"]})


def test_get_layer_version_by_arn_literal_query(lambda_lb):
    arn = "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:3"
    name, parsed = lambda_lb.capture("get_layer_version_by_arn", Arn=arn)
    assert "find=LayerVersion" in lambda_lb.request.query
    assert (name, parsed) == ("GetLayerVersionByArn", {"Arn": arn})
    # same path without the literal query is ListLayers
    assert lambda_lb.capture("list_layers", CompatibleRuntime="python3.12")[0] == "ListLayers"


def test_list_provisioned_concurrency_configs_vs_get(lambda_lb):
    name, parsed = lambda_lb.capture("list_provisioned_concurrency_configs", FunctionName="f", MaxItems=5)
    assert "List=ALL" in lambda_lb.request.query
    assert (name, parsed) == ("ListProvisionedConcurrencyConfigs", {"FunctionName": "f", "MaxItems": 5})
    name, parsed = lambda_lb.capture("get_provisioned_concurrency_config", FunctionName="f", Qualifier="1")
    assert (name, parsed) == ("GetProvisionedConcurrencyConfig", {"FunctionName": "f", "Qualifier": "1"})


def test_update_function_code_and_event_source_mapping(lambda_lb):
    name, parsed = lambda_lb.capture("update_function_code", FunctionName="f", ZipFile=b"zip", Publish=True)
    assert (name, parsed) == ("UpdateFunctionCode", {"FunctionName": "f", "ZipFile": b"zip", "Publish": True})
    name, parsed = lambda_lb.capture(
        "update_event_source_mapping", UUID="14e0db71-5d35-4eb5-b481-8945cf9d10c2", BatchSize=10, Enabled=False,
        FunctionResponseTypes=["ReportBatchItemFailures"])
    assert name == "UpdateEventSourceMapping"
    assert parsed == {"UUID": "14e0db71-5d35-4eb5-b481-8945cf9d10c2", "BatchSize": 10, "Enabled": False,
                      "FunctionResponseTypes": ["ReportBatchItemFailures"]}


def test_alias_routes_prefer_more_literal_segments(lambda_lb):
    assert lambda_lb.capture("get_alias", FunctionName="f", Name="live") == (
        "GetAlias", {"FunctionName": "f", "Name": "live"})
    assert lambda_lb.capture("list_aliases", FunctionName="f")[0] == "ListAliases"
    assert lambda_lb.capture("list_versions_by_function", FunctionName="f")[0] == "ListVersionsByFunction"
    assert lambda_lb.capture("publish_version", FunctionName="f")[0] == "PublishVersion"


# -- errors --------------------------------------------------------------------------------------------

def _raises(svc, req) -> AwsError:
    with pytest.raises(AwsError) as info:
        svc.parse(req)
    return info.value


def test_unknown_operation_is_404():
    err = _raises(load_service("lambda"), HttpRequest("POST", "/2015-03-31/nope"))
    assert (err.status, err.code, err.message) == (404, "UnknownOperationException",
                                                   "Unknown operation: POST /2015-03-31/nope")


def test_wrong_method_is_unknown_operation():
    err = _raises(load_service("lambda"), HttpRequest("PATCH", "/2015-03-31/functions/f"))
    assert err.code == "UnknownOperationException"


def test_malformed_json_body():
    err = _raises(load_service("lambda"), HttpRequest("POST", "/2015-03-31/functions", body=b'{"FunctionName": '))
    assert (err.status, err.code) == (400, "InvalidRequestContentException")
    assert err.message.startswith("Could not parse request body into json: ")


def test_body_type_mismatch():
    req = HttpRequest("POST", "/2015-03-31/functions", body=b'{"FunctionName": "f", "MemorySize": "lots"}')
    err = _raises(load_service("lambda"), req)
    assert (err.status, err.code) == (400, "InvalidRequestContentException")
    assert "MemorySize" in err.message


def test_bad_base64_blob():
    req = HttpRequest("POST", "/2015-03-31/functions", body=b'{"FunctionName": "f", "Code": {"ZipFile": "!!"}}')
    assert _raises(load_service("lambda"), req).code == "InvalidRequestContentException"


def test_bad_integer_in_query():
    err = _raises(load_service("lambda"), HttpRequest("GET", "/2015-03-31/functions/", "MaxItems=ten"))
    assert err.status == 400


def test_json_scalars_are_coerced_like_jackson():
    req = HttpRequest("POST", "/2015-03-31/functions", body=b'{"FunctionName": "f", "MemorySize": "512", "Timeout": 3.0}')
    op, params = load_service("lambda").parse(req)
    assert params == {"FunctionName": "f", "MemorySize": 512, "Timeout": 3}


def test_unknown_body_members_and_nulls_are_ignored():
    req = HttpRequest("POST", "/2015-03-31/functions", body=b'{"FunctionName": "f", "Bogus": 1, "Handler": null}')
    assert load_service("lambda").parse(req)[1] == {"FunctionName": "f"}


def test_trailing_slash_tolerated():
    assert load_service("lambda").parse(HttpRequest("GET", "/2015-03-31/functions/"))[0].name == "ListFunctions"
    assert load_service("lambda").parse(HttpRequest("GET", "/2015-03-31/functions/f/"))[0].name == "GetFunction"


@pytest.mark.parametrize("body", [b"\xff\xfe", b"[1,2]", b"null", b"123", b'{"Code": []}', b'{"Tags": {"a": {}}}'])
def test_garbage_bodies_raise_only_aws_errors(body):
    svc = load_service("lambda")
    try:
        svc.parse(HttpRequest("POST", "/2015-03-31/functions", body=body))
    except AwsError as e:
        assert e.status == 400


def test_random_requests_raise_only_aws_errors():
    import random

    rng = random.Random(7)
    svc = load_service("lambda")
    alphabet = ["/", "2015-03-31", "functions", "%3A", "%", "{", "?", "&", "=", "..", "x", "invocations", "%ZZ"]
    for _ in range(500):
        path = "/" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 20)))
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "get"])
        headers = {"x-amz-invocation-type": rng.choice(["", "Event", "\x00"])}
        try:
            svc.parse(HttpRequest(method, path, query, headers, body))
        except AwsError:
            pass
