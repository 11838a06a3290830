"""SNS wired to the other services, end to end against one real server: topics deliver to SQS queues
(the signed JSON envelope, raw delivery with message attributes, FIFO order); Lambda's asynchronous
destinations and dead-letter config publish to topics; S3 bucket notifications publish to topics whose
queue and Lambda subscribers then receive them. Everything is observed the way a user would: by
ReceiveMessage on a queue, or by what a recorder function wrote."""
from __future__ import annotations

import base64
import json
import shutil
import time
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, unique, wait_for
from sns_testing import (NOTIFICATION_KEYS, RECORDER, lam, openssl_verifies, recorded,  # noqa: F401 - fixtures
                         sns, srv, string_to_sign)

ENVELOPE_KEYS = {"Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature",
                 "SigningCertURL", "UnsubscribeURL"}

# An async target: fails when asked to, else returns {"ok": n}.
WORKER = """
def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"ok": event.get("n")}
"""


@pytest.fixture(scope="module")
def sqs(srv):
    return srv.client("sqs")


def make_queue(sqs, name: str = "q", fifo: bool = False) -> tuple[str, str]:
    attrs = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName=unique(name) + (".fifo" if fifo else ""), Attributes=attrs)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def subscribed_queue(sns, sqs, topic: str, raw: bool = False, fifo: bool = False) -> str:
    url, arn = make_queue(sqs, "sub", fifo)
    attrs = {"RawMessageDelivery": "true"} if raw else {}
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attrs, ReturnSubscriptionArn=True)
    assert sub["SubscriptionArn"].startswith(topic + ":")
    return url


def receive(sqs, url: str, n: int, timeout: float = 60.0) -> list[dict]:
    """Exactly the first n messages to arrive (each deleted once received, so FIFO groups move on)."""
    got: list[dict] = []
    deadline = time.time() + timeout
    while len(got) < n and time.time() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        got.extend(batch)
    assert len(got) >= n, f"{len(got)} of {n} messages arrived"
    return got


def nothing_more(sqs, url: str) -> bool:
    return not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


