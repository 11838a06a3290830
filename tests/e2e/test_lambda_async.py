"""Asynchronous invocation as AWS does it: retries after function errors, event age, destinations."""
import json
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, start_server, stop_server, wait_for

# Writes each attempt (and any destination record it receives) to files in OUT_DIR.
RECORDER = """
import json, os, uuid
def handler(event, context):
    path = os.path.join(os.environ["OUT_DIR"], uuid.uuid4().hex)
    with open(path + ".tmp", "w") as f:  # whole files only: the test polls the directory
        json.dump({"event": event, "request_id": context.aws_request_id}, f)
    os.rename(path + ".tmp", path)
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"ok": event.get("n")}
"""


@pytest.fixture(scope="module")
def fast_retry_server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("async") / "data", "--async-retry-scale", "0.01")
    yield srv
    stop_server(srv)


def records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in out.iterdir() if p.suffix != ".tmp"]


def recorder(lam, out: Path, **kwargs) -> str:
    out.mkdir(exist_ok=True)
    return create_function(lam, RECORDER, Environment={"Variables": {"OUT_DIR": str(out)}}, **kwargs)


def test_failed_event_is_retried_twice_then_sent_to_on_failure(fast_retry_server, tmp_path):
    lam = fast_retry_server.client("lambda")
    sink_out, src_out = tmp_path / "sink", tmp_path / "src"
    sink = recorder(lam, sink_out)
    src = recorder(lam, src_out)
    sink_arn = lam.get_function(FunctionName=sink)["Configuration"]["FunctionArn"]
    cfg = lam.put_function_event_invoke_config(FunctionName=src, DestinationConfig={"OnFailure": {"Destination": sink_arn}})
    assert cfg["FunctionArn"].endswith(f":{src}:$LATEST") and cfg["DestinationConfig"]["OnFailure"]["Destination"] == sink_arn
    rid = lam.invoke(FunctionName=src, InvocationType="Event", Payload=b'{"fail": true}')["ResponseMetadata"]["RequestId"]

    got = wait_for(lambda: records(sink_out))
    assert got, "no failure record arrived"
    attempts = records(src_out)
    assert len(attempts) == 3 and {a["request_id"] for a in attempts} == {rid}  # same request id on retries
    record = got[0]["event"]
    assert record["version"] == "1.0"
    assert record["requestContext"] == {"requestId": rid, "functionArn": f"{cfg['FunctionArn']}",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"fail": True}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def test_success_destination_and_no_retries(fast_retry_server, tmp_path):
    lam = fast_retry_server.client("lambda")
    sink_out, src_out = tmp_path / "sink", tmp_path / "src"
    sink = recorder(lam, sink_out)
    src = recorder(lam, src_out)
    sink_arn = lam.get_function(FunctionName=sink)["Configuration"]["FunctionArn"]
    lam.put_function_event_invoke_config(FunctionName=src, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnSuccess": {"Destination": sink_arn}})
    lam.invoke(FunctionName=src, InvocationType="Event", Payload=b'{"n": 5}')
    got = wait_for(lambda: records(sink_out))
    record = got[0]["event"]
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"ok": 5} and "functionError" not in record["responseContext"]

    lam.invoke(FunctionName=src, InvocationType="Event", Payload=b'{"fail": true}')
    wait_for(lambda: len(records(src_out)) >= 2)
    time.sleep(2)  # a retry would come after 0.6 s at this scale
    assert len(records(src_out)) == 2


