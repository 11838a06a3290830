"""Amazon SNS end to end: boto3 and the AWS CLI against a real server; delivery to real Lambda functions
and to a real HTTP endpoint; signatures checked with openssl; an accepted publish survives kill -9."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, start_server, stop_server, unique, wait_for
from sns_testing import (NOTIFICATION_KEYS, RECORDER, lam, openssl_verifies, recorded,  # noqa: F401 - fixtures
                         sns, srv, string_to_sign)


class Receiver:
    """A tiny HTTP endpoint that records every POST; `statuses` are answered in turn (then 200)."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def of_type(self, kind: str) -> list[tuple[dict, dict]]:
        return [(h, json.loads(b)) for h, b in self.requests if h.get("x-amz-sns-message-type") == kind
                and b.startswith(b"{")]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def error_of(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def recorder(lam, tmp_path: Path, topic_arn: str, allow: bool = True) -> tuple[str, Path]:
    out = tmp_path / unique("out")
    name = create_function(lam, RECORDER, Environment={"Variables": {"OUT_DIR": str(out)}})
    if allow:
        lam.add_permission(FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction",
                           Principal="sns.amazonaws.com", SourceArn=topic_arn)
    arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    return arn, out


# -- topics ---------------------------------------------------------------------------------------------
def test_topics_create_attributes_tags_list_delete(srv):
    sns = srv.client("sns", account="210987654321")
    name = unique("topic")
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"},
                           Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:210987654321:{name}"
    assert sns.create_topic(Name=name)["TopicArn"] == arn  # idempotent
    code, message, status = error_of(sns.create_topic, Name=name, Attributes={"DisplayName": "Other"})
    assert (code, message, status) == ("InvalidParameter", "Invalid parameter: Attributes Reason: Topic already "
                                       "exists with different attributes", 400)
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "Orders" and attrs["Owner"] == "210987654321" and attrs["TopicArn"] == arn
    assert attrs["SubscriptionsConfirmed"] == attrs["SubscriptionsPending"] == attrs["SubscriptionsDeleted"] == "0"
    assert json.loads(attrs["Policy"])["Statement"][0]["Resource"] == arn
    assert json.loads(attrs["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
        {"http": {"defaultHealthyRetryPolicy": {"numRetries": 7}}}))
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert json.loads(attrs["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 7
    assert error_of(sns.set_topic_attributes, TopicArn=arn, AttributeName="FifoTopic", AttributeValue="true")[1] \
        == "Invalid parameter: AttributeName"

    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert error_of(sns.list_tags_for_resource, ResourceArn=arn + "-nope")[:2] == ("ResourceNotFound",
                                                                                   "Resource does not exist")

    sns.add_permission(TopicArn=arn, Label="pub", AWSAccountId=["111122223333"], ActionName=["Publish"])
    statements = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"]
    assert statements[-1]["Sid"] == "pub" and statements[-1]["Action"] == "SNS:Publish"
    sns.remove_permission(TopicArn=arn, Label="pub")

    more = [sns.create_topic(Name=f"{name}-{i}")["TopicArn"] for i in range(100)]
    first = sns.list_topics()
    assert len(first["Topics"]) == 100 and "NextToken" in first
    second = sns.list_topics(NextToken=first["NextToken"])
    assert [t["TopicArn"] for t in first["Topics"] + second["Topics"]] == [arn] + more
    assert "NextToken" not in second
    assert error_of(sns.list_topics, NextToken="garbage")[:2] == ("InvalidParameter", "Invalid parameter: NextToken")

    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # deleting twice is fine
    assert error_of(sns.get_topic_attributes, TopicArn=arn) == ("NotFound", "Topic does not exist", 404)
    for t in more:
        sns.delete_topic(TopicArn=t)


def test_topic_name_and_arn_errors(sns):
    assert error_of(sns.create_topic, Name="bad name") == ("InvalidParameter", "Invalid parameter: Topic Name", 400)
    assert error_of(sns.create_topic, Name="x.fifo")[1] == "Invalid parameter: Topic Name"
    assert error_of(sns.create_topic, Name="plain", Attributes={"FifoTopic": "true"})[1].startswith(
        "Invalid parameter: Fifo Topic names must end with .fifo")
    assert error_of(sns.get_topic_attributes, TopicArn="nope") == (
        "InvalidParameter", "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1", 400)
    assert error_of(sns.get_topic_attributes, TopicArn="arn:aws:sns:eu-west-1:000000000000:x")[1] == \
        "Invalid parameter: TopicArn"


def test_aws_cli_creates_and_lists_topics(srv):
    name = unique("cli")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    aws = [sys.executable, "-m", "awscli"] if not shutil.which("aws") else ["aws"]
    out = subprocess.run([*aws, "--endpoint-url", srv.endpoint, "sns", "create-topic", "--name", name],
                         capture_output=True, text=True, env=env, check=True)
    arn = json.loads(out.stdout)["TopicArn"]
    out = subprocess.run([*aws, "--endpoint-url", srv.endpoint, "sns", "publish", "--topic-arn", arn,
                          "--message", "from the cli"], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout)["MessageId"]
    bad = subprocess.run([*aws, "--endpoint-url", srv.endpoint, "sns", "get-topic-attributes", "--topic-arn",
                          arn + "x"], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "(NotFound)" in bad.stderr and "Topic does not exist" in bad.stderr


# -- subscriptions --------------------------------------------------------------------------------------
def test_subscribe_refuses_what_sns_refuses(sns):
    arn = sns.create_topic(Name=unique("subs"))["TopicArn"]
    cases = [
        (dict(Protocol="carrier-pigeon", Endpoint="x"),
         "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon"),
        (dict(Protocol="https", Endpoint="http://example.com"),
         "Invalid parameter: Endpoint must match the specified protocol"),
        (dict(Protocol="sqs", Endpoint="my-queue"), "Invalid parameter: SQS endpoint ARN"),
        (dict(Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q.fifo"),
         "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
         "standard SNS topics"),
        (dict(Protocol="lambda", Endpoint="my-function"), "Invalid parameter: Lambda endpoint ARN"),
        (dict(Protocol="email", Endpoint="not-an-address"), "Invalid parameter: Email address"),
        (dict(Protocol="lambda", Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f",
              Attributes={"RawMessageDelivery": "true"}),
         "Invalid parameter: Delivery protocol [lambda] does not support raw message delivery."),
        (dict(Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q",
              Attributes={"FilterPolicy": '{"a": [{"numeric": [">", "x"]}]}'}),
         "Invalid parameter: Attributes Reason: FilterPolicy: Value of > must be numeric"),
        (dict(Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q", Attributes={"Colour": "red"}),
         "Invalid parameter: Attributes Reason: AttributeName"),
    ]
    for kwargs, message in cases:
        assert error_of(sns.subscribe, TopicArn=arn, **kwargs) == ("InvalidParameter", message, 400), kwargs
    assert error_of(sns.subscribe, TopicArn=arn + "-gone", Protocol="sqs",
                    Endpoint="arn:aws:sqs:us-east-1:000000000000:q") == ("NotFound", "Topic does not exist", 404)


def test_subscription_lifecycle_and_attributes(sns):
    arn = sns.create_topic(Name=unique("subs"))["TopicArn"]
    queue = "arn:aws:sqs:us-east-1:000000000000:" + unique("q")
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue)["SubscriptionArn"]
    assert sub.startswith(arn + ":")
    assert sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue)["SubscriptionArn"] == sub  # idempotent
    email = sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="someone@example.com")
    assert email["SubscriptionArn"] == "pending confirmation"
    listed = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert [(s["Protocol"], s["SubscriptionArn"]) for s in listed] == [("sqs", sub), ("email", "PendingConfirmation")]
    assert any(s["SubscriptionArn"] == sub for s in sns.list_subscriptions()["Subscriptions"])
    topic = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (topic["SubscriptionsConfirmed"], topic["SubscriptionsPending"]) == ("1", "1")

    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["Protocol"] == "sqs" and attrs["Endpoint"] == queue and attrs["PendingConfirmation"] == "false"
    assert attrs["RawMessageDelivery"] == "false" and "FilterPolicy" not in attrs
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="True")
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                    AttributeValue='{"kind": ["order"]}')
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy",
                                    AttributeValue=json.dumps({"deadLetterTargetArn": queue + "-dlq"}))
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["RawMessageDelivery"] == "true" and attrs["FilterPolicyScope"] == "MessageAttributes"
    assert json.loads(attrs["FilterPolicy"]) == {"kind": ["order"]}
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"] == queue + "-dlq"
    assert error_of(sns.set_subscription_attributes, SubscriptionArn=sub, AttributeName="FilterPolicy",
                    AttributeValue='{"a": {"b": ["c"]}}')[1] == \
        "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy"
    assert error_of(sns.set_subscription_attributes, SubscriptionArn=sub, AttributeName="FilterPolicyScope",
                    AttributeValue="Body")[1] == \
        "Invalid parameter: FilterPolicyScope: Invalid value [Body]. Please use either MessageBody or MessageAttributes"
    assert error_of(sns.set_subscription_attributes, SubscriptionArn=sub, AttributeName="RawMessageDelivery",
                    AttributeValue="maybe")[1] == \
        "Invalid parameter: RawMessageDelivery: Invalid value [maybe]. Must be true or false."
    assert error_of(sns.get_subscription_attributes, SubscriptionArn=arn + ":0f0f0f0f-0000-0000-0000-000000000000") \
        == ("NotFound", "Subscription does not exist", 404)

    sns.unsubscribe(SubscriptionArn=sub)
    sns.unsubscribe(SubscriptionArn=sub)
    assert error_of(sns.unsubscribe, SubscriptionArn="x:y")[1] == \
        "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 2"
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["SubscriptionsDeleted"] == "1"
    sns.delete_topic(TopicArn=arn)
    assert not [s for s in sns.list_subscriptions()["Subscriptions"] if s["TopicArn"] == arn]


