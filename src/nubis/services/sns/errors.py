"""SNS's errors, worded as SNS words them (`Invalid parameter: ...`, `Topic does not exist`)."""
from __future__ import annotations

from ...server.errors import AwsError


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message, 400)


def invalid_value(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message, 400)


def not_found(message: str) -> AwsError:
    return AwsError("NotFoundException", message, 404)


def topic_not_found() -> AwsError:
    return not_found("Topic does not exist")


def subscription_not_found() -> AwsError:
    return not_found("Subscription does not exist")


def resource_not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "Resource does not exist", 404)
