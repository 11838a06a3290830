"""AWS::SNS::Topic, AWS::SNS::Subscription, AWS::SQS::Queue, AWS::Logs::LogGroup and
AWS::Logs::SubscriptionFilter."""
from __future__ import annotations

import json
from typing import Any

from .base import Env, Handler, ResourceFailed, Result, boolean, call, quiet, tags_list_to_map

_TOPIC_ATTRS = ("DisplayName", "KmsMasterKeyId", "ContentBasedDeduplication", "SignatureVersion", "TracingConfig",
                "ArchivePolicy", "DeliveryStatusLogging", "DataProtectionPolicy")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class Topic(Handler):
    type = "AWS::SNS::Topic"
    replace_on = ("TopicName", "FifoTopic")

    def create(self, env: Env, props: dict) -> Result:
        fifo = boolean(props.get("FifoTopic"))
        name = props.get("TopicName") or env.physical_name(256 - (5 if fifo else 0), suffix=".fifo" if fifo else "")
        attrs = {k: _text(props[k]) for k in _TOPIC_ATTRS if k in props and k != "DeliveryStatusLogging"}
        if fifo:
            attrs["FifoTopic"] = "true"
        tags = tags_list_to_map(props.get("Tags"))
        out = call(env.client("sns"), "create_topic", Name=name, Attributes=attrs or None,
                   Tags=[{"Key": k, "Value": v} for k, v in tags.items()] if tags else None)
        arn = out["TopicArn"]
        for sub in props.get("Subscription") or []:
            call(env.client("sns"), "subscribe", TopicArn=arn, Protocol=sub["Protocol"], Endpoint=sub["Endpoint"])
        return Result(arn, {"TopicArn": arn, "TopicName": name})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        sns = env.client("sns")
        for k in _TOPIC_ATTRS:
            if k != "DeliveryStatusLogging" and old.get(k) != new.get(k):
                call(sns, "set_topic_attributes", TopicArn=physical_id, AttributeName=k,
                     AttributeValue=_text(new.get(k, "")))
        if old.get("Subscription") != new.get("Subscription"):
            before = {(s["Protocol"], s["Endpoint"]) for s in old.get("Subscription") or []}
            after = {(s["Protocol"], s["Endpoint"]) for s in new.get("Subscription") or []}
            for proto, endpoint in after - before:
                call(sns, "subscribe", TopicArn=physical_id, Protocol=proto, Endpoint=endpoint)
            if before - after:
                subs = call(sns, "list_subscriptions_by_topic", TopicArn=physical_id)["Subscriptions"]
                for s in subs:
                    if (s["Protocol"], s["Endpoint"]) in before - after and s["SubscriptionArn"].startswith("arn:"):
                        call(sns, "unsubscribe", SubscriptionArn=s["SubscriptionArn"])
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("sns"), "delete_topic", "NotFound", TopicArn=physical_id)


_SUB_ATTRS = ("DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy",
              "SubscriptionRoleArn", "ReplayPolicy")


class Subscription(Handler):
    type = "AWS::SNS::Subscription"
    required = ("Protocol", "TopicArn")
    replace_on = ("Protocol", "TopicArn", "Endpoint")

    def create(self, env: Env, props: dict) -> Result:
        attrs = {k: _text(props[k]) for k in _SUB_ATTRS if k in props}
        out = call(env.client("sns"), "subscribe", TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                   Endpoint=props.get("Endpoint"), Attributes=attrs or None, ReturnSubscriptionArn=True)
        return Result(out["SubscriptionArn"], {"Arn": out["SubscriptionArn"]})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        for k in _SUB_ATTRS:
            if old.get(k) != new.get(k):
                call(env.client("sns"), "set_subscription_attributes", SubscriptionArn=physical_id, AttributeName=k,
                     AttributeValue=_text(new.get(k, "")))
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        if physical_id.startswith("arn:"):
            quiet(env.client("sns"), "unsubscribe", "NotFound", SubscriptionArn=physical_id)