# -- publish --------------------------------------------------------------------------------------------
def test_publish_errors(sns):
    arn = sns.create_topic(Name=unique("pub"))["TopicArn"]
    cases = [
        (dict(TopicArn=arn, Message=""), "InvalidParameter", "Invalid parameter: Empty message"),
        (dict(TopicArn=arn, Message="x" * 262_145), "InvalidParameter", "Invalid parameter: Message too long"),
        (dict(TopicArn=arn, Message="m", Subject="two\nlines"), "InvalidParameter", "Invalid parameter: Subject"),
        (dict(Message="m"), "InvalidParameter",
         "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"),
        (dict(TopicArn=arn, Message="{}", MessageStructure="json"), "InvalidParameter",
         "Invalid parameter: Message Structure - No default entry in JSON message body"),
        (dict(TopicArn=arn, Message="nope", MessageStructure="json"), "InvalidParameter",
         "Invalid parameter: Message Structure - JSON message body failed to parse"),
        (dict(PhoneNumber="12", Message="m"), "InvalidParameter",
         "Invalid parameter: PhoneNumber Reason: 12 is not valid to publish to"),
        (dict(TargetArn="arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/1", Message="m"), "InvalidParameter",
         "Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified"),
        (dict(TopicArn=arn, Message="m", MessageDeduplicationId="d"), "InvalidParameter",
         "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
         "that is not valid for this topic type"),
        (dict(TopicArn=arn, Message="m", MessageAttributes={"a": {"DataType": "Float", "StringValue": "1"}}),
         "ParameterValueInvalid", "The message attribute 'a' has an invalid message attribute type, the set of "
         "supported type prefixes is Binary, Number, and String."),
        (dict(TopicArn=arn, Message="m", MessageAttributes={"a": {"DataType": "Number", "StringValue": "x"}}),
         "ParameterValueInvalid", "Could not cast message attribute 'a' value to number."),
        (dict(TopicArn=arn, Message="m", MessageAttributes={"a": {"DataType": "Binary", "StringValue": "x"}}),
         "ParameterValueInvalid", "The message attribute 'a' with type 'Binary' must use field 'Binary'."),
        (dict(TopicArn=arn, Message="m", MessageAttributes={"a b": {"DataType": "String", "StringValue": "x"}}),
         "ParameterValueInvalid", "Invalid non-alphanumeric character '#x20' was found in the message attribute "
         "name. Can only include alphanumeric characters, hyphens, underscores, or dots."),
        (dict(TopicArn=arn + "-gone", Message="m"), "NotFound", "Topic does not exist"),
    ]
    for kwargs, code, message in cases:
        assert error_of(sns.publish, **kwargs)[:2] == (code, message), kwargs
    assert sns.publish(TargetArn=arn, Message="as TargetArn")["MessageId"]
    assert sns.publish(PhoneNumber="+15555550100", Message="an SMS nubis does not send")["MessageId"]


