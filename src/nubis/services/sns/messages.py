"""What SNS publishes: message-attribute rules, MessageStructure=json, and the JSON documents a
subscriber receives (the HTTP/SQS notification, the confirmation messages, the Lambda event).

Spellings differ on purpose, as on AWS: HTTP/SQS documents say `SigningCertURL`/`UnsubscribeURL`,
the Lambda event `SigningCertUrl`/`UnsubscribeUrl`.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Any
from urllib.parse import quote

from ...server.errors import AwsError
from .errors import invalid, invalid_value

MAX_MESSAGE_BYTES = 262_144  # 256 KiB, message and attributes together
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_ATTR_TYPE = re.compile(r"(String|Number|Binary)(\..+)?")


def iso_ms(t: float) -> str:
    d = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def check_attributes(attrs: dict[str, dict], position: int | None = None) -> None:
    """SNS's checks of Publish MessageAttributes (ParameterValueInvalid, or a ValidationError for a
    missing DataType)."""
    for name, attr in attrs.items():
        if len(name.encode()) > 256:
            raise invalid_value("Length of message attribute name must be less than 256 bytes.")
        if name.startswith("."):
            raise invalid_value("Invalid message attribute name starting with character '.' was found.")
        if name.endswith("."):
            raise invalid_value("Invalid message attribute name ending with character '.' was found.")
        for ch in name:
            if not _ATTR_NAME.fullmatch(ch):
                raise invalid_value(f"Invalid non-alphanumeric character '#x{ord(ch):X}' was found in the message "
                                    "attribute name. Can only include alphanumeric characters, hyphens, "
                                    "underscores, or dots.")
        if ".." in name:
            raise invalid_value("Message attribute name can not have successive '.' character.")
        kind = attr.get("DataType")
        if kind is None:
            at = (f"publishBatchRequestEntries.{position}.member.messageAttributes.{name}.member.dataType"
                  if position else f"messageAttributes.{name}.member.dataType")
            raise AwsError("ValidationError", f"1 validation error detected: Value null at '{at}' failed to "
                           "satisfy constraint: Member must not be null", 400)
        if not _ATTR_TYPE.fullmatch(kind):
            raise invalid_value(f"The message attribute '{name}' has an invalid message attribute type, the set of "
                                "supported type prefixes is Binary, Number, and String.")
        field = "Binary" if kind.startswith("Binary") else "String"
        value = attr.get(f"{field}Value")
        other = attr.get("StringValue" if field == "Binary" else "BinaryValue")
        if value is None and other is not None:
            raise invalid_value(f"The message attribute '{name}' with type '{kind}' must use field '{field}'.")
        if value is None or value == "" or value == b"":
            raise invalid_value(f"The message attribute '{name}' must contain non-empty message attribute value "
                                f"for message attribute type '{kind}'.")
        if kind.startswith("Number"):
            try:
                number = float(value)
            except ValueError:
                raise invalid_value(f"Could not cast message attribute '{name}' value to number.") from None
            if not -1e9 <= number <= 1e9:
                raise invalid_value(f"Value {value} for parameter MessageAttributes is invalid. Reason: "
                                    "Number values must be between -1.0E9 and 1.0E9, inclusive.")
        if kind.startswith("String.Array"):
            try:
                items = json.loads(value)
            except ValueError:
                items = None
            if not isinstance(items, list):
                raise invalid(f"Invalid parameter: MessageAttributes Reason: The message attribute '{name}' has "
                              "an invalid value for type 'String.Array'.")


def stored_attributes(attrs: dict[str, dict]) -> dict[str, dict[str, str]]:
    """Attributes as they travel in the delivery queue: Binary values base64, everything a string."""
    out = {}
    for name, attr in attrs.items():
        kind = attr["DataType"]
        if kind.startswith("Binary"):
            value = attr["BinaryValue"]
            out[name] = {"DataType": kind, "BinaryValue": base64.b64encode(value).decode() if isinstance(
                value, (bytes, bytearray)) else str(value)}
        else:
            out[name] = {"DataType": kind, "StringValue": attr["StringValue"]}
    return out


def publish_size(message: str, attrs: dict[str, dict]) -> int:
    size = len(message.encode())
    for name, attr in attrs.items():
        size += len(name.encode()) + len(attr.get("DataType", "").encode())
        value = attr.get("StringValue", attr.get("BinaryValue", ""))
        size += len(value) if isinstance(value, (bytes, bytearray)) else len(str(value).encode())
    return size


def check_subject(subject: str | None) -> None:
    """A Subject is 1-99 printable ASCII characters, no line breaks (AWS says only `Subject`)."""
    if subject is None:
        return
    if not subject or len(subject) >= 100 or any(not (32 <= ord(c) < 127) for c in subject):
        raise invalid("Invalid parameter: Subject")


def structured(message: str) -> dict[str, str]:
    """MessageStructure=json: the per-protocol messages; `default` is required, and keys whose values
    are not strings are ignored (as SNS does)."""
    try:
        doc = json.loads(message)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise invalid("Invalid parameter: Message Structure - JSON message body failed to parse")
    messages = {k: v for k, v in doc.items() if isinstance(v, str)}
    if "default" not in messages:
        raise invalid("Invalid parameter: Message Structure - No default entry in JSON message body")
    return messages


def for_protocol(messages: dict[str, str] | None, message: str, protocol: str) -> str:
    if messages is None:
        return message
    return messages.get(protocol, messages["default"])


def envelope_attributes(attrs: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """MessageAttributes as notifications carry them: {"name": {"Type": ..., "Value": ...}}."""
    return {name: {"Type": a["DataType"], "Value": a.get("StringValue", a.get("BinaryValue", ""))}
            for name, a in attrs.items()}


def unsubscribe_url(endpoint: str, subscription_arn: str) -> str:
    return f"{endpoint}/?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, safe='')}"


def subscribe_url(endpoint: str, topic_arn: str, token: str) -> str:
    return f"{endpoint}/?Action=ConfirmSubscription&TopicArn={quote(topic_arn, safe='')}&Token={token}"


# The fields a signature covers, in the order SNS concatenates them ("Name\nValue\n" each).
SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SIGNED_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def string_to_sign(doc: dict[str, Any]) -> bytes:
    names = SIGNED_NOTIFICATION if doc.get("Type") == "Notification" else SIGNED_CONFIRMATION
    parts = []
    for name in names:
        value = doc.get(name)
        if value is None:
            continue  # Subject is signed only when present
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")
