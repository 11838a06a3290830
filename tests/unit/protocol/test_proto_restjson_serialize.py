"""rest-json responses and errors, as boto3 reads them (Lambda)."""
from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from botocore.awsrequest import HeadersDict
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

from nubis.server.errors import AwsError
from nubis.server.protocol import load_service

ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"


def _botocore_parse(svc, op, resp, shape=None):
    """What botocore's RestJSONParser makes of an HttpResponse (direct, without a client)."""
    parser = create_parser(svc.model.metadata["protocol"])
    return parser.parse(
        {"headers": HeadersDict(resp.headers), "status_code": resp.status, "body": resp.body},
        shape if shape is not None else op.output_shape,
    )


# -- results ----------------------------------------------------------------------------------------

def test_get_function_configuration(lambda_lb):
    config = {
        "FunctionName": "my-fn", "FunctionArn": ARN, "Runtime": "python3.12", "MemorySize": 128,
        "Timeout": 3, "LastModified": "2024-01-01T12:00:00.000+0000", "State": "Active",
        "LastUpdateStatus": "Successful", "Environment": {"Variables": {"A": "1"}},
        "Architectures": ["x86_64"], "Bogus": "dropped", "Description": None,
    }
    lambda_lb.answer(config)
    out = lambda_lb.client.get_function_configuration(FunctionName="my-fn")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert out["LastModified"] == "2024-01-01T12:00:00.000+0000"  # a string shape stays a string
    assert out["Environment"] == {"Variables": {"A": "1"}}
    assert "Bogus" not in out and "Description" not in out
    assert json.loads(lambda_lb.response.body).keys() == {k for k, v in config.items() if v is not None} - {"Bogus"}
    assert lambda_lb.response.header("Content-Type") == "application/json"


def test_create_function_status_201_and_request_id(lambda_lb):
    lambda_lb.answer({"FunctionName": "f", "State": "Pending", "__request_id__": "req-123"})
    out = lambda_lb.client.create_function(
        FunctionName="f", Role="arn:aws:iam::123456789012:role/r", Code={"ZipFile": b"z"})
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["ResponseMetadata"]["RequestId"] == "req-123"
    assert out["State"] == "Pending"
    assert b"__request_id__" not in lambda_lb.response.body


def test_request_id_is_a_fresh_uuid(lambda_lb):
    lambda_lb.answer({})
    a = lambda_lb.client.get_account_settings()["ResponseMetadata"]["RequestId"]
    b = lambda_lb.client.get_account_settings()["ResponseMetadata"]["RequestId"]
    assert a != b and len(a) == 36


def test_timestamp_shape_is_epoch_seconds(lambda_lb):
    when = dt.datetime(2024, 3, 4, 5, 6, 7, 250000, tzinfo=dt.timezone.utc)
    lambda_lb.answer({"EventSourceMappings": [{"UUID": "u", "LastModified": when}]})
    out = lambda_lb.client.list_event_source_mappings()
    assert json.loads(lambda_lb.response.body)["EventSourceMappings"][0]["LastModified"] == 1709528767.25
    assert out["EventSourceMappings"][0]["LastModified"] == when


def test_invoke_payload_and_headers(lambda_lb):
    log = base64.b64encode(b"START RequestId: 1\nEND\n").decode()
    lambda_lb.answer({"StatusCode": 200, "Payload": b'{"errorMessage":"boom"}', "FunctionError": "Unhandled",
                      "LogResult": log, "ExecutedVersion": "$LATEST"})
    out = lambda_lb.client.invoke(FunctionName="f", LogType="Tail", Payload=b"{}")
    assert out["StatusCode"] == 200
    assert out["Payload"].read() == b'{"errorMessage":"boom"}'
    assert out["FunctionError"] == "Unhandled"
    assert out["LogResult"] == log
    assert out["ExecutedVersion"] == "$LATEST"
    assert lambda_lb.response.header("X-Amz-Function-Error") == "Unhandled"


def test_invoke_event_202_from_status_member(lambda_lb):
    lambda_lb.answer({"StatusCode": 202})
    out = lambda_lb.client.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    assert out["StatusCode"] == 202
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert out["Payload"].read() == b""


def test_invoke_dry_run_204_via_status_argument(lambda_lb):
    lambda_lb.answer(lambda op, params: ({"Payload": b"ignored"}, 204))
    out = lambda_lb.client.invoke(FunctionName="f", InvocationType="DryRun")
    assert out["StatusCode"] == 204
    assert out["Payload"].read() == b""
    assert lambda_lb.response.body == b""


def test_invoke_dict_payload_is_json(lambda_lb):
    lambda_lb.answer({"StatusCode": 200, "Payload": {"ok": True}})
    assert json.loads(lambda_lb.client.invoke(FunctionName="f")["Payload"].read()) == {"ok": True}


