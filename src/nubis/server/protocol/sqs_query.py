"""SQS over the `query` protocol: the wire names the current (JSON-only) SQS model no longer carries.

botocore's SQS model moved to the `json` protocol in 2023 and dropped the query serialization traits
(`Attribute.1.Name`, `SendMessageBatchRequestEntry.1.Id`, flattened `<Message>` lists, the legacy
error codes). Clients built before that (older boto3/CLI/SDKs, plain form posts) still speak query, so
`load_service("sqs", "query")` lays these traits back onto the current model. They are the traits of
the last query-protocol SQS model (API 2012-11-05).
"""
from __future__ import annotations

from typing import Any

XML_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"

# list shape -> member locationName (all flattened)
_FLAT_LISTS = {
    "AWSAccountIdList": "AWSAccountId", "ActionNameList": "ActionName", "AttributeNameList": "AttributeName",
    "BatchResultErrorEntryList": "BatchResultErrorEntry",
    "ChangeMessageVisibilityBatchRequestEntryList": "ChangeMessageVisibilityBatchRequestEntry",
    "ChangeMessageVisibilityBatchResultEntryList": "ChangeMessageVisibilityBatchResultEntry",
    "DeleteMessageBatchRequestEntryList": "DeleteMessageBatchRequestEntry",
    "DeleteMessageBatchResultEntryList": "DeleteMessageBatchResultEntry",
    "ListMessageMoveTasksResultEntryList": "ListMessageMoveTasksResultEntry",
    "MessageAttributeNameList": "MessageAttributeName", "MessageList": "Message", "QueueUrlList": "QueueUrl",
    "SendMessageBatchRequestEntryList": "SendMessageBatchRequestEntry",
    "SendMessageBatchResultEntryList": "SendMessageBatchResultEntry", "TagKeyList": "TagKey",
    "MessageSystemAttributeList": "MessageSystemAttributeName",
}
# map shape -> (key locationName, value locationName) (all flattened)
_FLAT_MAPS = {
    "MessageBodyAttributeMap": ("Name", "Value"), "MessageBodySystemAttributeMap": ("Name", "Value"),
    "MessageSystemAttributeMap": ("Name", "Value"), "QueueAttributeMap": ("Name", "Value"),
    "TagMap": ("Key", "Value"),
}
# (structure, member) -> locationName
_MEMBER_NAMES = {
    ("CreateQueueRequest", "Attributes"): "Attribute", ("CreateQueueRequest", "tags"): "Tag",
    ("GetQueueAttributesResult", "Attributes"): "Attribute", ("ListQueueTagsResult", "Tags"): "Tag",
    ("Message", "Attributes"): "Attribute", ("Message", "MessageAttributes"): "MessageAttribute",
    ("MessageAttributeValue", "StringListValues"): "StringListValue",
    ("MessageAttributeValue", "BinaryListValues"): "BinaryListValue",
    ("MessageSystemAttributeValue", "StringListValues"): "StringListValue",
    ("MessageSystemAttributeValue", "BinaryListValues"): "BinaryListValue",
    ("SendMessageBatchRequestEntry", "MessageAttributes"): "MessageAttribute",
    ("SendMessageBatchRequestEntry", "MessageSystemAttributes"): "MessageSystemAttribute",
    ("SendMessageRequest", "MessageAttributes"): "MessageAttribute",
    ("SendMessageRequest", "MessageSystemAttributes"): "MessageSystemAttribute",
    ("SetQueueAttributesRequest", "Attributes"): "Attribute", ("TagQueueRequest", "Tags"): "Tag",
}
# error shape -> the legacy query error code
ERROR_CODES = {
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "OverLimit": "OverLimit",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
}


def apply(data: dict[str, Any]) -> dict[str, Any]:
    """The SQS model `data` (botocore service-2 dict) with its query traits restored; `data` is not changed."""
    shapes = {name: dict(shape) for name, shape in data["shapes"].items()}
    for name, member in _FLAT_LISTS.items():
        if name in shapes:
            shapes[name] = dict(shapes[name], flattened=True,
                                member=dict(shapes[name]["member"], locationName=member))
    for name, (key, value) in _FLAT_MAPS.items():
        if name in shapes:
            s = shapes[name]
            shapes[name] = dict(s, flattened=True, key=dict(s["key"], locationName=key),
                                value=dict(s["value"], locationName=value))
    for (struct, member), wire in _MEMBER_NAMES.items():
        s = shapes.get(struct)
        if s is not None and member in s.get("members", {}):
            members = dict(s["members"])
            members[member] = dict(members[member], locationName=wire)
            shapes[struct] = dict(s, members=members)
    for name, code in ERROR_CODES.items():
        if name in shapes:
            shapes[name] = dict(shapes[name], error={**shapes[name].get("error", {}), "code": code,
                                                     "senderFault": True})
    operations = {}
    for name, op in data["operations"].items():
        out = op.get("output")
        operations[name] = dict(op, output=dict(out, resultWrapper=f"{name}Result")) if out else op
    meta = dict(data["metadata"], xmlNamespace=XML_NAMESPACE)
    return dict(data, shapes=shapes, operations=operations, metadata=meta)