_QUEUE_ATTRS = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy", "ContentBasedDeduplication",
                "DeduplicationScope", "FifoThroughputLimit", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
                "SqsManagedSseEnabled", "FifoQueue")


class Queue(Handler):
    type = "AWS::SQS::Queue"
    replace_on = ("QueueName", "FifoQueue")

    def create(self, env: Env, props: dict) -> Result:
        fifo = boolean(props.get("FifoQueue"))
        name = props.get("QueueName") or env.physical_name(80 - (5 if fifo else 0), suffix=".fifo" if fifo else "")
        attrs = {k: _text(props[k]) for k in _QUEUE_ATTRS if k in props}
        sqs = env.client("sqs")
        try:
            url = call(sqs, "create_queue", QueueName=name, Attributes=attrs or None,
                       tags=tags_list_to_map(props.get("Tags")))["QueueUrl"]
        except ResourceFailed as e:
            if "does not implement the 'sqs' service" in str(e):
                raise ResourceFailed("Resource type AWS::SQS::Queue is not supported by this nubis server "
                                     "(it has no SQS service)") from None
            raise
        arn = call(sqs, "get_queue_attributes", QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Result(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        attrs = {k: _text(new.get(k, "")) for k in _QUEUE_ATTRS if old.get(k) != new.get(k) and k in new}
        if attrs:
            call(env.client("sqs"), "set_queue_attributes", QueueUrl=physical_id, Attributes=attrs)
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("sqs"), "delete_queue", "AWS.SimpleQueueService.NonExistentQueue",
              "QueueDoesNotExist", QueueUrl=physical_id)


class LogGroup(Handler):
    type = "AWS::Logs::LogGroup"
    replace_on = ("LogGroupName",)

    def create(self, env: Env, props: dict) -> Result:
        name = props.get("LogGroupName") or env.physical_name(512)
        logs = env.client("logs")
        call(logs, "create_log_group", logGroupName=name, tags=tags_list_to_map(props.get("Tags")),
             kmsKeyId=props.get("KmsKeyId"))
        if props.get("RetentionInDays") is not None:
            call(logs, "put_retention_policy", logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        return Result(name, {"Arn": env.arn("logs", f"log-group:{name}:*")})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        logs = env.client("logs")
        if old.get("RetentionInDays") != new.get("RetentionInDays"):
            if new.get("RetentionInDays") is not None:
                call(logs, "put_retention_policy", logGroupName=physical_id, retentionInDays=int(new["RetentionInDays"]))
            else:
                call(logs, "delete_retention_policy", logGroupName=physical_id)
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("logs"), "delete_log_group", "ResourceNotFoundException", logGroupName=physical_id)


class SubscriptionFilter(Handler):
    """A log group's subscription filter, through CloudWatch Logs' PutSubscriptionFilter (which checks that
    the destination function lets logs.amazonaws.com invoke it: SAM's CloudWatchLogs event adds that
    permission and makes the filter depend on it). Ref is the filter name."""

    type = "AWS::Logs::SubscriptionFilter"
    required = ("LogGroupName", "FilterPattern", "DestinationArn")
    replace_on = ("LogGroupName", "FilterName")

    def _put(self, env: Env, name: str, props: dict) -> None:
        call(env.client("logs"), "put_subscription_filter", logGroupName=props["LogGroupName"], filterName=name,
             filterPattern=props["FilterPattern"], destinationArn=props["DestinationArn"],
             roleArn=props.get("RoleArn"), distribution=props.get("Distribution"))

    def create(self, env: Env, props: dict) -> Result:
        name = props.get("FilterName") or env.physical_name(512)
        self._put(env, name, props)
        return Result(name, {})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        self._put(env, physical_id, new)
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("logs"), "delete_subscription_filter", "ResourceNotFoundException",
              logGroupName=props["LogGroupName"], filterName=physical_id)


HANDLERS = [Topic(), Subscription(), Queue(), LogGroup(), SubscriptionFilter()]