def test_publish_batch(sns):
    arn = sns.create_topic(Name=unique("batch"))["TopicArn"]
    out = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "one"}, {"Id": "b", "Message": ""},
        {"Id": "c", "Message": "{}", "MessageStructure": "json"}])
    assert [e["Id"] for e in out["Successful"]] == ["a"] and out["Successful"][0]["MessageId"]
    assert {(f["Id"], f["Code"], f["SenderFault"]) for f in out["Failed"]} == {
        ("b", "InvalidParameter", True), ("c", "InvalidParameter", True)}
    entries = [{"Id": str(i), "Message": "m"} for i in range(11)]
    assert error_of(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=entries)[:2] == (
        "TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
    assert error_of(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=entries[:1] * 2)[:2] == (
        "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
    assert error_of(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=[{"Id": "a b", "Message": "m"}])[0] \
        == "InvalidBatchEntryId"
    big = [{"Id": str(i), "Message": "x" * 30_000} for i in range(10)]
    assert error_of(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=big)[:2] == (
        "BatchRequestTooLong", "The length of all the messages put together is more than the limit.")


def test_fifo_topics(sns):
    name = unique("orders") + ".fifo"
    arn = sns.create_topic(Name=name, Attributes={"FifoTopic": "true"})["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    assert error_of(sns.publish, TopicArn=arn, Message="m")[1] == \
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    assert error_of(sns.publish, TopicArn=arn, Message="m", MessageGroupId="g")[1] == (
        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or "
        "MessageDeduplicationId provided explicitly")
    first = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="d1")
    again = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="d1")
    other = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="d2")
    assert again["MessageId"] == first["MessageId"] and again["SequenceNumber"] == first["SequenceNumber"]
    assert int(other["SequenceNumber"]) > int(first["SequenceNumber"]) and len(other["SequenceNumber"]) == 20
    sns.set_topic_attributes(TopicArn=arn, AttributeName="ContentBasedDeduplication", AttributeValue="true")
    assert sns.publish(TopicArn=arn, Message="same", MessageGroupId="g")["MessageId"] == \
        sns.publish(TopicArn=arn, Message="same", MessageGroupId="g")["MessageId"]
    assert error_of(sns.subscribe, TopicArn=arn, Protocol="lambda",
                    Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f")[0] == "InvalidParameter"


# -- delivery: Lambda -----------------------------------------------------------------------------------
def test_publish_invokes_a_subscribed_function_with_snss_event(sns, lam, tmp_path, srv):
    topic = sns.create_topic(Name=unique("to-lambda"))["TopicArn"]
    fn, out = recorder(lam, tmp_path, topic)
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn)["SubscriptionArn"]
    msg = sns.publish(TopicArn=topic, Message="Hello from SNS!", Subject="TestInvoke", MessageAttributes={
        "Test": {"DataType": "String", "StringValue": "TestString"},
        "Count": {"DataType": "Number", "StringValue": "3"},
        "Raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}})["MessageId"]
    events = wait_for(lambda: recorded(out))
    assert len(events) == 1 and len(events[0]["Records"]) == 1
    record = events[0]["Records"][0]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == sub
    body = record["Sns"]
    assert body["Type"] == "Notification" and body["MessageId"] == msg and body["TopicArn"] == topic
    assert body["Message"] == "Hello from SNS!" and body["Subject"] == "TestInvoke"
    assert body["MessageAttributes"] == {"Test": {"Type": "String", "Value": "TestString"},
                                         "Count": {"Type": "Number", "Value": "3"},
                                         "Raw": {"Type": "Binary", "Value": base64.b64encode(b"\x00\xff").decode()}}
    assert body["SignatureVersion"] == "1" and body["Timestamp"].endswith("Z")
    assert "SigningCertURL" not in body and "UnsubscribeURL" not in body
    assert body["UnsubscribeUrl"].startswith(srv.endpoint + "/?Action=Unsubscribe&SubscriptionArn=")
    assert body["SigningCertUrl"].startswith(srv.endpoint + "/_aws/sns/SimpleNotificationService-")
    if shutil.which("openssl"):
        assert openssl_verifies(body["SigningCertUrl"], string_to_sign(body, NOTIFICATION_KEYS), body["Signature"],
                                "sha1", tmp_path)
    # without a Subject the event still carries one: null
    sns.publish(TopicArn=topic, Message="no subject")
    events = wait_for(lambda: len(recorded(out)) >= 2 and recorded(out))
    assert events[1]["Records"][0]["Sns"]["Subject"] is None


def test_a_function_that_does_not_allow_sns_gets_nothing(sns, lam, tmp_path, srv):
    topic = sns.create_topic(Name=unique("denied"))["TopicArn"]
    fn, out = recorder(lam, tmp_path, topic, allow=False)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn)
    sns.publish(TopicArn=topic, Message="not for you")
    assert wait_for(lambda: "sns.amazonaws.com may not invoke" in srv.log() and fn in srv.log(), timeout=30)
    time.sleep(0.5)
    assert recorded(out) == []


def test_filter_policies_and_message_structure_reach_lambda(sns, lam, tmp_path):
    topic = sns.create_topic(Name=unique("filtered"))["TopicArn"]
    fn_attr, out_attr = recorder(lam, tmp_path, topic)
    fn_body, out_body = recorder(lam, tmp_path, topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_attr, Attributes={
        "FilterPolicy": json.dumps({"kind": ["order"], "total": [{"numeric": [">=", 100]}]})})
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_body, Attributes={
        "FilterPolicyScope": "MessageBody",
        "FilterPolicy": json.dumps({"order": {"status": [{"anything-but": "draft"}]}})})

    def send(message: str, **attrs) -> None:
        sns.publish(TopicArn=topic, Message=message, MessageAttributes={
            k: {"DataType": "Number" if isinstance(v, int) else "String", "StringValue": str(v)}
            for k, v in attrs.items()})

    send("small order", kind="order", total=5)
    send("big refund", kind="refund", total=500)
    send("big order", kind="order", total=500)
    send(json.dumps({"order": {"status": "draft"}}))
    send(json.dumps({"order": {"status": "paid"}}))
    sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({
        "default": json.dumps({"order": {"status": "draft"}}), "lambda": json.dumps({"order": {"status": "sent"}})}))
    got_attr = wait_for(lambda: recorded(out_attr))
    got_body = wait_for(lambda: len(recorded(out_body)) >= 2 and recorded(out_body))
    time.sleep(1.0)  # let anything that should not have arrived arrive
    assert [e["Records"][0]["Sns"]["Message"] for e in recorded(out_attr)] == ["big order"]
    bodies = sorted(json.loads(e["Records"][0]["Sns"]["Message"])["order"]["status"] for e in recorded(out_body))
    assert bodies == ["paid", "sent"]  # the per-protocol message is the one filtered and delivered
    assert got_attr and got_body


