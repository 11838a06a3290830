"""Event source mappings: SQS queues are polled for real (batches, partial batch failures, redrive, states,
restarts); for sources nubis does not have (Kinesis, DynamoDB Streams, missing queues) Lambda's answers
for a missing source, an unknown function and an unknown mapping are what a client gets."""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, error_of, start_server, stop_server, unique, wait_for

CODE = "def handler(event, context):\n    return 1\n"


def test_create_event_source_mapping_for_missing_sources(lam):
    name = create_function(lam, CODE)
    cases = {
        "arn:aws:sqs:us-east-1:000000000000:no-such-queue":
            "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
            "SQS Error Message: The specified queue does not exist.",
        "arn:aws:kinesis:us-east-1:000000000000:stream/none":
            "Stream not found: arn:aws:kinesis:us-east-1:000000000000:stream/none",
        "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000":
            "Stream not found: arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000",
    }
    for arn, message in cases.items():
        with pytest.raises(ClientError) as exc:
            lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST")
        assert error_of(exc) == (400, "InvalidParameterValueException", message)
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(FunctionName=unique("missing"),
                                        EventSourceArn="arn:aws:sqs:us-east-1:000000000000:q")
    assert error_of(exc) == (400, "InvalidParameterValueException", "Function does not exist")
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(FunctionName=name)
    assert error_of(exc) == (400, "InvalidParameterValueException", "Unrecognized event source.")
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []


def test_unknown_event_source_mapping(lam):
    missing = str(uuid.uuid4())
    for call in (lambda: lam.get_event_source_mapping(UUID=missing),
                 lambda: lam.update_event_source_mapping(UUID=missing, BatchSize=5),
                 lambda: lam.delete_event_source_mapping(UUID=missing)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == (404, "ResourceNotFoundException", "The resource you requested does not exist.")


# Records every SQS record it gets; reports bodies starting with "fail" as failed items.
CONSUMER = """
import json, os, uuid
def handler(event, context):
    path = os.path.join(os.environ["OUT_DIR"], uuid.uuid4().hex + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(event, f)
    os.rename(path + ".tmp", path)
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                  if r["body"].startswith("fail")]}
"""


def seen_records(out: Path) -> list[dict]:
    return [r for p in sorted(out.glob("*.json")) for r in json.loads(p.read_text())["Records"]]


def make_queue(sqs, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=unique("esm"), Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def state(lam, ident: str) -> str:
    try:
        return lam.get_event_source_mapping(UUID=ident)["State"]
    except ClientError as e:
        return e.response["Error"]["Code"]


def test_sqs_mapping_delivers_batches_and_honours_item_failures(server, lam, tmp_path):
    sqs = server.client("sqs")
    dlq_url, dlq_arn = make_queue(sqs)
    url, arn = make_queue(sqs, VisibilityTimeout="3",
                          RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    out = tmp_path / "out"
    name = create_function(lam, CONSUMER, Environment={"Variables": {"OUT_DIR": str(out)}})
    created = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10,
                                              FunctionResponseTypes=["ReportBatchItemFailures"],
                                              ScalingConfig={"MaximumConcurrency": 2})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (created["State"], created["BatchSize"], created["EventSourceArn"]) == ("Creating", 10, arn)
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    ident = created["UUID"]
    assert wait_for(lambda: state(lam, ident) == "Enabled")

    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "ok-1", "MessageAttributes": {"who": {"DataType": "String", "StringValue": "me"}}},
        {"Id": "b", "MessageBody": "fail-1"}, {"Id": "c", "MessageBody": "ok-2"}])
    # the failed item goes back to the queue, and after maxReceiveCount to the dead-letter queue
    dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages"))
    assert [m["Body"] for m in dead] == ["fail-1"]
    records = seen_records(out)
    assert sorted(r["body"] for r in records) == ["fail-1", "ok-1", "ok-2"]
    ok1 = next(r for r in records if r["body"] == "ok-1")
    assert (ok1["eventSource"], ok1["eventSourceARN"], ok1["awsRegion"]) == ("aws:sqs", arn, "us-east-1")
    assert ok1["attributes"]["ApproximateReceiveCount"] == "1" and "SentTimestamp" in ok1["attributes"]
    assert ok1["messageAttributes"] == {"who": {"stringValue": "me", "stringListValues": [], "binaryListValues": [],
                                                "dataType": "String"}}
    assert ok1["md5OfBody"] == hashlib.md5(b"ok-1").hexdigest()
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")

    listed = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [ident]
    assert lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"][0]["UUID"] == ident

    updated = lam.update_event_source_mapping(UUID=ident, Enabled=False, BatchSize=5)
    assert (updated["State"], updated["BatchSize"]) == ("Disabling", 5)
    assert wait_for(lambda: state(lam, ident) == "Disabled")
    sqs.send_message(QueueUrl=url, MessageBody="ok-while-disabled")
    time.sleep(1)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "1"}  # nobody took it
    lam.update_event_source_mapping(UUID=ident, Enabled=True)
    assert wait_for(lambda: any(r["body"] == "ok-while-disabled" for r in seen_records(out)))

    deleted = lam.delete_event_source_mapping(UUID=ident)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202 and deleted["State"] == "Deleting"
    assert wait_for(lambda: state(lam, ident) == "ResourceNotFoundException")


