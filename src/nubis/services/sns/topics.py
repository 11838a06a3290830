"""Topic operations: create/delete/list, attributes, permissions and tags."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...server.context import RequestContext
from ...server.errors import AwsError
from .errors import invalid, resource_not_found, topic_not_found
from .names import FIFO_TOPIC_NAME, TOPIC_NAME, arn_parts, topic_arn
from .retry import EFFECTIVE_TOPIC_DELIVERY_POLICY
from .store import Topic

if TYPE_CHECKING:
    from .provider import SnsProvider

PAGE = 100
MAX_TAGS = 50
_FEEDBACK = [f"{p}{k}" for p in ("HTTP", "Lambda", "SQS", "Firehose", "Application")
             for k in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")]
SETTABLE = {"DeliveryPolicy", "DisplayName", "Policy", "KmsMasterKeyId", "SignatureVersion", "TracingConfig",
            "ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope", "DataProtectionPolicy", *_FEEDBACK}
CREATABLE = SETTABLE | {"FifoTopic"}
ACTIONS = ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
           "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"]


def default_policy(arn: str, account: str) -> str:
    return json.dumps({"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
        "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ACTIONS,
        "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceOwner": account}}}]}, separators=(",", ":"))


def _bool_attr(name: str, value: str, prefix: str) -> str:
    if value.lower() not in ("true", "false"):
        raise invalid(f"{prefix}{name}: Invalid value [{value}]. Must be true or false.")
    return value.lower()


def check_topic_attribute(name: str, value: str, *, fifo: bool, prefix: str) -> str:
    """The value to store for a topic attribute, or SNS's InvalidParameter."""
    if name in ("FifoTopic", "ContentBasedDeduplication"):
        value = _bool_attr(name, value, prefix)
        if name == "ContentBasedDeduplication" and value == "true" and not fifo:
            raise invalid(f"{prefix}ContentBasedDeduplication: Content-based deduplication can only be set "
                          "for FIFO topics")
    elif name == "SignatureVersion":
        if value not in ("1", "2"):
            raise invalid(f"{prefix}SignatureVersion: Invalid value [{value}]. Must be 1 or 2.")
    elif name in ("Policy", "DeliveryPolicy", "ArchivePolicy", "DataProtectionPolicy") and value:
        try:
            doc = json.loads(value)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise invalid(f"{prefix}{name}: failed to parse JSON.")
    elif name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise invalid(f"{prefix}TracingConfig: Invalid value [{value}]. Must be PassThrough or Active.")
    elif name == "FifoThroughputScope" and value not in ("Topic", "MessageGroup"):
        raise invalid(f"{prefix}FifoThroughputScope: Invalid value [{value}].")
    return value