def test_zero_reserved_concurrency_goes_straight_to_failure(fast_retry_server, tmp_path):
    lam = fast_retry_server.client("lambda")
    sink_out, src_out = tmp_path / "sink", tmp_path / "src"
    sink = recorder(lam, sink_out)
    src = recorder(lam, src_out)
    sink_arn = lam.get_function(FunctionName=sink)["Configuration"]["FunctionArn"]
    lam.put_function_event_invoke_config(FunctionName=src, DestinationConfig={"OnFailure": {"Destination": sink_arn}})
    lam.put_function_concurrency(FunctionName=src, ReservedConcurrentExecutions=0)
    assert lam.invoke(FunctionName=src, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    record = wait_for(lambda: records(sink_out))[0]["event"]
    assert record["requestContext"]["condition"] == "ZeroReservedConcurrency"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert records(src_out) == []


def test_event_invoke_config_api(lam, tmp_path):
    name = recorder(lam, tmp_path / "o")
    with pytest.raises(ClientError) as exc:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert exc.value.response["Error"]["Message"] == (
        f"The function arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST doesn't have an EventInvokeConfig")
    with pytest.raises(ClientError) as exc:
        lam.put_function_event_invoke_config(FunctionName=name)
    assert exc.value.response["Error"]["Message"] == (
        "You must specify at least one of error handling or destination setting.")
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    with pytest.raises(ClientError) as exc:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": arn}})
    assert exc.value.response["Error"]["Message"] == "You can't specify the function as a destination for itself."
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    updated = lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=120)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 120)
    assert lam.get_function_event_invoke_config(FunctionName=name)["MaximumEventAgeInSeconds"] == 120
    assert len(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 1
    lam.delete_function_event_invoke_config(FunctionName=name)
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []
    with pytest.raises(ClientError) as exc:
        lam.put_function_event_invoke_config(FunctionName="nope-" + name, MaximumRetryAttempts=1)
    assert exc.value.response["Error"]["Message"] == "The function doesn't exist."


def queue(srv, name: str = "dest") -> tuple[object, str, str]:
    sqs = srv.client("sqs")
    url = sqs.create_queue(QueueName=f"{name}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn


def one_message(sqs, url: str) -> dict:
    deadline = time.time() + 60
    while time.time() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MessageAttributeNames=["All"]).get("Messages")
        if got:
            return got[0]
    raise AssertionError("no message arrived")


def test_sqs_destinations_and_dead_letter_queue(fast_retry_server, tmp_path):
    lam = fast_retry_server.client("lambda")
    sqs, ok_url, ok_arn = queue(fast_retry_server, "ok")
    _, fail_url, fail_arn = queue(fast_retry_server, "fail")
    _, dlq_url, dlq_arn = queue(fast_retry_server, "dlq")
    src = recorder(lam, tmp_path / "src", DeadLetterConfig={"TargetArn": dlq_arn})
    assert lam.get_function_configuration(FunctionName=src)["DeadLetterConfig"] == {"TargetArn": dlq_arn}
    cfg = lam.put_function_event_invoke_config(FunctionName=src, MaximumRetryAttempts=1, DestinationConfig={
        "OnSuccess": {"Destination": ok_arn}, "OnFailure": {"Destination": fail_arn}})

    rid = lam.invoke(FunctionName=src, InvocationType="Event", Payload=b'{"n": 1}')["ResponseMetadata"]["RequestId"]
    record = json.loads(one_message(sqs, ok_url)["Body"])
    assert record["version"] == "1.0"
    assert record["requestContext"] == {"requestId": rid, "functionArn": cfg["FunctionArn"], "condition": "Success",
                                        "approximateInvokeCount": 1}
    assert record["requestPayload"] == {"n": 1} and record["responsePayload"] == {"ok": 1}

    rid = lam.invoke(FunctionName=src, InvocationType="Event",
                     Payload=b'{"fail": true, "n": 2}')["ResponseMetadata"]["RequestId"]
    record = json.loads(one_message(sqs, fail_url)["Body"])
    assert record["requestContext"] == {"requestId": rid, "functionArn": cfg["FunctionArn"],
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 2}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "asked to fail"
    dead = one_message(sqs, dlq_url)
    assert json.loads(dead["Body"]) == {"fail": True, "n": 2}  # the event as it was sent
    attrs = dead["MessageAttributes"]
    assert attrs["RequestID"] == {"DataType": "String", "StringValue": rid}
    assert attrs["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert attrs["ErrorMessage"] == {"DataType": "String", "StringValue": "asked to fail"}


def test_queue_targets_are_validated(fast_retry_server, tmp_path):
    lam = fast_retry_server.client("lambda")
    missing = "arn:aws:sqs:us-east-1:000000000000:no-such-queue"
    name = recorder(lam, tmp_path / "o")
    with pytest.raises(ClientError) as exc:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": missing}})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert exc.value.response["Error"]["Message"] == f"The destination ARN {missing} is invalid."
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": missing})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        recorder(lam, tmp_path / "p", DeadLetterConfig={"TargetArn": "arn:aws:s3:::bucket"})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    _, _, arn = queue(fast_retry_server)
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": arn})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {"TargetArn": arn}
