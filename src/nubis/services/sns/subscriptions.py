"""Subscription operations: subscribe (with HTTP/S confirmation), confirm, unsubscribe, list, attributes."""
from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...server.context import RequestContext
from .errors import invalid, not_found, subscription_not_found
from .filters import parse_policy
from .messages import iso_ms
from .names import arn_parts
from .retry import http_policy
from .store import Subscription

if TYPE_CHECKING:
    from .provider import SnsProvider

PAGE = 100
PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
DELIVERED = ("http", "https", "sqs", "lambda")  # what nubis delivers to; others are stored only
RAW_CAPABLE = ("http", "https", "sqs", "firehose")
ATTRIBUTES = ("DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy",
              "SubscriptionRoleArn")
_E164 = re.compile(r"\+?[1-9]\d{1,14}")
_LAMBDA_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,140}(:[A-Za-z0-9$_-]+)?")
_SQS_ARN = re.compile(r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_endpoint(protocol: str, endpoint: str, fifo_topic: bool) -> None:
    """SNS's refusals of a protocol/endpoint pair at Subscribe."""
    if protocol not in PROTOCOLS:
        raise invalid(f"Invalid parameter: Amazon SNS does not support this protocol string: {protocol}")
    if protocol in ("http", "https"):
        parts = urlsplit(endpoint)
        if parts.scheme != protocol or not parts.hostname:
            raise invalid("Invalid parameter: Endpoint must match the specified protocol")
    elif protocol in ("email", "email-json"):
        if not _EMAIL.fullmatch(endpoint):
            raise invalid("Invalid parameter: Email address")
    elif protocol == "sms":
        if not _E164.fullmatch(endpoint.replace("-", "").replace(" ", "")):
            raise invalid(f"Invalid SMS endpoint: {endpoint}")
    elif protocol == "sqs":
        if not _SQS_ARN.fullmatch(endpoint):
            raise invalid("Invalid parameter: SQS endpoint ARN")
        if endpoint.endswith(".fifo") and not fifo_topic:
            raise invalid("Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be "
                          "subscribed to standard SNS topics")
    elif protocol == "lambda":
        if not _LAMBDA_ARN.fullmatch(endpoint):
            raise invalid("Invalid parameter: Lambda endpoint ARN")
    elif protocol == "application":
        raise not_found("Endpoint does not exist")  # nubis has no platform applications to hold endpoints
    elif protocol == "firehose":
        if not endpoint.startswith("arn:") or ":firehose:" not in endpoint:
            raise invalid("Invalid parameter: Firehose endpoint ARN")
    if fifo_topic and protocol != "sqs":
        raise invalid("Invalid parameter: Invalid parameter: Endpoint Reason: Please use FIFO SQS queue")


def check_attribute(sub_protocol: str, name: str, value: str, scope: str, *, subscribe: bool) -> str:
    """The value to store for a subscription attribute, or SNS's InvalidParameter."""
    prefix = "Invalid parameter: Attributes Reason: " if subscribe else "Invalid parameter: "
    if name not in ATTRIBUTES:
        raise invalid(f"{prefix}AttributeName")
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise invalid(f"{prefix}RawMessageDelivery: Invalid value [{value}]. Must be true or false.")
        if value.lower() == "true" and sub_protocol not in RAW_CAPABLE:
            raise invalid(f"Invalid parameter: Delivery protocol [{sub_protocol}] does not support raw message "
                          "delivery.")
        return value.lower()
    if name == "FilterPolicyScope":
        if value not in ("MessageAttributes", "MessageBody"):
            raise invalid(f"{prefix}FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or "
                          "MessageAttributes")
    elif name == "FilterPolicy":
        parse_policy(value, scope, subscribe=subscribe)
    elif name in ("RedrivePolicy", "DeliveryPolicy") and value:
        try:
            doc = json.loads(value)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise invalid(f"{prefix}{name}: failed to parse JSON.")
        if name == "RedrivePolicy":
            target = doc.get("deadLetterTargetArn")
            if not isinstance(target, str) or len(target.split(":")) < 6 or not target.startswith("arn:"):
                raise invalid(f"{prefix}RedrivePolicy: deadLetterTargetArn is an invalid arn")
    return value


class SubscriptionOps:
    def subscription_for(self: SnsProvider, ctx: RequestContext, arn: str | None) -> Subscription:
        parts = arn_parts(arn or "", "SubscriptionArn")
        if len(parts) < 7:
            raise invalid("Invalid parameter: SubscriptionId")
        sub = self.store.subscription(arn or "")
        if sub is None or sub.region != ctx.region:
            raise subscription_not_found()
        return sub

    async def subscribe(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self.topic_for(ctx, p["TopicArn"])
        protocol = p["Protocol"]
        endpoint = p.get("Endpoint") or ""
        if not endpoint and protocol in PROTOCOLS:
            raise invalid("Invalid parameter: Endpoint")
        check_endpoint(protocol, endpoint, topic.fifo)
        given = dict(p.get("Attributes") or {})
        scope = given.get("FilterPolicyScope", "MessageAttributes")
        attrs = {k: check_attribute(protocol, k, v, scope, subscribe=True) for k, v in given.items()}
        existing = self.store.find_subscription(topic.arn, protocol, endpoint)
        if existing is not None:
            if any(existing.attributes.get(k) != v for k, v in attrs.items()):
                raise invalid("Invalid parameter: Attributes Reason: Subscription already exists with different "
                              "attributes")
            shown = existing.arn if not existing.pending or p.get("ReturnSubscriptionArn") else "pending confirmation"
            return {"SubscriptionArn": shown}
        pending = protocol in ("http", "https", "email", "email-json")
        sub = Subscription(f"{topic.arn}:{uuid.uuid4()}", topic.arn, ctx.account, ctx.region, protocol, endpoint,
                           attrs, pending, secrets.token_hex(128))
        self.store.insert_subscription(sub)
        if protocol in ("http", "https"):
            await self.send_confirmation(sub, "SubscriptionConfirmation",
                                         f"You have chosen to subscribe to the topic {topic.arn}.\nTo confirm the "
                                         "subscription, visit the SubscribeURL included in this message.")
        if pending and not p.get("ReturnSubscriptionArn"):
            return {"SubscriptionArn": "pending confirmation"}
        return {"SubscriptionArn": sub.arn}

    async def send_confirmation(self: SnsProvider, sub: Subscription, kind: str, message: str) -> None:
        topic = self.store.topic(sub.topic_arn)
        version = topic.attributes.get("SignatureVersion", "1") if topic else "1"
        await self.delivery.enqueue([{
            "kind": kind, "sub": sub.arn, "topic": sub.topic_arn, "account": sub.account, "region": sub.region,
            "protocol": sub.protocol, "endpoint": sub.endpoint, "message_id": str(uuid.uuid4()),
            "token": sub.token, "message": message, "timestamp": iso_ms(time.time()),
            "signature_version": version}])

    async def confirm_subscription(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        parts = arn_parts(p["TopicArn"], "TopicArn")
        sub = self.store.subscription_by_token(p["Token"])
        if sub is None:
            raise invalid("Invalid parameter: Token")
        if sub.topic_arn != p["TopicArn"] or parts[3] != sub.region:
            raise invalid("Invalid parameter: Topic")
        if sub.pending:
            sub.pending = False
            signed = bool(ctx.http is not None and ctx.http.headers.get("authorization"))
            if str(p.get("AuthenticateOnUnsubscribe", "")).lower() == "true" and signed:
                sub.attributes["_authenticated"] = "true"
            self.store.save_subscription(sub)
        return {"SubscriptionArn": sub.arn}

    async def unsubscribe(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        arn = p["SubscriptionArn"]
        parts = arn_parts(arn, "SubscriptionArn")
        if len(parts) < 7:
            raise invalid("Invalid parameter: SubscriptionId")
        sub = self.store.subscription(arn)
        if sub is None:
            return {}  # unsubscribing twice is not an error
        self.store.delete_subscription(sub)
        if sub.protocol in ("http", "https") and not sub.pending:
            await self.send_confirmation(sub, "UnsubscribeConfirmation",
                                         f"You have chosen to deactivate subscription {sub.arn}.\nTo cancel this "
                                         "operation and restore the subscription, visit the SubscribeURL included "
                                         "in this message.")
        return {}

    @staticmethod
    def _listed(sub: Subscription) -> dict[str, str]:
        return {"SubscriptionArn": "PendingConfirmation" if sub.pending else sub.arn, "Owner": sub.account,
                "Protocol": sub.protocol, "Endpoint": sub.endpoint, "TopicArn": sub.topic_arn}

    async def list_subscriptions(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        after = self.page_token(p.get("NextToken"))
        rows = self.store.subscriptions(ctx.account, ctx.region, after, PAGE + 1)
        out: dict[str, Any] = {"Subscriptions": [self._listed(s) for s in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = self.make_token(rows[PAGE - 1].seq)
        return out

    async def list_subscriptions_by_topic(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        topic = self.topic_for(ctx, p["TopicArn"])
        after = self.page_token(p.get("NextToken"))
        rows = self.store.topic_subscriptions(topic.arn, after, PAGE + 1)
        out: dict[str, Any] = {"Subscriptions": [self._listed(s) for s in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = self.make_token(rows[PAGE - 1].seq)
        return out

    async def get_subscription_attributes(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        sub = self.subscription_for(ctx, p["SubscriptionArn"])
        attrs = {"Owner": sub.account, "RawMessageDelivery": "false", "TopicArn": sub.topic_arn,
                 "Endpoint": sub.endpoint, "Protocol": sub.protocol,
                 "PendingConfirmation": "true" if sub.pending else "false",
                 "ConfirmationWasAuthenticated": "false" if sub.pending else "true",
                 "SubscriptionArn": sub.arn,
                 "SubscriptionPrincipal": f"arn:aws:iam::{sub.account}:root"}
        attrs.update({k: v for k, v in sub.attributes.items() if not k.startswith("_") and v != ""})
        if attrs.get("FilterPolicy"):
            attrs.setdefault("FilterPolicyScope", "MessageAttributes")
        else:
            attrs.pop("FilterPolicyScope", None)
        if sub.protocol in ("http", "https"):
            topic = self.store.topic(sub.topic_arn)
            policy = http_policy(topic.attributes.get("DeliveryPolicy") if topic else None,
                                 sub.attributes.get("DeliveryPolicy"))
            attrs["EffectiveDeliveryPolicy"] = json.dumps({"healthyRetryPolicy": policy}, separators=(",", ":"))
        return {"Attributes": attrs}

    async def set_subscription_attributes(self: SnsProvider, ctx: RequestContext, p: dict) -> dict:
        sub = self.subscription_for(ctx, p["SubscriptionArn"])
        name, value = p["AttributeName"], p.get("AttributeValue") or ""
        scope = sub.attributes.get("FilterPolicyScope") or "MessageAttributes"
        value = check_attribute(sub.protocol, name, value, value if name == "FilterPolicyScope" else scope,
                                subscribe=False)
        if name == "FilterPolicyScope" and sub.attributes.get("FilterPolicy"):
            parse_policy(sub.attributes["FilterPolicy"], value, subscribe=False)  # still valid in the new scope?
        sub.attributes[name] = value
        self.store.save_subscription(sub)
        return {}