# -- SNS -> SQS -----------------------------------------------------------------------------------------
def test_topic_delivers_the_signed_envelope_to_a_queue(sns, sqs, srv, tmp_path):
    topic = sns.create_topic(Name=unique("env"))["TopicArn"]
    url = subscribed_queue(sns, sqs, topic)
    msg = sns.publish(TopicArn=topic, Message="hello queue", Subject="Greeting", MessageAttributes={
        "colour": {"DataType": "String", "StringValue": "blue"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe"}})["MessageId"]
    [m] = receive(sqs, url, 1)
    assert "MessageAttributes" not in m  # the attributes travel inside the envelope, not as SQS attributes
    doc = json.loads(m["Body"])
    assert ENVELOPE_KEYS <= set(doc)
    assert (doc["Type"], doc["MessageId"], doc["TopicArn"]) == ("Notification", msg, topic)
    assert (doc["Subject"], doc["Message"], doc["SignatureVersion"]) == ("Greeting", "hello queue", "1")
    assert doc["MessageAttributes"] == {"colour": {"Type": "String", "Value": "blue"},
                                        "blob": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01\xfe").decode()}}
    assert doc["UnsubscribeURL"].startswith(srv.endpoint + "/?Action=Unsubscribe&SubscriptionArn=")
    if shutil.which("openssl"):
        assert openssl_verifies(doc["SigningCertURL"], string_to_sign(doc, NOTIFICATION_KEYS), doc["Signature"],
                                "sha1", tmp_path)
    assert nothing_more(sqs, url)


def test_raw_delivery_gives_the_message_and_its_attributes(sns, sqs):
    topic = sns.create_topic(Name=unique("raw"))["TopicArn"]
    url = subscribed_queue(sns, sqs, topic, raw=True)
    sns.publish(TopicArn=topic, Message='{"order": 7}', Subject="ignored when raw", MessageAttributes={
        "colour": {"DataType": "String", "StringValue": "blue"},
        "count": {"DataType": "Number", "StringValue": "42"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe"}})
    [m] = receive(sqs, url, 1)
    assert m["Body"] == '{"order": 7}'
    assert m["MessageAttributes"] == {"colour": {"DataType": "String", "StringValue": "blue"},
                                      "count": {"DataType": "Number", "StringValue": "42"},
                                      "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe"}}
    assert "MD5OfMessageAttributes" in m


def test_fifo_topic_keeps_group_order_into_a_fifo_queue(sns, sqs):
    topic = sns.create_topic(Name=unique("ordered") + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url = subscribed_queue(sns, sqs, topic, raw=True, fifo=True)
    sent = []
    for i in range(12):
        group = "a" if i % 3 else "b"
        out = sns.publish(TopicArn=topic, Message=f"{group}-{i}", MessageGroupId=group,
                          MessageDeduplicationId=f"d{i}")
        sent.append((group, f"{group}-{i}", out["SequenceNumber"]))
    # a duplicate within five minutes is accepted but not delivered again
    again = sns.publish(TopicArn=topic, Message="a-1", MessageGroupId="a", MessageDeduplicationId="d1")
    assert again["SequenceNumber"] == sent[1][2]
    got = receive(sqs, url, 12)
    assert nothing_more(sqs, url)
    for group in ("a", "b"):
        assert [m["Body"] for m in got if m["Attributes"]["MessageGroupId"] == group] == \
            [body for g, body, _ in sent if g == group]
    sequences = [int(s) for _, _, s in sent]
    assert sequences == sorted(sequences) and len(set(sequences)) == 12


# -- Lambda async destinations and DLQ -> SNS -----------------------------------------------------------
def test_lambda_destinations_and_dead_letter_topic(sns, sqs, lam):
    ok_topic = sns.create_topic(Name=unique("ok"))["TopicArn"]
    fail_topic = sns.create_topic(Name=unique("fail"))["TopicArn"]
    dlq_topic = sns.create_topic(Name=unique("dlq"))["TopicArn"]
    ok_url, fail_url = subscribed_queue(sns, sqs, ok_topic), subscribed_queue(sns, sqs, fail_topic)
    dlq_raw_url, dlq_env_url = subscribed_queue(sns, sqs, dlq_topic, raw=True), subscribed_queue(sns, sqs, dlq_topic)
    fn = create_function(lam, WORKER, DeadLetterConfig={"TargetArn": dlq_topic})
    assert lam.get_function_configuration(FunctionName=fn)["DeadLetterConfig"] == {"TargetArn": dlq_topic}
    cfg = lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=1, DestinationConfig={
        "OnSuccess": {"Destination": ok_topic}, "OnFailure": {"Destination": fail_topic}})
    assert cfg["DestinationConfig"]["OnSuccess"]["Destination"] == ok_topic

    rid = lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"n": 1}')["ResponseMetadata"]["RequestId"]
    [m] = receive(sqs, ok_url, 1)
    envelope = json.loads(m["Body"])
    assert (envelope["Type"], envelope["TopicArn"]) == ("Notification", ok_topic)
    record = json.loads(envelope["Message"])
    assert record["version"] == "1.0"
    assert record["requestContext"] == {"requestId": rid, "functionArn": cfg["FunctionArn"], "condition": "Success",
                                        "approximateInvokeCount": 1}
    assert record["requestPayload"] == {"n": 1} and record["responsePayload"] == {"ok": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}

    rid = lam.invoke(FunctionName=fn, InvocationType="Event",
                     Payload=b'{"fail": true, "n": 2}')["ResponseMetadata"]["RequestId"]
    [m] = receive(sqs, fail_url, 1)
    record = json.loads(json.loads(m["Body"])["Message"])
    assert record["requestContext"] == {"requestId": rid, "functionArn": cfg["FunctionArn"],
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 2}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "asked to fail"

    [raw] = receive(sqs, dlq_raw_url, 1)  # the event as it was sent, with Lambda's attributes
    assert json.loads(raw["Body"]) == {"fail": True, "n": 2}
    assert raw["MessageAttributes"] == {"RequestID": {"DataType": "String", "StringValue": rid},
                                        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                                        "ErrorMessage": {"DataType": "String", "StringValue": "asked to fail"}}
    [env] = receive(sqs, dlq_env_url, 1)
    doc = json.loads(env["Body"])
    assert json.loads(doc["Message"]) == {"fail": True, "n": 2}
    assert doc["MessageAttributes"] == {"RequestID": {"Type": "String", "Value": rid},
                                        "ErrorCode": {"Type": "Number", "Value": "200"},
                                        "ErrorMessage": {"Type": "String", "Value": "asked to fail"}}
    assert nothing_more(sqs, ok_url)  # the failure went to OnFailure only


def test_topic_targets_are_validated(sns, lam):
    missing = f"arn:aws:sns:us-east-1:000000000000:{unique('no-such-topic')}"
    fn = create_function(lam, WORKER)
    assert error_of(lam.put_function_event_invoke_config, FunctionName=fn,
                    DestinationConfig={"OnFailure": {"Destination": missing}}) == (
        "InvalidParameterValueException", f"The destination ARN {missing} is invalid.")
    assert error_of(lam.update_function_configuration, FunctionName=fn, DeadLetterConfig={"TargetArn": missing}) == (
        "InvalidParameterValueException", f"The provided target arn {missing} is invalid. The queue or topic does "
        "not exist.")
    assert error_of(lam.create_function, FunctionName=unique("dlq"), Runtime="python3.12",
                    Role="arn:aws:iam::000000000000:role/r", Handler="app.handler", Code={"ZipFile": b"PK"},
                    DeadLetterConfig={"TargetArn": missing})[0] == "InvalidParameterValueException"
    topic = sns.create_topic(Name=unique("dlq"))["TopicArn"]
    lam.update_function_configuration(FunctionName=fn, DeadLetterConfig={"TargetArn": topic})
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    assert lam.get_function_configuration(FunctionName=fn)["DeadLetterConfig"] == {"TargetArn": topic}
    sns.delete_topic(TopicArn=topic)  # deleted since: configuring it again is refused
    assert error_of(lam.put_function_event_invoke_config, FunctionName=fn,
                    DestinationConfig={"OnSuccess": {"Destination": topic}})[1] == \
        f"The destination ARN {topic} is invalid."


# -- S3 -> SNS -> SQS / Lambda --------------------------------------------------------------------------
def test_s3_notifications_publish_to_a_topic(srv, sns, sqs, lam, tmp_path):
    s3 = srv.client("s3")
    bucket = unique("snsbucket")
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=unique("uploads"))["TopicArn"]
    url = subscribed_queue(sns, sqs, topic)
    out = tmp_path / "fn"
    fn = create_function(lam, RECORDER, Environment={"Variables": {"OUT_DIR": str(out)}})
    lam.add_permission(FunctionName=fn, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    fn_arn = lam.get_function_configuration(FunctionName=fn)["FunctionArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)

    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"TopicConfigurations": [
        {"Id": "to-topic", "TopicArn": topic, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}}}]})
    [stored] = s3.get_bucket_notification_configuration(Bucket=bucket)["TopicConfigurations"]
    assert (stored["Id"], stored["TopicArn"], stored["Events"]) == ("to-topic", topic, ["s3:ObjectCreated:*"])
    [m] = receive(sqs, url, 1)  # S3 announces the configuration to the topic
    doc = json.loads(m["Body"])
    assert (doc["TopicArn"], doc["Subject"]) == (topic, "Amazon S3 Notification")
    test_event = json.loads(doc["Message"])
    assert (test_event["Service"], test_event["Event"], test_event["Bucket"]) == ("Amazon S3", "s3:TestEvent", bucket)

    s3.put_object(Bucket=bucket, Key="skip.txt", Body=b"no")
    s3.put_object(Bucket=bucket, Key="photos/cat 1.jpg", Body=b"meow")
    [m] = receive(sqs, url, 1)
    doc = json.loads(m["Body"])
    assert doc["Subject"] == "Amazon S3 Notification"
    [record] = json.loads(doc["Message"])["Records"]
    assert (record["eventSource"], record["eventVersion"], record["eventName"]) == ("aws:s3", "2.1",
                                                                                    "ObjectCreated:Put")
    assert record["s3"]["configurationId"] == "to-topic" and record["s3"]["bucket"]["name"] == bucket
    assert unquote_plus(record["s3"]["object"]["key"]) == "photos/cat 1.jpg"
    assert (record["s3"]["object"]["size"], record["s3"]["object"]["eTag"]) == (4, "4a4be40c96ac6314e91d93f38043a634")
    assert nothing_more(sqs, url)  # nothing for the key without the suffix

    # the subscribed function got both, each wrapped in SNS's Lambda event
    events = wait_for(lambda: len(recorded(out)) >= 2 and recorded(out))
    assert len(events) == 2
    messages = [json.loads(e["Records"][0]["Sns"]["Message"]) for e in events]
    assert all(e["Records"][0]["Sns"]["Subject"] == "Amazon S3 Notification" for e in events)
    assert sorted(("Event" in m, m.get("Event") or m["Records"][0]["eventName"]) for m in messages) == [
        (False, "ObjectCreated:Put"), (True, "s3:TestEvent")]


def test_s3_topic_destination_must_exist(srv, sns):
    s3 = srv.client("s3")
    bucket = unique("snsmissing")
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=unique("gone"))["TopicArn"]
    sns.delete_topic(TopicArn=topic)
    with pytest.raises(ClientError) as info:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"TopicConfigurations": [
            {"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
    err = info.value.response["Error"]
    assert (err["Code"], err["Message"]) == ("InvalidArgument", "Unable to validate the following destination "
                                                                "configurations")
    assert (err["ArgumentName1"], err["ArgumentValue1"]) == (topic, "The destination topic does not exist")
    assert "TopicConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)


def test_s3_events_for_a_deleted_topic_are_dropped(srv, sns, sqs):
    """The topic disappears after configuration: S3 drops the event (as AWS does) and goes on delivering."""
    s3 = srv.client("s3")
    bucket = unique("snsdrop")
    s3.create_bucket(Bucket=bucket)
    gone = sns.create_topic(Name=unique("gone"))["TopicArn"]
    kept = sns.create_topic(Name=unique("kept"))["TopicArn"]
    url = subscribed_queue(sns, sqs, kept, raw=True)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"TopicConfigurations": [
        {"TopicArn": gone, "Events": ["s3:ObjectRemoved:*"]}, {"TopicArn": kept, "Events": ["s3:ObjectCreated:*"]}]})
    assert json.loads(receive(sqs, url, 1)[0]["Body"])["Event"] == "s3:TestEvent"
    sns.delete_topic(TopicArn=gone)
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.delete_object(Bucket=bucket, Key="a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"2")
    got = [json.loads(m["Body"])["Records"][0] for m in receive(sqs, url, 2)]
    assert [(r["eventName"], r["s3"]["object"]["key"]) for r in got] == [("ObjectCreated:Put", "a"),
                                                                         ("ObjectCreated:Put", "b")]
    assert wait_for(lambda: "dropped a notification for " + gone in srv.log(), timeout=30)