# -- delivery: HTTP -------------------------------------------------------------------------------------
def test_http_subscription_is_confirmed_then_receives_signed_notifications(sns, receiver, tmp_path, srv):
    topic = sns.create_topic(Name=unique("to-http"))["TopicArn"]
    assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=receiver.url)["SubscriptionArn"] == \
        "pending confirmation"
    [(headers, conf)] = wait_for(lambda: receiver.of_type("SubscriptionConfirmation"))
    assert headers["x-amz-sns-topic-arn"] == topic and headers["content-type"].startswith("text/plain")
    assert conf["TopicArn"] == topic and conf["Token"] and conf["SignatureVersion"] == "1"
    assert conf["SubscribeURL"].startswith(srv.endpoint + "/?Action=ConfirmSubscription&TopicArn=")
    if shutil.which("openssl"):
        keys = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
        assert openssl_verifies(conf["SigningCertURL"], string_to_sign(conf, keys), conf["Signature"], "sha1",
                                tmp_path)
    assert sns.publish(TopicArn=topic, Message="before confirmation")["MessageId"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsPending"] == "1"

    with urllib.request.urlopen(conf["SubscribeURL"]) as resp:  # what a subscriber does: an unsigned GET
        xml = resp.read().decode()
    assert "<ConfirmSubscriptionResponse" in xml and "<SubscriptionArn>" in xml
    [sub] = [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]]
    assert sub.startswith(topic + ":")
    assert sns.confirm_subscription(TopicArn=topic, Token=conf["Token"])["SubscriptionArn"] == sub  # idempotent
    assert error_of(sns.confirm_subscription, TopicArn=topic, Token="00ff")[:2] == ("InvalidParameter",
                                                                                   "Invalid parameter: Token")

    receiver.statuses = [500]  # the first try fails: SNS retries per the delivery policy
    msg = sns.publish(TopicArn=topic, Message="hello http", Subject="Greeting",
                      MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})["MessageId"]
    tries = wait_for(lambda: len(found := [(h, json.loads(b)) for h, b in receiver.requests
                                           if h.get("x-amz-sns-message-id") == msg]) >= 2 and found)
    assert len(tries) == 2 and tries[0][1] == tries[1][1]  # the same document, signature and all
    headers, note = tries[1]
    assert headers["x-amz-sns-message-id"] == msg and headers["x-amz-sns-subscription-arn"] == sub
    assert note["Message"] == "hello http" and note["Subject"] == "Greeting" and note["MessageId"] == msg
    assert note["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    assert note["UnsubscribeURL"].startswith(srv.endpoint + "/?Action=Unsubscribe")
    assert "SigningCertUrl" not in note
    if shutil.which("openssl"):
        assert openssl_verifies(note["SigningCertURL"], string_to_sign(note, NOTIFICATION_KEYS), note["Signature"],
                                "sha1", tmp_path)

    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true")
    sns.publish(TopicArn=topic, Message="raw body")
    wait_for(lambda: any(b == b"raw body" for _, b in receiver.requests))
    [(raw_headers, _)] = [(h, b) for h, b in receiver.requests if b == b"raw body"]
    assert raw_headers["x-amz-sns-rawdelivery"] == "true" and raw_headers["x-amz-sns-message-type"] == "Notification"
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="false")
    sns.publish(TopicArn=topic, Message="signed with SHA256")
    v2 = wait_for(lambda: [n for _, n in receiver.of_type("Notification") if n["Message"] == "signed with SHA256"])
    assert v2[0]["SignatureVersion"] == "2"
    if shutil.which("openssl"):
        assert openssl_verifies(v2[0]["SigningCertURL"], string_to_sign(v2[0], NOTIFICATION_KEYS),
                                v2[0]["Signature"], "sha256", tmp_path)

    with urllib.request.urlopen(note["UnsubscribeURL"]) as resp:
        assert b"<UnsubscribeResponse" in resp.read()
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert wait_for(lambda: receiver.of_type("UnsubscribeConfirmation"))


