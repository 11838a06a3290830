"""The control-plane errors both API Gateway APIs answer (body `{"message": ...}`), with AWS's messages."""
from __future__ import annotations

from ...server.errors import AwsError


def bad_request(message: str) -> AwsError:
    return AwsError("BadRequestException", message, 400)


def conflict(message: str) -> AwsError:
    return AwsError("ConflictException", message, 409)


def not_found(message: str) -> AwsError:
    return AwsError("NotFoundException", message, 404)


def api_not_found(account: str, api_id: str) -> AwsError:
    return not_found(f"Invalid API identifier specified {account}:{api_id}")
