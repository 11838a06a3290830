"""ARNs and names: how SNS reads a TopicArn or SubscriptionArn, and what it says when it cannot."""
from __future__ import annotations

import re

from .errors import invalid

TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
FIFO_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,251}\.fifo")


def topic_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sns:{region}:{account}:{name}"


def arn_parts(arn: str, member: str) -> list[str]:
    """The six or more colon-separated parts of an SNS ARN; InvalidParameter as SNS words it."""
    parts = (arn or "").split(":")
    if len(parts) < 6:
        raise invalid(f"Invalid parameter: {member} Reason: An ARN must have at least 6 elements, not {len(parts)}")
    if parts[0] != "arn" or parts[2] != "sns" or not parts[3] or not parts[4]:
        raise invalid(f"Invalid parameter: {member}")
    return parts


def is_fifo_name(name: str) -> bool:
    return name.endswith(".fifo")
