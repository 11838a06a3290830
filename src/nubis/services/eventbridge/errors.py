"""EventBridge's errors, worded as EventBridge words them."""
from __future__ import annotations

from ...server.errors import AwsError


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message, 400)


def rule_not_found(name: str, bus: str) -> AwsError:
    return not_found(f"Rule {name} does not exist on EventBus {bus}.")


def bus_not_found(name: str) -> AwsError:
    return not_found(f"Event bus {name} does not exist.")


def bad_pattern(reason: str) -> AwsError:
    return AwsError("InvalidEventPatternException", f"Event pattern is not valid. Reason: {reason}", 400)


def exists(message: str) -> AwsError:
    return AwsError("ResourceAlreadyExistsException", message, 400)


def limit(message: str) -> AwsError:
    return AwsError("LimitExceededException", message, 400)
