"""Queue attributes: which may be set, their ranges and defaults, and how CreateQueue compares them."""
from __future__ import annotations

import re
from collections.abc import Callable

import orjson

from . import errors

# settable integer attributes: (min, max, default)
INTEGER = {
    "DelaySeconds": (0, 900, 0),
    "MaximumMessageSize": (1024, 1_048_576, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600, 345_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20, 0),
    "VisibilityTimeout": (0, 43_200, 30),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400, 300),
}
FIFO_ONLY = {"ContentBasedDeduplication": ("true", "false"), "DeduplicationScope": ("messageGroup", "queue"),
             "FifoThroughputLimit": ("perQueue", "perMessageGroupId")}
FIFO_DEFAULTS = {"ContentBasedDeduplication": "false", "DeduplicationScope": "queue",
                 "FifoThroughputLimit": "perQueue"}
FREE_TEXT = {"Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId", "SqsManagedSseEnabled"}
SETTABLE = set(INTEGER) | set(FIFO_ONLY) | FREE_TEXT | {"FifoQueue"}
READ_ONLY = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"}

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


def check_name(name: str, fifo: bool) -> None:
    if fifo:
        if not name.endswith(".fifo") or not _NAME.fullmatch(name[:-5]) or len(name) > 80:
            raise errors.invalid("The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
                                 "underscores, must end with .fifo suffix and be 1 to 80 in length.")
    elif not _NAME.fullmatch(name):
        raise errors.invalid("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")


ArnLookup = Callable[[str], "dict[str, str] | None"]


def normalize(attrs: dict[str, str], *, fifo: bool, creating: bool,
              arn_of: ArnLookup | None = None) -> dict[str, str]:
    """Validated attributes as stored (strings, as SQS returns them). `arn_of(arn)` tells whether a
    dead-letter target exists (None: not checked)."""
    out: dict[str, str] = {}
    for name, raw in attrs.items():
        value = str(raw)
        if name in READ_ONLY or name not in SETTABLE:
            raise errors.unknown_attribute(name)
        if name in INTEGER:
            lo, hi, _ = INTEGER[name]
            try:
                n = int(value.strip())
            except ValueError:
                raise errors.bad_attribute_value(name) from None
            if not lo <= n <= hi:
                raise errors.bad_attribute_value(name)
            out[name] = str(n)
        elif name == "FifoQueue":
            if not creating:
                raise errors.bad_attribute_value(name)
            if value.lower() not in ("true", "false") or (value.lower() == "false" and fifo):
                raise errors.bad_attribute_value(name)
            if value.lower() == "true":
                out[name] = "true"
        elif name in FIFO_ONLY:
            if not fifo:
                raise errors.unknown_attribute(name)
            if value not in FIFO_ONLY[name] and value.lower() not in FIFO_ONLY[name]:
                raise errors.bad_attribute_value(name)
            out[name] = value.lower() if name == "ContentBasedDeduplication" else value
        elif name == "RedrivePolicy":
            if value:
                out[name] = _redrive(value, fifo, arn_of)
            else:
                out[name] = ""
        elif name in ("Policy", "RedriveAllowPolicy"):
            if value:
                try:
                    doc = orjson.loads(value)
                except orjson.JSONDecodeError:
                    raise errors.bad_attribute_value(name) from None
                if not isinstance(doc, dict):
                    raise errors.bad_attribute_value(name)
                if name == "RedriveAllowPolicy" and doc.get("redrivePermission") not in ("allowAll", "denyAll",
                                                                                        "byQueue"):
                    raise errors.bad_attribute_value(name)
            out[name] = value
        elif name == "SqsManagedSseEnabled":
            if value.lower() not in ("true", "false"):
                raise errors.bad_attribute_value(name)
            out[name] = value.lower()
        else:
            out[name] = value
    return out


def _redrive(value: str, fifo: bool, arn_of: ArnLookup | None) -> str:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise errors.bad_attribute_value("RedrivePolicy") from None
    if not isinstance(doc, dict):
        raise errors.bad_attribute_value("RedrivePolicy")
    target, count = doc.get("deadLetterTargetArn"), doc.get("maxReceiveCount")
    if not target or count is None:
        raise errors.invalid_value(value, "RedrivePolicy", "Redrive policy is not a dict or valid json")
    try:
        n = int(count)
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= 1000:
        raise errors.invalid_value(value, "RedrivePolicy", f"Invalid value for maxReceiveCount: {count}, valid "
                                   "values are from 1 to 1000 both inclusive.")
    if arn_of is not None:
        dlq = arn_of(str(target))
        if dlq is None:
            raise errors.invalid_value(value, "RedrivePolicy", "Dead letter target does not exist.")
        if (dlq.get("FifoQueue") == "true") != fifo:
            raise errors.invalid_value(value, "RedrivePolicy", "Dead-letter queue must be same type of queue as "
                                       "the source.")
    # SQS returns the policy re-serialized, maxReceiveCount as a number
    return orjson.dumps({"deadLetterTargetArn": str(target), "maxReceiveCount": n}).decode()


def defaults(fifo: bool) -> dict[str, str]:
    out = {name: str(default) for name, (_, _, default) in INTEGER.items() if name != "KmsDataKeyReusePeriodSeconds"}
    out["SqsManagedSseEnabled"] = "true"
    if fifo:
        out["FifoQueue"] = "true"
        out.update(FIFO_DEFAULTS)
    return out


def differing(current: dict[str, str], wanted: dict[str, str], fifo: bool) -> str | None:
    """The first attribute CreateQueue asked for that differs from the existing queue's, if any."""
    effective = dict(defaults(fifo), **current)
    for name, value in wanted.items():
        if effective.get(name, "") != value:
            return name
    return None
