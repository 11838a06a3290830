"""The CloudWatch Logs error replies nubis gives, worded as AWS words them.

Messages come from responses recorded against real AWS (localstack snapshots, 2026) where known.
"""
from __future__ import annotations

from ...server.errors import AwsError

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                  2557, 2922, 3288, 3653)


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message, 400)


def group_not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log group does not exist.", 400)


def stream_not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log stream does not exist.", 400)


def group_exists() -> AwsError:
    return AwsError("ResourceAlreadyExistsException", "The specified log group already exists", 400)


def stream_exists() -> AwsError:
    return AwsError("ResourceAlreadyExistsException", "The specified log stream already exists", 400)


def invalid_token() -> AwsError:
    return invalid("The specified nextToken is invalid.")


def constraint(member: str, value: object, rule: str) -> AwsError:
    """AWS Logs reports model constraint failures as InvalidParameterException, not ValidationException."""
    return invalid(f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
                   f"Member must {rule}")


def limit_of(params: dict, default: int, maximum: int) -> int:
    limit = params.get("limit")
    if limit is None:
        return default
    if limit < 1:
        raise constraint("limit", limit, "have value greater than or equal to 1")
    if limit > maximum:
        raise constraint("limit", limit, f"have value less than or equal to {maximum}")
    return int(limit)


def check_retention(days: object) -> int:
    if days not in RETENTION_DAYS:
        raise constraint("retentionInDays", days, "satisfy enum value set: [" +
                         ", ".join(str(d) for d in RETENTION_DAYS) + "]")
    return int(days)  # type: ignore[arg-type]