def test_direct_parser_invoke():
    svc = load_service("lambda")
    op = svc.operation("Invoke")
    resp = svc.serialize(op, {"StatusCode": 200, "Payload": b"42", "ExecutedVersion": "7"})
    parsed = _botocore_parse(svc, op, resp)
    assert parsed["Payload"] == "42"  # botocore's parser decodes non-streamed payload bodies
    assert parsed["ExecutedVersion"] == "7"
    assert parsed["StatusCode"] == 200


def test_no_content_operations_have_empty_body(lambda_lb):
    lambda_lb.answer({})
    out = lambda_lb.client.delete_function_concurrency(FunctionName="f")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_lb.response.body == b""


# -- errors -----------------------------------------------------------------------------------------

def test_resource_not_found(lambda_lb):
    msg = f"Function not found: {ARN}"
    lambda_lb.answer(AwsError("ResourceNotFoundException", msg, 404))
    with pytest.raises(lambda_lb.client.exceptions.ResourceNotFoundException) as info:
        lambda_lb.client.get_function(FunctionName="my-fn")
    r = info.value.response
    assert r["Error"] == {"Code": "ResourceNotFoundException", "Message": msg}
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert r["Type"] == "User"
    assert json.loads(lambda_lb.response.body) == {"Type": "User", "Message": msg}  # capital M, per model
    assert lambda_lb.response.header("x-amzn-ErrorType") == "ResourceNotFoundException"


def test_too_many_requests_fields_and_lowercase_message(lambda_lb):
    lambda_lb.answer(AwsError("TooManyRequestsException", "Rate Exceeded.", 429, Type="User",
                              Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
                              retryAfterSeconds="1"))
    with pytest.raises(lambda_lb.client.exceptions.TooManyRequestsException) as info:
        lambda_lb.client.invoke(FunctionName="f")
    r = info.value.response
    assert r["Error"]["Message"] == "Rate Exceeded."
    assert r["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert r["Type"] == "User"
    assert r["retryAfterSeconds"] == "1"
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert lambda_lb.response.header("Retry-After") == "1"
    assert json.loads(lambda_lb.response.body) == {
        "Type": "User", "message": "Rate Exceeded.", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}


def test_service_exception_type_is_service(lambda_lb):
    lambda_lb.answer(AwsError("ServiceException", "internal", 500))
    with pytest.raises(lambda_lb.client.exceptions.ServiceException) as info:
        lambda_lb.client.get_account_settings()
    assert info.value.response["Type"] == "Service"


def test_unmodeled_validation_exception(lambda_lb):
    svc = lambda_lb.svc
    op = svc.operation("CreateFunction")
    params = {"FunctionName": "f", "Role": "r1", "Code": {}}
    lambda_lb.answer(lambda o, p: (_ for _ in ()).throw(svc.validation_error(svc.validate(o, p))))
    with pytest.raises(ClientError) as info:
        lambda_lb.client.create_function(**params)
    err = info.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"].startswith("1 validation error detected: Value 'r1' at 'role'")
    assert json.loads(lambda_lb.response.body) == {"message": err["Message"]}
    assert op.name == "CreateFunction"


def test_request_too_large_wire_name(lambda_lb):
    lambda_lb.answer(AwsError("RequestEntityTooLargeException",
                              "Request must be smaller than 6291456 bytes for the InvokeFunction operation", 413))
    with pytest.raises(ClientError) as info:
        lambda_lb.client.invoke(FunctionName="f", Payload=b"x")
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_direct_parser_error():
    svc = load_service("lambda")
    op = svc.operation("GetFunction")
    resp = svc.serialize_error(AwsError("ResourceConflictException", "Function already exist: f", 409), op)
    parsed = _botocore_parse(svc, op, resp)
    assert parsed["Error"] == {"Code": "ResourceConflictException", "Message": "Function already exist: f"}
    assert parsed["ResponseMetadata"]["RequestId"] == resp.header("x-amzn-RequestId")
    modeled = _botocore_parse(svc, op, resp, svc.error_shape("ResourceConflictException"))
    assert modeled == {"Type": "User", "message": "Function already exist: f"}


def test_unknown_operation_error_round_trip():
    svc = load_service("lambda")
    from nubis.server.messages import HttpRequest

    with pytest.raises(AwsError) as info:
        svc.parse(HttpRequest("GET", "/nope"))
    resp = svc.serialize_error(info.value)
    assert resp.status == 404
    assert resp.header("x-amzn-ErrorType") == "UnknownOperationException"
    assert json.loads(resp.body) == {"message": "Unknown operation: GET /nope"}