def _tags(tags: list[dict] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags or []:
        if tag["Key"] in out:
            raise invalid("Invalid parameter: Duplicated keys are not allowed.")
        out[tag["Key"]] = tag["Value"]
    return out


class TopicOps:
    def topic_for(self: SnsProvider, ctx: RequestContext, arn: str | None, member: str = "TopicArn") -> Topic:
        """The topic an ARN names (in the caller's region), or SNS's error."""
        parts = arn_parts(arn or "", member)
        if parts[3] != ctx.region:
            raise invalid(f"Invalid parameter: {member}")
        topic = self.store.topic(arn or "")
        if topic is None:
            raise topic_not_found()
        return topic

    async def create_topic(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        name = p["Name"]
        attrs = dict(p.get("Attributes") or {})
        fifo = attrs.get("FifoTopic", "").lower() == "true"
        if fifo and not FIFO_TOPIC_NAME.fullmatch(name):
            raise invalid("Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only "
                          "uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be "
                          "between 1 and 256 characters long.")
        if not fifo and not TOPIC_NAME.fullmatch(name):
            raise invalid("Invalid parameter: Topic Name")
        prefix = "Invalid parameter: Attributes Reason: "
        for key in attrs:
            if key not in CREATABLE:
                raise invalid(f"{prefix}Unknown attribute: {key}")
            attrs[key] = check_topic_attribute(key, attrs[key], fifo=fifo, prefix=prefix)
        if fifo:
            attrs.setdefault("ContentBasedDeduplication", "false")
        else:
            attrs.pop("FifoTopic", None)
        tags = _tags(p.get("Tags"))
        if len(tags) > MAX_TAGS:
            raise AwsError("TagLimitExceededException", "Could not complete request: tag quota of per resource "
                           "exceeded", 400)
        if p.get("DataProtectionPolicy"):
            attrs["DataProtectionPolicy"] = check_topic_attribute("DataProtectionPolicy", p["DataProtectionPolicy"],
                                                                  fifo=fifo, prefix=prefix)
        arn = topic_arn(ctx.region, ctx.account, name)
        existing = self.store.topic(arn)
        if existing is not None:
            if any(existing.attributes.get(k, "" if k != "ContentBasedDeduplication" else "false") != v
                   for k, v in attrs.items()):
                raise invalid("Invalid parameter: Attributes Reason: Topic already exists with different attributes")
            if any(existing.tags.get(k) != v for k, v in tags.items()):
                raise invalid("Invalid parameter: Tags Reason: Topic already exists with different tags")
            return {"TopicArn": arn}
        self.store.insert_topic(Topic(arn, ctx.account, ctx.region, name, attrs, tags))
        return {"TopicArn": arn}

    async def delete_topic(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        arn = p["TopicArn"]
        parts = arn_parts(arn, "TopicArn")
        if parts[3] != ctx.region:
            raise invalid("Invalid parameter: TopicArn")
        self.store.delete_topic(arn)  # deleting a topic that does not exist is not an error
        return {}

    async def list_topics(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        after = self.page_token(p.get("NextToken"))
        rows = self.store.topics(ctx.account, ctx.region, after, PAGE + 1)
        out: dict[str, Any] = {"Topics": [{"TopicArn": t.arn} for t in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = self.make_token(rows[PAGE - 1].seq)
        return out

    async def get_topic_attributes(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self.topic_for(ctx, p["TopicArn"])
        confirmed, pending = self.store.subscription_counts(topic.arn)
        effective = json.loads(json.dumps(EFFECTIVE_TOPIC_DELIVERY_POLICY))
        if topic.attributes.get("DeliveryPolicy"):
            http = (json.loads(topic.attributes["DeliveryPolicy"]).get("http") or {})
            effective["http"].update({k: v for k, v in http.items() if k != "defaultHealthyRetryPolicy"})
            effective["http"]["defaultHealthyRetryPolicy"].update(http.get("defaultHealthyRetryPolicy") or {})
        attrs = {"Policy": default_policy(topic.arn, topic.account), "Owner": topic.account,
                 "SubscriptionsPending": str(pending), "TopicArn": topic.arn,
                 "EffectiveDeliveryPolicy": json.dumps(effective, separators=(",", ":")),
                 "SubscriptionsConfirmed": str(confirmed), "DisplayName": "",
                 "SubscriptionsDeleted": str(topic.subscriptions_deleted)}
        attrs.update({k: v for k, v in topic.attributes.items() if v != "" or k == "DisplayName"})
        return {"Attributes": attrs}

    async def set_topic_attributes(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self.topic_for(ctx, p["TopicArn"])
        name, value = p["AttributeName"], p.get("AttributeValue") or ""
        if name not in SETTABLE:
            raise invalid("Invalid parameter: AttributeName")
        value = check_topic_attribute(name, value, fifo=topic.fifo, prefix="Invalid parameter: ")
        if value == "" and name != "DisplayName":
            topic.attributes.pop(name, None)
        else:
            topic.attributes[name] = value
        self.store.save_topic(topic)
        return {}

    # -- permissions (stored in the topic's Policy; nubis does not enforce IAM)
    async def add_permission(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self.topic_for(ctx, p["TopicArn"])
        policy = json.loads(topic.attributes.get("Policy") or default_policy(topic.arn, topic.account))
        statements = policy.setdefault("Statement", [])
        if any(s.get("Sid") == p["Label"] for s in statements):
            raise invalid("Invalid parameter: Statement already exists")
        accounts = [f"arn:aws:iam::{a}:root" for a in p["AWSAccountId"]]
        actions = [f"SNS:{a}" for a in p["ActionName"]]
        statements.append({"Sid": p["Label"], "Effect": "Allow",
                           "Principal": {"AWS": accounts[0] if len(accounts) == 1 else accounts},
                           "Action": actions[0] if len(actions) == 1 else actions, "Resource": topic.arn})
        topic.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
        self.store.save_topic(topic)
        return {}

    async def remove_permission(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self.topic_for(ctx, p["TopicArn"])
        policy = json.loads(topic.attributes.get("Policy") or default_policy(topic.arn, topic.account))
        statements = policy.get("Statement") or []
        kept = [s for s in statements if s.get("Sid") != p["Label"]]
        if len(kept) == len(statements):
            raise invalid("Invalid parameter: Statement does not exist")
        policy["Statement"] = kept
        topic.attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
        self.store.save_topic(topic)
        return {}

    # -- tags
    def _tagged(self: SnsProvider, ctx: RequestContext, arn: str) -> Topic:
        topic = self.store.topic(arn)
        if topic is None or topic.region != ctx.region:
            raise resource_not_found()
        return topic

    async def tag_resource(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self._tagged(ctx, p["ResourceArn"])
        new = _tags(p["Tags"])
        merged = {**topic.tags, **new}
        if len(merged) > MAX_TAGS:
            raise AwsError("TagLimitExceededException", "Could not complete request: tag quota of per resource "
                           "exceeded", 400)
        topic.tags = merged
        self.store.save_topic(topic)
        return {}

    async def untag_resource(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self._tagged(ctx, p["ResourceArn"])
        for key in p.get("TagKeys") or []:
            topic.tags.pop(key, None)
        self.store.save_topic(topic)
        return {}

    async def list_tags_for_resource(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self._tagged(ctx, p["ResourceArn"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in topic.tags.items()]}
