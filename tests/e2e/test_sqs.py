"""Amazon SQS through boto3 (JSON protocol), signed query-protocol form posts and the AWS CLI."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from nubis_testing import start_server, stop_server, unique


@pytest.fixture(scope="module")
def sqs(server):
    return server.client("sqs")


def new_queue(sqs, prefix: str = "q", **attributes: str) -> str:
    name = unique(prefix) + (".fifo" if attributes.get("FifoQueue") == "true" else "")
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def error_of(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)
    return exc.value.response["Error"]


def expected_attributes_md5(attrs: dict) -> str:
    """SQS's documented algorithm, written out independently of the server's."""
    h = hashlib.md5()
    for name in sorted(attrs):
        a = attrs[name]
        for part in (name.encode(), a["DataType"].encode()):
            h.update(struct.pack(">I", len(part)) + part)
        if "StringValue" in a:
            value = a["StringValue"].encode()
            h.update(b"\x01" + struct.pack(">I", len(value)) + value)
        else:
            h.update(b"\x02" + struct.pack(">I", len(a["BinaryValue"])) + a["BinaryValue"])
    return h.hexdigest()


def attrs_of(sqs, url: str) -> dict:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


# -- queues

def test_create_get_list_delete(sqs, server):
    name = unique("life")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"}, tags={"team": "a"})["QueueUrl"]
    assert url == f"{server.endpoint}/000000000000/{name}"
    # idempotent with the same attributes (and with none), refused with different ones
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    err = error_of(sqs.create_queue, QueueName=name, Attributes={"VisibilityTimeout": "46"})
    assert err["Code"] == "QueueAlreadyExists"
    assert err["Message"] == ("A queue already exists with the same name and a different value for attribute "
                              "VisibilityTimeout")
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    attrs = attrs_of(sqs, url)
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    assert (attrs["VisibilityTimeout"], attrs["DelaySeconds"], attrs["MaximumMessageSize"],
            attrs["MessageRetentionPeriod"], attrs["ApproximateNumberOfMessages"]) == ("45", "0", "1048576", "345600",
                                                                                      "0")
    assert int(attrs["CreatedTimestamp"]) > 1_600_000_000
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "3", "ReceiveMessageWaitTimeSeconds": "2"})
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds", "ReceiveMessageWaitTimeSeconds"])
    assert got["Attributes"] == {"DelaySeconds": "3", "ReceiveMessageWaitTimeSeconds": "2"}

    sqs.delete_queue(QueueUrl=url)
    err = error_of(sqs.get_queue_url, QueueName=name)
    assert err["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert err["Message"] == "The specified queue does not exist."
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=url, MessageBody="x")


def test_list_queues_prefix_and_pages(sqs):
    prefix = unique("ls")
    urls = sorted(sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5))
    assert sorted(sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]) == urls
    seen, token = [], None
    while True:
        page = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["QueueUrls"]) <= 2
        seen += page["QueueUrls"]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == urls
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=unique("none"))
    paginated = [u for p in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix,
                                                                      PaginationConfig={"PageSize": 2})
                 for u in p.get("QueueUrls", [])]
    assert sorted(paginated) == urls


def test_queue_attribute_errors(sqs):
    err = error_of(sqs.create_queue, QueueName="bad name!")
    assert err["Code"] == "InvalidParameterValue"
    assert err["Message"] == "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
    err = error_of(sqs.create_queue, QueueName=unique("nofifo"), Attributes={"FifoQueue": "true"})
    assert err["Code"] == "InvalidParameterValue" and "must end with .fifo suffix" in err["Message"]
    err = error_of(sqs.create_queue, QueueName=unique("vt"), Attributes={"VisibilityTimeout": "43201"})
    assert (err["Code"], err["Message"]) == ("InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.")
    url = new_queue(sqs)
    err = error_of(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Bogus"])
    assert (err["Code"], err["Message"]) == ("InvalidAttributeName", "Unknown Attribute Bogus.")
    err = error_of(sqs.set_queue_attributes, QueueUrl=url, Attributes={"QueueArn": "x"})
    assert err["Code"] == "InvalidAttributeName"
    err = error_of(sqs.set_queue_attributes, QueueUrl=url, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nope",
                                     "maxReceiveCount": 3})})
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(sqs.get_queue_attributes, QueueUrl=url.rsplit("/", 1)[0] + "/missing", AttributeNames=["All"])
    assert err["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


# -- messages

def test_send_receive_delete_with_attributes_and_md5(sqs):
    url = new_queue(sqs)
    attrs = {"Author": {"DataType": "String", "StringValue": "John"},
             "Count": {"DataType": "Number", "StringValue": "42"},
             "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
             "Meta.custom": {"DataType": "String.custom", "StringValue": "ünïcode ✓"}}
    body = "Test message. ✓"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == expected_attributes_md5(attrs)
    assert "SequenceNumber" not in sent

    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])
    [m] = got["Messages"]
    assert (m["MessageId"], m["Body"], m["MD5OfBody"]) == (sent["MessageId"], body, sent["MD5OfMessageBody"])
    assert m["MessageAttributes"] == attrs and m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    system = m["Attributes"]
    assert system["ApproximateReceiveCount"] == "1" and system["SenderId"] == "000000000000"
    assert int(system["ApproximateFirstReceiveTimestamp"]) >= int(system["SentTimestamp"])

    # only the attributes asked for, with the digest of those
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    [m2] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["Meta.*", "Count"],
                               AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert set(m2["MessageAttributes"]) == {"Meta.custom", "Count"}
    assert m2["MD5OfMessageAttributes"] == expected_attributes_md5({k: attrs[k] for k in ("Meta.custom", "Count")})
    assert m2["Attributes"] == {"ApproximateReceiveCount": "2"}
    assert m2["ReceiptHandle"] != m["ReceiptHandle"]

    sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
    assert attrs_of(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_long_polling_returns_a_message_sent_while_waiting(sqs):
    url = new_queue(sqs)
    result: dict = {}
    waiter = threading.Thread(target=lambda: result.update(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)))
    waiter.start()
    threading.Event().wait(0.5)
    assert waiter.is_alive()  # nothing there yet: the call is waiting, not answering empty
    sqs.send_message(QueueUrl=url, MessageBody="late")
    waiter.join(30)
    assert [m["Body"] for m in result["Messages"]] == ["late"]
    # a long poll on an empty queue answers empty once the wait is over
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_visibility_timeout_expiry_and_changes(sqs):
    url = new_queue(sqs, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="again")
    [first] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # in flight
    counts = attrs_of(sqs, url)
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    # becomes visible again by itself; the long poll wakes for it
    [second] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10, AttributeNames=["All"])["Messages"]
    assert second["MessageId"] == first["MessageId"] and second["Attributes"]["ApproximateReceiveCount"] == "2"
    # the old receipt no longer deletes it
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=600)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)
    [third] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)["Messages"]
    assert third["MessageId"] == first["MessageId"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    err = error_of(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=third["ReceiptHandle"],
                   VisibilityTimeout=5)
    assert err["Code"] == "InvalidParameterValue" and "Message does not exist" in err["Message"]


def test_delayed_messages(sqs):
    url = new_queue(sqs, DelaySeconds="1")
    sqs.send_message(QueueUrl=url, MessageBody="queue delay")
    sqs.send_message(QueueUrl=url, MessageBody="no delay", DelaySeconds=0)
    assert attrs_of(sqs, url)["ApproximateNumberOfMessagesDelayed"] == "1"
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["no delay"]
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    assert [m["Body"] for m in got] == ["queue delay"]
    err = error_of(sqs.send_message, QueueUrl=url, MessageBody="x", DelaySeconds=901)
    assert err["Code"] == "InvalidParameterValue"


def test_redrive_to_dead_letter_queue(sqs):
    dlq_url = new_queue(sqs, "dlq")
    dlq_arn = attrs_of(sqs, dlq_url)["QueueArn"]
    url = new_queue(sqs, "src", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    src_arn = attrs_of(sqs, url)["QueueArn"]
    assert json.loads(attrs_of(sqs, url)["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        [m] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
        assert m["MessageId"] == sent["MessageId"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # the third receive moves it
    [dead] = sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["All"])["Messages"]
    assert (dead["MessageId"], dead["Body"]) == (sent["MessageId"], "poison")
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == src_arn
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"] == [url]
    err = error_of(sqs.set_queue_attributes, QueueUrl=url, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0})})
    assert err["Code"] == "InvalidParameterValue" and "maxReceiveCount" in err["Message"]


def test_fifo_order_groups_and_deduplication(sqs):
    url = new_queue(sqs, "fifo", FifoQueue="true")
    assert attrs_of(sqs, url)["FifoQueue"] == "true"
    sent = [sqs.send_message(QueueUrl=url, MessageBody=f"{g}{i}", MessageGroupId=g, MessageDeduplicationId=f"{g}{i}")
            for i in range(3) for g in ("a", "b")]
    assert all(len(s["SequenceNumber"]) == 20 for s in sent)
    assert [int(s["SequenceNumber"]) for s in sent] == sorted(int(s["SequenceNumber"]) for s in sent)
    dup = sqs.send_message(QueueUrl=url, MessageBody="a0 again", MessageGroupId="a", MessageDeduplicationId="a0")
    assert dup["MessageId"] == sent[0]["MessageId"]  # deduplicated within 5 minutes

    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    bodies = [m["Body"] for m in got]
    assert [b for b in bodies if b[0] == "a"] == ["a0", "a1", "a2"] and [b for b in bodies if b[0] == "b"] == \
        ["b0", "b1", "b2"]
    assert got[0]["Attributes"]["MessageGroupId"] in ("a", "b") and "SequenceNumber" in got[0]["Attributes"]
    # while a group has messages in flight, nothing else of it is handed out
    sqs.send_message(QueueUrl=url, MessageBody="a3", MessageGroupId="a", MessageDeduplicationId="a3")
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    for m in got:
        if m["Body"].startswith("a"):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["a3"]

    err = error_of(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="a")
    assert err["Code"] == "InvalidParameterValue" and "ContentBasedDeduplication" in err["Message"]
    err = error_of(sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert (err["Code"], err["Message"]) == ("MissingParameter", "The request must contain the parameter MessageGroupId.")
    err = error_of(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="a", MessageDeduplicationId="z",
                   DelaySeconds=1)
    assert err["Code"] == "InvalidParameterValue"


def test_fifo_content_based_deduplication(sqs):
    url = new_queue(sqs, "cbd", FifoQueue="true", ContentBasedDeduplication="true")
    one = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    other = sqs.send_message(QueueUrl=url, MessageBody="different", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"] != other["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["same", "different"]


def test_batches_and_batch_errors(sqs):
    url = new_queue(sqs)
    res = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "ok1", "MessageBody": "one"},
        {"Id": "bad", "MessageBody": "two", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "x"}}},
        {"Id": "ok2", "MessageBody": "three", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
    ])
    assert sorted(s["Id"] for s in res["Successful"]) == ["ok1", "ok2"]
    ok2 = next(s for s in res["Successful"] if s["Id"] == "ok2")
    assert ok2["MD5OfMessageBody"] == hashlib.md5(b"three").hexdigest()
    assert ok2["MD5OfMessageAttributes"] == expected_attributes_md5({"k": {"DataType": "String", "StringValue": "v"}})
    [failed] = res["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == ("bad", "InvalidParameterValue", True)

    err = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": f"m{i}", "MessageBody": "x"}
                                                                   for i in range(11)])
    assert (err["Code"], err["Message"]) == ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                                             "Maximum number of entries per request are 10. You have sent 11.")
    err = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "same", "MessageBody": "x"},
                                                                   {"Id": "same", "MessageBody": "y"}])
    assert err["Code"] == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    err = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[])
    assert err["Code"] == "AWS.SimpleQueueService.EmptyBatchRequest"
    err = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "no spaces", "MessageBody": "x"}])
    assert err["Code"] == "AWS.SimpleQueueService.InvalidBatchEntryId"

    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["one", "three"]
    vis = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 100},
        {"Id": "b", "ReceiptHandle": "garbage", "VisibilityTimeout": 100}])
    assert [s["Id"] for s in vis["Successful"]] == ["a"] and vis["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"]}, {"Id": "b", "ReceiptHandle": got[1]["ReceiptHandle"]},
        {"Id": "c", "ReceiptHandle": "garbage"}])
    assert sorted(s["Id"] for s in deleted["Successful"]) == ["a", "b"]
    assert deleted["Failed"] == [{"Id": "c", "SenderFault": True, "Code": "ReceiptHandleIsInvalid",
                                  "Message": 'The input receipt handle "garbage" is not a valid receipt handle.'}]
    counts = attrs_of(sqs, url)
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_message_errors(sqs):
    url = new_queue(sqs, MaximumMessageSize="1024")
    err = error_of(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
    assert (err["Code"], err["Message"]) == ("InvalidParameterValue", "Value 11 for parameter MaxNumberOfMessages is "
                                             "invalid. Reason: Must be between 1 and 10, if provided.")
    err = error_of(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=21)
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(sqs.send_message, QueueUrl=url, MessageBody="x" * 1025)
    assert err["Message"] == "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
    err = error_of(sqs.send_message, QueueUrl=url, MessageBody="")
    assert (err["Code"], err["Message"]) == ("MissingParameter", "The request must contain the parameter MessageBody.")
    err = error_of(sqs.send_message, QueueUrl=url, MessageBody="bad \x01 char")
    assert err["Code"] == "InvalidMessageContents"
    err = error_of(sqs.send_message, QueueUrl=url, MessageBody="x",
                   MessageAttributes={"AWS.x": {"DataType": "String", "StringValue": "v"}})
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(sqs.delete_message, QueueUrl=url, ReceiptHandle="not-a-handle")
    assert (err["Code"], err["Message"]) == ("ReceiptHandleIsInvalid",
                                             'The input receipt handle "not-a-handle" is not a valid receipt handle.')
    err = error_of(sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert err["Code"] == "InvalidParameterValue"  # standard queues take no deduplication id


def test_purge_queue(sqs):
    url = new_queue(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)])
    sqs.receive_message(QueueUrl=url)
    sqs.purge_queue(QueueUrl=url)
    counts = attrs_of(sqs, url)
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


# -- query protocol (older SDKs): signed form posts, XML answers

def query(server, params: dict) -> tuple[int, ET.Element]:
    body = urlencode(dict(params, Version="2012-11-05"))
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials("test", "test"), "sqs", "us-east-1").add_auth(req)
    http = urllib.request.Request(req.url, data=body.encode(), headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(http) as resp:
            return resp.status, ET.fromstring(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, ET.fromstring(e.read())


def text(root: ET.Element, path: str) -> list[str]:
    ns = {"q": "http://queue.amazonaws.com/doc/2012-11-05/"}
    return [e.text or "" for e in root.findall(path, ns)]


def test_query_protocol(server, sqs):
    name = unique("query")
    status, root = query(server, {"Action": "CreateQueue", "QueueName": name, "Attribute.1.Name": "VisibilityTimeout",
                                  "Attribute.1.Value": "7"})
    assert status == 200
    [url] = text(root, ".//q:CreateQueueResult/q:QueueUrl")
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == \
        {"VisibilityTimeout": "7"}
    status, root = query(server, {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "via query",
                                  "MessageAttribute.1.Name": "k", "MessageAttribute.1.Value.DataType": "String",
                                  "MessageAttribute.1.Value.StringValue": "v"})
    assert status == 200
    assert text(root, ".//q:MD5OfMessageBody") == [hashlib.md5(b"via query").hexdigest()]
    assert text(root, ".//q:MD5OfMessageAttributes") == [
        expected_attributes_md5({"k": {"DataType": "String", "StringValue": "v"}})]
    status, root = query(server, {"Action": "ReceiveMessage", "QueueUrl": url, "AttributeName.1": "All",
                                  "MessageAttributeName.1": "All"})
    assert text(root, ".//q:Message/q:Body") == ["via query"]
    attrs = dict(zip(text(root, ".//q:Message/q:Attribute/q:Name"), text(root, ".//q:Message/q:Attribute/q:Value")))
    assert attrs["ApproximateReceiveCount"] == "1"
    assert text(root, ".//q:Message/q:MessageAttribute/q:Name") == ["k"]
    status, root = query(server, {"Action": "ListQueues", "QueueNamePrefix": name})
    assert text(root, ".//q:ListQueuesResult/q:QueueUrl") == [url]
    status, root = query(server, {"Action": "GetQueueUrl", "QueueName": unique("missing")})
    assert status == 400
    assert text(root, ".//q:Error/q:Code") == ["AWS.SimpleQueueService.NonExistentQueue"]
    assert text(root, ".//q:Error/q:Type") == ["Sender"]


# -- the AWS CLI

AWS = Path(sys.executable).parent / "aws"


def test_aws_cli(server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_MAX_ATTEMPTS="1")

    def aws(*args: str) -> dict:
        proc = subprocess.run([sys.executable, str(AWS), "--endpoint-url", server.endpoint, "--output", "json",
                               "sqs", *args], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    name = unique("cli")
    url = aws("create-queue", "--queue-name", name, "--attributes", "VisibilityTimeout=60")["QueueUrl"]
    sent = aws("send-message", "--queue-url", url, "--message-body", "from the cli",
               "--message-attributes", '{"who": {"DataType": "String", "StringValue": "cli"}}')
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"from the cli").hexdigest()
    got = aws("receive-message", "--queue-url", url, "--message-attribute-names", "All", "--wait-time-seconds", "1")
    [m] = got["Messages"]
    assert m["Body"] == "from the cli" and m["MessageAttributes"]["who"]["StringValue"] == "cli"
    aws("delete-message", "--queue-url", url, "--receipt-handle", m["ReceiptHandle"])
    assert aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "ApproximateNumberOfMessages")[
        "Attributes"] == {"ApproximateNumberOfMessages": "0"}
    aws("delete-queue", "--queue-url", url)


# -- durability

@pytest.mark.timeout(180)
def test_messages_survive_kill_9(tmp_path):
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        sqs = srv.client("sqs")
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        for start in range(0, 50, 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"}
                                                          for i in range(start, start + 10)])
        held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5, VisibilityTimeout=3600)["Messages"]
        brief = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5, VisibilityTimeout=1)["Messages"]
        assert len(held) == 5 and len(brief) == 5
    finally:
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(30)

    srv = start_server(data)
    try:
        sqs = srv.client("sqs")
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        assert attrs_of(sqs, url)["ApproximateNumberOfMessagesNotVisible"] in ("5", "10")
        bodies: list[str] = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2, VisibilityTimeout=3600)
            if "Messages" not in got:
                break
            bodies += [m["Body"] for m in got["Messages"]]
        held_bodies = {m["Body"] for m in held}
        # every accepted message is there once, except those still in flight from before the crash
        assert sorted(bodies) == sorted(f"m{i}" for i in range(50) if f"m{i}" not in held_bodies)
        # the receipt handles from before the crash still work
        sqs.delete_message(QueueUrl=url, ReceiptHandle=held[0]["ReceiptHandle"])
        assert attrs_of(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == str(45 + 4)
    finally:
        stop_server(srv)
