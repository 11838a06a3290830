"""SNS's side of the bus (events/bus.py `Topics`): other services publish to topics as Publish does.

Lambda (destinations, dead-letter topics) and S3 (TopicConfigurations) hand messages to a topic
here; the message goes through the same validation, FIFO de-duplication, filter policies and durable
fan-out as the Publish API, so `publish` returns only once every delivery is on disk.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...events.bus import TopicError
from ...server.errors import AwsError

if TYPE_CHECKING:
    from .provider import SnsProvider


class Publisher:
    """Implements events.bus.Topics for the SNS provider."""

    def __init__(self, provider: SnsProvider) -> None:
        self.provider = provider

    def topic_attributes(self, topic_arn: str) -> dict[str, str] | None:
        topic = self.provider.store.topic(topic_arn)
        if topic is None:
            return None
        return {"TopicArn": topic.arn, "Owner": topic.account, **topic.attributes}

    async def publish(self, topic_arn: str, message: str, subject: str | None = None,
                      attributes: dict[str, dict] | None = None, *, group_id: str | None = None,
                      dedup_id: str | None = None) -> str:
        sns = self.provider
        topic = sns.store.topic(topic_arn)
        if topic is None:
            raise TopicError("NotFound", "Topic does not exist")
        entry = {"Message": message, "Subject": subject, "MessageAttributes": attributes or {},
                 "MessageGroupId": group_id, "MessageDeduplicationId": dedup_id}
        try:
            msg = sns._prepare(topic, entry)
        except AwsError as err:
            shape = sns.protocol.error_shape(err.code)
            code = (shape.metadata.get("error", {}).get("code") if shape is not None else None) or err.code
            raise TopicError(code, err.message) from None
        await sns._fan_out(topic, msg)
        return msg.message_id
