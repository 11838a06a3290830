"""SQS pieces that need no server: the attribute digest, the query-protocol model, batch-failure parsing."""
from __future__ import annotations

import orjson

from nubis.server.messages import HttpRequest
from nubis.server.protocol import load_service
from nubis.services.lambda_.event_sources import failed_items
from nubis.services.sqs.messages import attributes_md5, select_attributes


def test_attribute_digest_covers_name_type_and_value():
    one = {"a": {"DataType": "String", "StringValue": "x"}}
    assert attributes_md5(one) == attributes_md5(dict(one))
    assert attributes_md5(one) != attributes_md5({"a": {"DataType": "Number", "StringValue": "x"}})
    assert attributes_md5(one) != attributes_md5({"b": {"DataType": "String", "StringValue": "x"}})
    assert attributes_md5({"a": {"DataType": "Binary", "BinaryValue": b"x"}}) != attributes_md5(one)
    # order of the map does not matter: attributes are digested sorted by name
    two = {"b": {"DataType": "String", "StringValue": "2"}, "a": {"DataType": "String", "StringValue": "1"}}
    assert attributes_md5(two) == attributes_md5(dict(sorted(two.items())))
    assert attributes_md5({}) is None


def test_attribute_selection():
    attrs = {"a.x": {}, "a.y": {}, "b": {}}
    assert set(select_attributes(attrs, ["All"])) == {"a.x", "a.y", "b"}
    assert set(select_attributes(attrs, ["a.*"])) == {"a.x", "a.y"}
    assert set(select_attributes(attrs, ["b", "c"])) == {"b"}
    assert select_attributes(attrs, None) == {}


def test_query_protocol_uses_the_old_wire_names():
    svc = load_service("sqs", "query")
    body = ("Action=SendMessageBatch&QueueUrl=u&SendMessageBatchRequestEntry.1.Id=a"
            "&SendMessageBatchRequestEntry.1.MessageBody=hi"
            "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k"
            "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String"
            "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v")
    op, params = svc.parse(HttpRequest("POST", "/", headers={"content-type": "application/x-www-form-urlencoded"},
                                       body=body.encode()))
    assert op.name == "SendMessageBatch"
    assert params["Entries"] == [{"Id": "a", "MessageBody": "hi",
                                  "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}]
    out = svc.serialize(svc.operation("ReceiveMessage"), {"Messages": [{"MessageId": "m", "Body": "b",
                                                                       "Attributes": {"SenderId": "1"}}]})
    xml = out.body.decode()
    assert "<ReceiveMessageResult><Message><MessageId>m</MessageId>" in xml
    assert "<Attribute><Name>SenderId</Name><Value>1</Value></Attribute>" in xml
    assert load_service("sqs").protocol == "json"  # the model's own protocol is untouched


def test_batch_item_failures():
    ids = {"m1", "m2"}
    assert failed_items(b"", ids) == set() and failed_items(b"null", ids) == set()
    assert failed_items(orjson.dumps({"batchItemFailures": []}), ids) == set()
    assert failed_items(orjson.dumps({"batchItemFailures": [{"itemIdentifier": "m2"}]}), ids) == {"m2"}
    assert failed_items(orjson.dumps({"batchItemFailures": [{"itemIdentifier": "nope"}]}), ids) is None
    assert failed_items(orjson.dumps({"batchItemFailures": [{"itemIdentifier": ""}]}), ids) is None
    assert failed_items(b"{not json", ids) is None
