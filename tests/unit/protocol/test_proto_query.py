"""query protocol (SNS; SQS forced to query) requests, XML results and XML errors."""
from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from botocore.exceptions import ClientError
from botocore.model import ServiceModel
from botocore.serialize import create_serializer
from proto_rig import Loopback

from nubis.server.errors import AwsError
from nubis.server.messages import HttpRequest
from nubis.server.protocol import load_service


@pytest.fixture(scope="module")
def sns_lb() -> Loopback:
    return Loopback("sns")


def test_publish_with_message_attributes(sns_lb):
    params = dict(TopicArn="arn:aws:sns:us-east-1:123456789012:t", Message="hi & bye", Subject="s",
                  MessageAttributes={"color": {"DataType": "String", "StringValue": "blue"},
                                     "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    name, parsed = sns_lb.capture("publish", **params)
    assert "MessageAttributes.entry.1.Name=" in sns_lb.request.body.decode()
    assert (name, parsed) == ("Publish", params)


def test_create_topic_attributes_and_tags(sns_lb):
    params = dict(Name="t", Attributes={"DisplayName": "T", "FifoTopic": "false"},
                  Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    assert sns_lb.capture("create_topic", **params) == ("CreateTopic", params)


def test_empty_list_is_sent_and_parsed(sns_lb):
    assert sns_lb.capture("untag_resource", ResourceArn="arn:x", TagKeys=[]) == (
        "UntagResource", {"ResourceArn": "arn:x", "TagKeys": []})


def test_results(sns_lb):
    sns_lb.answer({"MessageId": "m-1", "__request_id__": "r-9"})
    out = sns_lb.client.publish(TopicArn="arn:t", Message="x")
    assert out["MessageId"] == "m-1"
    assert out["ResponseMetadata"]["RequestId"] == "r-9"
    root = ET.fromstring(sns_lb.response.body)
    assert root.tag == "{http://sns.amazonaws.com/doc/2010-03-31/}PublishResponse"
    sns_lb.answer({"Topics": [{"TopicArn": "arn:a"}, {"TopicArn": "arn:<b>"}], "NextToken": "n"})
    out = sns_lb.client.list_topics()
    assert out["Topics"] == [{"TopicArn": "arn:a"}, {"TopicArn": "arn:<b>"}]
    sns_lb.answer({"Attributes": {"Policy": '{"a": "b"}', "Owner": "1"}})
    assert sns_lb.client.get_topic_attributes(TopicArn="arn:a")["Attributes"] == {"Policy": '{"a": "b"}', "Owner": "1"}


def test_modeled_error_uses_legacy_code(sns_lb):
    sns_lb.answer(AwsError("NotFoundException", "Topic does not exist", 404))
    with pytest.raises(sns_lb.client.exceptions.NotFoundException) as info:
        sns_lb.client.publish(TopicArn="arn:t", Message="x")
    err = info.value.response["Error"]
    assert (err["Code"], err["Message"], err["Type"]) == ("NotFound", "Topic does not exist", "Sender")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_unmodeled_error(sns_lb):
    svc = sns_lb.svc

    def handler(op, params):
        raise svc.validation_error(svc.validate(op, {**params, "Name": ""}))

    sns_lb.answer(handler)
    with pytest.raises(ClientError) as info:
        sns_lb.client.create_topic(Name="x")
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_invalid_action():
    with pytest.raises(AwsError) as info:
        load_service("sns").parse(HttpRequest("POST", "/", body=b"Action=Nope&Version=2010-03-31",
                                              headers={"content-type": "application/x-www-form-urlencoded"}))
    assert (info.value.status, info.value.code) == (400, "InvalidAction")


def test_get_style_request():
    op, params = load_service("sns").parse(HttpRequest("GET", "/", "Action=ListTopics&NextToken=abc"))
    assert (op.name, params) == ("ListTopics", {"NextToken": "abc"})


def test_bad_scalar_is_an_aws_error():
    req = HttpRequest("POST", "/", body=b"Action=ListSubscriptionsByTopic&TopicArn=a&NextToken=%ff%fe")
    load_service("sns").parse(req)  # undecodable bytes are replaced, not fatal
    with pytest.raises(AwsError):
        load_service("sqs", "query").parse(HttpRequest("POST", "/", body=b"Action=ReceiveMessage&QueueUrl=q"
                                                                           b"&MaxNumberOfMessages=many"))


def test_sqs_served_as_query_round_trip():
    """`load_service(name, protocol=...)` re-targets a model; checked with botocore's QuerySerializer."""
    svc = load_service("sqs", "query")
    assert svc.protocol == "query"
    model = ServiceModel(dict(svc.model._service_description), "sqs")
    serializer = create_serializer("query")
    params = {"QueueUrl": "https://q/1", "MessageBody": "hi",
              "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}}, "DelaySeconds": 5}
    wire = serializer.serialize_to_request(params, model.operation_model("SendMessage"))
    from urllib.parse import urlencode

    req = HttpRequest("POST", "/", body=urlencode(wire["body"]).encode(),
                      headers={"content-type": "application/x-www-form-urlencoded"})
    op, parsed = svc.parse(req)
    assert (op.name, parsed) == ("SendMessage", params)
    resp = svc.serialize(op, {"MessageId": "m", "MD5OfMessageBody": "d"})
    assert b"<SendMessageResult><MessageId>m</MessageId>" in resp.body
