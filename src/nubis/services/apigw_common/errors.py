"""The control-plane errors both API Gateway APIs answer (body `{"message": ...}`), with AWS's messages."""
from __future__ import annotations

from typing import TypeVar

from ...server.errors import AwsError

T = TypeVar("T")


def bad_request(message: str) -> AwsError:
    return AwsError("BadRequestException", message, 400)


def conflict(message: str) -> AwsError:
    return AwsError("ConflictException", message, 409)


def not_found(message: str) -> AwsError:
    return AwsError("NotFoundException", message, 404)


def found(value: T | None, message: str) -> T:
    """`value`, which a lookup returned; None means the thing a request named does not exist, and the
    answer is NotFoundException with AWS's `message` for that kind of thing."""
    if value is None:
        raise not_found(message)
    return value


def api_not_found(account: str, api_id: str) -> AwsError:
    return not_found(f"Invalid API identifier specified {account}:{api_id}")
