"""json protocol (CloudWatch Logs, SQS, DynamoDB) requests, results and errors via real clients."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.awsrequest import HeadersDict
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from proto_rig import Loopback

from nubis.server.errors import AwsError
from nubis.server.messages import HttpRequest
from nubis.server.protocol import load_service


def test_filter_log_events(logs_lb):
    params = dict(logGroupName="/aws/lambda/f", logStreamNames=["2024/01/01/[$LATEST]abc", "s2"],
                  startTime=1700000000000, endTime=1700000999000, filterPattern="ERROR", limit=50,
                  nextToken="tok", interleaved=True)
    assert logs_lb.capture("filter_log_events", **params) == ("FilterLogEvents", params)
    assert logs_lb.request.headers["x-amz-target"] == "Logs_20140328.FilterLogEvents"


def test_get_log_events(logs_lb):
    params = dict(logGroupName="/aws/lambda/f", logStreamName="s", startFromHead=True, limit=10)
    assert logs_lb.capture("get_log_events", **params) == ("GetLogEvents", params)


def test_describe_log_groups(logs_lb):
    params = dict(logGroupNamePrefix="/aws/lambda/", limit=5)
    assert logs_lb.capture("describe_log_groups", **params) == ("DescribeLogGroups", params)
    assert logs_lb.capture("describe_log_groups") == ("DescribeLogGroups", {})


def test_results(logs_lb):
    events = [{"timestamp": 1700000000000, "message": "START RequestId: 1\n", "ingestionTime": 1700000000100}]
    logs_lb.answer({"events": events, "nextForwardToken": "f/1", "nextBackwardToken": "b/1", "__request_id__": "r-1"})
    out = logs_lb.client.get_log_events(logGroupName="g", logStreamName="s")
    assert out["events"] == events
    assert out["nextForwardToken"] == "f/1"
    assert out["ResponseMetadata"]["RequestId"] == "r-1"
    assert logs_lb.response.header("Content-Type") == "application/x-amz-json-1.1"


def test_describe_log_groups_result(logs_lb):
    logs_lb.answer({"logGroups": [{"logGroupName": "/aws/lambda/f", "creationTime": 1, "storedBytes": 0,
                                   "retentionInDays": None}]})
    out = logs_lb.client.describe_log_groups()
    assert out["logGroups"] == [{"logGroupName": "/aws/lambda/f", "creationTime": 1, "storedBytes": 0}]


def test_error(logs_lb):
    logs_lb.answer(AwsError("ResourceNotFoundException", "The specified log group does not exist.", 400))
    with pytest.raises(logs_lb.client.exceptions.ResourceNotFoundException) as info:
        logs_lb.client.get_log_events(logGroupName="g", logStreamName="s")
    assert info.value.response["Error"]["Message"] == "The specified log group does not exist."
    body = json.loads(logs_lb.response.body)
    assert body == {"__type": "ResourceNotFoundException", "message": "The specified log group does not exist."}
    assert logs_lb.response.header("x-amzn-ErrorType") == "ResourceNotFoundException"


def test_direct_parser_error():
    svc = load_service("logs")
    resp = svc.serialize_error(AwsError("InvalidParameterException", "bad", 400))
    parsed = create_parser("json").parse(
        {"headers": HeadersDict(resp.headers), "status_code": resp.status, "body": resp.body}, None)
    assert parsed["Error"] == {"Code": "InvalidParameterException", "Message": "bad"}


def test_timestamp_members_in_json_are_epoch(logs_lb):
    # DynamoDB: a real `timestamp` shape inside a json-protocol body
    lb = Loopback("dynamodb")
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    name, parsed = lb.capture("list_backups", TimeRangeLowerBound=when, Limit=3)
    assert (name, parsed) == ("ListBackups", {"TimeRangeLowerBound": when, "Limit": 3})
    assert json.loads(lb.request.body)["TimeRangeLowerBound"] == 1704164645
    lb.answer({"BackupSummaries": [{"BackupName": "b", "BackupCreationDateTime": when}]})
    assert lb.client.list_backups()["BackupSummaries"][0]["BackupCreationDateTime"] == when
    assert lb.response.header("Content-Type") == "application/x-amz-json-1.0"


def test_dynamodb_binary_attribute_values():
    lb = Loopback("dynamodb")
    item = {"pk": {"S": "a"}, "bin": {"B": b"\x00\x01"}, "set": {"BS": [b"x", b"y"]}, "n": {"N": "1.5"}}
    name, parsed = lb.capture("put_item", TableName="t", Item=item)
    assert parsed == {"TableName": "t", "Item": item}
    lb.answer({"Attributes": item})
    assert lb.client.put_item(TableName="t", Item=item, ReturnValues="ALL_OLD")["Attributes"] == item


def test_sqs_query_compatible_error_code():
    lb = Loopback("sqs")
    lb.answer(AwsError("QueueDoesNotExist", "The specified queue does not exist.", 400,
                       __query_error__="AWS.SimpleQueueService.NonExistentQueue"))
    with pytest.raises(lb.client.exceptions.QueueDoesNotExist) as info:
        lb.client.get_queue_url(QueueName="nope")
    assert lb.response.header("x-amzn-query-error") == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert info.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert "__query_error__" not in json.loads(lb.response.body)
    lb.answer(AwsError("QueueNameExists", "exists", 400))
    with pytest.raises(lb.client.exceptions.QueueNameExists):
        lb.client.create_queue(QueueName="q")
    assert lb.response.header("x-amzn-query-error") == "QueueNameExists;Sender"


# -- malformed requests --------------------------------------------------------------------------------

def _err(req: HttpRequest, service: str = "logs") -> AwsError:
    with pytest.raises(AwsError) as info:
        load_service(service).parse(req)
    return info.value


def test_unknown_target():
    err = _err(HttpRequest("POST", "/", headers={"x-amz-target": "Logs_20140328.Nope"}, body=b"{}"))
    assert (err.status, err.code) == (400, "UnknownOperationException")
    err = _err(HttpRequest("POST", "/", body=b"{}"))
    assert err.code == "UnknownOperationException"


@pytest.mark.parametrize("body", [b"{", b"[]", b'"x"', b"\xff"])
def test_malformed_body_is_serialization_exception(body):
    req = HttpRequest("POST", "/", headers={"x-amz-target": "Logs_20140328.DescribeLogGroups"}, body=body)
    err = _err(req)
    assert (err.status, err.code) == (400, "SerializationException")


def test_wrong_member_type_is_serialization_exception():
    req = HttpRequest("POST", "/", headers={"x-amz-target": "Logs_20140328.DescribeLogGroups"},
                      body=b'{"limit": "many"}')
    assert _err(req).code == "SerializationException"


def test_empty_body_means_no_params():
    req = HttpRequest("POST", "/", headers={"x-amz-target": "Logs_20140328.DescribeLogGroups"})
    op, params = load_service("logs").parse(req)
    assert (op.name, params) == ("DescribeLogGroups", {})


def test_serialization_error_reaches_client_as_such():
    svc = load_service("logs")
    resp = svc.serialize_error(_err(HttpRequest("POST", "/", headers={"x-amz-target": "Logs_20140328.PutLogEvents"},
                                                body=b"nope")))
    assert resp.status == 400
    assert json.loads(resp.body)["__type"] == "SerializationException"


def test_client_sees_validation_error(logs_lb):
    svc = logs_lb.svc

    def handler(op, params):
        raise svc.validation_error(svc.validate(op, params))

    logs_lb.answer(handler)
    with pytest.raises(ClientError) as info:
        logs_lb.client.describe_log_groups(limit=51)
    assert info.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: "
                   "Member must have value less than or equal to 50",
    }