def test_http_delivery_gives_up_after_the_policy_retries(sns, receiver, srv):
    topic = sns.create_topic(Name=unique("give-up"))["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=receiver.url,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    [(_, conf)] = wait_for(lambda: receiver.of_type("SubscriptionConfirmation"))
    sns.confirm_subscription(TopicArn=topic, Token=conf["Token"])
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
        {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}))
    receiver.statuses = [503] * 10
    msg = sns.publish(TopicArn=topic, Message="never accepted")["MessageId"]
    assert wait_for(lambda: f"gave up delivering message {msg}" in srv.log(), timeout=30)
    assert len([h for h, _ in receiver.requests if h.get("x-amz-sns-message-id") == msg]) == 3  # 1 + 2 retries


def test_signing_certificate_is_served(srv, sns, receiver):
    topic = sns.create_topic(Name=unique("cert"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=receiver.url)
    [(_, conf)] = wait_for(lambda: receiver.of_type("SubscriptionConfirmation"))
    with urllib.request.urlopen(conf["SigningCertURL"]) as resp:
        assert resp.read().startswith(b"-----BEGIN CERTIFICATE-----")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(srv.endpoint + "/_aws/sns/SimpleNotificationService-nope.pem")
    assert info.value.code == 404


# -- durability -----------------------------------------------------------------------------------------
@pytest.mark.timeout(240)
def test_accepted_publishes_survive_kill_9(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    srv = start_server(data)
    sns, lam = srv.client("sns"), srv.client("lambda")
    topic = sns.create_topic(Name="durable")["TopicArn"]
    # an HTTP endpoint that is down until after the crash: SNS must keep the messages itself
    down = Receiver()
    url = down.url
    port = down.httpd.server_address[1]
    down.close()
    sub = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url, ReturnSubscriptionArn=True)["SubscriptionArn"]
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(
        {"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 1, "maxDelayTarget": 1}}))
    # a slow function: nothing is recorded yet when the server dies right after the publishes
    slow = RECORDER.replace("def handler(event, context):", "def handler(event, context):\n    __import__('time').sleep(1)")
    fn = create_function(lam, slow, Environment={"Variables": {"OUT_DIR": str(out)}}, Timeout=30)
    lam.add_permission(FunctionName=fn, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda",
                  Endpoint=lam.get_function_configuration(FunctionName=fn)["FunctionArn"])
    n = 20
    ids = {sns.publish(TopicArn=topic, Message=f"m{i}")["MessageId"] for i in range(n)}
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    assert len(recorded(out)) < n, "the test must kill the server before everything was delivered"

    up = Receiver(port)
    try:
        srv = start_server(data)
        try:
            # the confirmation message was accepted before the crash, too
            [(_, conf)] = wait_for(lambda: up.of_type("SubscriptionConfirmation"), timeout=60)
            srv.client("sns").confirm_subscription(TopicArn=topic, Token=conf["Token"])
            got = wait_for(lambda: {e["Records"][0]["Sns"]["MessageId"] for e in recorded(out)} >= ids, timeout=120)
            assert got, "some messages never reached the function"
        finally:
            stop_server(srv)
    finally:
        up.close()