def test_whole_batch_fails_on_a_function_error(server, lam, tmp_path):
    sqs = server.client("sqs")
    dlq_url, dlq_arn = make_queue(sqs)
    url, arn = make_queue(sqs, VisibilityTimeout="3",
                          RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    name = create_function(lam, "def handler(event, context):\n    raise ValueError('no')\n")
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    sqs.send_message(QueueUrl=url, MessageBody="doomed")
    dead = wait_for(lambda: sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1,
                                                AttributeNames=["All"]).get("Messages"))
    assert [m["Body"] for m in dead] == ["doomed"]


def test_sqs_mapping_validation(server, lam):
    sqs = server.client("sqs")
    _, arn = make_queue(sqs)
    name = create_function(lam, CODE)

    def refused(**kwargs) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as exc:
            lam.create_event_source_mapping(**{"FunctionName": name, "EventSourceArn": arn, **kwargs})
        return error_of(exc)

    assert refused(BatchSize=11) == (400, "InvalidParameterValueException", "Maximum batch window in seconds must be "
                                     "greater than 0 if maximum batch size is greater than 10")
    assert refused(BatchSize=10001, MaximumBatchingWindowInSeconds=1)[1] == "ValidationException"  # model max
    assert refused(StartingPosition="LATEST")[1] == "InvalidParameterValueException"
    _, short = make_queue(sqs, VisibilityTimeout="2")
    assert refused(EventSourceArn=short) == (400, "InvalidParameterValueException",
                                             "Queue visibility timeout: 2 seconds is less than Function timeout: 3 "
                                             "seconds")
    ok = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=100,
                                         MaximumBatchingWindowInSeconds=2, Enabled=False)
    assert wait_for(lambda: state(lam, ok["UUID"]) == "Disabled")
    status, code, message = refused()
    assert (status, code) == (409, "ResourceConflictException") and ok["UUID"] in message
    lam.delete_event_source_mapping(UUID=ok["UUID"])


def test_mappings_resume_after_restart(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    srv = start_server(data)
    try:
        lam, sqs = srv.client("lambda"), srv.client("sqs")
        url, arn = make_queue(sqs)
        name = create_function(lam, CONSUMER, Environment={"Variables": {"OUT_DIR": str(out)}})
        ident = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)["UUID"]
        assert wait_for(lambda: state(lam, ident) == "Enabled")
    finally:
        stop_server(srv)
    srv = start_server(data)
    try:
        lam, sqs = srv.client("lambda"), srv.client("sqs")
        assert lam.get_event_source_mapping(UUID=ident)["State"] == "Enabled"
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=url.rsplit("/", 1)[1])["QueueUrl"],
                         MessageBody="after restart")
        assert wait_for(lambda: [r["body"] for r in seen_records(out)] == ["after restart"])
    finally:
        stop_server(srv)
